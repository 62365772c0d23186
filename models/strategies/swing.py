"""Equity swing (CNC, delivery) entries: one decision a day near the close, held for sessions.

At the bar closing at ``decision_time`` IST on a trading day, an NSE equity whose trend is up
(the MACD histogram at or above zero, :func:`~models.strategies.rules.trend_sign`) is a decision
point: buy for delivery, with a stop and a target in *session* ATRs from the close and a time exit
at ``exit_time`` IST on the ``max_hold_sessions``-th trading session after the decision's. Long
only: a delivery sale needs shares already held, so there is no swing short.

A session ATR is the feature set's minute ATR (``atr_<n>_rel``) scaled by the square root of the
minutes of a regular session (375): the random-walk estimate of a session's range from a minute's,
so the swing levels come from the same features the model reads, with no daily bars needed.

The decision is the model's, like the other strategies': the champion's p_win is its view of the
trend's side, and the expected net profit is the bracket's expectation after the delivery round
trip's charges (STT both sides, stamp duty, the DP charge) — :mod:`models.live.strategy`.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from data_contracts.enums import ChargeSegment
from data_contracts.errors import ContractError
from data_contracts.nse_calendar import NseCalendar
from data_contracts.timeutil import IST
from data_contracts.validation import integer, positive
from models.backtest import ENTRY_SCHEMA
from models.features import FeatureSet
from models.strategies.equity import equity_decision_rows, on_grid
from models.strategies.intraday import IST_OFFSET_US, US_PER_DAY
from models.strategies.rules import trend_sign

__all__ = [
    "NO_EXIT",
    "SESSION_ATR_SCALE",
    "SWING_STRATEGIES",
    "EquitySwingParams",
    "SwingEntryLevels",
    "equity_swing_entries",
    "swing_entry_levels",
    "swing_exit_us",
]

_OWNER: Final = "EquitySwingParams"
# ``kitepilot backtest --strategy``: every entry of the rule, or the live decision's (champion).
SWING_STRATEGIES: Final = ("swing_model", "swing_always_trade")
# sqrt(minutes in a regular 09:15-15:30 session): a minute ATR's random-walk scale to a session's.
SESSION_ATR_SCALE: Final = math.sqrt(375)
_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_EPOCH_DAY: Final = dt.date(1970, 1, 1)
_MICROSECOND: Final = dt.timedelta(microseconds=1)
_US_PER_SECOND: Final = 1_000_000
# When a short special session closes before ``exit_time``, the time exit is this long before its
# close (the MIS lead for equities: time for a marketable LIMIT to fill).
_SHORT_SESSION_LEAD: Final = dt.timedelta(minutes=10)
# A day without a trading session has no decision point: its exit is earlier than any timestamp.
NO_EXIT: Final = np.iinfo(np.int64).min

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class EquitySwingParams:
    """The equity swing strategy (the ``strategy.swing_*`` keys of the config)."""

    enabled: bool = False
    take_profit_atr: float = 2.0  # session ATRs
    stop_loss_atr: float = 1.0  # session ATRs
    max_hold_sessions: int = 5
    decision_time: dt.time = dt.time(15, 10)
    exit_time: dt.time = dt.time(15, 15)

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise ContractError(_OWNER, "enabled", self.enabled, "must be true or false")
        positive(_OWNER, "take_profit_atr", self.take_profit_atr)
        positive(_OWNER, "stop_loss_atr", self.stop_loss_atr)
        integer(_OWNER, "max_hold_sessions", self.max_hold_sessions, minimum=1)
        for name in ("decision_time", "exit_time"):
            value = getattr(self, name)
            if not isinstance(value, dt.time) or value.tzinfo is not None:
                raise ContractError(_OWNER, name, value, "must be a naive IST time")
        if self.decision_time.second or self.decision_time.microsecond:
            raise ContractError(
                _OWNER, "decision_time", self.decision_time, "must be a whole minute (a bar close)"
            )

    @property
    def decision_us(self) -> int:
        """``decision_time`` as microseconds after IST midnight."""
        t = self.decision_time
        return (t.hour * 3600 + t.minute * 60) * _US_PER_SECOND


@dataclass(frozen=True, slots=True)
class SwingEntryLevels:
    """The swing rule at a batch of bars (arrays aligned with the inputs of
    :func:`swing_entry_levels`). Only rows where ``taken`` is True are decision points; every one
    is a long."""

    taken: Bools
    take_profit: Floats
    stop_loss: Floats
    exit_deadline_us: Ints  # UTC microseconds since the epoch


def swing_exit_us(ts_us: Ints, calendar: NseCalendar, params: EquitySwingParams) -> Ints:
    """The time exit of a swing entry decided at each UTC microsecond timestamp: ``exit_time``
    IST on the ``max_hold_sessions``-th trading session after the decision's IST day (or
    ``_SHORT_SESSION_LEAD`` before a short session's close, when that is earlier);
    :data:`NO_EXIT` where the day has no trading session."""
    stamps = np.asarray(ts_us, dtype=np.int64)
    days, where = np.unique((stamps + IST_OFFSET_US) // US_PER_DAY, return_inverse=True)
    values = np.array([_exit_of(calendar, int(day), params) for day in days], dtype=np.int64)
    out: Ints = values[where.reshape(stamps.shape)]
    return out


def swing_entry_levels(
    ts_us: Ints,
    close: Floats,
    atr_rel: Floats,
    macd_hist_rel: Floats,
    tick_size: Floats,
    exit_us: Ints,
    params: EquitySwingParams,
) -> SwingEntryLevels:
    """The one definition of the swing rule, over arrays: the batch entries
    (:func:`equity_swing_entries`) and the streaming worker's decision on a closed bar both call
    it.

    Per bar (UTC microseconds ``ts_us``; its ``close``; its ``atr_<n>_rel`` and ``macd_hist_rel``
    features; the instrument's ``tick_size``; the exit from :func:`swing_exit_us`): the target and
    the stop ``*_atr`` session ATRs above and below the close, on the tick grid. A row is a
    decision point (``taken``) when the bar closes at ``decision_time`` IST on a trading day, the
    trend is up and both levels are above zero.
    """
    distance = atr_rel * close * SESSION_ATR_SCALE
    take_profit = on_grid(close + params.take_profit_atr * distance, tick_size)
    stop_loss = on_grid(close - params.stop_loss_atr * distance, tick_size)
    ist_time_us = (ts_us + IST_OFFSET_US) % US_PER_DAY
    with np.errstate(invalid="ignore"):  # NaN levels (missing features) are not taken
        levels_positive = (take_profit > 0) & (stop_loss > 0)
    taken: Bools = (
        (ist_time_us == params.decision_us)
        & (exit_us > ts_us)
        & (trend_sign(macd_hist_rel) > 0)
        & levels_positive
    )
    return SwingEntryLevels(taken, take_profit, stop_loss, exit_us)


def equity_swing_entries(
    features: pl.DataFrame,
    candles: pl.DataFrame,
    instruments: pl.DataFrame,
    *,
    feature_set: FeatureSet,
    params: EquitySwingParams,
    calendar: NseCalendar,
) -> pl.DataFrame:
    """The delivery trade the swing rule would take at every decision point, as backtest entries
    (segment ``delivery``, deadline reason ``time``; :func:`swing_entry_levels`, the rule itself).

    ``features`` are rows of ``feature_set`` (after warm-up); ``candles`` give the close at each
    decision; ``instruments`` say which tokens are NSE equities and their tick and lot sizes. Only
    information at the decision's close is used.
    """
    rows = equity_decision_rows(
        features, candles, instruments, feature_set, owner="equity_swing_entries"
    )
    if rows.is_empty():
        return pl.DataFrame(schema=ENTRY_SCHEMA)
    ts_us = rows["ts_event"].dt.epoch("us").to_numpy()
    tick_size = rows["tick_size"].cast(pl.Float64).to_numpy()
    levels = swing_entry_levels(
        ts_us,
        rows["close"].cast(pl.Float64).to_numpy(),
        rows["atr_rel"].cast(pl.Float64).to_numpy(),
        rows["macd_hist_rel"].cast(pl.Float64).to_numpy(),
        tick_size,
        swing_exit_us(ts_us, calendar, params),
        params,
    )
    entries = pl.DataFrame(
        {
            "instrument_token": rows["instrument_token"],
            "ts_decision": rows["ts_event"],
            "direction": pl.Series([1] * rows.height, dtype=pl.Int8),
            "take_profit": pl.Series(levels.take_profit, dtype=pl.Float64),
            "stop_loss": pl.Series(levels.stop_loss, dtype=pl.Float64),
            "exit_deadline": pl.Series(levels.exit_deadline_us, dtype=pl.Int64).cast(
                ENTRY_SCHEMA["exit_deadline"]
            ),
            "deadline_reason": pl.Series(["time"] * rows.height, dtype=pl.String),
            "lot_size": rows["lot_size"].cast(pl.Int64),
            "tick_size": pl.Series(tick_size, dtype=pl.Float64),
            "segment": pl.Series([ChargeSegment.DELIVERY.value] * rows.height, dtype=pl.String),
            "lots": pl.Series([None] * rows.height, dtype=pl.Int64),
        }
    )
    return entries.filter(pl.Series(levels.taken, dtype=pl.Boolean))


def _exit_of(calendar: NseCalendar, epoch_day: int, params: EquitySwingParams) -> int:
    day = _EPOCH_DAY + dt.timedelta(days=epoch_day)
    if not calendar.is_trading_day(day):
        return int(NO_EXIT)
    session, held = calendar.next_session(day), 0
    while True:  # the n-th trading session after the decision's (a Muhurat one does not count)
        held += session.is_trading_day
        if held == params.max_hold_sessions:
            break
        session = calendar.next_session(session.date)
    wanted = dt.datetime.combine(session.date, params.exit_time, tzinfo=IST)
    exit_at = min(wanted, session.close - _SHORT_SESSION_LEAD)
    return (exit_at - _EPOCH) // _MICROSECOND
