"""``kitepilot train`` and ``kitepilot backtest``: the model side from the command line.

``train`` runs the same Dagster job as the weekly schedule (walk-forward evaluation → training →
registration → gated promotion → backtest report) on the local instance, so the run shows in
``dagster dev``. ``backtest`` runs one strategy over lake days through the backtest engine.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

import polars as pl
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from assets.features import FEATURES_TABLE
from assets.market_data import CANDLES_TABLE, INSTRUMENTS_TABLE, OPTION_CHAIN_TABLE
from assets.models import (
    BACKTEST_REPORT,
    OPTION_LABELS_TABLE,
    TRAINING_SET_TABLE,
    WALK_FORWARD_REPORT,
)
from assets.resources import ModelRegistryResource
from data_contracts.config import KitepilotConfig
from data_contracts.errors import ContractError
from data_contracts.nse_calendar import NseCalendar
from data_contracts.ports import RegisteredModel, Scorer
from execution.paper.market_lake import lake_instruments
from models.backtest import BacktestResult, run_backtest
from models.data_quality.quarantine import read_candles
from models.lake import Lake
from models.live import LiveStrategy
from models.live.batch_decisions import swing_decided_entries
from models.reports import write_backtest_report
from models.research import STRATEGIES, SavedStudy, load_study, strategy_entries
from models.strategies import (
    OPTION_STRATEGIES,
    SWING_STRATEGIES,
    equity_swing_entries,
    long_option_trades,
    underlying_signals,
)
from orchestration.data_cli import console, dagster_instance
from orchestration.definitions import TRAINING_JOB, build_definitions
from orchestration.model_settings import live_settings, model_pipeline

__all__ = ["BacktestRun", "TrainingRun", "backtest", "champion_run", "study_file", "train"]


@dataclass(frozen=True)
class TrainingRun:
    """What a training run did: success, the promotion verdict and where the results are."""

    succeeded: bool
    promoted: bool
    version: str | None
    reasons: tuple[str, ...]
    study: SavedStudy | None
    report: Path
    backtest_report: Path


def train(config: KitepilotConfig) -> TrainingRun:
    """Run the training job once (as the schedule and the sensor do)."""
    job = build_definitions(config).resolve_job_def(TRAINING_JOB)
    with _spinner("walk-forward → train → register → promotion check → backtest"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Dagster's beta notices
            result = job.execute_in_process(
                instance=dagster_instance(),
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
                raise_on_error=False,
            )
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    gate = checks.get("beats_champion")
    reasons: tuple[str, ...] = ()
    version = None
    if gate is not None:
        reasons = tuple(gate.metadata["reasons"].value)  # type: ignore[arg-type]
        version = str(gate.metadata["challenger"].value)
    study_dir = _study_dir(config)
    study = load_study(study_dir) if (study_dir / "study.json").exists() else None
    promoted = gate is not None and gate.passed
    return TrainingRun(
        succeeded=result.success or (gate is not None and not gate.passed),
        promoted=promoted,
        version=version,
        reasons=reasons,
        study=study,
        report=study_dir / WALK_FORWARD_REPORT,
        backtest_report=study_dir / BACKTEST_REPORT,
    )


def study_file(config: KitepilotConfig) -> Path:
    """The latest walk-forward study's summary (the model side's reports sit beside it)."""
    return _study_dir(config) / "study.json"


def champion_run(config: KitepilotConfig, version: str, why: str) -> TrainingRun | None:
    """The training run that made the current champion, when the champion is ``version`` and its
    walk-forward study is still on disk (what a rerun may reuse instead of training again)."""
    champion = _registry(config).registry().champion()
    study_dir = _study_dir(config)
    if champion is None or champion.version != version or not study_file(config).exists():
        return None
    return TrainingRun(
        succeeded=True,
        promoted=True,
        version=version,
        reasons=(why,),
        study=load_study(study_dir),
        report=study_dir / WALK_FORWARD_REPORT,
        backtest_report=study_dir / BACKTEST_REPORT,
    )


@dataclass(frozen=True)
class BacktestRun:
    strategy: str
    first: date
    last: date
    result: BacktestResult
    report: Path
    model_version: str | None


def backtest(config: KitepilotConfig, first: date, last: date, strategy: str) -> BacktestRun:
    """Backtest ``strategy`` over the lake's validated days in ``[first, last]``.

    ``model`` scores the days with the current ``champion`` (raises if there is none); days the
    champion was trained on are in-sample, which the report's title says.
    """
    known = (*STRATEGIES, *OPTION_STRATEGIES, *SWING_STRATEGIES)
    if strategy not in known:
        raise ContractError("backtest", "--strategy", strategy, f"must be one of {known}")
    if first > last:
        raise ContractError("backtest", "--from", first, f"must be on or before --to ({last})")
    if strategy in OPTION_STRATEGIES:
        return _backtest_options(config, first, last, strategy)
    if strategy in SWING_STRATEGIES:
        return _backtest_swing(config, first, last, strategy)
    lake = Lake(config.storage.lake_dir)
    days = [d for d in lake.days(TRAINING_SET_TABLE) if first <= d <= last]
    if not days:
        raise ContractError(
            "backtest", "--from", first, f"no validated training_set days in {first}..{last}"
        )
    rows = lake.scan(TRAINING_SET_TABLE, days[0], days[-1]).drop("date").collect()
    bars = read_candles(lake, CANDLES_TABLE, days[0], days[-1])
    calendar = NseCalendar.default(override=config.calendar.holidays_file)
    settings = model_pipeline(config, calendar).research
    version = None
    if strategy == "model":
        champion, scorer = _champion(config, strategy)
        scores = scorer.score(rows)
        rows = rows.with_columns(
            pl.Series("p_win", scores.p_win, dtype=pl.Float64),
            pl.Series("expected_return", scores.expected_return, dtype=pl.Float64),
        )
        version = champion.version
    entries = strategy_entries(
        rows,
        strategy,
        threshold=settings.threshold,
        min_expected_net_profit=settings.min_expected_net_profit,
    )
    with _spinner(f"backtest {strategy} {days[0]} → {days[-1]}"):
        result = run_backtest(bars, entries, fills=settings.fills, portfolio=settings.portfolio)
    title = f"Backtest: {strategy} {days[0]} → {days[-1]}"
    if version is not None:
        title += f" (champion v{version}; days it trained on are in-sample)"
    return _reported(config, strategy, days, result, title, version)


def _backtest_options(
    config: KitepilotConfig, first: date, last: date, strategy: str
) -> BacktestRun:
    """A rules-only long-options baseline over the days with option labels in the range."""
    lake = Lake(config.storage.lake_dir)
    days = [d for d in lake.days(OPTION_LABELS_TABLE) if first <= d <= last]
    if not days:
        raise ContractError(
            "backtest", "--from", first, f"no option_labels days in {first}..{last}"
        )
    calendar = NseCalendar.default(override=config.calendar.holidays_file)
    pipeline = model_pipeline(config, calendar)
    settings = pipeline.research

    def read(table: str) -> pl.DataFrame:
        return lake.scan(table, days[0], days[-1]).drop("date").collect()

    chain = read(OPTION_CHAIN_TABLE)
    signals = underlying_signals(
        read(FEATURES_TABLE), chain, strategy=strategy, feature_set=settings.feature_set
    )
    instruments = read(INSTRUMENTS_TABLE).unique("instrument_token", keep="last")
    with _spinner(f"backtest {strategy} {days[0]} → {days[-1]}"):
        trades = long_option_trades(
            signals,
            read_candles(lake, CANDLES_TABLE, days[0], days[-1]),
            chain,
            instruments,
            params=pipeline.options,
            calendar=calendar,
        )
        result = run_backtest(
            trades.bars, trades.entries, fills=settings.fills, portfolio=settings.portfolio
        )
    title = f"Backtest: {strategy} {days[0]} → {days[-1]} (long options, rules only)"
    return _reported(config, strategy, days, result, title, None)


def _backtest_swing(config: KitepilotConfig, first: date, last: date, strategy: str) -> BacktestRun:
    """The equity swing strategy (CNC) over the lake's feature days in the range: every entry of
    the rule (``swing_always_trade``), or the ones the live decision takes with the champion
    (``swing_model``). Trades held past ``last`` exit on the lake's later bars (or at its end)."""
    lake = Lake(config.storage.lake_dir)
    days = [d for d in lake.days(FEATURES_TABLE) if first <= d <= last]
    if not days:
        raise ContractError("backtest", "--from", first, f"no features days in {first}..{last}")
    calendar = NseCalendar.default(override=config.calendar.holidays_file)
    pipeline = model_pipeline(config, calendar)
    settings = pipeline.research
    swing = replace(pipeline.swing, enabled=True)  # backtesting it is asking for it
    features = lake.scan(FEATURES_TABLE, days[0], days[-1]).drop("date").collect()
    # a decision on the last day holds up to max_hold_sessions trading days (a week per 5)
    horizon = days[-1] + timedelta(days=7 * (swing.max_hold_sessions // 5 + 1) + 4)
    candles = read_candles(lake, CANDLES_TABLE, days[0], horizon)
    instruments = (
        lake.scan(INSTRUMENTS_TABLE, days[0], days[-1])
        .drop("date")
        .collect()
        .unique("instrument_token", keep="last")
    )
    entries = equity_swing_entries(
        features,
        candles,
        instruments,
        feature_set=settings.feature_set,
        params=swing,
        calendar=calendar,
    )
    version = None
    if strategy == "swing_model":
        champion, scorer = _champion(config, strategy)
        live = LiveStrategy(
            replace(live_settings(config, calendar), swing=swing),
            {int(i.instrument_token): i for d in days for i in lake_instruments(lake, d)},
        )
        entries = swing_decided_entries(entries, features, candles, live, scorer)
        version = champion.version
    with _spinner(f"backtest {strategy} {days[0]} → {days[-1]}"):
        result = run_backtest(candles, entries, fills=settings.fills, portfolio=settings.portfolio)
    title = f"Backtest: {strategy} {days[0]} → {days[-1]} (equity swing, CNC delivery)"
    if version is not None:
        title += f" (champion v{version}; days it trained on are in-sample)"
    return _reported(config, strategy, days, result, title, version)


def _champion(config: KitepilotConfig, strategy: str) -> tuple[RegisteredModel, Scorer]:
    """The registry's champion and its scorer; ContractError naming ``--strategy`` when there
    is none."""
    registry = _registry(config).registry()
    champion = registry.champion()
    if champion is None:
        raise ContractError(
            "backtest", "--strategy", strategy, "needs a champion model: run `kitepilot train`"
        )
    return champion, registry.load(champion)


def _reported(
    config: KitepilotConfig,
    strategy: str,
    days: list[date],
    result: BacktestResult,
    title: str,
    model_version: str | None,
) -> BacktestRun:
    """Write the backtest's HTML report under the reports directory and say where."""
    report = write_backtest_report(
        _study_dir(config).parent / "backtests" / f"{strategy}_{days[0]}_{days[-1]}.html",
        title=title,
        metrics={k: float(v) for k, v in result.metrics.items()},
        equity=result.equity,
        trades=result.trades,
        data_source=config.data.source.value,
    )
    return BacktestRun(strategy, days[0], days[-1], result, report, model_version)


def _registry(config: KitepilotConfig) -> ModelRegistryResource:
    storage = config.storage
    return ModelRegistryResource(
        tracking_uri=storage.mlflow_tracking_uri,
        artifact_root=str(storage.mlflow_artifacts_dir),
        model_name=config.training.model_name,
        reports_dir=str(storage.reports_dir),
    )


def _study_dir(config: KitepilotConfig) -> Path:
    return _registry(config).study_dir()


def _spinner(text: str) -> Progress:
    progress = Progress(
        SpinnerColumn(), TextColumn(text), TimeElapsedColumn(), console=console, transient=True
    )
    progress.add_task(text, total=None)
    return progress
