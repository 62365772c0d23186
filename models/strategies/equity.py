"""Equity intraday (MIS) entries: a decision point at every closed bar, TP/SL in ATR multiples.

The side of the trade at a decision point is the trend's: long when the MACD histogram is at or
above zero, short below it. The model later decides *whether* to take it (p_win, expected return);
the rules-only baseline takes it only on a MACD/RSI signal (:mod:`models.strategies.rules`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from data_contracts.enums import ChargeSegment, Exchange, InstrumentType
from data_contracts.errors import ContractError
from data_contracts.nse_calendar import NseCalendar
from data_contracts.validation import integer, positive
from models.backtest import ENTRY_SCHEMA
from models.features import FeatureSet
from models.strategies.intraday import (
    IST_OFFSET_US,
    US_PER_DAY,
    deadline_us,
    square_off_us,
)
from models.strategies.rules import trend_sign

__all__ = [
    "EquityEntryLevels",
    "EquityIntradayParams",
    "equity_decision_rows",
    "equity_entry_levels",
    "equity_intraday_entries",
    "on_grid",
]

_OWNER: Final = "EquityIntradayParams"
_PRICE_DECIMALS: Final = 6  # levels on the tick grid are written back with this many decimals

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]


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


@dataclass(frozen=True, slots=True)
class EquityEntryLevels:
    """The equity rule at a batch of decision points (arrays aligned with the inputs of
    :func:`equity_entry_levels`). Only rows where ``taken`` is True are decision points."""

    taken: Bools
    direction: npt.NDArray[np.int8]
    take_profit: Floats
    stop_loss: Floats
    exit_deadline_us: Ints  # UTC microseconds since the epoch
    deadline_by_hold: Bools  # the hold limit comes first ("time"); else the square-off


def equity_entry_levels(
    ts_us: Ints,
    close: Floats,
    atr_rel: Floats,
    macd_hist_rel: Floats,
    tick_size: Floats,
    square_off: Ints,
    params: EquityIntradayParams,
) -> EquityEntryLevels:
    """The one definition of the equity intraday rule, over arrays: the batch entries
    (:func:`equity_intraday_entries`) and the streaming worker's decision on a closed bar both
    call it.

    Per decision bar (UTC microseconds ``ts_us``; the bar's ``close``; its ``atr_<n>_rel`` and
    ``macd_hist_rel`` features; the instrument's ``tick_size``; the MIS square-off of the bar's
    IST day from :func:`models.strategies.intraday.square_off_us`): the trend's side
    (:func:`~models.strategies.rules.trend_sign`), take-profit and stop-loss ``*_atr`` ATRs from
    the close, on the tick grid, and the exit deadline. A row is a decision point (``taken``) when
    it is before its day's square-off (a day without MIS has none), at or before
    ``last_entry_time`` IST, and both levels are above zero.
    """
    direction = trend_sign(macd_hist_rel)
    distance = atr_rel * close
    take_profit = on_grid(close + direction * params.take_profit_atr * distance, tick_size)
    stop_loss = on_grid(close - direction * params.stop_loss_atr * distance, tick_size)
    deadline, by_hold = deadline_us(ts_us, square_off, params.max_hold_minutes)
    last_entry = params.last_entry_time
    last_entry_us = (
        (last_entry.hour * 60 + last_entry.minute) * 60 + last_entry.second
    ) * 1_000_000 + last_entry.microsecond
    ist_time_us = (ts_us + IST_OFFSET_US) % US_PER_DAY
    with np.errstate(invalid="ignore"):  # NaN levels (missing features) are not taken
        levels_positive = (take_profit > 0) & (stop_loss > 0)
    taken: Bools = (ts_us < square_off) & (ist_time_us <= last_entry_us) & levels_positive
    return EquityEntryLevels(taken, direction, take_profit, stop_loss, deadline, by_hold)


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
    ``last_entry_time`` IST on a day whose session allows MIS, and before that day's square-off
    (:func:`equity_entry_levels`, the rule itself). Only information at the decision's close is
    used.
    """
    rows = equity_decision_rows(
        features, candles, instruments, feature_set, owner="equity_intraday_entries"
    )
    if rows.is_empty():
        return _empty()
    ts_us = rows["ts_event"].dt.epoch("us").to_numpy()
    tick_size = rows["tick_size"].cast(pl.Float64).to_numpy()
    levels = equity_entry_levels(
        ts_us,
        rows["close"].cast(pl.Float64).to_numpy(),
        rows["atr_rel"].cast(pl.Float64).to_numpy(),
        rows["macd_hist_rel"].cast(pl.Float64).to_numpy(),
        tick_size,
        square_off_us(ts_us, calendar, derivatives=False),
        params,
    )
    entries = pl.DataFrame(
        {
            "instrument_token": rows["instrument_token"],
            "ts_decision": rows["ts_event"],
            "direction": pl.Series(levels.direction, dtype=pl.Int8),
            "take_profit": pl.Series(levels.take_profit, dtype=pl.Float64),
            "stop_loss": pl.Series(levels.stop_loss, dtype=pl.Float64),
            "exit_deadline": pl.Series(levels.exit_deadline_us, dtype=pl.Int64).cast(
                ENTRY_SCHEMA["exit_deadline"]
            ),
            "deadline_reason": pl.Series(
                np.where(levels.deadline_by_hold, "time", "square_off"), dtype=pl.String
            ),
            "lot_size": rows["lot_size"].cast(pl.Int64),
            "tick_size": pl.Series(tick_size, dtype=pl.Float64),
            "segment": pl.Series([ChargeSegment.INTRADAY.value] * rows.height, dtype=pl.String),
            "lots": pl.Series([None] * rows.height, dtype=pl.Int64),
        }
    )
    return entries.filter(pl.Series(levels.taken, dtype=pl.Boolean))


