"""Result types of candle validation and the plain-text summary that names every defect.

A :class:`CheckResult` is one named check: passed or not, whether it blocks downstream work, what
was observed against which threshold, how many rows (bars, sessions or instruments, see ``unit``)
failed, and a few sample rows. Everything in :meth:`CheckResult.metadata` is plain JSON (str, int,
float, bool, None, lists and dicts of those), so an orchestrator can attach it to an asset check
as is.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Final

import polars as pl

from data_contracts.errors import ContractError
from data_contracts.schemas import UTC_TIMESTAMP
from data_contracts.timeutil import IST

__all__ = [
    "QUARANTINE_SCHEMA",
    "CheckResult",
    "JsonScalar",
    "QualityReport",
    "Severity",
    "format_report",
    "json_rows",
]

JsonScalar = str | int | float | bool | None

_SAMPLE_LINES: Final = 3

QUARANTINE_SCHEMA: Final = pl.Schema(
    {
        "date": pl.Date(),
        "instrument_token": pl.Int64(),
        "ts_event": UTC_TIMESTAMP,
        "check": pl.String(),
    }
)
"""The quarantine's columns (see :mod:`models.data_quality.quarantine`): ``date`` is the IST date
(null: every date of the frame), ``instrument_token`` null = every instrument, ``ts_event`` null =
the whole session, ``check`` the failed check that put it there."""


def _no_quarantine() -> pl.DataFrame:
    return pl.DataFrame(schema=QUARANTINE_SCHEMA)


class Severity(StrEnum):
    """How a failed check is treated: ``error`` blocks downstream work, ``warn`` only reports."""

    ERROR = "error"
    WARN = "warn"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One named check over one candle frame.

    ``observed`` and ``threshold`` hold what was measured and the limit it was held to (for a
    structural check the threshold is ``{"max_failing_rows": 0}``). ``failing_rows`` counts
    ``unit`` (``"bars"``, ``"sessions"``, ``"instruments"`` or ``"slots"``); ``sample`` holds the
    first few failing rows as JSON-ready dicts, timestamps shown in IST.
    """

    name: str
    passed: bool
    severity: Severity
    observed: Mapping[str, JsonScalar]
    threshold: Mapping[str, JsonScalar]
    failing_rows: int
    description: str
    unit: str = "bars"
    sample: tuple[Mapping[str, JsonScalar], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.severity, Severity):
            raise ContractError("CheckResult", "severity", self.severity, "must be a Severity")
        if self.failing_rows < 0:
            raise ContractError("CheckResult", "failing_rows", self.failing_rows, "must be >= 0")
        # Stored read-only and already JSON-ready, so metadata() is a plain copy.
        object.__setattr__(self, "observed", MappingProxyType(_json_mapping(self.observed)))
        object.__setattr__(self, "threshold", MappingProxyType(_json_mapping(self.threshold)))
        object.__setattr__(
            self, "sample", tuple(MappingProxyType(_json_mapping(row)) for row in self.sample)
        )

    @property
    def blocking(self) -> bool:
        """A failed blocking check stops downstream assets (it has ``error`` severity)."""
        return self.severity is Severity.ERROR

    def metadata(self) -> dict[str, object]:
        """Everything about the result as JSON-ready values (for an asset check's metadata)."""
        return {
            "passed": self.passed,
            "severity": self.severity.value,
            "blocking": self.blocking,
            "failing_rows": self.failing_rows,
            "unit": self.unit,
            "observed": dict(self.observed),
            "threshold": dict(self.threshold),
            "sample": [dict(row) for row in self.sample],
            "description": self.description,
        }


