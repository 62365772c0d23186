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

Every reader of a candle table goes through :class:`CandleReader` (:func:`read_candles` for one
read), which leaves out what the stored verdicts of the days it reads name. A stored day without a
verdict (a lake written before verdicts existed, or by a writer that keeps none) has not been
judged: it is read as stored, unless the reader is asked to judge it now (``judge_unjudged``: the
same checks, as the ``features`` asset does before building on such a day).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import Final

import polars as pl

from data_contracts.nse_calendar import NseCalendar
from data_contracts.schemas import UTC_TIMESTAMP, ist_date
from models.data_quality.aggregates import Aggregates
from models.data_quality.checks import KeyedFrame
from models.data_quality.report import QUARANTINE_SCHEMA, QualityReport
from models.data_quality.suite import failing_keys
from models.data_quality.thresholds import QualityThresholds
from models.lake import Lake

__all__ = [
    "QUARANTINE_SCHEMA",
    "CandleReader",
    "build_quarantine",
    "clean_history",
    "drop_quarantined",
    "empty_quarantine",
    "last_closes",
    "merge_judged",
    "previous_closes",
    "quarantine_for_day",
    "quarantine_table",
    "read_candles",
    "write_judged",
]

_INSTRUMENT: Final = "instrument_token"
_DAY: Final = "_quarantine_day"
_ONE_MINUTE: Final = dt.timedelta(minutes=1)
_ROW: Final = "_quarantine_row"
# Stored days searched back for each instrument's previous close (a missing session or two).
PREVIOUS_CLOSE_DAYS: Final = 5


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


# -- reading a candle table of the lake without what failed --------------------------------------


class CandleReader:
    """Reads ``table`` (a candle table of ``lake``) without what failed blocking checks: the one
    way to read candles (the streaming warm-up, labels, the paper exchange's replay, the MCP
    tools, the research views).

    A day without a stored verdict is read as stored; with ``judge_unjudged`` the same checks
    judge it now (on ``calendar``, with the thresholds the ``candles_1m`` asset holds a day to;
    this imports and runs great-expectations, seconds the first time), and a long-lived reader
    keeps those verdicts (``cached_days`` of them, each until its day's partition is written
    again)."""

    def __init__(
        self,
        lake: Lake,
        table: str,
        *,
        judge_unjudged: bool = False,
        calendar: NseCalendar | None = None,
        interval: dt.timedelta = _ONE_MINUTE,
        thresholds: QualityThresholds | None = None,
        cached_days: int = 16,
    ) -> None:
        self._lake = lake
        self._table = table
        self._calendar = calendar  # judges an unjudged day: the shipped one unless given
        self._interval = interval
        self._thresholds = thresholds or QualityThresholds()
        self._judge = judge_unjudged
        self._cached_days = cached_days
        self._worked_out: dict[tuple[dt.date, int], pl.DataFrame] = {}

    @property
    def lake(self) -> Lake:
        return self._lake

    @property
    def table(self) -> str:
        return self._table

    def verdicts(self, days: Collection[dt.date]) -> pl.DataFrame:
        """The quarantine of ``days`` (with ``date``): each day's stored verdict
        (:func:`quarantine_table`), and with ``judge_unjudged`` for a stored day without one the
        verdict of the checks run now over the whole day."""
        held_table = quarantine_table(self._table)
        judged = set(self._lake.days(held_table))
        held = sorted(d for d in set(days) if d in judged)
        found = [empty_quarantine()]
        if held:
            stored = self._lake.scan(held_table, held[0], held[-1]).collect()
            found.append(
                stored.filter(pl.col("date").is_in(held))
                .select(empty_quarantine().columns)
                .cast(empty_quarantine().schema)
            )
        if self._judge:
            found.extend(self._work_out(d) for d in sorted(set(days) - judged))
        merged = pl.concat(found, how="diagonal_relaxed").select(empty_quarantine().columns)
        return merged.cast(empty_quarantine().schema)

    def read(
        self,
        start: dt.date,
        end: dt.date,
        *,
        tokens: Collection[int] | None = None,
        history: bool = False,
    ) -> pl.DataFrame:
        """The rows of the lake days ``start..end`` (of ``tokens``, default every instrument;
        without the partition column ``date``) less the quarantine: :func:`drop_quarantined`, or
        with ``history`` :func:`clean_history` (a feature warm-up: each instrument's series
        starts after its last quarantined session)."""
        days = [d for d in self._lake.days(self._table) if start <= d <= end]
        if not days:
            return self._lake.scan(self._table, start, end).drop("date", strict=False).collect()
        scan = self._lake.scan(self._table, days[0], days[-1])
        if tokens is not None:
            scan = scan.filter(pl.col(_INSTRUMENT).is_in(sorted({int(t) for t in tokens})))
        candles = scan.drop("date").collect()
        if not {_INSTRUMENT, "ts_event"} <= set(candles.columns):
            return candles
        quarantine = self.verdicts(days)
        if quarantine.is_empty():
            return candles
        keep = clean_history if history else drop_quarantined
        kept = keep(candles.with_row_index(_ROW), quarantine)
        return kept.sort(_ROW).drop(_ROW)  # in the order stored

    def _work_out(self, day: dt.date) -> pl.DataFrame:
        path = self._lake.partition_path(self._table, day)
        try:
            key = (day, path.stat().st_mtime_ns)
        except FileNotFoundError:
            return empty_quarantine()
        cached = self._worked_out.get(key)
        if cached is not None:
            return cached
        from models.data_quality.validate import validate_candles  # here: validate imports this

        frame = self._lake.read(self._table, day)
        verdict = empty_quarantine()
        if frame is not None and frame.height:
            report = validate_candles(
                frame.sort(_INSTRUMENT, "ts_event"),
                interval=self._interval,
                calendar=self._calendar or NseCalendar.default(),
                thresholds=self._thresholds,
                source=f"{self._table} {day.isoformat()} (no stored verdict)",
            )
            verdict = quarantine_for_day(report.quarantine, day).with_columns(
                pl.lit(day).alias("date")
            )
        if len(self._worked_out) >= self._cached_days:
            self._worked_out.pop(next(iter(self._worked_out)))
        self._worked_out[key] = verdict
        return verdict


