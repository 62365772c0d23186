"""The walk-forward study: does following the model make money after charges, out of sample,
compared with simple rules?

Input: the training rows (features ⋈ fee-aware labels ⋈ the rules signal, one row per decision
point) and the bars they trade on. Output: per-fold and overall ML metrics, a calibration table,
and the out-of-sample trading result of four strategies run through the same backtest engine:

- ``model``: take a decision point when the calibrated p_win ≥ the threshold and the expected net
  profit (expected net return x the position's notional, both known at decision time) ≥ the
  minimum;
- ``rules_macd_rsi``: the seed's MACD/RSI rules, no model;
- ``always_trade``: every decision point;
- ``never_trade``: nothing (zero P&L: the bar every strategy must clear after charges).

Labels are the only look-ahead; the study only ever scores a row with a model that was trained on
rows whose labels ended before the row was decided (``models.walkforward``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pandera.polars as pa
import polars as pl

from data_contracts.charges import ChargesModel
from data_contracts.errors import ContractError
from data_contracts.schemas import FeatureFrame, LabelFrame
from models.backtest import METRIC_NAMES, BacktestResult, FillModel, Portfolio, run_backtest
from models.features import FeatureSet
from models.labels import ENTRY_INPUTS, ENTRY_PASSTHROUGH
from models.leakage import LeakFinding, leaking_features
from models.strategies import macd_rsi_signals
from models.training import (
    TrainedModel,
    TrainingConfig,
    calibration_table,
    classification_metrics,
    train_model,
    walk_forward_predictions,
)
from models.walkforward import Fold, WalkForwardConfig, walk_forward_folds

__all__ = [
    "STRATEGIES",
    "ResearchSettings",
    "SavedStudy",
    "Study",
    "check_training_rows",
    "final_model",
    "load_study",
    "save_study",
    "schema_problems",
    "shap_summary",
    "strategy_entries",
    "training_rows",
    "walk_forward_study",
]

KEYS: Final = ("instrument_token", "ts_event")
STRATEGIES: Final = ("model", "rules_macd_rsi", "always_trade", "never_trade")
# Rows scored for the SHAP summary (contributions cost a tree walk per row).
SHAP_ROWS: Final = 5_000


@dataclass(frozen=True)
class ResearchSettings:
    """Everything the study needs, mapped from the user config by orchestration."""

    feature_set: FeatureSet
    walk_forward: WalkForwardConfig
    training: TrainingConfig
    fills: FillModel
    portfolio: Portfolio
    threshold: float
    min_expected_net_profit: float


@dataclass(frozen=True)
class Study:
    """The study's results (frames are what the reports plot)."""

    folds: pl.DataFrame  # fold, windows, rows, ML metrics, the model's trading result per fold
    predictions: pl.DataFrame  # out-of-sample rows: keys, fold, p_win, expected_return, labels
    calibration: pl.DataFrame  # bin, mean_predicted, observed_rate, rows
    comparison: pl.DataFrame  # strategy + backtest metrics, one row per strategy
    equity: pl.DataFrame  # ts, strategy, equity
    metrics: dict[str, float]  # overall out-of-sample: ML metrics + the model's trading metrics
    backtests: Mapping[str, BacktestResult]


def training_rows(
    features: pl.DataFrame, labels: pl.DataFrame, feature_set: FeatureSet
) -> pl.DataFrame:
    """Features joined with their labels and the rules signal, in time order (one row per
    decision point that has a label)."""
    if features.is_empty() or labels.is_empty():
        return features.join(labels, on=KEYS, how="inner").with_columns(
            pl.lit(False).alias("rules_signal")
        )
    rules = macd_rsi_signals(features, feature_set)
    return (
        features.join(labels, on=KEYS, how="inner")
        .join(rules, on=KEYS, how="left")
        .with_columns(pl.col("rules_signal").fill_null(False))
        .sort("ts_event", "instrument_token")
    )


