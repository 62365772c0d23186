"""Model assets (group ``models``): fee-aware labels (equity intraday and long options), the
training set, the walk-forward study, the registered model with its promotion gate, the champion
alias and the backtest report.

``labels``, ``option_labels`` and ``training_set`` are daily partitions (they run with the daily
ingest job); the rest are unpartitioned and read every validated day from the lake. A
``training_set`` partition is written only after it passes its checks (schema and label leakage),
and is deleted when a rerun fails them, so everything downstream trains on checked data only.
"""

# No `from __future__ import annotations`: Dagster inspects the context annotations at runtime.

import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandera.polars as pa
import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    asset,
)

from assets.features import FEATURES_TABLE
from assets.market_data import (
    CANDLES_TABLE,
    INSTRUMENTS_TABLE,
    OPTION_CHAIN_ASSET,
    OPTION_CHAIN_TABLE,
)
from assets.partitions import partition_day
from assets.resources import LakeResource, ModelRegistryResource
from data_contracts.errors import ContractError
from data_contracts.nse_calendar import NseCalendar
from data_contracts.schemas import LabelFrame
from models.data_quality.quarantine import read_candles
from models.labels import label_entries, label_option_trades
from models.lake import Lake
from models.promotion import PromotionCriteria, decide_promotion
from models.reports import (
    write_backtest_report,
    write_calibration_plot,
    write_equity_plot,
    write_importance_plot,
    write_shap_plot,
    write_walk_forward_report,
)
from models.research import (
    ResearchSettings,
    check_training_rows,
    final_model,
    load_study,
    save_study,
    schema_problems,
    shap_summary,
    training_rows,
    walk_forward_study,
)
from models.strategies import (
    EquityIntradayParams,
    EquitySwingParams,
    LongOptionParams,
    equity_intraday_entries,
    long_option_trades,
    underlying_signals,
)

__all__ = [
    "LABELS_TABLE",
    "OPTION_LABELS_TABLE",
    "TRAINING_JOB_ASSETS",
    "TRAINING_SET_TABLE",
    "ModelPipeline",
    "model_assets",
]

GROUP = "models"
LABELS_TABLE = "labels"
OPTION_LABELS_TABLE = "option_labels"
TRAINING_SET_TABLE = "training_set"
TRAINING_JOB_ASSETS = ("walk_forward_evaluation", "trained_model", "champion_model", "backtest")
WALK_FORWARD_REPORT = "walk_forward.html"
BACKTEST_REPORT = "backtest.html"


@dataclass(frozen=True)
class ModelPipeline:
    """The model side's settings, mapped from the user config by orchestration."""

    research: ResearchSettings
    equity: EquityIntradayParams
    options: LongOptionParams
    promotion: PromotionCriteria
    data_source: str
    swing: EquitySwingParams = field(default_factory=EquitySwingParams)


def model_assets(
    partitions: PartitionsDefinition, calendar: NseCalendar, pipeline: ModelPipeline
) -> list[AssetsDefinition]:
    """The model assets: three daily-partitioned, four over the whole validated history."""
    labels = _labels_asset(partitions, calendar, pipeline)
    training_set = _training_set_asset(partitions, pipeline, labels)
    return [
        labels,
        _option_labels_asset(partitions, calendar, pipeline),
        training_set,
        *_training_assets(pipeline, training_set),
    ]


