"""The trained fold model: a win classifier, a net-return regressor and a calibrator.

``TrainedModel`` scores rows of the feature version it was trained on (and refuses any other),
explains them (SHAP contributions of the win classifier) and saves to a directory of plain files:
the boosters in XGBoost's UBJSON format, the calibrator and the metadata as JSON (no pickle).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl
import xgboost as xgb

from data_contracts.errors import ContractError
from data_contracts.ports import Scores
from data_contracts.timeutil import require_aware
from data_contracts.validation import instance_of, integer, non_empty, probability
from models.training.calibration import Calibrator
from models.training.config import TrainingConfig

__all__ = [
    "CALIBRATOR_FILE",
    "CLASSIFIER_FILE",
    "FORMAT",
    "KEY_COLUMNS",
    "MANIFEST_FILE",
    "REGRESSOR_FILE",
    "VERSION_COLUMN",
    "ModelMetadata",
    "TrainedModel",
    "feature_matrix",
    "validate_feature_columns",
]

_OWNER: Final = "TrainedModel"
# Fewer rows than this are scored on one thread (see TrainedModel._use_threads).
_PARALLEL_ROWS: Final = 10_000
FORMAT: Final = "kitepilot-fold-model/1"
MANIFEST_FILE: Final = "model.json"
CLASSIFIER_FILE: Final = "classifier.ubj"
REGRESSOR_FILE: Final = "regressor.ubj"
CALIBRATOR_FILE: Final = "calibrator.json"
KEY_COLUMNS: Final = ("instrument_token", "ts_event")
VERSION_COLUMN: Final = "feature_version"

Floats = npt.NDArray[np.float64]
Matrix = npt.NDArray[np.float32]
_FLOAT_TYPES: Final = (pl.Float64, pl.Float32)


@dataclass(frozen=True)
class ModelMetadata:
    """What a model was trained on: slice sizes, best iterations, time span and parameters."""

    best_iteration_classifier: int
    best_iteration_regressor: int
    rows_fit: int
    rows_validation: int
    rows_calibration: int
    rows_purged: int
    base_rate: float  # share of wins in the fit slice
    train_start: datetime
    train_end: datetime
    config: TrainingConfig
    xgboost_version: str

    def __post_init__(self) -> None:
        for field in (
            "best_iteration_classifier",
            "best_iteration_regressor",
            "rows_fit",
            "rows_validation",
            "rows_calibration",
            "rows_purged",
        ):
            integer("ModelMetadata", field, getattr(self, field), minimum=0)
        probability("ModelMetadata", "base_rate", self.base_rate)
        instance_of("ModelMetadata", "config", self.config, TrainingConfig)
        require_aware("ModelMetadata", "train_start", self.train_start)
        require_aware("ModelMetadata", "train_end", self.train_end)

    def to_json(self) -> dict[str, object]:
        out = asdict(self)
        out["train_start"] = self.train_start.isoformat()
        out["train_end"] = self.train_end.isoformat()
        out["config"] = self.config.to_dict()
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> ModelMetadata:
        try:
            fields = dict(data)
            config = fields.pop("config")
            if not isinstance(config, dict):
                raise TypeError("config must be an object")
            fields["train_start"] = datetime.fromisoformat(str(fields["train_start"]))
            fields["train_end"] = datetime.fromisoformat(str(fields["train_end"]))
            return cls(config=TrainingConfig(**config), **fields)  # type: ignore[arg-type]  # JSON values, checked by the constructors
        except (KeyError, TypeError, ValueError) as exc:
            raise ContractError(
                "ModelMetadata", "json", str(exc), "must be saved model metadata"
            ) from exc


class TrainedModel:
    """A fold model: calibrated ``p_win`` and ``expected_return`` (net %, from the regressor)."""

    def __init__(
        self,
        *,
        feature_columns: Sequence[str],
        feature_version: str,
        classifier: xgb.Booster,
        regressor: xgb.Booster,
        calibrator: Calibrator,
        metadata: ModelMetadata,
    ) -> None:
        self._feature_columns = validate_feature_columns(_OWNER, feature_columns)
        self._feature_version = non_empty(_OWNER, "feature_version", feature_version)
        for field, booster in (("classifier", classifier), ("regressor", regressor)):
            if not isinstance(booster, xgb.Booster):
                raise ContractError(_OWNER, field, type(booster).__name__, "must be an xgb.Booster")
            if booster.num_features() != len(self._feature_columns):
                raise ContractError(
                    _OWNER,
                    field,
                    booster.num_features(),
                    f"must use {len(self._feature_columns)} features (one per feature column)",
                )
        if not isinstance(calibrator, Calibrator):
            raise ContractError(_OWNER, "calibrator", calibrator, "must be a Calibrator")
        if not isinstance(metadata, ModelMetadata):
            raise ContractError(_OWNER, "metadata", metadata, "must be a ModelMetadata")
        self._classifier = classifier
        self._regressor = regressor
        self._calibrator = calibrator
        self._metadata = metadata
        self._threads: int | None = None  # the boosters' nthread for prediction, once set

    def __repr__(self) -> str:
        return (
            f"TrainedModel(feature_version={self._feature_version!r}, "
            f"features={len(self._feature_columns)}, "
            f"trees=({self._classifier.num_boosted_rounds()}, "
            f"{self._regressor.num_boosted_rounds()}))"
        )

    @property
    def feature_columns(self) -> tuple[str, ...]:
        return self._feature_columns

    @property
    def feature_version(self) -> str:
        return self._feature_version

    @property
    def classifier(self) -> xgb.Booster:
        return self._classifier

    @property
    def regressor(self) -> xgb.Booster:
        return self._regressor

    @property
    def calibrator(self) -> Calibrator:
        return self._calibrator

    @property
    def metadata(self) -> ModelMetadata:
        return self._metadata

    def predict(self, features: pl.DataFrame) -> Scores:
        """Score rows of a ``FeatureFrame``: calibrated ``p_win`` and ``expected_return`` (net %).

        Refuses (ContractError) a frame whose ``feature_version`` column is missing or differs
        from the model's, and a frame missing any feature column.
        """
        p_win, expected = self.predict_arrays(features)
        return Scores(p_win=p_win.tolist(), expected_return=expected.tolist())

    def predict_arrays(
        self, features: pl.DataFrame, *, require_version_column: bool = True
    ) -> tuple[Floats, Floats]:
        """``predict`` as numpy arrays. With ``require_version_column=False`` a frame without a
        ``feature_version`` column is accepted (the caller vouches for the version); a column that
        is present must still match."""
        matrix = self._matrix(features, require_version_column=require_version_column)
        return self._scores(matrix)

    def predict_matrix(self, matrix: Matrix, feature_version: str) -> tuple[Floats, Floats]:
        """``predict_arrays`` of rows already in matrix form: ``matrix`` is float32, one row per
        point and one column per :attr:`feature_columns` entry (in that order; NaN = missing),
        computed by ``feature_version`` — refused unless it is the model's. The same scores as
        :meth:`predict` of a frame holding the same values (the streaming worker's path: no
        frame per bar)."""
        self._check_version(feature_version)
        return self._scores(self._checked_matrix(matrix))

    def contributions_matrix(self, matrix: Matrix, feature_version: str) -> Floats:
        """SHAP values of the win classifier for rows in matrix form (see
        :meth:`predict_matrix`): one row per point, one column per feature, then ``bias``."""
        self._check_version(feature_version)
        return self._contribution_values(self._checked_matrix(matrix))

    def contributions(self, features: pl.DataFrame) -> pl.DataFrame:
        """SHAP values of the win classifier per row and feature (log-odds, before calibration).

        Columns: the key columns present in ``features`` (``instrument_token``, ``ts_event``), one
        Float64 column per feature, and ``bias``; each row sums to the raw margin.
        """
        values = self._contributions(features)
        frame = pl.DataFrame(values, schema=[*self._feature_columns, "bias"], orient="row")
        keys = [c for c in KEY_COLUMNS if c in features.columns]
        return pl.concat([features.select(keys), frame], how="horizontal")

    def mean_abs_contributions(self, features: pl.DataFrame) -> pl.DataFrame:
        """``feature, mean_abs_shap`` over the rows of ``features``, largest first (reports)."""
        values = self._contributions(features)[:, :-1]
        means = np.abs(values).mean(axis=0) if values.shape[0] else np.zeros(values.shape[1])
        return _ranked(list(self._feature_columns), [float(v) for v in means], "mean_abs_shap")

    def importance(self) -> pl.DataFrame:
        """``feature, gain``: the win classifier's average gain per split; 0 for unused features."""
        scores = self._classifier.get_score(importance_type="gain")
        gains = [float(np.asarray(scores.get(c, 0.0)).sum()) for c in self._feature_columns]
        return _ranked(list(self._feature_columns), gains, "gain")

    def save(self, directory: Path) -> None:
        """Write the model as plain files into ``directory`` (created; existing files replaced)."""
        if not isinstance(directory, Path):
            raise ContractError(_OWNER, "directory", directory, "must be a pathlib.Path")
        directory.mkdir(parents=True, exist_ok=True)
        self._classifier.save_model(str(directory / CLASSIFIER_FILE))
        self._regressor.save_model(str(directory / REGRESSOR_FILE))
        (directory / CALIBRATOR_FILE).write_text(
            json.dumps(self._calibrator.to_json(), indent=1), encoding="utf-8"
        )
        manifest = {
            "format": FORMAT,
            "feature_columns": list(self._feature_columns),
            "feature_version": self._feature_version,
            "metadata": self._metadata.to_json(),
        }
        (directory / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> TrainedModel:
        """Read a model written by :meth:`save`."""
        if not isinstance(directory, Path):
            raise ContractError(_OWNER, "directory", directory, "must be a pathlib.Path")
        missing = [
            name
            for name in (MANIFEST_FILE, CLASSIFIER_FILE, REGRESSOR_FILE, CALIBRATOR_FILE)
            if not (directory / name).is_file()
        ]
        if missing:
            raise ContractError(
                _OWNER, "directory", str(directory), f"must hold a saved model (missing {missing})"
            )
        manifest = json.loads((directory / MANIFEST_FILE).read_text(encoding="utf-8"))
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            found = manifest.get("format") if isinstance(manifest, dict) else manifest
            raise ContractError(_OWNER, "format", found, f"must be {FORMAT!r}", str(directory))
        metadata = ModelMetadata.from_json(manifest["metadata"])
        calibrator = Calibrator.from_json(
            json.loads((directory / CALIBRATOR_FILE).read_text(encoding="utf-8"))
        )
        columns = manifest["feature_columns"]
        boosters = []
        for name in (CLASSIFIER_FILE, REGRESSOR_FILE):
            booster = xgb.Booster()
            booster.load_model(str(directory / name))
            booster.set_param({"nthread": metadata.config.nthread})
            boosters.append(booster)
        return cls(
            feature_columns=columns,
            feature_version=manifest["feature_version"],
            classifier=boosters[0],
            regressor=boosters[1],
            calibrator=calibrator,
            metadata=metadata,
        )

    @property
    def _nthread(self) -> int:
        return self._metadata.config.nthread

    def _use_threads(self, count: int) -> None:
        # A few rows (the streaming worker scores one at a time) are scored on the calling
        # thread: an OpenMP team costs more to wake than the trees take, and with polars' own
        # pool busy it can cost milliseconds per call.
        if self._threads != count:
            for booster in (self._classifier, self._regressor):
                booster.set_param({"nthread": count})
            self._threads = count

    def _matrix(self, features: pl.DataFrame, *, require_version_column: bool) -> Matrix:
        if not isinstance(features, pl.DataFrame):
            raise ContractError(
                _OWNER, "features", type(features).__name__, "must be a polars DataFrame"
            )
        if VERSION_COLUMN in features.columns:
            versions = features.get_column(VERSION_COLUMN)
            wrong = versions != self._feature_version
            if wrong.any():
                raise ContractError(
                    _OWNER,
                    "feature_version",
                    versions.filter(wrong)[0],
                    f"must be the version the model was trained on ({self._feature_version!r})",
                )
        elif require_version_column and features.height:
            raise ContractError(
                _OWNER,
                "features",
                features.columns,
                f"must have a {VERSION_COLUMN!r} column (the model refuses unversioned features)",
            )
        return feature_matrix(_OWNER, features, self._feature_columns)

    def _check_version(self, feature_version: str) -> None:
        if feature_version != self._feature_version:
            raise ContractError(
                _OWNER,
                "feature_version",
                feature_version,
                f"must be the version the model was trained on ({self._feature_version!r})",
            )

    def _checked_matrix(self, matrix: Matrix) -> Matrix:
        if (
            not isinstance(matrix, np.ndarray)
            or matrix.dtype != np.float32
            or matrix.ndim != 2
            or matrix.shape[1] != len(self._feature_columns)
        ):
            shape = getattr(matrix, "shape", type(matrix).__name__)
            raise ContractError(
                _OWNER,
                "matrix",
                shape,
                f"must be a float32 matrix of {len(self._feature_columns)} feature columns",
            )
        _refuse_infinities(_OWNER, matrix, self._feature_columns)
        return matrix

    def _contributions(self, features: pl.DataFrame) -> Floats:
        return self._contribution_values(self._matrix(features, require_version_column=True))

    def _contribution_values(self, matrix: Matrix) -> Floats:
        if matrix.shape[0] == 0:
            return np.zeros((0, len(self._feature_columns) + 1))
        threads = 1 if matrix.shape[0] < _PARALLEL_ROWS else self._nthread
        self._use_threads(threads)
        data = xgb.DMatrix(matrix, feature_names=list(self._feature_columns), nthread=threads)
        return np.asarray(self._classifier.predict(data, pred_contribs=True), dtype=np.float64)

    def _scores(self, matrix: Matrix) -> tuple[Floats, Floats]:
        if matrix.shape[0] == 0:
            return np.zeros(0), np.zeros(0)
        self._use_threads(1 if matrix.shape[0] < _PARALLEL_ROWS else self._nthread)
        margin = self._classifier.inplace_predict(matrix, predict_type="margin")
        expected = self._regressor.inplace_predict(matrix)
        return self._calibrator.apply(margin), np.asarray(expected, dtype=np.float64)


def feature_matrix(owner: str, frame: pl.DataFrame, columns: Sequence[str]) -> Matrix:
    """The feature columns as one float32 matrix (XGBoost's own precision): nulls become NaN
    (XGBoost's missing value); non-numeric columns and infinities are refused."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ContractError(owner, "features", missing, "must have every feature column (missing)")
    schema = frame.schema
    not_numeric = [c for c in columns if not schema[c].is_numeric()]
    if not_numeric:
        raise ContractError(owner, "features", not_numeric, "must be numeric columns")
    if all(schema[c] in _FLOAT_TYPES for c in columns):
        # Float columns: one float64 copy, then float32 — the same values as casting each column
        # to Float32 (one IEEE rounding either way), at a third of the cost.
        matrix = np.asarray(frame.select(columns).to_numpy(), dtype=np.float32, order="C")
    else:
        matrix = frame.select(pl.col(c).cast(pl.Float32) for c in columns).to_numpy()
        matrix = np.asarray(matrix, dtype=np.float32)
    _refuse_infinities(owner, matrix, columns)
    return matrix


def _refuse_infinities(owner: str, matrix: Matrix, columns: Sequence[str]) -> None:
    if np.isinf(matrix).any():
        bad = [c for i, c in enumerate(columns) if np.isinf(matrix[:, i]).any()]
        raise ContractError(
            owner, "features", bad, "must be finite or null (infinite, or beyond float32)"
        )


def validate_feature_columns(owner: str, columns: Sequence[str]) -> tuple[str, ...]:
    if isinstance(columns, str) or not isinstance(columns, Sequence):
        raise ContractError(owner, "feature_columns", columns, "must be a sequence of names")
    names = tuple(columns)
    if not names or not all(isinstance(c, str) and c for c in names):
        raise ContractError(owner, "feature_columns", names, "must be non-empty column names")
    if len(set(names)) != len(names):
        raise ContractError(owner, "feature_columns", names, "must not repeat a name")
    reserved = {*KEY_COLUMNS, VERSION_COLUMN, "bias"} & set(names)
    if reserved:
        raise ContractError(owner, "feature_columns", sorted(reserved), "must not be key columns")
    return names


def _ranked(features: list[str], values: list[float], name: str) -> pl.DataFrame:
    return pl.DataFrame(
        {"feature": features, name: values}, schema={"feature": pl.String, name: pl.Float64}
    ).sort([name, "feature"], descending=[True, False])