def schema_problems(frame: pl.DataFrame, *schemas: type[pa.DataFrameModel]) -> list[str]:
    """The distinct failed checks of ``frame`` against each pandera schema (empty: valid)."""
    problems: list[str] = []
    for schema in schemas:
        try:
            schema.validate(frame, lazy=True)
        except pa.errors.SchemaErrors as errors:
            checks = errors.failure_cases["check"].to_list()
            problems += sorted({f"{schema.__name__}: {c}" for c in checks})
    return problems


def check_training_rows(
    rows: pl.DataFrame, feature_set: FeatureSet
) -> tuple[list[str], list[LeakFinding]]:
    """Why ``rows`` (of :func:`training_rows`) may not be trained on: schema problems (the
    features as a ``FeatureFrame``, the labels as a ``LabelFrame``) and leaking features."""
    features = rows.select(*KEYS, "feature_version", *feature_set.columns)
    problems = schema_problems(features, FeatureFrame) + schema_problems(rows, LabelFrame)
    return problems, leaking_features(rows, feature_set.columns)


def strategy_entries(
    rows: pl.DataFrame, strategy: str, *, threshold: float, min_expected_net_profit: float
) -> pl.DataFrame:
    """The backtest entries of ``strategy`` among ``rows`` (which carry predictions for
    ``model``): the labelled entries, sized as the label was."""
    if strategy == "model":
        notional = pl.col("entry_price") * pl.col("quantity")
        expected_profit = pl.col("expected_return") / 100.0 * notional
        chosen = rows.filter(
            (pl.col("p_win") >= threshold) & (expected_profit >= min_expected_net_profit)
        )
    elif strategy == "rules_macd_rsi":
        chosen = rows.filter(pl.col("rules_signal"))
    elif strategy == "always_trade":
        chosen = rows
    elif strategy == "never_trade":
        chosen = rows.clear()
    else:
        raise ContractError("strategy_entries", "strategy", strategy, f"must be in {STRATEGIES}")
    return chosen.select(
        pl.col("instrument_token"), pl.col("ts_event").alias("ts_decision"), *ENTRY_INPUTS
    )


def walk_forward_study(
    rows: pl.DataFrame,
    bars: pl.DataFrame,
    settings: ResearchSettings,
    *,
    charges: ChargesModel | None = None,
) -> Study:
    """Folds → out-of-sample predictions → ML metrics → the four strategies' backtests."""
    fs = settings.feature_set
    folds = walk_forward_folds(rows["ts_event"], rows["exit_ts"], settings.walk_forward)
    predictions = walk_forward_predictions(
        rows,
        folds,
        feature_columns=fs.columns,
        feature_version=fs.version,
        config=settings.training,
    )
    context_columns = [*KEYS, *ENTRY_PASSTHROUGH, "rules_signal"]
    oos = predictions.join(rows.select(context_columns), on=list(KEYS), how="left")
    backtests = {
        strategy: _backtest(bars, oos, strategy, settings, charges) for strategy in STRATEGIES
    }
    per_fold = _fold_table(folds, oos, bars, settings, charges)
    win = oos["win"].to_numpy()
    p_win = oos["p_win"].to_numpy()
    model_trading = backtests["model"].metrics
    metrics = classification_metrics(win, p_win, settings.threshold) | {
        name: float(model_trading[name]) for name in METRIC_NAMES
    }
    metrics["folds"] = float(len(folds))
    return Study(
        folds=per_fold,
        predictions=oos,
        calibration=calibration_table(win, p_win),
        comparison=_comparison(backtests),
        equity=pl.concat(
            [
                result.equity.with_columns(pl.lit(strategy).alias("strategy"))
                for strategy, result in backtests.items()
            ],
            how="diagonal_relaxed",
        ),
        metrics=metrics,
        backtests=backtests,
    )


def final_model(rows: pl.DataFrame, settings: ResearchSettings) -> TrainedModel:
    """The model to register: the same training procedure on every row."""
    fs = settings.feature_set
    return train_model(
        rows, feature_columns=fs.columns, feature_version=fs.version, config=settings.training
    )


