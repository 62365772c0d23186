"""One call to validate a candle frame: the blocking structural checks, then the statistical suite.

This is the API an orchestrator wraps (e.g. one Dagster asset check per :class:`CheckResult`, the
structural ones blocking) and the CLI prints with :func:`~models.data_quality.report.format_report`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl

from data_contracts.errors import ContractError
from data_contracts.nse_calendar import NseCalendar
from data_contracts.timeutil import require_aware
from models.data_quality.aggregates import build_aggregates
from models.data_quality.checks import rejection_check, structural_findings
from models.data_quality.quarantine import build_quarantine
from models.data_quality.report import QualityReport
from models.data_quality.suite import statistical_checks
from models.data_quality.thresholds import QualityThresholds

__all__ = ["infer_interval", "validate_candles"]


def validate_candles(
    frame: pl.DataFrame,
    *,
    interval: dt.timedelta,
    calendar: NseCalendar,
    thresholds: QualityThresholds | None = None,
    symbols: Mapping[int, str] | None = None,
    source: str = "candles",
    expected_range: tuple[dt.date, dt.date] | None = None,
    docs_dir: Path | None = None,
    run_time: dt.datetime | None = None,
    rejected: pl.DataFrame | None = None,
    import_warnings: Sequence[str] = (),
    previous_closes: pl.DataFrame | None = None,
) -> QualityReport:
    """Every check over ``frame`` (CandleFrame columns; it may break the contract, that is what
    is reported).

    ``interval`` is the bar length; ``symbols`` names instrument tokens in the report;
    ``expected_range`` (IST dates, inclusive) is the span every instrument should cover (default:
    each instrument's own first to last bar). With ``docs_dir`` the great-expectations Data Docs
    are written there and the report's ``data_docs_path`` is their ``index.html``. ``run_time``
    labels the validation run in Data Docs (default: the last bar's close; never the wall clock).
    ``rejected`` (rows an importer dropped, with a ``reason`` column) feeds the
    ``import_rejections`` check, and ``import_warnings`` (facts the importer found about a file)
    are kept as the report's notes. ``previous_closes`` (``instrument_token, ts_event, close``:
    each instrument's last bar before the frame, e.g. the previous session's from the lake) lets
    the first bar's overnight move be judged, so a one-day frame can report a split.

    The report's ``quarantine`` lists what the failed blocking checks take out of use (see
    :mod:`models.data_quality.quarantine`).
    """
    if not isinstance(interval, dt.timedelta) or interval <= dt.timedelta(0):
        raise ContractError(
            "validate_candles", "interval", interval, "must be a positive timedelta"
        )
    if run_time is not None:
        run_time = require_aware("validate_candles", "run_time", run_time)
    limits = thresholds or QualityThresholds()
    structural = structural_findings(
        frame, interval=interval, calendar=calendar, symbols=symbols, thresholds=limits
    )
    aggregates = build_aggregates(
        frame,
        interval=interval,
        calendar=calendar,
        thresholds=limits,
        symbols=symbols,
        expected_range=expected_range,
        previous_closes=previous_closes,
    )
    statistical, index = statistical_checks(
        aggregates, limits, docs_dir=docs_dir, name=source, run_time=run_time
    )
    failed_blocking = [r.name for r in statistical if not r.passed and r.blocking]
    quarantine = build_quarantine(
        structural.keyed, structural.failing, aggregates, failed_blocking, limits
    )
    notes = list(import_warnings)
    if aggregates.excluded_rows:
        notes.append(
            f"{aggregates.excluded_rows} rows (unreadable or repeated instrument_token and "
            "ts_event; the first of a repeated key is kept) were left out of the statistical checks"
        )
    instruments = aggregates.bars.select(pl.col("instrument_token").n_unique()).item()
    return QualityReport(
        source=source,
        results=(*structural.results, rejection_check(rejected, limits), *statistical),
        rows=frame.height,
        instruments=int(instruments),
        interval=interval,
        data_docs_path=index,
        notes=tuple(notes),
        quarantine=quarantine,
    )


def infer_interval(frame: pl.DataFrame) -> dt.timedelta:
    """The most common step between consecutive bars of one instrument on one IST date (for
    daily bars, between consecutive bars at all): the frame's bar length."""
    if frame.height < 2:
        raise ContractError("infer_interval", "frame", frame.height, "must have at least 2 rows")
    steps = (
        frame.sort("instrument_token", "ts_event")
        .select(pl.col("ts_event").diff().over("instrument_token").alias("step"))
        .drop_nulls()
        .filter(pl.col("step") > dt.timedelta(0))
    )
    if steps.height == 0:
        raise ContractError("infer_interval", "frame", frame.height, "has no increasing timestamps")
    step = steps.select(pl.col("step").mode().min()).item()
    if not isinstance(step, dt.timedelta):
        raise ContractError("infer_interval", "frame", step, "has no readable step")
    if step >= dt.timedelta(hours=18):
        return dt.timedelta(days=1)
    return step
