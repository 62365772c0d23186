"""Equity intraday (MIS) entries: a decision point at every closed bar, TP/SL in ATR multiples.

The side of the trade at a decision point is the trend's: long when the MACD histogram is at or
above zero, short below it. The model later decides *whether* to take it (p_win, expected return);
the rules-only baseline takes it only on a MACD/RSI signal (:mod:`models.strategies.rules`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

import polars as pl

from data_contracts.enums import ChargeSegment, Exchange, InstrumentType
from data_contracts.errors import ContractError
from data_contracts.nse_calendar import NseCalendar
from data_contracts.timeutil import IST
from data_contracts.validation import integer, positive
from models.backtest import ENTRY_SCHEMA
from models.features import FeatureSet
from models.strategies.intraday import intraday_deadline, with_square_off
from models.strategies.rules import trend_direction

__all__ = ["EquityIntradayParams", "equity_intraday_entries"]

_OWNER: Final = "EquityIntradayParams"


@dataclass(frozen=True, slots=True)
class EquityIntradayParams:
    """Exits of the equity intraday strategy (the ``strategy`` section of the config)."""

    take_profit_atr: float = 2.0
    stop_loss_atr: float = 1.0
    max_hold_minutes: int = 30
    last_entry_time: dt.time = dt.time(15, 0)

    def __post_init__(self) -> None:
        positive(_OWNER, "take_profit_atr", self.take_profit_atr)
        positive(_OWNER, "stop_loss_atr", self.stop_loss_atr)
        integer(_OWNER, "max_hold_minutes", self.max_hold_minutes, minimum=1)
        if not isinstance(self.last_entry_time, dt.time) or self.last_entry_time.tzinfo:
            raise ContractError(
                _OWNER, "last_entry_time", self.last_entry_time, "must be a naive IST time"
            )


def equity_intraday_entries(
    features: pl.DataFrame,
    candles: pl.DataFrame,
    instruments: pl.DataFrame,
    *,
    feature_set: FeatureSet,
    params: EquityIntradayParams,
    calendar: NseCalendar,
) -> pl.DataFrame:
    """The trade the strategy would take at every decision point, as backtest entries.

    ``features`` are rows of ``feature_set`` (after warm-up); ``candles`` give the close at each
    decision; ``instruments`` (an instruments frame) say which tokens are NSE equities and their
    tick and lot sizes. A decision point is a feature row of an equity at or before
    ``last_entry_time`` IST on a day whose session allows MIS, and before that day's square-off.
    Only information at the decision's close is used.
    """
    p = feature_set.params
    atr, macd_hist = f"atr_{p.atr}_rel", "macd_hist_rel"
    for column in (atr, macd_hist):
        if column not in features.columns:
            raise ContractError("equity_intraday_entries", "features", column, "missing column")
    equities = (
        instruments.filter(
            # The NIFTY index is also type EQ in Kite's dump, but in segment INDICES.
            (pl.col("instrument_type") == InstrumentType.EQ.value)
            & (pl.col("segment") == Exchange.NSE.value)
        )
        .group_by("instrument_token")
        .agg(pl.col("tick_size").last(), pl.col("lot_size").last())
    )
    rows = features.select("instrument_token", "ts_event", atr, macd_hist).join(
        candles.select("instrument_token", "ts_event", "close"),
        on=["instrument_token", "ts_event"],
        how="inner",
    )
    rows = rows.join(equities, on="instrument_token", how="inner")
    if rows.is_empty():
        return _empty()
    rows = with_square_off(rows, "ts_event", calendar, derivatives=False)
    last_entry = pl.col("ts_event").dt.convert_time_zone(IST.key).dt.time()
    rows = rows.filter(last_entry <= params.last_entry_time)
    direction = trend_direction()
    distance = pl.col(atr) * pl.col("close")
    return rows.select(
        pl.col("instrument_token"),
        pl.col("ts_event").alias("ts_decision"),
        direction.alias("direction"),
        _on_grid(pl.col("close") + direction * params.take_profit_atr * distance),
        _on_grid(pl.col("close") - direction * params.stop_loss_atr * distance, "stop_loss"),
        *intraday_deadline("ts_event", params.max_hold_minutes),
        pl.col("lot_size").cast(pl.Int64),
        pl.col("tick_size").cast(pl.Float64),
        pl.lit(ChargeSegment.INTRADAY.value).alias("segment"),
        pl.lit(None, dtype=pl.Int64).alias("lots"),
    ).filter((pl.col("take_profit") > 0) & (pl.col("stop_loss") > 0))


def _on_grid(price: pl.Expr, name: str = "take_profit") -> pl.Expr:
    ticks = (price / pl.col("tick_size")).round(0)
    return (ticks * pl.col("tick_size")).round(6).alias(name)


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=ENTRY_SCHEMA)
