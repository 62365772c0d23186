"""What a failed blocking check takes out of use: the quarantine, and reading candles without it.

A failed blocking check stops its run, but the bars stay in the lake (stored and flagged), and later
runs read earlier days back (warm-up history, the previous close). The quarantine is the verdict
kept next to them, so no later reader builds on what failed. Each entry is one of:

* a **bar** (``instrument_token`` and ``ts_event``): a row a structural check failed on (outside
  the session hours, a null or non-positive price, broken OHLC, a repeated key: every copy). The
  rest of the instrument's session is good and stays in use.
* a **session** (``instrument_token``, ``ts_event`` null): the instrument's whole IST date, for a
  blocking statistical check that failed on that session (``split_like_jumps``, or any session
  check made blocking) or on the instrument (``timezone_shift``: every date of the frame). The
  prices or times of the whole session are suspect, and the sessions before it are on another
  footing (another price scale, other times), so a feature history never reaches across one
  (:func:`clean_history`).
* the **whole day** (``instrument_token`` null): the frame itself could not be read (a missing
  column, a wrong dtype, a row without a readable key). ``date`` null means every date of the frame
  (the caller knows which days it loaded).

Columns: :data:`QUARANTINE_SCHEMA` (``date`` is the IST date; the lake keeps it as the partition).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Final

import polars as pl

from data_contracts.schemas import UTC_TIMESTAMP, ist_date
from models.data_quality.aggregates import Aggregates
from models.data_quality.checks import KeyedFrame
from models.data_quality.report import QUARANTINE_SCHEMA
from models.data_quality.suite import failing_keys
from models.data_quality.thresholds import QualityThresholds

__all__ = [
    "QUARANTINE_SCHEMA",
    "build_quarantine",
    "clean_history",
    "drop_quarantined",
    "empty_quarantine",
    "last_closes",
    "quarantine_for_day",
    "quarantine_table",
]

_INSTRUMENT: Final = "instrument_token"
_DAY: Final = "_quarantine_day"


def quarantine_table(table: str) -> str:
    """The lake table holding ``table``'s quarantine (``candles_1m_quarantine`` for ``candles_1m``):
    one partition per day the checks ran on, empty when nothing failed."""
    return f"{table}_quarantine"


def empty_quarantine() -> pl.DataFrame:
    """A quarantine that holds nothing (the verdict on a clean day)."""
    return pl.DataFrame(schema=QUARANTINE_SCHEMA)


def build_quarantine(
    keyed: KeyedFrame,
    structural_failing: pl.DataFrame,
    aggregates: Aggregates,
    failed_blocking: Collection[str],
    limits: QualityThresholds,
) -> pl.DataFrame:
    """The quarantine for one validated frame: the rows of ``structural_failing`` (``row``,
    ``check``: see ``StructuralFindings``) and the sessions of every statistical check in
    ``failed_blocking`` (``limits`` are the thresholds it was held to)."""
    parts = [empty_quarantine(), _structural(keyed, structural_failing)]
    if aggregates.problem is None:
        parts.extend(_statistical(aggregates, name, limits) for name in failed_blocking)
    return pl.concat(parts).unique(maintain_order=True)


def _structural(keyed: KeyedFrame, failing: pl.DataFrame) -> pl.DataFrame:
    bars = keyed.frame.select(
        "row", ist_date().alias("date"), pl.col(_INSTRUMENT).cast(pl.Int64), "ts_event"
    )
    placed = failing.join(bars, on="row", how="left")
    known = placed.filter(pl.col(_INSTRUMENT).is_not_null()).select(*QUARANTINE_SCHEMA)
    # A failure with no readable bar (the frame's columns, a row without a key) takes the frame.
    unreadable = (
        placed.filter(pl.col(_INSTRUMENT).is_null()).select("check").unique(maintain_order=True)
    )
    frame_wide = unreadable.select(
        pl.lit(None, pl.Date).alias("date"),
        pl.lit(None, pl.Int64).alias(_INSTRUMENT),
        pl.lit(None, UTC_TIMESTAMP).alias("ts_event"),
        "check",
    )
    return pl.concat([known.cast(QUARANTINE_SCHEMA), frame_wide])


def _statistical(aggregates: Aggregates, name: str, limits: QualityThresholds) -> pl.DataFrame:
    keys = failing_keys(aggregates, name, limits)
    sessions = aggregates.sessions.select(_INSTRUMENT, "date")
    on = [c for c in (_INSTRUMENT, "date") if c in keys.columns]
    return sessions.join(keys.select(on).unique(), on=on, how="semi").select(
        "date",
        pl.col(_INSTRUMENT).cast(pl.Int64),
        pl.lit(None, UTC_TIMESTAMP).alias("ts_event"),
        pl.lit(name).alias("check"),
    )


def quarantine_for_day(quarantine: pl.DataFrame, day: dt.date) -> pl.DataFrame:
    """The entries of one IST date (whole-frame entries included), without the ``date`` column:
    a lake partition of :func:`quarantine_table`."""
    return quarantine.filter(pl.col("date").is_null() | (pl.col("date") == day)).drop("date")


# -- reading candles without what failed ----------------------------------------------------------


def drop_quarantined(candles: pl.DataFrame, quarantine: pl.DataFrame) -> pl.DataFrame:
    """``candles`` without the quarantined bars, sessions and days (``quarantine`` as built or as
    scanned from the lake, with ``date``; a null ``date`` is every date)."""
    if quarantine.height == 0 or candles.height == 0:
        return candles
    dated = candles.with_columns(ist_date().alias(_DAY))
    bars, sessions, days = _kinds(quarantine)
    kept = dated.join(
        bars.select(_INSTRUMENT, "ts_event"), on=[_INSTRUMENT, "ts_event"], how="anti"
    )
    kept = kept.join(
        sessions.filter(pl.col("date").is_not_null()).select(
            _INSTRUMENT, pl.col("date").alias(_DAY)
        ),
        on=[_INSTRUMENT, _DAY],
        how="anti",
    ).join(
        sessions.filter(pl.col("date").is_null()).select(_INSTRUMENT), on=_INSTRUMENT, how="anti"
    )
    if days.filter(pl.col("date").is_null()).height:
        return kept.head(0).drop(_DAY)
    return kept.join(
        days.select(pl.col("date").alias(_DAY)), on=_DAY, how="anti", maintain_order="left"
    ).drop(_DAY)


def clean_history(candles: pl.DataFrame, quarantine: pl.DataFrame) -> pl.DataFrame:
    """The history a feature build may use: :func:`drop_quarantined`, and of each instrument only
    the bars after its last quarantined session or day (the series starts again there: prices or
    times before it are on another footing)."""
    kept = drop_quarantined(candles, quarantine)
    if quarantine.height == 0 or kept.height == 0:
        return kept
    _, sessions, days = _kinds(quarantine)
    tokens = kept.select(_INSTRUMENT).unique()
    breaks = pl.concat(
        [
            sessions.select(_INSTRUMENT, "date"),
            tokens.join(days.select("date"), how="cross").select(_INSTRUMENT, "date"),
        ]
    ).filter(pl.col("date").is_not_null())
    last_break = breaks.group_by(_INSTRUMENT).agg(pl.col("date").max().alias("_break"))
    return (
        kept.with_columns(ist_date().alias(_DAY))
        .join(last_break, on=_INSTRUMENT, how="left", maintain_order="left")
        .filter(pl.col("_break").is_null() | (pl.col(_DAY) > pl.col("_break")))
        .drop(_DAY, "_break")
    )


def last_closes(candles: pl.DataFrame, quarantine: pl.DataFrame) -> pl.DataFrame:
    """Each instrument's last bar (``instrument_token, ts_event, close``) with a finite, positive
    close that is not a quarantined bar: the previous close a later frame's first bar is judged
    against. Quarantined sessions still count (a split is reported on the session it happens,
    and the next session is judged against the new price level)."""
    bars, _, _ = _kinds(quarantine)
    usable = candles.join(
        bars.select(_INSTRUMENT, "ts_event"),
        on=[_INSTRUMENT, "ts_event"],
        how="anti",
        maintain_order="left",
    ).filter(pl.col("close").is_finite() & (pl.col("close") > 0))
    return (
        usable.sort(_INSTRUMENT, "ts_event")
        .group_by(_INSTRUMENT, maintain_order=True)
        .last()
        .select(_INSTRUMENT, "ts_event", "close")
    )


def _kinds(quarantine: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Bar, session and whole-day entries."""
    token, ts = pl.col(_INSTRUMENT).is_not_null(), pl.col("ts_event").is_not_null()
    return (
        quarantine.filter(token & ts),
        quarantine.filter(token & ts.not_()),
        quarantine.filter(token.not_()),
    )
