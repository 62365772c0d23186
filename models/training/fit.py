"""Training one fold's model: purged inner split, two early-stopped boosters, a calibrator.

The path is deliberately thin (polars -> one float32 numpy matrix -> ``xgb.QuantileDMatrix`` built
once and relabelled for the second booster; no per-row Python) so that a fold costs little more
than the raw ``xgb.train`` calls; ``bench/`` times :func:`train_fold` against them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl
import xgboost as xgb

from data_contracts.errors import ContractError
from data_contracts.timeutil import require_aware
from data_contracts.validation import instance_of, non_empty
from models.training.calibration import fit_calibrator
from models.training.config import TrainingConfig
from models.training.model import (
    VERSION_COLUMN,
    ModelMetadata,
    TrainedModel,
    feature_matrix,
    validate_feature_columns,
)
from models.walkforward import Fold, InnerSplit, purged_inner_split

__all__ = ["LABEL_COLUMNS", "train_fold", "train_model"]

_OWNER: Final = "train_model"
LABEL_COLUMNS: Final = ("win", "net_return_pct", "ts_event", "exit_ts")
_DEFAULT_CONFIG: Final = TrainingConfig()


def train_model(
    train: pl.DataFrame,
    *,
    feature_columns: Sequence[str],
    feature_version: str,
    config: TrainingConfig = _DEFAULT_CONFIG,
) -> TrainedModel:
    """Train a fold model on ``train`` (feature columns + ``win``, ``net_return_pct``,
    ``ts_event``, ``exit_ts``; any row order).

    Rows are split in time order into fit | validation | calibration with the label purge (and
    ``config.embargo_minutes``) between slices. Both boosters (win classifier, net-return
    regressor) fit on the fit slice and stop early on the validation slice; the calibrator is
    fitted on the calibration slice only. Deterministic: the same data and config give the same
    trees and predictions, bit for bit.
    """
    instance_of(_OWNER, "config", config, TrainingConfig)
    if not isinstance(train, pl.DataFrame):
        raise ContractError(_OWNER, "train", type(train).__name__, "must be a polars DataFrame")
    columns = validate_feature_columns(_OWNER, feature_columns)
    non_empty(_OWNER, "feature_version", feature_version)
    clash = sorted(set(columns) & set(LABEL_COLUMNS))
    if clash:
        raise ContractError(_OWNER, "feature_columns", clash, "must not include label columns")
    win, net_return = _labels(train)
    _check_version(train, feature_version)
    split = purged_inner_split(
        train["ts_event"],
        train["exit_ts"],
        validation_fraction=config.validation_fraction,
        calibration_fraction=config.calibration_fraction,
        embargo_minutes=config.embargo_minutes,
    )
    _check_both_classes(win, split)
    matrix = feature_matrix(_OWNER, train, columns)
    classifier, regressor = _fit_boosters(matrix, win, net_return, split, columns, config)
    calibration_rows = _rows(matrix, split.calibration)
    margin = classifier.inplace_predict(calibration_rows, predict_type="margin")
    calibrator = fit_calibrator(config.calibration, margin, win[split.calibration])
    span = train.select(
        start=pl.col("ts_event").dt.convert_time_zone("UTC").min(),
        end=pl.col("ts_event").dt.convert_time_zone("UTC").max(),
    )
    metadata = ModelMetadata(
        best_iteration_classifier=classifier.num_boosted_rounds() - 1,
        best_iteration_regressor=regressor.num_boosted_rounds() - 1,
        rows_fit=int(split.fit.size),
        rows_validation=int(split.validation.size),
        rows_calibration=int(split.calibration.size),
        rows_purged=split.purged,
        base_rate=float(win[split.fit].mean()),
        train_start=require_aware(_OWNER, "ts_event", span["start"].item()),
        train_end=require_aware(_OWNER, "ts_event", span["end"].item()),
        config=config,
        xgboost_version=xgb.__version__,
    )
    return TrainedModel(
        feature_columns=columns,
        feature_version=feature_version,
        classifier=classifier,
        regressor=regressor,
        calibrator=calibrator,
        metadata=metadata,
    )


def train_fold(
    data: pl.DataFrame,
    fold: Fold,
    *,
    feature_columns: Sequence[str],
    feature_version: str,
    config: TrainingConfig = _DEFAULT_CONFIG,
) -> TrainedModel:
    """Train on ``fold``'s training rows of ``data`` (one gather, then :func:`train_model`)."""
    instance_of(_OWNER, "fold", fold, Fold)
    return train_model(
        take_rows(data, fold.train, "fold.train"),
        feature_columns=feature_columns,
        feature_version=feature_version,
        config=config,
    )


