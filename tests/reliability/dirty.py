"""Dirty data: corrupted copies of real 1-minute bars, through ingestion.

The clean base is ten real NSE sessions of NIFTY 50 1-minute bars (22 Jul - 2 Aug 2024) from
``../shared/fixtures/candles/nifty-banknifty-1min-2024/NIFTY_2024.csv`` (format ``ist_date_time``:
``Instrument,Date,Time,Open,High,Low,Close``, time = bar start in IST). That window passes every
data-quality check as published. Each :class:`Defect` corrupts a copy of it the way real files go
wrong; the copy then goes through both ingestion paths:

1. the file import (``execution.sources.files.import_candles``, what ``kitepilot data import``
   runs) and the data-quality report (``models.data_quality.validate_candles``);
2. the Dagster assets (``instruments`` → ``candles_1m`` with its asset checks → ``features``) over
   the ``files`` source (``assets.resources.FileMarketData``), materialized for the window into a
   temporary lake.

What is recorded, per defect: the rows the importer rejected (by reason), the checks that failed
(blocking or warning, with counts), whether the run stopped before ``features``, and whether any
bad bar is in the candles or the features the run wrote. :func:`run` is the reliability runner's
entry; it returns the table *defect → where caught → count*.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import polars as pl
from dagster import AssetSelection, DagsterInstance, materialize

from assets.resources import FileMarketData
from data_contracts.nse_calendar import NseCalendar
from execution.sources.files import import_candles
from models.data_quality import STRUCTURAL_CHECKS, QualityReport, validate_candles
from models.lake import Lake
from orchestration.definitions import build_definitions
from orchestration.settings import load_config
from tests.conftest import SHARED_FIXTURES

__all__ = [
    "DEFECTS",
    "FIRST",
    "LAST",
    "SOURCE",
    "Defect",
    "Imported",
    "Ingested",
    "clean_rows",
    "import_copy",
    "ingest",
    "run",
    "write_copy",
]

SOURCE: Final = Path("candles") / "nifty-banknifty-1min-2024" / "NIFTY_2024.csv"
FIRST: Final = date(2024, 7, 22)
LAST: Final = date(2024, 8, 2)
PRESET: Final = "ist_date_time"
FILE_NAME: Final = "NIFTY_2024.csv"  # the preset names the symbol from the column, not the file
MATERIALIZED: Final = ("instruments", "candles_1m", "features")

Rows = list[list[str]]  # the file's data rows split into cells (header not included)


def clean_rows(fixtures: Path = SHARED_FIXTURES) -> tuple[str, Rows]:
    """The header and the data rows of the clean window, as published."""
    lines = (fixtures / SOURCE).read_text(encoding="utf-8").splitlines()
    first, last = FIRST.strftime("%Y%m%d"), LAST.strftime("%Y%m%d")
    rows = [line.split(",") for line in lines[1:] if line]
    return lines[0], [r for r in rows if first <= r[1] <= last]


def write_copy(folder: Path, header: str, rows: Rows) -> Path:
    """The rows as a candle file in ``folder`` (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FILE_NAME
    path.write_text("\n".join([header, *(",".join(r) for r in rows)]) + "\n", encoding="utf-8")
    return path


# -- the defects ---------------------------------------------------------------------------------


def _day(rows: Rows, day: str) -> list[int]:
    return [i for i, r in enumerate(rows) if r[1] == day]


def _missing_session(rows: Rows) -> tuple[Rows, int]:
    kept = [r for r in rows if r[1] != "20240725"]
    return kept, 1  # one session


def _after_hours(rows: Rows) -> tuple[Rows, int]:
    last = rows[_day(rows, "20240724")[-1]]
    price = f"{float(last[6]) * 1.05:.2f}"  # 5 % away from the close: a stray print
    extra = [[last[0], last[1], f"15:{30 + k:02d}", price, price, price, price] for k in range(10)]
    at = _day(rows, "20240724")[-1] + 1
    return [*rows[:at], *extra, *rows[at:]], len(extra)


def _duplicates(rows: Rows) -> tuple[Rows, int]:
    day = _day(rows, "20240726")
    copies = [list(rows[i]) for i in day[100:120]]  # 20 exact copies
    conflicting = [list(rows[i]) for i in day[200:205]]  # 5 copies with another close
    for row in conflicting:
        row[6] = f"{float(row[6]) + 1:.2f}"
        row[4] = f"{max(float(row[4]), float(row[6])):.2f}"
    return [*rows, *copies, *conflicting], len(copies) + len(conflicting)


def _negative_prices(rows: Rows) -> tuple[Rows, int]:
    out = [list(r) for r in rows]
    picked = _day(out, "20240729")[50:55]
    for i in picked:
        out[i][5] = f"-{out[i][5]}"  # low
    return out, len(picked)


def _nan_prices(rows: Rows) -> tuple[Rows, int]:
    out = [list(r) for r in rows]
    picked = _day(out, "20240730")[60:65]
    for i in picked:
        out[i][6] = "NaN"  # close
    return out, len(picked)


def _timezone_shift(rows: Rows) -> tuple[Rows, int]:
    """The whole file's times written in UTC, read as IST (a provider's export)."""
    out = []
    for r in rows:
        ist = datetime.strptime(f"{r[1]} {r[2]}", "%Y%m%d %H:%M")  # noqa: DTZ007 - wall clock
        utc = ist - timedelta(hours=5, minutes=30)
        out.append([r[0], utc.strftime("%Y%m%d"), utc.strftime("%H:%M"), *r[3:]])
    return out, len(out)


def _split_jump(rows: Rows) -> tuple[Rows, int]:
    """Prices halve from 29 Jul on: an unadjusted 1:2 split (or a mislabelled series)."""
    out = []
    changed = 0
    for r in rows:
        if r[1] >= "20240729":
            out.append([*r[:3], *(f"{float(v) / 2:.2f}" for v in r[3:7])])
            changed += 1
        else:
            out.append(list(r))
    return out, changed


@dataclass(frozen=True, slots=True)
class Defect:
    """One way a file goes wrong: how to corrupt the clean rows, and where it must be caught.

    ``rejected``: the importer reasons (substrings) its bad rows must be rejected with;
    ``checks``: the quality checks that must fail (``counted_by`` the one whose failing rows
    equal the corruption's count); ``blocking``: the Dagster run must stop before ``features``;
    ``bad_in_lake``: whether the bad bars are valid candle rows the lake keeps (stored and
    flagged) rather than rows the importer rejects."""

    name: str
    description: str
    corrupt: Callable[[Rows], tuple[Rows, int]]
    unit: str
    rejected: tuple[str, ...] = ()
    checks: frozenset[str] = frozenset()
    bad_in_lake: bool = False
    counted_by: str | None = None  # the check whose failing rows equal the corrupted count

    @property
    def blocking(self) -> bool:
        return bool(self.checks & set(STRUCTURAL_CHECKS))


DEFECTS: Final = (
    Defect(
        "missing session",
        "every bar of Thu 25 Jul 2024 removed",
        _missing_session,
        "sessions",
        checks=frozenset({"missing_sessions"}),
        counted_by="missing_sessions",
    ),
    Defect(
        "after-hours bars",
        "10 bars 15:30-15:39 IST on 24 Jul, 5 % off the close",
        _after_hours,
        "bars",
        checks=frozenset({"within_session_hours"}),
        bad_in_lake=True,
        counted_by="within_session_hours",
    ),
    Defect(
        "duplicates",
        "20 exact copies and 5 conflicting copies (another close) of 26 Jul bars",
        _duplicates,
        "rows",
        rejected=("duplicate",),
        checks=frozenset({"import_rejections"}),
        counted_by="import_rejections",
    ),
    Defect(
        "negative prices",
        "a negative low on 5 bars of 29 Jul",
        _negative_prices,
        "bars",
        rejected=("non-positive low",),
        checks=frozenset({"import_rejections", "intraday_gaps"}),
        counted_by="import_rejections",
    ),
    Defect(
        "NaN prices",
        "close = NaN on 5 bars of 30 Jul",
        _nan_prices,
        "bars",
        rejected=("non-finite close",),
        checks=frozenset({"import_rejections", "intraday_gaps"}),
        counted_by="import_rejections",
    ),
    Defect(
        "time-zone shift",
        "every time written in UTC and read as IST (5:30 early)",
        _timezone_shift,
        "bars",
        checks=frozenset({"within_session_hours", "timezone_shift"}),
        bad_in_lake=True,
    ),
    Defect(
        "split-like jump",
        "every price halved from 29 Jul (an unadjusted 1:2 split)",
        _split_jump,
        "bars",
        checks=frozenset({"split_like_jumps"}),
        bad_in_lake=True,
        counted_by="split_like_jumps",
    ),
)


# -- path 1: the file import and the quality report ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Imported:
    """What the importer and the quality report said about one file."""

    candles: int
    rejected: Counter[str]  # by reason
    failed: dict[str, tuple[str, int, str]]  # check -> (severity, failing rows, unit)
    report: QualityReport


def import_copy(path: Path) -> Imported:
    result = import_candles(path, PRESET)
    report = validate_candles(
        result.candles,
        interval=result.interval,
        calendar=NseCalendar.default(),
        symbols=result.symbol_by_token,
        source=path.name,
        expected_range=(FIRST, LAST),
        rejected=result.rejected,
        import_warnings=result.warnings,
    )
    reasons: Counter[str] = (
        Counter(str(reason) for reason in result.rejected.get_column("reason").to_list())
        if result.rejected.height
        else Counter()
    )
    failed = {
        r.name: (r.severity.value, r.failing_rows, r.unit) for r in report.results if not r.passed
    }
    return Imported(result.candles.height, reasons, failed, report)


# -- path 2: the Dagster assets ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ingested:
    """One Dagster run of instruments → candles_1m (+ checks) → features over the window."""

    success: bool
    failed_checks: frozenset[str]
    candle_days: tuple[date, ...]
    feature_days: tuple[date, ...]
    candles: pl.DataFrame
    features: pl.DataFrame
    materialized: frozenset[str] = field(default_factory=frozenset)


def ingest(data: Path, work: Path, first: date = FIRST, last: date = LAST) -> Ingested:
    """Materialize the market-data and feature assets for ``[first, last]`` from the candle
    files in ``data``, into the lake under ``work`` (reused: a later run sees what an earlier one
    wrote, as in production)."""
    config = load_config(
        environ={
            "KITEPILOT_STORAGE__VAR_DIR": str(work / "var"),
            "KITEPILOT_STORAGE__LAKE_DIR": str(work / "lake"),
            "KITEPILOT_STORAGE__REPORTS_DIR": str(work / "reports"),
        },
        dotenv_file=None,
    )
    defs = build_definitions(config, FileMarketData(path=str(data), preset=PRESET))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Dagster's beta notices
        result = materialize(
            list(defs.assets or ()),
            selection=AssetSelection.assets(*MATERIALIZED),
            resources=defs.resources,
            instance=DagsterInstance.ephemeral(),
            # A blocking check's failure is an expected outcome here, not console noise.
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
            tags={
                "dagster/asset_partition_range_start": first.isoformat(),
                "dagster/asset_partition_range_end": last.isoformat(),
            },
            raise_on_error=False,
        )
    failed = frozenset(e.check_name for e in result.get_asset_check_evaluations() if not e.passed)
    materialized = frozenset(
        event.asset_key.to_user_string()
        for event in result.get_asset_materialization_events()
        if event.asset_key is not None
    )
    lake = Lake(work / "lake")
    return Ingested(
        success=result.success,
        failed_checks=failed,
        candle_days=tuple(lake.days("candles_1m")),
        feature_days=tuple(lake.days("features")),
        candles=_table(lake, "candles_1m"),
        features=_table(lake, "features"),
        materialized=materialized,
    )


def _table(lake: Lake, table: str) -> pl.DataFrame:
    days = lake.days(table)
    if not days:
        return pl.DataFrame()
    return (
        lake.scan(table, days[0], days[-1])
        .drop("date")
        .collect()
        .sort("instrument_token", "ts_event")
    )


def bad_candles(candles: pl.DataFrame) -> dict[str, int]:
    """Bars in ``candles`` that break the candle contract or the session hours, by kind."""
    if candles.height == 0:
        return {}
    prices = ("open", "high", "low", "close")
    ist = pl.col("ts_event").dt.convert_time_zone("Asia/Kolkata")
    minutes = ist.dt.hour().cast(pl.Int32) * 60 + ist.dt.minute().cast(pl.Int32)
    counts = candles.select(
        pl.any_horizontal(*(pl.col(p).is_nan() | pl.col(p).is_null() for p in prices))
        .sum()
        .alias("NaN price"),
        pl.any_horizontal(*(pl.col(p) <= 0 for p in prices)).sum().alias("non-positive price"),
        pl.struct("instrument_token", "ts_event").is_duplicated().sum().alias("duplicate key"),
        ((minutes <= 9 * 60 + 15) | (minutes > 15 * 60 + 30)).sum().alias("outside 09:16-15:30"),
    ).row(0, named=True)
    return {kind: int(n) for kind, n in counts.items() if n}


def features_over(features: pl.DataFrame, candles: pl.DataFrame) -> int:
    """Feature rows whose bar is not one of ``candles`` (a feature of a bar that was refused)."""
    if features.height == 0:
        return 0
    keys = candles.select("instrument_token", "ts_event")
    return features.join(keys, on=["instrument_token", "ts_event"], how="anti").height


# -- the runner's entry ---------------------------------------------------------------------------


def _row(defect: Defect, count: int, imported: Imported, ingested: Ingested) -> dict[str, Any]:
    caught = [f"importer rejected {n} ({reason})" for reason, n in imported.rejected.items()]
    caught += [
        f"{name} [{severity}] {rows} {unit}"
        for name, (severity, rows, unit) in sorted(imported.failed.items())
    ]
    stopped = "features" not in ingested.materialized
    bad_lake = bad_candles(ingested.candles)
    reported = defect.checks <= set(imported.failed) and all(
        any(want in reason for reason in imported.rejected) for want in defect.rejected
    )
    return {
        "defect": defect.name,
        "corruption": defect.description,
        "count": count,
        "unit": defect.unit,
        "caught_by": caught,
        "reported": reported,
        "dagster_run_success": ingested.success,
        "dagster_failed_checks": sorted(ingested.failed_checks),
        "features_built": not stopped,
        "bad_bars_in_lake": bad_lake,
        "reached_features": (not stopped) and defect.bad_in_lake,
    }


def run(folder: Path | None = None, fixtures: Path = SHARED_FIXTURES) -> dict[str, Any]:
    """Every defect through both paths, plus the baseline and the cross-run case; the table.
    ``folder`` keeps each case's copy, lake and reports (default: a temporary folder)."""
    header, rows = clean_rows(fixtures)
    rows_table: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="kp-dirty-") as temporary:
        root = folder or Path(temporary)
        baseline_path = write_copy(root / "clean" / "data", header, rows)
        baseline_import = import_copy(baseline_path)
        baseline = ingest(baseline_path.parent, root / "clean")
        for defect in DEFECTS:
            corrupted, count = defect.corrupt(rows)
            slug = defect.name.replace(" ", "_")
            path = write_copy(root / slug / "data", header, corrupted)
            rows_table.append(
                _row(defect, count, import_copy(path), ingest(path.parent, root / slug))
            )
        cross = cross_run(root / "cross_run", header, rows, baseline)
        shutil.rmtree(root / "clean" / "lake", ignore_errors=True)
    passed = (
        all(r["reported"] and not r["reached_features"] for r in rows_table)
        and not (cross["contaminated"])
    )
    return {
        "scenario": "dirty data",
        "passed": passed,
        "goal_met": passed,
        "baseline": {
            "checks_failed": sorted(baseline_import.failed),
            "dagster_run_success": baseline.success,
            "feature_days": len(baseline.feature_days),
        },
        "defects": rows_table,
        "cross_run": cross,
    }


