"""Benchmark: one walk-forward fold (``models.training.train_fold``) against raw ``xgb.train``.

Default size: 25 trading days x 375 minutes x 134 rows a minute = 1.26 M rows x 40 features
(synthetic, with a non-linear signal in 6 of them); the first fold of
``WalkForwardConfig(train_days=20, test_days=5)`` trains on the first 20 days (~1.0 M rows).
Configure with arguments or the environment::

    python -m bench.training [rows_per_minute] [features] [repeats]
    KITEPILOT_BENCH_ROWS_PER_MINUTE=40 python -m bench.training

Like for like: our fold trains a win classifier and a net-return regressor (both early-stopped
on the validation slice) and fits a calibrator. The raw baseline gets the same fit and
validation rows already as one float32 numpy matrix and runs the same two ``xgb.train`` calls
(same params, rounds, early stopping, ``QuantileDMatrix`` built once and relabelled, the fastest
way to use XGBoost here), so the ratio is the cost of everything our fold adds: the row gather
from the polars frame, checks, the purged inner split, polars -> numpy, the calibrator, metadata.
The two must grow identical trees (checked) before they are timed. Targets (issue #4): the fold
at most 1.2x the raw time and at most 60 s on 2 cores. Results: docs/PERFORMANCE.md.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import sys
import time
from collections.abc import Sequence

import numpy as np
import polars as pl
import xgboost as xgb

from bench.features import _session_minutes
from data_contracts.schemas import UTC_TIMESTAMP
from models.training import TrainedModel, TrainingConfig, train_fold
from models.training.fit import take_rows
from models.training.model import feature_matrix
from models.walkforward import Fold, WalkForwardConfig, purged_inner_split, walk_forward_folds

DEFAULT_ROWS_PER_MINUTE = 134  # x 375 minutes x 20 days = 1.005 M training rows
DEFAULT_FEATURES = 40
DEFAULT_REPEATS = 2
DAYS = 25
SESSION_MINUTES = 375
FOLDS = WalkForwardConfig(window="expanding", train_days=20, test_days=5, embargo_minutes=30)
CONFIG = TrainingConfig()  # the defaults: 400 rounds, early stopping 30, nthread 2
VERSION = "bench-training"
_MINUTE_US = 60_000_000


def synthetic_rows(rows_per_minute: int, features: int, seed: int = 5) -> pl.DataFrame:
    """Candidate-trade rows in time order: ``features`` float columns, labels with signal."""
    rng = np.random.default_rng(seed)
    minutes = _session_minutes(DAYS * SESSION_MINUTES)
    ts = np.repeat(minutes, rows_per_minute)
    n = ts.size
    x = rng.standard_normal((n, features))
    logit = (
        0.9 * x[:, 0]
        - 0.7 * x[:, 1]
        + 0.5 * x[:, 2] * x[:, 3]
        + 0.6 * np.tanh(2 * x[:, 4])
        - 0.4 * (x[:, 5] > 1.0)
    )
    net_return = 0.15 * logit + rng.normal(0.0, 0.4, n)
    exit_ts = ts + rng.integers(5, 61, n) * _MINUTE_US
    columns: dict[str, np.ndarray] = {
        "instrument_token": np.tile(np.arange(1, rows_per_minute + 1) * 256 + 1, minutes.size),
        "ts_event": ts,
        "exit_ts": exit_ts,
    }
    columns |= {f"f{i:02d}": x[:, i] for i in range(features)}
    columns |= {"win": net_return > 0, "net_return_pct": net_return}
    return pl.DataFrame(columns).with_columns(
        pl.col("ts_event", "exit_ts").cast(pl.Datetime("us", "UTC")).cast(UTC_TIMESTAMP)
    )


def feature_names(data: pl.DataFrame) -> list[str]:
    return [c for c in data.columns if c.startswith("f") and c[1:].isdigit()]


def first_fold(data: pl.DataFrame) -> Fold:
    return walk_forward_folds(data["ts_event"], data["exit_ts"], FOLDS)[0]


class RawInputs:
    """What the raw baseline is handed: the fold's fit and validation rows as float32 numpy
    (prepared outside the timing), both labels."""

    def __init__(self, data: pl.DataFrame, fold: Fold, columns: Sequence[str]) -> None:
        train = take_rows(data, fold.train, "fold.train")
        split = purged_inner_split(
            train["ts_event"],
            train["exit_ts"],
            validation_fraction=CONFIG.validation_fraction,
            calibration_fraction=CONFIG.calibration_fraction,
            embargo_minutes=CONFIG.embargo_minutes,
        )
        matrix = feature_matrix("bench", train, columns)
        win = train["win"].to_numpy().astype(np.float32)
        net_return = train["net_return_pct"].to_numpy().astype(np.float32)
        self.names = list(columns)
        self.fit = np.ascontiguousarray(matrix[split.fit])
        self.validation = np.ascontiguousarray(matrix[split.validation])
        self.win_fit, self.win_validation = win[split.fit], win[split.validation]
        self.return_fit = net_return[split.fit]
        self.return_validation = net_return[split.validation]


def raw_train(inputs: RawInputs) -> tuple[xgb.Booster, xgb.Booster]:
    """The two boosters with plain XGBoost: same params, rounds and early stopping."""
    fit = xgb.QuantileDMatrix(
        inputs.fit, label=inputs.win_fit, feature_names=inputs.names, nthread=CONFIG.nthread
    )
    validation = xgb.QuantileDMatrix(
        inputs.validation,
        label=inputs.win_validation,
        feature_names=inputs.names,
        nthread=CONFIG.nthread,
        ref=fit,
    )
    params = CONFIG.xgboost_params()
    boosters = []
    for objective, metric in (("binary:logistic", "logloss"), ("reg:squarederror", "rmse")):
        if objective.startswith("reg"):
            fit.set_label(inputs.return_fit)
            validation.set_label(inputs.return_validation)
        boosters.append(
            xgb.train(
                {**params, "objective": objective, "eval_metric": metric},
                fit,
                num_boost_round=CONFIG.n_estimators,
                evals=[(validation, "validation")],
                early_stopping_rounds=CONFIG.early_stopping_rounds,
                verbose_eval=False,
            )
        )
    return boosters[0], boosters[1]


def ours_train(data: pl.DataFrame, fold: Fold, columns: Sequence[str]) -> TrainedModel:
    return train_fold(data, fold, feature_columns=columns, feature_version=VERSION, config=CONFIG)


def same_trees(model: TrainedModel, raw: tuple[xgb.Booster, xgb.Booster], inputs: RawInputs) -> str:
    """'' when both boosters stopped at the same round and predict identically, else why not."""
    sample = inputs.validation[:20_000]
    for name, ours, theirs in (
        ("classifier", model.classifier, raw[0]),
        ("regressor", model.regressor, raw[1]),
    ):
        rounds = ours.num_boosted_rounds()
        if rounds != theirs.best_iteration + 1:
            return f"{name}: {rounds} rounds vs raw best iteration {theirs.best_iteration}"
        a = ours.inplace_predict(sample)
        b = theirs.inplace_predict(sample, iteration_range=(0, rounds))
        if not np.array_equal(a, b):
            return f"{name}: predictions differ by up to {np.abs(a - b).max():.3g}"
    return ""


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def main(argv: Sequence[str] = ()) -> int:
    args = [int(a) for a in argv]
    per_minute = (
        args[0] if args else _env_int("KITEPILOT_BENCH_ROWS_PER_MINUTE", DEFAULT_ROWS_PER_MINUTE)
    )
    features = args[1] if len(args) > 1 else _env_int("KITEPILOT_BENCH_FEATURES", DEFAULT_FEATURES)
    repeats = args[2] if len(args) > 2 else _env_int("KITEPILOT_BENCH_REPEATS", DEFAULT_REPEATS)
    print(
        f"training bench — Python {platform.python_version()}, xgboost {xgb.__version__}, "
        f"{os.cpu_count()} cores, nthread {CONFIG.nthread}, "
        f"{dt.date.today()}"  # noqa: DTZ011 - a report label, not core logic
    )
    data = synthetic_rows(per_minute, features)
    columns = feature_names(data)
    fold = first_fold(data)
    inputs = RawInputs(data, fold, columns)
    print(
        f"{data.height:,} rows x {len(columns)} features; fold 0 trains on {fold.train.size:,} "
        f"rows (fit {len(inputs.fit):,}, validation {len(inputs.validation):,}, "
        f"the rest calibration/purged)"
    )

    ours_s = raw_s = float("inf")
    model = None
    raw = None
    for _ in range(repeats):  # alternate, so both see the same machine state
        started = time.perf_counter()
        raw = raw_train(inputs)
        raw_s = min(raw_s, time.perf_counter() - started)
        started = time.perf_counter()
        model = ours_train(data, fold, columns)
        ours_s = min(ours_s, time.perf_counter() - started)
    assert model is not None
    assert raw is not None
    problem = same_trees(model, raw, inputs)
    meta = model.metadata
    print(
        f"best iteration: classifier {meta.best_iteration_classifier}, "
        f"regressor {meta.best_iteration_regressor} (of {CONFIG.n_estimators}); "
        + ("identical trees to raw xgb.train" if not problem else f"NOT identical: {problem}")
    )
    print(f"raw xgb.train x 2 (best of {repeats}): {raw_s:.2f} s")
    print(f"train_fold (best of {repeats}): {ours_s:.2f} s")
    print(f"ratio {ours_s / raw_s:.3f} (target <= 1.2); fold {ours_s:.1f} s (target <= 60 s)")
    return 1 if problem else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