def _labels_asset(
    partitions: PartitionsDefinition, calendar: NseCalendar, pipeline: ModelPipeline
) -> AssetsDefinition:
    settings = pipeline.research
    feature_set = settings.feature_set

    @asset(
        name=LABELS_TABLE,
        group_name=GROUP,
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
        deps=[CANDLES_TABLE, FEATURES_TABLE, INSTRUMENTS_TABLE],
        check_specs=[AssetCheckSpec("label_frame_valid", asset=LABELS_TABLE, blocking=True)],
        description=(
            "Fee-aware labels: the net outcome, after every Zerodha charge, of the equity "
            "intraday trade the strategy would take at each decision point (the only look-ahead)."
        ),
    )
    def labels(
        context: AssetExecutionContext, lake: LakeResource
    ) -> Iterator[MaterializeResult | AssetCheckResult]:
        def build(frames: list[pl.DataFrame]) -> pl.DataFrame:
            candles, features, instruments = frames
            entries = equity_intraday_entries(
                features,
                candles,
                instruments,
                feature_set=feature_set,
                params=pipeline.equity,
                calendar=calendar,
            )
            # Each label is its trade alone (sized by the strategy, no competing positions).
            return label_entries(
                candles, entries, fills=settings.fills, portfolio=settings.portfolio
            )

        yield from _daily_labels(
            context,
            lake.lake(),
            LABELS_TABLE,
            (CANDLES_TABLE, FEATURES_TABLE, INSTRUMENTS_TABLE),
            build,
            "label_frame_valid",
        )

    return labels


def _option_labels_asset(
    partitions: PartitionsDefinition, calendar: NseCalendar, pipeline: ModelPipeline
) -> AssetsDefinition:
    settings = pipeline.research
    inputs = (CANDLES_TABLE, FEATURES_TABLE, INSTRUMENTS_TABLE, OPTION_CHAIN_TABLE)

    @asset(
        name=OPTION_LABELS_TABLE,
        group_name=GROUP,
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
        deps=[CANDLES_TABLE, FEATURES_TABLE, INSTRUMENTS_TABLE, OPTION_CHAIN_ASSET],
        check_specs=[
            AssetCheckSpec("option_label_frame_valid", asset=OPTION_LABELS_TABLE, blocking=True)
        ],
        description=(
            "Fee-aware labels of the long-options strategy: at each decision point of an "
            "underlying with a chain, the CE (bullish) or PE (bearish) chosen by delta and "
            "liquidity, its net outcome after every charge (TP/SL on the premium, time exit, "
            "F&O square-off), on minute bars priced from the underlying and the chain's vol."
        ),
    )
    def option_labels(
        context: AssetExecutionContext, lake: LakeResource
    ) -> Iterator[MaterializeResult | AssetCheckResult]:
        def build(frames: list[pl.DataFrame]) -> pl.DataFrame:
            candles, features, instruments, chain = frames
            trades = long_option_trades(
                underlying_signals(features, chain),
                candles,
                chain,
                instruments,
                params=pipeline.options,
                calendar=calendar,
            )
            return label_option_trades(trades, fills=settings.fills, portfolio=settings.portfolio)

        yield from _daily_labels(
            context, lake.lake(), OPTION_LABELS_TABLE, inputs, build, "option_label_frame_valid"
        )

    return option_labels


def _daily_labels(
    context: AssetExecutionContext,
    store: Lake,
    table: str,
    inputs: tuple[str, ...],
    build: Callable[[list[pl.DataFrame]], pl.DataFrame],
    check_name: str,
) -> Iterator[MaterializeResult | AssetCheckResult]:
    """Per partition day: read ``inputs`` from the lake, ``build`` that day's labels, write them
    to ``table``; then the summary and the blocking LabelFrame check over every day written."""
    written = []
    for key in context.partition_keys:
        day = partition_day(key)
        frames = [_read(store, name, day) for name in inputs]
        present = [frame for frame in frames if frame is not None]
        if len(present) < len(inputs):
            context.log.warning(f"{day}: an input of {inputs} is missing; no {table}")
            continue
        day_labels = build(present)
        store.write(table, day, day_labels)
        written.append(day_labels)
    frame = pl.concat(written) if written else pl.DataFrame()
    yield MaterializeResult(metadata=_label_summary(frame))
    yield _schema_check(check_name, table, frame, LabelFrame)