@dataclass(frozen=True, slots=True)
class QualityReport:
    """Every check run over one candle frame, plus the Data Docs index when one was built.

    ``quarantine`` holds what the failed blocking checks take out of use (bars, sessions, or the
    whole frame; columns ``date, instrument_token, ts_event, check``, see
    :mod:`models.data_quality.quarantine`): empty when the report passed.
    """

    source: str
    results: tuple[CheckResult, ...]
    rows: int
    instruments: int
    interval: dt.timedelta
    data_docs_path: Path | None = None
    notes: tuple[str, ...] = field(default=())
    quarantine: pl.DataFrame = field(default_factory=_no_quarantine, compare=False, repr=False)

    def __post_init__(self) -> None:
        names = [r.name for r in self.results]
        if len(names) != len(set(names)):
            raise ContractError("QualityReport", "results", names, "must have unique check names")

    @property
    def passed(self) -> bool:
        """True when no blocking check failed (warnings do not fail a report)."""
        return not self.blocking_failures

    @property
    def blocking_failures(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if not r.passed and r.blocking)

    @property
    def warnings(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if not r.passed and not r.blocking)

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if not r.passed)

    @property
    def failed_names(self) -> frozenset[str]:
        return frozenset(r.name for r in self.failed)

    def result(self, name: str) -> CheckResult:
        for found in self.results:
            if found.name == name:
                return found
        known = ", ".join(r.name for r in self.results)
        raise ContractError("QualityReport", "name", name, f"must be one of: {known}")

    def check_metadata(self, name: str) -> dict[str, object]:
        """One check's JSON-ready metadata plus the report's Data Docs index, for an asset check
        that links the docs."""
        docs = str(self.data_docs_path) if self.data_docs_path is not None else None
        return {**self.result(name).metadata(), "data_docs": docs, "source": self.source}

    @property
    def quarantined(self) -> dict[str, int]:
        """How much the quarantine holds: ``bars``, ``sessions`` (instrument-days) and ``days``
        (whole days, every instrument; -1 when it is the whole frame)."""
        q = self.quarantine
        if q.height == 0:
            return {"bars": 0, "sessions": 0, "days": 0}
        token, ts = pl.col("instrument_token").is_not_null(), pl.col("ts_event").is_not_null()
        bars = q.filter(token & ts).select("instrument_token", "ts_event").unique().height
        sessions = q.filter(token & ts.not_()).select("instrument_token", "date").unique().height
        days = q.filter(token.not_())
        whole = days.select(pl.col("date").is_null().any()).item()
        return {
            "bars": bars,
            "sessions": sessions,
            "days": -1 if whole else days.select("date").unique().height,
        }

    def metadata(self) -> dict[str, object]:
        """A JSON-ready summary of the whole report (counts, failures, Data Docs path)."""
        return {
            "source": self.source,
            "rows": self.rows,
            "instruments": self.instruments,
            "interval_seconds": int(self.interval.total_seconds()),
            "passed": self.passed,
            "blocking_failures": [r.name for r in self.blocking_failures],
            "warnings": [r.name for r in self.warnings],
            "quarantined": self.quarantined,
            "data_docs": str(self.data_docs_path) if self.data_docs_path is not None else None,
            "notes": list(self.notes),
        }


def format_report(report: QualityReport) -> str:
    """A plain-text summary naming every defect: check, count, threshold and first examples."""
    verdict = "PASSED" if report.passed else "FAILED"
    lines = [
        f"Data quality: {report.source} - {report.rows:,} bars, {report.instruments} instruments, "
        f"interval {_interval_text(report.interval)} - {verdict} "
        f"({len(report.blocking_failures)} blocking, {len(report.warnings)} warnings)"
    ]
    if report.data_docs_path is not None:
        lines.append(f"Data Docs: {report.data_docs_path}")
    lines.extend(f"note: {note}" for note in report.notes)
    held = report.quarantined
    if any(held.values()):
        days = "the whole frame" if held["days"] < 0 else f"{held['days']} whole days"
        lines.append(
            f"quarantined (never used downstream): {held['bars']:,} bars, "
            f"{held['sessions']:,} instrument sessions, {days}"
        )
    for result in sorted(report.failed, key=lambda r: (not r.blocking, r.name)):
        tag = "BLOCK" if result.blocking else "WARN"
        lines.append(
            f"[{tag}] {result.name}: {result.failing_rows:,} {result.unit} - {result.description}"
        )
        lines.append(f"    observed: {_pairs(result.observed)}")
        lines.append(f"    threshold: {_pairs(result.threshold)}")
        lines.extend(f"    e.g. {_pairs(row)}" for row in result.sample[:_SAMPLE_LINES])
    passed = [r.name for r in report.results if r.passed]
    if passed:
        lines.append(f"[ok] {len(passed)} checks passed: {', '.join(passed)}")
    return "\n".join(lines)


def json_rows(frame: pl.DataFrame, limit: int) -> tuple[dict[str, JsonScalar], ...]:
    """The first ``limit`` rows of ``frame`` as JSON-ready dicts (datetimes shown in IST)."""
    return tuple(_json_mapping(row) for row in frame.head(limit).iter_rows(named=True))


def _json_mapping(values: Mapping[str, object]) -> dict[str, JsonScalar]:
    return {str(key): _json_value(value) for key, value in values.items()}


def _json_value(value: object) -> JsonScalar:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dt.datetime):
        shown = value.astimezone(IST) if value.tzinfo is not None else value
        return shown.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return _interval_text(value)
    item = getattr(value, "item", None)  # numpy scalars from pandas/GX results
    if callable(item):
        return _json_value(item())
    return str(value)


def _pairs(values: Mapping[str, JsonScalar]) -> str:
    return ", ".join(f"{key}={value}" for key, value in values.items()) or "-"


def _interval_text(interval: dt.timedelta) -> str:
    seconds = int(interval.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