def take_rows(data: pl.DataFrame, rows: npt.NDArray[np.int64], field: str) -> pl.DataFrame:
    """``data``'s rows at positions ``rows`` (ContractError when one is out of range)."""
    if not isinstance(data, pl.DataFrame):
        raise ContractError(_OWNER, "data", type(data).__name__, "must be a polars DataFrame")
    if rows.size and (int(rows.min()) < 0 or int(rows.max()) >= data.height):
        raise ContractError(
            _OWNER, field, int(rows.max()), f"must index rows of the data (0..{data.height - 1})"
        )
    return data[pl.Series(rows, dtype=pl.Int64)]


def _labels(train: pl.DataFrame) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float32]]:
    missing = [c for c in LABEL_COLUMNS if c not in train.columns]
    if missing:
        raise ContractError(_OWNER, "train", missing, "must have the label columns (missing)")
    if train.schema["win"] != pl.Boolean:
        raise ContractError(_OWNER, "win", train.schema["win"], "must be a Boolean column")
    if not train.schema["net_return_pct"].is_numeric():
        raise ContractError(
            _OWNER, "net_return_pct", train.schema["net_return_pct"], "must be a numeric column"
        )
    for name in ("win", "net_return_pct"):
        if train[name].null_count():
            raise ContractError(_OWNER, name, train[name].null_count(), "must have no nulls")
    net_return = train["net_return_pct"].cast(pl.Float64).to_numpy()
    if not np.all(np.isfinite(net_return)):
        raise ContractError(_OWNER, "net_return_pct", "non-finite", "must be finite")
    win = train["win"].to_numpy().astype(np.bool_)
    return win, net_return.astype(np.float32)


def _check_version(train: pl.DataFrame, feature_version: str) -> None:
    if VERSION_COLUMN not in train.columns:
        return
    wrong = [v for v in train[VERSION_COLUMN].unique().to_list() if v != feature_version]
    if wrong:
        raise ContractError(
            _OWNER,
            "feature_version",
            wrong[0],
            f"must be the version trained on ({feature_version!r})",
        )


def _check_both_classes(win: npt.NDArray[np.bool_], split: InnerSplit) -> None:
    for name, rows in (("fit", split.fit), ("calibration", split.calibration)):
        wins = int(win[rows].sum())
        if wins in (0, rows.size):
            raise ContractError(
                _OWNER,
                "win",
                f"{wins} wins of {rows.size} rows",
                f"{name} slice must hold both wins and losses",
            )


def _rows(matrix: npt.NDArray[np.float32], rows: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
    """The rows as a view when they are one contiguous ascending range, else a copy."""
    if rows.size and int(rows[-1]) - int(rows[0]) + 1 == rows.size and np.all(np.diff(rows) == 1):
        return matrix[int(rows[0]) : int(rows[-1]) + 1]
    return matrix[rows]


def _fit_boosters(
    matrix: npt.NDArray[np.float32],
    win: npt.NDArray[np.bool_],
    net_return: npt.NDArray[np.float32],
    split: InnerSplit,
    columns: tuple[str, ...],
    config: TrainingConfig,
) -> tuple[xgb.Booster, xgb.Booster]:
    names = list(columns)
    fit = xgb.QuantileDMatrix(
        _rows(matrix, split.fit),
        label=win[split.fit].astype(np.float32),
        feature_names=names,
        nthread=config.nthread,
    )
    validation = xgb.QuantileDMatrix(
        _rows(matrix, split.validation),
        label=win[split.validation].astype(np.float32),
        feature_names=names,
        nthread=config.nthread,
        ref=fit,
    )
    params = config.xgboost_params()
    classifier = _train(
        {**params, "objective": "binary:logistic", "eval_metric": "logloss"},
        fit,
        validation,
        config,
    )
    # The quantile sketch of the features is built once; only the label changes.
    fit.set_label(net_return[split.fit])
    validation.set_label(net_return[split.validation])
    regressor = _train(
        {**params, "objective": "reg:squarederror", "eval_metric": "rmse"}, fit, validation, config
    )
    return classifier, regressor


def _train(
    params: dict[str, int | float | str],
    fit: xgb.DMatrix,
    validation: xgb.DMatrix,
    config: TrainingConfig,
) -> xgb.Booster:
    booster = xgb.train(
        params,
        fit,
        num_boost_round=config.n_estimators,
        evals=[(validation, "validation")],
        early_stopping_rounds=config.early_stopping_rounds,
        verbose_eval=False,
    )
    best = int(getattr(booster, "best_iteration", booster.num_boosted_rounds() - 1))
    return booster[: best + 1]  # keep exactly the trees used (the saved model holds no extras)