def _training_set_asset(
    partitions: PartitionsDefinition, pipeline: ModelPipeline, labels: AssetsDefinition
) -> AssetsDefinition:
    feature_set = pipeline.research.feature_set

    @asset(
        name=TRAINING_SET_TABLE,
        group_name=GROUP,
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
        deps=[labels, FEATURES_TABLE],
        check_specs=[
            AssetCheckSpec("training_set_valid", asset=TRAINING_SET_TABLE, blocking=True),
            AssetCheckSpec("no_label_leakage", asset=TRAINING_SET_TABLE, blocking=True),
        ],
        description=(
            "Features joined with their labels and the MACD/RSI rules signal, one row per "
            "decision point; a day is written only if it passes its checks."
        ),
    )
    def training_set(
        context: AssetExecutionContext, lake: LakeResource
    ) -> Iterator[MaterializeResult | AssetCheckResult]:
        store = lake.lake()
        kept: list[pl.DataFrame] = []
        refused: list[str] = []
        leaks: list[str] = []
        invalid: list[str] = []
        for key in context.partition_keys:
            day = partition_day(key)
            features, day_labels = (
                _read(store, FEATURES_TABLE, day),
                _read(store, LABELS_TABLE, day),
            )
            if features is None or day_labels is None:
                continue
            rows = training_rows(features, day_labels, feature_set)
            problems, found = check_training_rows(rows, feature_set)
            if problems or found:
                # Never leave an unchecked (or failed) day where training would read it.
                store.delete(TRAINING_SET_TABLE, day)
                refused.append(key)
                invalid.extend(f"{key}: {p}" for p in problems)
                leaks.extend(f"{key}: {f}" for f in found)
                continue
            store.write(TRAINING_SET_TABLE, day, rows)
            kept.append(rows)
        frame = pl.concat(kept) if kept else pl.DataFrame()
        yield MaterializeResult(
            metadata={
                "rows": frame.height,
                "days_written": len(context.partition_keys) - len(refused),
                "days_refused": MetadataValue.json(refused),
                "feature_version": feature_set.version,
            }
        )
        yield _listed_check("training_set_valid", invalid, frame.height)
        yield _listed_check("no_label_leakage", leaks, frame.height)

    return training_set