def shap_summary(model: TrainedModel, rows: pl.DataFrame) -> pl.DataFrame:
    """``feature, mean_abs_shap`` over (a deterministic sample of) ``rows``, largest first."""
    sample = rows if rows.height <= SHAP_ROWS else rows.sample(SHAP_ROWS, seed=0)
    return model.mean_abs_contributions(sample)


def _backtest(
    bars: pl.DataFrame,
    rows: pl.DataFrame,
    strategy: str,
    settings: ResearchSettings,
    charges: ChargesModel | None,
) -> BacktestResult:
    entries = strategy_entries(
        rows,
        strategy,
        threshold=settings.threshold,
        min_expected_net_profit=settings.min_expected_net_profit,
    )
    return run_backtest(
        bars, entries, fills=settings.fills, portfolio=settings.portfolio, charges=charges
    )


def _fold_table(
    folds: list[Fold],
    oos: pl.DataFrame,
    bars: pl.DataFrame,
    settings: ResearchSettings,
    charges: ChargesModel | None,
) -> pl.DataFrame:
    records = []
    for fold in folds:
        rows = oos.filter(pl.col("fold") == fold.number)
        ml = classification_metrics(
            rows["win"].to_numpy(), rows["p_win"].to_numpy(), settings.threshold
        )
        trading = _backtest(bars, rows, "model", settings, charges).metrics
        records.append(
            {
                "fold": fold.number,
                "train_start": fold.train_start,
                "train_end": fold.train_end,
                "test_start": fold.test_start,
                "test_end": fold.test_end,
                "train_rows": int(fold.train.size),
                "test_rows": int(fold.test.size),
                "purged": fold.purged,
                **ml,
                "net_pnl": float(trading["net_pnl"]),
                "trades": float(trading["trades"]),
            }
        )
    return pl.DataFrame(records)


def _comparison(backtests: Mapping[str, BacktestResult]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"strategy": strategy, **{m: float(result.metrics[m]) for m in METRIC_NAMES}}
            for strategy, result in backtests.items()
        ]
    )


# --- persistence of a study between processes (parquet + JSON; no pickle) -----------------------

_FRAMES: Final = ("folds", "predictions", "calibration", "comparison", "equity")


def save_study(study: Study, directory: Path, lineage: Mapping[str, object]) -> Path:
    """Write the study's frames, metrics, lineage and the model strategy's trades to
    ``directory`` (replacing what was there); return the metrics file."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in _FRAMES:
        getattr(study, name).write_parquet(directory / f"{name}.parquet")
    for strategy, result in study.backtests.items():
        result.trades.write_parquet(directory / f"trades_{strategy}.parquet")
    target = directory / "study.json"
    target.write_text(
        json.dumps({"metrics": study.metrics, "lineage": dict(lineage)}, indent=2, default=str),
        encoding="utf-8",
    )
    return target


@dataclass(frozen=True)
class SavedStudy:
    """A study read back from disk (what the registry and reports need)."""

    frames: Mapping[str, pl.DataFrame]
    trades: Mapping[str, pl.DataFrame]
    metrics: Mapping[str, float]
    lineage: Mapping[str, object]


def load_study(directory: Path) -> SavedStudy:
    """Read what :func:`save_study` wrote; a missing file raises ContractError naming it."""
    target = directory / "study.json"
    if not target.exists():
        raise ContractError("load_study", "directory", str(directory), "holds no study.json")
    document = json.loads(target.read_text(encoding="utf-8"))
    return SavedStudy(
        frames={name: pl.read_parquet(directory / f"{name}.parquet") for name in _FRAMES},
        trades={s: pl.read_parquet(directory / f"trades_{s}.parquet") for s in STRATEGIES},
        metrics={k: float(v) for k, v in document["metrics"].items()},
        lineage=document["lineage"],
    )