def cross_run(work: Path, header: str, rows: Rows, baseline: Ingested) -> dict[str, Any]:
    """After-hours bars on 24 Jul stop that run; the next day's run then reads 24 Jul's stored
    bars as warm-up history. Are the 25 Jul features the clean ones?"""
    corrupted, _ = _after_hours(rows)
    data = write_copy(work / "data", header, corrupted)
    day, following = date(2024, 7, 24), date(2024, 7, 25)
    ingest(data.parent, work, FIRST, day)  # stops at within_session_hours
    later = ingest(data.parent, work, following, following)
    ours = later.features.filter(
        pl.col("ts_event").dt.convert_time_zone("Asia/Kolkata").dt.date() == following
    )
    clean = baseline.features.filter(
        pl.col("ts_event").dt.convert_time_zone("Asia/Kolkata").dt.date() == following
    )
    differing = _differing_rows(ours, clean)
    return {
        "first_run": f"{FIRST}..{day} with after-hours bars on {day}",
        "second_run": f"{following}",
        "second_run_success": later.success,
        "features_rows": ours.height,
        "rows_differing_from_clean": differing,
        "contaminated": differing > 0,
    }


def _differing_rows(ours: pl.DataFrame, clean: pl.DataFrame) -> int:
    if ours.height == 0:
        return 0
    columns = [
        c for c in clean.columns if c not in ("instrument_token", "ts_event", "feature_version")
    ]
    joined = ours.join(clean, on=["instrument_token", "ts_event"], how="left", suffix="_clean")
    differs = pl.any_horizontal(
        *(
            (
                (pl.col(c) - pl.col(f"{c}_clean")).abs() > 1e-9 * (1 + pl.col(f"{c}_clean").abs())
            ).fill_null(True)
            for c in columns
        )
    )
    return int(joined.select(differs.sum()).item())