def _training_assets(
    pipeline: ModelPipeline, training_set: AssetsDefinition
) -> list[AssetsDefinition]:
    settings = pipeline.research
    feature_set = settings.feature_set

    @asset(
        name="walk_forward_evaluation",
        group_name=GROUP,
        deps=[training_set, CANDLES_TABLE],
        description=(
            "Walk-forward folds (purged, embargoed), out-of-sample p_win and expected return, "
            "ML metrics, and the backtests of the model vs MACD/RSI rules, always- and never-trade."
        ),
    )
    def walk_forward_evaluation(
        context: AssetExecutionContext, lake: LakeResource, models: ModelRegistryResource
    ) -> MaterializeResult:
        store = lake.lake()
        days = store.days(TRAINING_SET_TABLE)
        if not days:
            raise ContractError(
                "walk_forward_evaluation", TRAINING_SET_TABLE, None, "has no validated days yet"
            )
        rows = store.scan(TRAINING_SET_TABLE, days[0], days[-1]).drop("date").collect()
        rows = rows.filter(pl.col("feature_version") == feature_set.version)
        bars = read_candles(store, CANDLES_TABLE, days[0], days[-1])
        study = walk_forward_study(rows.sort("ts_event", "instrument_token"), bars, settings)
        lineage = {
            "lake_table": TRAINING_SET_TABLE,
            "lake_days": [d.isoformat() for d in days],
            "first_day": days[0].isoformat(),
            "last_day": days[-1].isoformat(),
            "feature_version": feature_set.version,
            "code_version": code_version(),
            "data_source": pipeline.data_source,
        }
        save_study(study, models.study_dir(), lineage)
        metrics = study.metrics
        context.log.info(f"walk-forward: {len(days)} days, {int(metrics['folds'])} folds")
        return MaterializeResult(
            metadata={
                "days": len(days),
                "rows": rows.height,
                "folds": int(metrics["folds"]),
                **{f"oos_{k}": float(v) for k, v in metrics.items() if k != "folds"},
                "comparison": MetadataValue.md(_markdown(study.comparison)),
            }
        )

    @asset(
        name="trained_model",
        group_name=GROUP,
        deps=[walk_forward_evaluation],
        check_specs=[AssetCheckSpec("beats_champion", asset="trained_model", blocking=True)],
        description=(
            "The model trained on every validated row, logged to MLflow with its walk-forward "
            "metrics, reports and lineage, registered and marked `challenger`."
        ),
    )
    def trained_model(
        context: AssetExecutionContext, lake: LakeResource, models: ModelRegistryResource
    ) -> Iterator[MaterializeResult | AssetCheckResult]:
        store = lake.lake()
        saved = load_study(models.study_dir())
        days = [date.fromisoformat(str(d)) for d in saved.lineage["lake_days"]]  # type: ignore[attr-defined]
        rows = store.scan(TRAINING_SET_TABLE, days[0], days[-1]).drop("date").collect()
        rows = rows.filter(pl.col("feature_version") == feature_set.version)
        model = final_model(rows.sort("ts_event", "instrument_token"), settings)
        out = models.study_dir()
        frames = saved.frames
        importance, shap = model.importance(), shap_summary(model, rows)
        report = write_walk_forward_report(
            out / WALK_FORWARD_REPORT,
            folds=frames["folds"],
            calibration=frames["calibration"],
            equity=frames["equity"],
            comparison=frames["comparison"],
            importance=importance,
            shap=shap,
            summary={**saved.metrics, "data_source": pipeline.data_source},
        )
        # One-figure pages share one plotly.js in their folder (the report embeds its own copy).
        plots = out / "plots"
        source = pipeline.data_source
        for path, writer, frame in (
            (plots / "calibration.html", write_calibration_plot, frames["calibration"]),
            (plots / "equity.html", write_equity_plot, frames["equity"]),
            (plots / "importance.html", write_importance_plot, importance),
            (plots / "shap.html", write_shap_plot, shap),
        ):
            writer(path, frame, data_source=source, plotlyjs="directory")
        artifacts = {f"reports/{WALK_FORWARD_REPORT}": report, "plots": plots}
        registry = models.registry()
        registered = registry.log_training(
            model=model,
            params={**settings.training.to_dict(), **_strategy_params(pipeline)},
            metrics=saved.metrics,
            fold_metrics=frames["folds"]
            .drop("train_start", "train_end", "test_start", "test_end")
            .to_dicts(),
            artifacts=artifacts,
            # The registry records the model's feature version itself.
            lineage={k: _tag(v) for k, v in saved.lineage.items() if k != "feature_version"},
            input_example=rows.select(feature_set.columns).head(5),
        )
        registry.mark_challenger(registered.version)
        champion = registry.champion()
        champion_metrics = registry.version_metrics(champion.version) if champion else None
        missing = [d for d in days if not store.partition_path(TRAINING_SET_TABLE, d).exists()]
        decision = decide_promotion(
            saved.metrics,
            champion_metrics,
            pipeline.promotion,
            data_checks_passed=not missing,
        )
        context.log.info(f"model version {registered.version}: {decision}")
        yield MaterializeResult(
            metadata={
                "model_name": registry.model_name,
                "version": registered.version,
                "feature_version": model.feature_version,
                "champion_before": champion.version if champion else None,
                "walk_forward_report": MetadataValue.path(str(report)),
            }
        )
        yield AssetCheckResult(
            check_name="beats_champion",
            asset_key="trained_model",
            passed=decision.promote,
            severity=AssetCheckSeverity.ERROR,
            metadata={
                "challenger": registered.version,
                "champion": champion.version if champion else None,
                "reasons": MetadataValue.json(list(decision.reasons)),
                "days_missing": MetadataValue.json([d.isoformat() for d in missing]),
            },
        )

    @asset(
        name="champion_model",
        group_name=GROUP,
        deps=[trained_model],
        description=(
            "Moves the `champion` alias to the new model. Runs only when `beats_champion` "
            "passed (a blocking check), so a worse model never becomes champion."
        ),
    )
    def champion_model(models: ModelRegistryResource) -> MaterializeResult:
        registry = models.registry()
        challenger = registry.challenger()
        if challenger is None:
            raise ContractError("champion_model", "challenger", None, "no challenger to promote")
        promoted = registry.promote(challenger.version)
        return MaterializeResult(
            metadata={
                "champion": promoted.version,
                "feature_version": promoted.feature_version,
                "promoted_at": str(promoted.promoted_at),
            }
        )

    @asset(
        name="backtest",
        group_name=GROUP,
        deps=[walk_forward_evaluation],
        description=(
            "The out-of-sample backtest of following the model (walk-forward test windows), "
            "with its trades, equity curve and metrics, as an HTML report."
        ),
    )
    def backtest(models: ModelRegistryResource) -> MaterializeResult:
        saved = load_study(models.study_dir())
        comparison = saved.frames["comparison"]
        model_row = comparison.filter(pl.col("strategy") == "model").to_dicts()[0]
        path = write_backtest_report(
            models.study_dir() / BACKTEST_REPORT,
            title="Out-of-sample backtest: following the model",
            metrics={k: float(v) for k, v in model_row.items() if k != "strategy"},
            equity=saved.frames["equity"],
            trades=saved.trades["model"],
            data_source=pipeline.data_source,
        )
        return MaterializeResult(
            metadata={
                "report": MetadataValue.path(str(path)),
                "comparison": MetadataValue.md(_markdown(comparison)),
            }
        )

    return [walk_forward_evaluation, trained_model, champion_model, backtest]


