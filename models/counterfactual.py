"""What a proposal would have made had it been taken at its own terms, scored by the backtest.

A proposal is a LIMIT order (its ``limit_price``, its side, its lots) with a bracket (its stop and
target) and a time exit. :func:`counterfactual_trades` finds the bar at which that order would
have filled — the first bar, from the proposal's own bar until its TTL runs out, at whose close
the fill model's price is within the proposal's limit — and hands the trade from that bar on to
:func:`models.backtest.simulate_trades`: one definition of fills, exits and charges. A proposal
that never fills, or whose later prices are not in the data yet, gets a row saying so and no
number. Method and caveats: ``docs/counterfactual.md``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import numpy as np
import polars as pl

from data_contracts.charges import ChargesModel
from data_contracts.enums import ChargeSegment, Side
from data_contracts.errors import ContractError
from data_contracts.schemas import UTC_TIMESTAMP
from data_contracts.trading import Proposal
from models.backtest import FillModel, Portfolio, simulate_trades

__all__ = [
    "COUNTERFACTUAL_SCHEMA",
    "PROPOSAL_SCHEMA",
    "STATUSES",
    "counterfactual_trades",
    "proposals_frame",
]

_OWNER: Final = "counterfactual_trades"

# Why a row has (or has no) P&L.
SCORED: Final = "scored"  # filled and closed by a stop, a target or the time exit
NOT_FILLED: Final = "not_filled"  # the limit was never within reach before the TTL ran out
INVALID_LEVELS: Final = "invalid_levels"  # at the fill, the price was already beyond a level
AWAITING_DATA: Final = "awaiting_data"  # the data ends before the entry or the exit is known
STATUSES: Final = (SCORED, NOT_FILLED, INVALID_LEVELS, AWAITING_DATA)

# The proposals frame: one row per proposal (``proposals_frame`` builds it from Proposals).
PROPOSAL_SCHEMA: Final = {
    "proposal_id": pl.String(),
    "instrument_token": pl.Int64(),
    "ts_event": UTC_TIMESTAMP,  # when the proposal was decided (its bar's close)
    "expires_at": UTC_TIMESTAMP,  # the TTL: after it, it could not have been taken
    "time_exit": UTC_TIMESTAMP,
    "direction": pl.Int8(),  # +1 BUY, -1 SELL
    "limit_price": pl.Float64(),
    "stop_loss": pl.Float64(),
    "take_profit": pl.Float64(),
    "lots": pl.Int64(),
    "lot_size": pl.Int64(),
    "tick_size": pl.Float64(),
    "segment": pl.String(),  # a ChargeSegment value
}

COUNTERFACTUAL_SCHEMA: Final = {
    "proposal_id": pl.String(),
    "instrument_token": pl.Int64(),
    "status": pl.String(),
    "ts_entry": UTC_TIMESTAMP,
    "entry_price": pl.Float64(),
    "ts_exit": UTC_TIMESTAMP,
    "exit_price": pl.Float64(),
    "exit_reason": pl.String(),
    "quantity": pl.Int64(),
    "gross_pnl": pl.Float64(),
    "charges": pl.Float64(),
    "net_pnl": pl.Float64(),
}

# Every proposal carries its lots, so the engine's sizing never applies; it still needs an
# account to exist (the margin it computes is not used by ``simulate_trades``).
_GIVEN_LOTS: Final = Portfolio(capital=1.0, per_trade_risk=1.0)
_ENGINE_SKIPS: Final = {"invalid_levels": INVALID_LEVELS, "limit_not_filled": NOT_FILLED}
_WINDOW_END: Final = "__window_end__"
_BAR_TS: Final = "__bar_ts__"


def proposals_frame(items: Iterable[tuple[Proposal, ChargeSegment]]) -> pl.DataFrame:
    """The proposals frame of (proposal, how its trades are charged) pairs, in the given order."""
    rows = [
        {
            "proposal_id": p.proposal_id.value,
            "instrument_token": int(p.instrument_token),
            "ts_event": p.ts_event,
            "expires_at": p.expires_at,
            "time_exit": p.time_exit,
            "direction": 1 if p.side is Side.BUY else -1,
            "limit_price": p.limit_price,
            "stop_loss": p.stop_loss,
            "take_profit": p.take_profit,
            "lots": p.lots,
            "lot_size": p.lot_size,
            "tick_size": p.tick_size,
            "segment": ChargeSegment(segment).value,
        }
        for p, segment in items
    ]
    return pl.DataFrame(rows, schema=PROPOSAL_SCHEMA)


def counterfactual_trades(
    proposals: pl.DataFrame,
    candles: pl.DataFrame,
    *,
    fills: FillModel,
    charges: ChargesModel | None = None,
) -> pl.DataFrame:
    """One row per proposal (input order, :data:`COUNTERFACTUAL_SCHEMA`): the trade it would
    have been had it been taken at its own terms, or a ``status`` saying why there is none.

    ``proposals``: :data:`PROPOSAL_SCHEMA` (extra columns are ignored). ``candles``: the bars of
    the proposals' instruments (CandleFrame-like, optionally ``bid``/``ask``), as the backtest
    reads them. The entry bar is the first bar with ``ts_event <= close < min(expires_at,
    time_exit)`` where the fill model's entry price is within both the proposal's limit and the
    model's own limit at that bar; from there :func:`simulate_trades` prices the trade (entry,
    the proposal's stop, target and time exit, its lots, charges). Status: ``scored``,
    ``not_filled`` (the bars cover the window and none filled), ``invalid_levels`` (the engine's
    verdict at the entry bar: the price was already past a level), ``awaiting_data`` (the bars
    end before the window closes, or before the trade's stop, target or time exit).
    """
    _require(proposals)
    frame = proposals.select(
        pl.col("proposal_id").cast(pl.String),
        pl.col("instrument_token").cast(pl.Int64),
        *(pl.col(c).dt.convert_time_zone("UTC").dt.cast_time_unit("us") for c in _TIMES),
        pl.col("direction").cast(pl.Int8),
        *(pl.col(c).cast(pl.Float64) for c in ("limit_price", "stop_loss", "take_profit")),
        *(pl.col(c).cast(pl.Int64) for c in ("lots", "lot_size")),
        pl.col("tick_size").cast(pl.Float64),
        pl.col("segment").cast(pl.String),
    )
    _check_rows(frame)
    bars = _bars_of(candles, frame["instrument_token"].unique())
    entry_bar = _entry_bars(frame, bars, fills)
    filled = frame.join(entry_bar, on="proposal_id", how="inner")
    scored = _simulate(filled, bars, fills, charges)
    last_bar = bars.group_by("instrument_token").agg(pl.col("ts_event").max().alias("last_bar"))
    window_end = pl.min_horizontal("expires_at", "time_exit")
    unfilled_status = (
        pl.when(pl.col("last_bar").is_not_null() & (pl.col("last_bar") >= window_end))
        .then(pl.lit(NOT_FILLED))
        .otherwise(pl.lit(AWAITING_DATA))
    )
    return (
        frame.join(last_bar, on="instrument_token", how="left", maintain_order="left")
        .join(scored, on="proposal_id", how="left", maintain_order="left")
        .with_columns(pl.coalesce("status", unfilled_status).alias("status"))
        .select(
            (pl.col(name).cast(dtype) for name, dtype in COUNTERFACTUAL_SCHEMA.items()),
        )
    )


_TIMES: Final = ("ts_event", "expires_at", "time_exit")


def _require(proposals: pl.DataFrame) -> None:
    for name, dtype in PROPOSAL_SCHEMA.items():
        if name not in proposals.columns:
            raise ContractError("proposals", name, None, f"is required ({dtype}) but missing")
        if proposals[name].null_count():
            raise ContractError("proposals", name, None, "must have no nulls")
    for name in _TIMES:
        dtype = proposals.schema[name]
        if not (isinstance(dtype, pl.Datetime) and dtype.time_zone is not None):
            raise ContractError("proposals", name, str(dtype), "must be a tz-aware datetime")


def _check_rows(frame: pl.DataFrame) -> None:
    """The rules a proposal's own constructor enforces that the search relies on."""
    rules = (
        ("proposal_id", pl.col("proposal_id").is_duplicated(), "must be unique"),
        ("direction", ~pl.col("direction").is_in([1, -1]), "must be +1 (BUY) or -1 (SELL)"),
        ("expires_at", pl.col("expires_at") <= pl.col("ts_event"), "must be after ts_event"),
        ("time_exit", pl.col("time_exit") <= pl.col("ts_event"), "must be after ts_event"),
    )
    for column, bad, rule in rules:
        offending = frame.filter(bad)
        if offending.height:
            first = offending.row(0, named=True)
            raise ContractError("proposals", column, first[column], rule, first["proposal_id"])


def _bars_of(candles: pl.DataFrame, tokens: pl.Series) -> pl.DataFrame:
    """The bars of the proposals' instruments, only the columns the backtest reads."""
    quotes = [c for c in ("bid", "ask") if c in candles.columns]
    columns = ["instrument_token", "ts_event", "open", "high", "low", "close", *quotes]
    missing = [c for c in columns if c not in candles.columns]
    if missing:
        raise ContractError("candles", missing[0], None, "is required but missing")
    return candles.select(columns).filter(pl.col("instrument_token").is_in(tokens.implode()))


def _entry_bars(frame: pl.DataFrame, bars: pl.DataFrame, fills: FillModel) -> pl.DataFrame:
    """``proposal_id, ts_decision``: the first bar in each proposal's window at whose close the
    order fills (the fill model's price within the proposal's limit and the model's own)."""
    window = (
        frame.select(
            "proposal_id",
            "instrument_token",
            "ts_event",
            pl.min_horizontal("expires_at", "time_exit").alias(_WINDOW_END),
            "direction",
            "limit_price",
            "tick_size",
        )
        .join(
            bars.rename({"ts_event": _BAR_TS}).with_columns(
                pl.col(_BAR_TS).dt.convert_time_zone("UTC").dt.cast_time_unit("us")
            ),
            on="instrument_token",
            how="inner",
        )
        .filter((pl.col(_BAR_TS) >= pl.col("ts_event")) & (pl.col(_BAR_TS) < pl.col(_WINDOW_END)))
    )
    long = window["direction"].to_numpy() > 0
    nan = np.full(window.height, np.nan)
    bid = window["bid"].cast(pl.Float64).fill_null(np.nan).to_numpy() if "bid" in window else nan
    ask = window["ask"].cast(pl.Float64).fill_null(np.nan).to_numpy() if "ask" in window else nan
    fill, model_limit = fills.entry_prices(
        long,
        window["close"].cast(pl.Float64).to_numpy(),
        bid,
        ask,
        window["tick_size"].to_numpy(),
    )
    own_limit = window["limit_price"].to_numpy()
    fillable = np.where(
        long,
        (fill <= own_limit) & (fill <= model_limit),
        (fill >= own_limit) & (fill >= model_limit),
    )
    return (
        window.filter(pl.Series(fillable, dtype=pl.Boolean))
        .group_by("proposal_id")
        .agg(pl.col(_BAR_TS).min().alias("ts_decision"))
    )


def _simulate(
    filled: pl.DataFrame, bars: pl.DataFrame, fills: FillModel, charges: ChargesModel | None
) -> pl.DataFrame:
    """The engine's trades of the filled proposals, keyed by ``proposal_id``, with ``status``."""
    schema = pl.Schema(
        {"proposal_id": pl.String(), "status": pl.String()}
        | {
            name: dtype
            for name, dtype in COUNTERFACTUAL_SCHEMA.items()
            if name not in ("proposal_id", "instrument_token", "status")
        }
    )
    if filled.is_empty():
        return pl.DataFrame(schema=schema)
    entries = filled.select(
        "proposal_id",
        "instrument_token",
        "ts_decision",
        "direction",
        "take_profit",
        "stop_loss",
        pl.col("time_exit").alias("exit_deadline"),
        pl.lit("time").alias("deadline_reason"),
        "lot_size",
        "tick_size",
        "segment",
        "lots",
    )
    simulated = simulate_trades(bars, entries, fills=fills, portfolio=_GIVEN_LOTS, charges=charges)
    # A trade the data ended under (no stop, target or deadline bar yet) has no known exit.
    trades = simulated.trades.with_columns(
        pl.when(pl.col("exit_reason") == "end_of_data")
        .then(pl.lit(AWAITING_DATA))
        .otherwise(pl.lit(SCORED))
        .alias("status")
    )
    known = pl.col("status") == SCORED
    outcome = [c for c in schema if c not in ("proposal_id", "status")]
    trades = trades.select(
        "proposal_id",
        "status",
        *(pl.when(known).then(pl.col(c)).otherwise(None).alias(c) for c in outcome),
    )
    skipped = simulated.skipped.select(
        "proposal_id",
        pl.col("reason").replace_strict(_ENGINE_SKIPS, return_dtype=pl.String).alias("status"),
    )
    # The skipped rows carry only their status; every outcome column is null there.
    return pl.concat([trades.cast(schema), skipped], how="diagonal")
