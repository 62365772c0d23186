"""What every intraday (MIS) strategy shares: the day's square-off and the exit deadline — over
frames (``with_square_off``, ``intraday_deadline``) and over arrays of UTC microseconds
(``square_off_us``, ``deadline_us``: the equity rule's numpy core and the streaming worker)."""

from __future__ import annotations

import datetime as dt
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from data_contracts.nse_calendar import NseCalendar
from data_contracts.schemas import UTC_TIMESTAMP, ist_date

__all__ = [
    "IST_OFFSET_US",
    "NO_SQUARE_OFF",
    "SQUARE_OFF",
    "US_PER_DAY",
    "deadline_us",
    "intraday_deadline",
    "square_off_us",
    "with_square_off",
]

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

# The column `with_square_off` adds: the decision day's MIS square-off (UTC).
SQUARE_OFF = "_square_off"
_DAY = "_day"
# IST is a fixed UTC+05:30 (no daylight saving since 1945): a UTC microsecond timestamp's IST day
# and time of day are integer arithmetic (as in the feature kernel).
US_PER_DAY: Final = 86_400_000_000
IST_OFFSET_US: Final = 19_800_000_000
_US_PER_MINUTE: Final = 60_000_000
_EPOCH_DAY: Final = dt.date(1970, 1, 1)
_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# `square_off_us` of a day without MIS: earlier than any timestamp, so nothing is before it.
NO_SQUARE_OFF: Final = np.iinfo(np.int64).min


def with_square_off(
    rows: pl.DataFrame, decision: str, calendar: NseCalendar, *, derivatives: bool
) -> pl.DataFrame:
    """``rows`` with ``SQUARE_OFF``, Zerodha's MIS square-off on the IST day of ``decision``
    (15:20 equity, 15:25 F&O on a regular day). Rows on days without MIS, or decided at or after
    the square-off, are dropped: no intraday trade can start there."""
    days = rows.select(ist_date(decision).alias(_DAY))[_DAY].unique().to_list()
    found = {day: calendar.mis_square_off(day, derivatives=derivatives) for day in sorted(days)}
    kept = {day: when for day, when in found.items() if when is not None}
    square_off = pl.DataFrame(
        {_DAY: list(kept), SQUARE_OFF: list(kept.values())},
        schema={_DAY: pl.Date, SQUARE_OFF: UTC_TIMESTAMP},
    )
    return (
        rows.with_columns(ist_date(decision).alias(_DAY))
        .join(square_off, on=_DAY, how="inner")
        .filter(pl.col(decision) < pl.col(SQUARE_OFF))
        .drop(_DAY)
    )


def intraday_deadline(decision: str, max_hold_minutes: int) -> tuple[pl.Expr, pl.Expr]:
    """``exit_deadline`` (``max_hold_minutes`` after ``decision`` or the square-off, whichever
    is first) and its ``deadline_reason`` (``time`` or ``square_off``), over rows that carry
    ``SQUARE_OFF``."""
    hold_until = pl.col(decision) + pl.duration(minutes=max_hold_minutes)
    square_off = pl.col(SQUARE_OFF)
    return (
        pl.min_horizontal(hold_until, square_off).alias("exit_deadline"),
        pl.when(hold_until < square_off)
        .then(pl.lit("time"))
        .otherwise(pl.lit("square_off"))
        .alias("deadline_reason"),
    )


def square_off_us(ts_us: Ints, calendar: NseCalendar, *, derivatives: bool) -> Ints:
    """The MIS square-off on the IST day of each UTC microsecond timestamp, in UTC microseconds
    (:data:`NO_SQUARE_OFF` on days without MIS): the calendar's answer ``with_square_off`` joins.
    A decision at ``ts`` is intraday-tradable when ``ts < square_off`` (never on a day without)."""
    stamps = np.asarray(ts_us, dtype=np.int64)
    days, where = np.unique((stamps + IST_OFFSET_US) // US_PER_DAY, return_inverse=True)
    values = np.array(
        [_square_off(calendar, int(day), derivatives) for day in days], dtype=np.int64
    )
    out: Ints = values[where.reshape(stamps.shape)]
    return out


def deadline_us(decision_us: Ints, square_off: Ints, max_hold_minutes: int) -> tuple[Ints, Bools]:
    """``intraday_deadline`` over arrays: the exit deadline (``max_hold_minutes`` after the
    decision or the square-off, whichever is first) and where it is the hold limit (``time``;
    elsewhere ``square_off``)."""
    hold_until = np.asarray(decision_us, dtype=np.int64) + max_hold_minutes * _US_PER_MINUTE
    by_hold: Bools = hold_until < square_off
    deadline: Ints = np.minimum(hold_until, square_off)
    return deadline, by_hold


def _square_off(calendar: NseCalendar, epoch_day: int, derivatives: bool) -> int:
    found = calendar.mis_square_off(
        _EPOCH_DAY + dt.timedelta(days=epoch_day), derivatives=derivatives
    )
    return NO_SQUARE_OFF if found is None else (found - _EPOCH) // dt.timedelta(microseconds=1)