def code_version() -> str:
    """The git commit of the running code, or ``unknown`` outside a checkout."""
    try:
        found = subprocess.run(
            ["git", "rev-parse", "HEAD"],  # noqa: S607 - git from PATH is the point
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return found.stdout.strip() or "unknown"


def _read(store: Lake, table: str, day: date) -> pl.DataFrame | None:
    if table == CANDLES_TABLE:  # never a bar a blocking check failed (candles_1m_quarantine)
        if not store.partition_path(table, day).is_file():
            return None
        return read_candles(store, table, day, day)
    frame = store.read(table, day)
    return None if frame is None else frame.drop("date", strict=False)


def _schema_check(
    name: str, asset_key: str, frame: pl.DataFrame, schema: type[pa.DataFrameModel]
) -> AssetCheckResult:
    problems = [] if frame.is_empty() else schema_problems(frame, schema)
    return _listed_check(name, problems, frame.height, asset_key=asset_key)


def _listed_check(
    name: str, problems: list[str], rows: int, asset_key: str = TRAINING_SET_TABLE
) -> AssetCheckResult:
    return AssetCheckResult(
        check_name=name,
        asset_key=asset_key,
        passed=not problems,
        severity=AssetCheckSeverity.ERROR,
        metadata={"rows": MetadataValue.int(rows), "problems": MetadataValue.json(problems[:50])},
    )


def _label_summary(frame: pl.DataFrame) -> dict[str, Any]:
    if frame.is_empty():
        return {"rows": 0}
    return {
        "rows": frame.height,
        "win_rate": float(frame["win"].mean()),  # type: ignore[arg-type]
        "mean_net_return_pct": float(frame["net_return_pct"].mean()),  # type: ignore[arg-type]
        "charges_per_trade": float(frame["charges"].mean()),  # type: ignore[arg-type]
        "exit_reasons": MetadataValue.json(
            dict(frame.group_by("exit_reason").len().sort("exit_reason").iter_rows())
        ),
    }


def _strategy_params(pipeline: ModelPipeline) -> dict[str, object]:
    research, equity = pipeline.research, pipeline.equity
    return {
        "threshold": research.threshold,
        "min_expected_net_profit": research.min_expected_net_profit,
        "take_profit_atr": equity.take_profit_atr,
        "stop_loss_atr": equity.stop_loss_atr,
        "max_hold_minutes": equity.max_hold_minutes,
        "window": research.walk_forward.window,
        "train_days": research.walk_forward.train_days,
        "test_days": research.walk_forward.test_days,
        "embargo_minutes": research.walk_forward.embargo_minutes,
        "feature_version": research.feature_set.version,
    }


def _tag(value: object) -> str:
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def _markdown(frame: pl.DataFrame) -> str:
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * frame.width
    body = [
        "| " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row) + " |"
        for row in frame.iter_rows()
    ]
    return "\n".join([header, rule, *body])