def equity_decision_rows(
    features: pl.DataFrame,
    candles: pl.DataFrame,
    instruments: pl.DataFrame,
    feature_set: FeatureSet,
    *,
    owner: str,
) -> pl.DataFrame:
    """``instrument_token, ts_event, atr_rel`` (the feature set's ``atr_<n>_rel``),
    ``macd_hist_rel, close, tick_size, lot_size``: the feature rows of NSE equities (not the
    index) with their bar's close and the instrument's tick and lot sizes — what every equity
    rule decides on. A missing feature column raises ContractError naming ``owner``."""
    atr, macd_hist = f"atr_{feature_set.params.atr}_rel", "macd_hist_rel"
    for column in (atr, macd_hist):
        if column not in features.columns:
            raise ContractError(owner, "features", column, "missing column")
    equities = (
        instruments.filter(
            # The NIFTY index is also type EQ in Kite's dump, but in segment INDICES.
            (pl.col("instrument_type") == InstrumentType.EQ.value)
            & (pl.col("segment") == Exchange.NSE.value)
        )
        .group_by("instrument_token")
        .agg(pl.col("tick_size").last(), pl.col("lot_size").last())
    )
    return (
        features.select("instrument_token", "ts_event", pl.col(atr).alias("atr_rel"), macd_hist)
        .join(
            candles.select("instrument_token", "ts_event", "close"),
            on=["instrument_token", "ts_event"],
            how="inner",
        )
        .join(equities, on="instrument_token", how="inner")
    )


def on_grid(price: Floats, tick_size: Floats) -> Floats:
    """``price`` on the tick grid (round half to even, as polars and numpy round), written back
    with ``_PRICE_DECIMALS`` decimals so 2001 x 0.05 is 100.05."""
    with np.errstate(invalid="ignore"):
        rounded: Floats = np.round(np.round(price / tick_size) * tick_size, _PRICE_DECIMALS)
    return rounded


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=ENTRY_SCHEMA)
