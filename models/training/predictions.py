"""Out-of-sample predictions: train on each fold's training rows, score its test rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Final

import polars as pl

from data_contracts.errors import ContractError
from data_contracts.schemas import UTC_TIMESTAMP
from models.training.config import TrainingConfig
from models.training.fit import LABEL_COLUMNS, take_rows, train_fold
from models.training.model import TrainedModel
from models.walkforward import Fold

__all__ = ["PREDICTION_SCHEMA", "fold_predictions", "walk_forward_predictions"]

_OWNER: Final = "walk_forward_predictions"
_DEFAULT_CONFIG: Final = TrainingConfig()
PREDICTION_SCHEMA: Final[Mapping[str, pl.DataType]] = MappingProxyType(
    {
        "instrument_token": pl.Int64(),
        "ts_event": UTC_TIMESTAMP,
        "exit_ts": UTC_TIMESTAMP,
        "fold": pl.Int64(),
        "p_win": pl.Float64(),
        "expected_return": pl.Float64(),
        "win": pl.Boolean(),
        "net_return_pct": pl.Float64(),
    }
)


def fold_predictions(
    data: pl.DataFrame,
    fold: Fold,
    *,
    feature_columns: Sequence[str],
    feature_version: str,
    config: TrainingConfig = _DEFAULT_CONFIG,
) -> tuple[TrainedModel, pl.DataFrame]:
    """Train on ``fold.train`` rows of ``data`` and score its ``fold.test`` rows.

    Returns the model and the test rows as :data:`PREDICTION_SCHEMA` (in ``fold.test`` order).
    ``data`` needs ``instrument_token``, the feature and label columns; a ``feature_version``
    column, if present, must equal ``feature_version``.
    """
    if "instrument_token" not in data.columns:
        raise ContractError(_OWNER, "data", data.columns, "must have an instrument_token column")
    model = train_fold(
        data, fold, feature_columns=feature_columns, feature_version=feature_version, config=config
    )
    test = take_rows(data, fold.test, "fold.test")
    p_win, expected = model.predict_arrays(test, require_version_column=False)
    frame = test.select(
        pl.col("instrument_token").cast(pl.Int64),
        pl.col("ts_event").dt.convert_time_zone("UTC").cast(UTC_TIMESTAMP),
        pl.col("exit_ts").dt.convert_time_zone("UTC").cast(UTC_TIMESTAMP),
        pl.lit(fold.number, dtype=pl.Int64).alias("fold"),
        pl.Series("p_win", p_win, dtype=pl.Float64),
        pl.Series("expected_return", expected, dtype=pl.Float64),
        pl.col("win"),
        pl.col("net_return_pct").cast(pl.Float64),
    )
    return model, frame


def walk_forward_predictions(
    data: pl.DataFrame,
    folds: Sequence[Fold],
    *,
    feature_columns: Sequence[str],
    feature_version: str,
    config: TrainingConfig = _DEFAULT_CONFIG,
) -> pl.DataFrame:
    """Every fold's out-of-sample rows (:data:`PREDICTION_SCHEMA`), sorted by ``ts_event`` then
    ``instrument_token``: ``instrument_token, ts_event, exit_ts, fold, p_win, expected_return, win,
    net_return_pct``. Use :func:`fold_predictions` to keep each fold's model too."""
    if not isinstance(data, pl.DataFrame):
        raise ContractError(_OWNER, "data", type(data).__name__, "must be a polars DataFrame")
    missing = [c for c in ("instrument_token", *LABEL_COLUMNS) if c not in data.columns]
    if missing:
        raise ContractError(_OWNER, "data", missing, "must have the key and label columns")
    frames = [
        fold_predictions(
            data,
            fold,
            feature_columns=feature_columns,
            feature_version=feature_version,
            config=config,
        )[1]
        for fold in folds
    ]
    if not frames:
        return pl.DataFrame(schema=dict(PREDICTION_SCHEMA))
    return pl.concat(frames).sort(["ts_event", "instrument_token"], maintain_order=True)