def read_candles(
    lake: Lake,
    table: str,
    start: dt.date,
    end: dt.date,
    *,
    tokens: Collection[int] | None = None,
    history: bool = False,
) -> pl.DataFrame:
    """:meth:`CandleReader.read` once."""
    return CandleReader(lake, table).read(start, end, tokens=tokens, history=history)


# -- writing days with their verdicts -------------------------------------------------------------


def write_judged(
    lake: Lake, table: str, days: Mapping[dt.date, pl.DataFrame], quarantine: pl.DataFrame
) -> None:
    """Store each day's candles (``days``: the whole partition) with its verdict, the verdict
    first (:func:`quarantine_for_day` of ``quarantine``, the validation of those days): no
    reader ever sees a day's bars without it."""
    for day, candles in days.items():
        lake.write(quarantine_table(table), day, quarantine_for_day(quarantine, day))
        lake.write(table, day, candles)


def previous_closes(
    lake: Lake, table: str, first: dt.date, tokens: Collection[int]
) -> pl.DataFrame:
    """Each of ``tokens``' last usable close before ``first`` (:func:`last_closes`: quarantined
    bars left out), from the newest stored day back (:data:`PREVIOUS_CLOSE_DAYS` of them), so a
    validation judges the first day's overnight move too."""
    wanted = {int(t) for t in tokens}
    found: list[pl.DataFrame] = []
    if not wanted:
        return pl.DataFrame()
    earlier = [d for d in lake.days(table) if d < first][-PREVIOUS_CLOSE_DAYS:]
    for day in reversed(earlier):
        stored = lake.read(table, day)
        if stored is None or not {_INSTRUMENT, "ts_event", "close"} <= set(stored.columns):
            continue
        verdict = lake.read(quarantine_table(table), day)
        held = empty_quarantine() if verdict is None else verdict
        closes = last_closes(stored, held).filter(pl.col(_INSTRUMENT).is_in(sorted(wanted)))
        found.append(closes)
        wanted -= set(closes[_INSTRUMENT].to_list())
        if not wanted:
            break
    return pl.concat(found) if found else pl.DataFrame()


def merge_judged(
    lake: Lake,
    table: str,
    candles: pl.DataFrame,
    *,
    interval: dt.timedelta,
    calendar: NseCalendar,
    thresholds: QualityThresholds | None = None,
) -> QualityReport:
    """Merge ``candles`` (an import: any instruments, any days) into ``table``'s day partitions
    as :meth:`Lake.merged_instruments` does, and store each merged day with its verdict as the
    ``candles_1m`` asset stores a day: the merged days (the imported instruments replaced, every
    other instrument of those days kept) are validated first, judged against each instrument's
    previous close in the lake, then written with :func:`write_judged`. Returns that validation
    (of the merged days, not of ``candles`` alone)."""
    from models.data_quality.validate import validate_candles  # here: validate imports this

    by_day = candles.with_columns(ist_date().alias(_DAY)).partition_by(
        _DAY, as_dict=True, include_key=False
    )
    days = {
        day: lake.merged_instruments(table, day, frame)
        for (day,), frame in sorted(by_day.items(), key=lambda item: item[0])
        if isinstance(day, dt.date)
    }
    if not days:
        return validate_candles(candles, interval=interval, calendar=calendar, source=table)
    merged = pl.concat(list(days.values()), how="diagonal_relaxed").sort(_INSTRUMENT, "ts_event")
    first, last = min(days), max(days)
    report = validate_candles(
        merged,
        interval=interval,
        calendar=calendar,
        thresholds=thresholds or QualityThresholds(),
        source=f"{table} {first.isoformat()}..{last.isoformat()}",
        expected_range=(first, last),
        previous_closes=previous_closes(lake, table, first, merged[_INSTRUMENT].unique()),
    )
    write_judged(lake, table, days, report.quarantine)
    return report


def _kinds(quarantine: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Bar, session and whole-day entries."""
    token, ts = pl.col(_INSTRUMENT).is_not_null(), pl.col("ts_event").is_not_null()
    return (
        quarantine.filter(token & ts),
        quarantine.filter(token & ts.not_()),
        quarantine.filter(token.not_()),
    )
