"""What every intraday (MIS) strategy shares: the day's square-off and the exit deadline."""

from __future__ import annotations

import polars as pl

from data_contracts.nse_calendar import NseCalendar
from data_contracts.schemas import UTC_TIMESTAMP, ist_date

__all__ = ["SQUARE_OFF", "intraday_deadline", "with_square_off"]

# The column `with_square_off` adds: the decision day's MIS square-off (UTC).
SQUARE_OFF = "_square_off"
_DAY = "_day"


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
