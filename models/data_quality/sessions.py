"""The session grid a candle frame is checked against, and where each bar falls on it.

A bar's ``ts_event`` is its close, so the bars of a session close at ``open + k * interval``
(k >= 1) up to the close; a last partial bar closes at the close itself, and a bar that would
close inside a break (``(break.start, break.end]``) does not exist, while one closing at the
break's start does. A bar as long as the session or longer (a daily bar) has one slot: the close;
for bars of a day or more only the IST date is held to the calendar, since a daily bar's time of
day is a source convention (the session close, or Kite's 00:00 IST).
"""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass
from typing import Final

import polars as pl

from data_contracts.errors import ContractError
from data_contracts.nse_calendar import NseCalendar, UnpublishedHolidaysWarning
from data_contracts.schemas import UTC_TIMESTAMP, ist_date

__all__ = [
    "POSITIONS",
    "SessionGrid",
    "annotate_positions",
    "build_grid",
]

_ONE_DAY: Final = dt.timedelta(days=1)

POSITIONS: Final = (
    "in_session",
    "off_grid",
    "before_open",
    "after_close",
    "in_break",
    "no_session",
)
"""Where a bar can fall: on a slot of its IST date's session, inside the hours but between slots,
before the open, after the close, inside a break, or on a date without a session."""


@dataclass(frozen=True, slots=True)
class SessionGrid:
    """The calendar's sessions from ``first`` to ``last`` (IST dates) and their bar slots.

    ``sessions``: ``date, kind, open, close, published, expected_bars``;
    ``slots``: ``date, slot_ts, slot`` (0-based per session); ``breaks``: ``date, start, end``.
    """

    first: dt.date
    last: dt.date
    interval: dt.timedelta
    sessions: pl.DataFrame
    slots: pl.DataFrame
    breaks: pl.DataFrame


def build_grid(
    calendar: NseCalendar, first: dt.date, last: dt.date, interval: dt.timedelta
) -> SessionGrid:
    """Every session from ``first`` to ``last`` with the slots a bar of ``interval`` closes on."""
    if interval <= dt.timedelta(0):
        raise ContractError("SessionGrid", "interval", interval, "must be a positive timedelta")
    with warnings.catch_warnings():
        # Unpublished years are reported by the calendar_coverage check instead.
        warnings.simplefilter("ignore", UnpublishedHolidaysWarning)
        found = calendar.sessions(first, last)
        published = {year: calendar.is_published(year) for year in range(first.year, last.year + 1)}
    sessions = pl.DataFrame(
        {
            "date": [s.date for s in found],
            "kind": [s.kind.value for s in found],
            "open": [s.open for s in found],
            "close": [s.close for s in found],
            "published": [published[s.date.year] for s in found],
        },
        schema={
            "date": pl.Date,
            "kind": pl.String,
            "open": UTC_TIMESTAMP,
            "close": UTC_TIMESTAMP,
            "published": pl.Boolean,
        },
    )
    breaks = pl.DataFrame(
        {
            "date": [s.date for s in found for _ in s.breaks],
            "start": [w.start for s in found for w in s.breaks],
            "end": [w.end for s in found for w in s.breaks],
        },
        schema={"date": pl.Date, "start": UTC_TIMESTAMP, "end": UTC_TIMESTAMP},
    )
    slots = _slots(sessions, breaks, interval)
    counts = slots.group_by("date").agg(pl.len().cast(pl.Int64).alias("expected_bars"))
    sessions = sessions.join(counts, on="date", how="left").with_columns(
        pl.col("expected_bars").fill_null(0)
    )
    return SessionGrid(first, last, interval, sessions, slots, breaks)


def _slots(sessions: pl.DataFrame, breaks: pl.DataFrame, interval: dt.timedelta) -> pl.DataFrame:
    grid = (
        sessions.select(
            "date",
            pl.concat_list(
                pl.datetime_ranges(
                    pl.col("open") + interval, pl.col("close"), interval=interval, closed="both"
                ),
                pl.col("close"),
            ).alias("slot_ts"),
        )
        .explode("slot_ts")
        .with_columns(pl.col("slot_ts").cast(UTC_TIMESTAMP))
    )
    # A bar that spans a whole session (a daily bar) has one slot, the close, breaks or not.
    breaks = breaks.join(
        sessions.filter(pl.col("close") - pl.col("open") > interval).select("date"), on="date"
    )
    if breaks.height:
        inside = grid.join(breaks, on="date", how="inner").filter(
            (pl.col("slot_ts") > pl.col("start")) & (pl.col("slot_ts") <= pl.col("end"))
        )
        grid = pl.concat(
            [
                grid.join(inside.select("date", "slot_ts"), on=["date", "slot_ts"], how="anti"),
                breaks.select("date", pl.col("start").alias("slot_ts")),
            ]
        )
    return (
        grid.unique(["date", "slot_ts"])
        .sort("date", "slot_ts")
        .with_columns(pl.int_range(pl.len()).over("date").cast(pl.Int64).alias("slot"))
    )


def annotate_positions(bars: pl.DataFrame, grid: SessionGrid) -> pl.DataFrame:
    """``bars`` (with a UTC ``ts_event``) plus ``date``, ``has_session``, ``slot`` and
    ``position`` (one of :data:`POSITIONS`)."""
    dated = bars.with_columns(ist_date().alias("date"))
    if grid.interval >= _ONE_DAY:
        # A daily bar's time of day is a source convention (the close, or Kite's 00:00 IST):
        # only its IST date is held to the calendar.
        slotted = dated.join(
            grid.slots.drop("slot_ts"), on="date", how="left", maintain_order="left"
        )
    else:
        slotted = dated.join(
            grid.slots.rename({"slot_ts": "ts_event"}),
            on=["date", "ts_event"],
            how="left",
            maintain_order="left",
        )
    joined = slotted.join(
        grid.sessions.select(
            "date", pl.col("open").alias("session_open"), pl.col("close").alias("session_close")
        ),
        on="date",
        how="left",
        maintain_order="left",
    )
    in_break = _in_break(grid.breaks)
    position = (
        pl.when(pl.col("session_open").is_null())
        .then(pl.lit("no_session"))
        .when(pl.col("slot").is_not_null())
        .then(pl.lit("in_session"))
        .when(pl.col("ts_event") <= pl.col("session_open"))
        .then(pl.lit("before_open"))
        .when(pl.col("ts_event") > pl.col("session_close"))
        .then(pl.lit("after_close"))
        .when(in_break)
        .then(pl.lit("in_break"))
        .otherwise(pl.lit("off_grid"))
    )
    return joined.with_columns(
        pl.col("session_open").is_not_null().alias("has_session"), position.alias("position")
    ).drop("session_open", "session_close")


def _in_break(breaks: pl.DataFrame) -> pl.Expr:
    if breaks.height == 0:
        return pl.lit(value=False)
    condition = pl.lit(value=False)
    for day, start, end in breaks.iter_rows():
        condition = condition | (
            (pl.col("date") == day) & (pl.col("ts_event") > start) & (pl.col("ts_event") <= end)
        )
    return condition
