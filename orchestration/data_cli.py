"""``kitepilot data``: simulate, import and validate market data, with progress bars.

``simulate`` materializes the same Dagster assets (and checks) that ``dagster dev`` shows, from the
embedded simulator; ``import`` brings the user's candle files into the lake and reports every
defect they contain; ``validate`` re-runs the quality checks over what the lake holds.
"""

from __future__ import annotations

import os
import re
import warnings
from datetime import date, timedelta
from pathlib import Path

import polars as pl
from dagster import DagsterInstance
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from assets.partitions import trading_day_partitions
from data_contracts.clock import SystemClock
from data_contracts.config import DataSource, KitepilotConfig
from data_contracts.errors import ContractError
from data_contracts.nse_calendar import NseCalendar
from data_contracts.timeutil import to_ist
from execution.sources.files import import_candles
from models.data_quality import QualityReport, infer_interval, validate_candles
from models.data_quality.quarantine import merge_judged
from models.lake import Lake
from orchestration.definitions import DAILY_JOB, build_definitions

__all__ = [
    "demo_range",
    "import_files",
    "lake_summary",
    "simulate_days",
    "validate_table",
]

console = Console()
CANDLE_FILES = {".csv", ".parquet"}
DAYS_PER_RUN = 5  # one Dagster run per chunk, so the bar moves and a failure loses little


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def dagster_instance() -> DagsterInstance:
    """The Dagster instance the UI reads: $DAGSTER_HOME, else the repo's dagster.yaml (run from
    the repo root), else an in-memory one."""
    if os.environ.get("DAGSTER_HOME"):
        return DagsterInstance.get()
    if Path("dagster.yaml").is_file():
        return DagsterInstance.from_config(str(Path.cwd()))
    return DagsterInstance.ephemeral()


def simulate_days(config: KitepilotConfig, first: date, last: date) -> list[str]:
    """Materialize every batch asset from the simulator for the trading days in [first, last];
    returns the names of failed checks (empty when all passed)."""
    simulated = config.model_copy(
        update={"data": config.data.model_copy(update={"source": DataSource.SIMULATOR})}
    )
    defs = build_definitions(simulated)
    job = defs.resolve_job_def(DAILY_JOB)
    calendar = NseCalendar.default(override=config.calendar.holidays_file)
    keys = [
        k
        for k in trading_day_partitions(calendar).get_partition_keys()
        if first.isoformat() <= k <= last.isoformat()
    ]
    if not keys:
        raise ContractError("data simulate", "range", f"{first}..{last}", "must hold a trading day")
    failed: list[str] = []
    instance = dagster_instance()
    with _progress() as progress:
        task = progress.add_task("simulate → lake → checks → features → labels", total=len(keys))
        for start in range(0, len(keys), DAYS_PER_RUN):
            chunk = keys[start : start + DAYS_PER_RUN]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Dagster's beta notices
                result = job.execute_in_process(
                    instance=instance,
                    # The progress bar is the user's view; keep Dagster's step log for the UI.
                    run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
                    tags={
                        "dagster/asset_partition_range_start": chunk[0],
                        "dagster/asset_partition_range_end": chunk[-1],
                    },
                    raise_on_error=False,
                )
            failed += [
                f"{chunk[0]}..{chunk[-1]} {evaluation.check_name}"
                for evaluation in result.get_asset_check_evaluations()
                if not evaluation.passed
            ]
            if not result.success:
                failed.append(f"{chunk[0]}..{chunk[-1]} run failed")
                break
            progress.advance(task, len(chunk))
    return failed


def _today() -> date:
    return to_ist(SystemClock().now()).date()


def _table_for(interval: timedelta) -> str:
    minutes = int(interval.total_seconds() // 60)
    return "candles_1d" if interval >= timedelta(days=1) else f"candles_{minutes}m"


def _rejections_store(config: KitepilotConfig) -> Lake:
    return Lake(config.storage.reports_dir / "rejected")


def _slug(path: Path) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", path.stem.lower()).strip("_") or "file"


def import_files(config: KitepilotConfig, path: Path, preset: str | None) -> list[QualityReport]:
    """Import one file or every candle file under a folder; returns each file's quality report."""
    if not path.exists():
        raise ContractError("data import", "PATH", str(path), "must be an existing file or folder")
    files = (
        sorted(p for p in path.rglob("*") if p.suffix.lower() in CANDLE_FILES)
        if path.is_dir()
        else [path]
    )
    lake = Lake(config.storage.lake_dir)
    calendar = NseCalendar.default(override=config.calendar.holidays_file)
    reports = []
    with _progress() as progress:
        task = progress.add_task("import → lake → checks", total=len(files))
        for file in files:
            result = import_candles(file, preset)
            # Stored as the candles_1m asset stores a day: each merged day with its verdict, so
            # what fails a blocking check is quarantined, never read downstream.
            merge_judged(
                lake,
                _table_for(result.interval),
                result.candles,
                interval=result.interval,
                calendar=calendar,
            )
            if result.rejected.height:
                # Dead letters: every rejected row with its reason, kept per file and import day.
                _rejections_store(config).write(_slug(file), _today(), result.rejected)
            reports.append(
                validate_candles(
                    result.candles,
                    interval=result.interval,
                    calendar=calendar,
                    symbols=result.symbol_by_token,
                    source=file.name,
                    docs_dir=config.storage.reports_dir / "data_docs" / "import" / _slug(file),
                    rejected=result.rejected,
                    import_warnings=result.warnings,
                )
            )
            progress.advance(task)
    return reports


def validate_table(
    config: KitepilotConfig, table: str, first: date | None, last: date | None
) -> QualityReport:
    lake = Lake(config.storage.lake_dir)
    days = lake.days(table)
    if not days:
        raise ContractError("data validate", "table", table, "must have data in the lake")
    start, end = first or days[0], last or days[-1]
    frame = lake.scan(table, start, end).drop("date").collect().sort("instrument_token", "ts_event")
    return validate_candles(
        frame,
        interval=infer_interval(frame),
        calendar=NseCalendar.default(override=config.calendar.holidays_file),
        source=f"{table} {start}..{end}",
        expected_range=(start, end),
        docs_dir=config.storage.reports_dir / "data_docs" / table / f"{start}_{end}",
    )


def demo_range(config: KitepilotConfig, trading_days: int) -> tuple[date, date]:
    """The last ``trading_days`` trading days of the configured simulator range."""
    calendar = NseCalendar.default(override=config.calendar.holidays_file)
    days = [
        s.date
        for s in calendar.sessions(config.data.simulator_start, config.data.simulator_end)
        if s.is_trading_day
    ]
    chosen = days[-trading_days:]
    if not chosen:
        raise ContractError(
            "data", "simulator_start", config.data.simulator_start, "must leave a trading day"
        )
    return chosen[0], chosen[-1]


def lake_summary(config: KitepilotConfig) -> dict[str, tuple[int, int]]:
    """Days and rows per lake table."""
    lake = Lake(config.storage.lake_dir)
    summary = {}
    for table in (
        "instruments",
        "candles_1m",
        "option_chain",
        "features",
        "option_features",
        "labels",
        "training_set",
    ):
        days = lake.days(table)
        rows = lake.scan(table, days[0], days[-1]).select(pl.len()).collect().item() if days else 0
        summary[table] = (len(days), int(rows))
    return summary
