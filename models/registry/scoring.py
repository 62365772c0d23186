"""What the registry needs from a model, and the model behind the ``Scorer`` port.

The registry does not know the model's class: it needs a :class:`RegistrableModel` (saves itself
to a directory, scores polars rows, knows its feature version and columns) whose class has a
``load(directory)`` classmethod. ``models.training.TrainedModel`` is one.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Final, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import polars as pl

from data_contracts.errors import ContractError
from data_contracts.ports import Scores
from data_contracts.validation import non_empty

__all__ = [
    "VERSION_COLUMN",
    "MatrixModel",
    "RegistrableModel",
    "RegistryScorer",
    "class_path",
    "load_model_class",
]

VERSION_COLUMN: Final = "feature_version"

Floats = npt.NDArray[np.float64]
Matrix = npt.NDArray[np.float32]


@runtime_checkable
class RegistrableModel(Protocol):
    """A model the registry can log and load back (``type(model).load(directory)`` must exist)."""

    @property
    def feature_version(self) -> str: ...

    @property
    def feature_columns(self) -> tuple[str, ...]: ...

    def save(self, directory: Path) -> None: ...

    def predict(self, features: pl.DataFrame) -> Scores: ...


@runtime_checkable
class MatrixModel(Protocol):
    """A model that also scores and explains rows already in matrix form (float32, one column per
    feature column, in order), as ``models.training.TrainedModel`` does: the streaming worker's
    path, without a frame per bar."""

    @property
    def feature_columns(self) -> tuple[str, ...]: ...

    def predict_matrix(self, matrix: Matrix, feature_version: str) -> tuple[Floats, Floats]: ...

    def contributions_matrix(self, matrix: Matrix, feature_version: str) -> Floats: ...


class _Loadable(Protocol):
    def load(self, directory: Path) -> RegistrableModel: ...


def class_path(model: RegistrableModel) -> str:
    """``module:QualName`` of the model's class, stored with the logged model to load it back."""
    kind = type(model)
    if not callable(getattr(kind, "load", None)):
        raise ContractError(
            "MlflowRegistry", "model", kind.__qualname__, "must have a load(directory) classmethod"
        )
    if "<locals>" in kind.__qualname__:
        raise ContractError(
            "MlflowRegistry", "model", kind.__qualname__, "must be an importable module-level class"
        )
    return f"{kind.__module__}:{kind.__qualname__}"


def load_model_class(path: object) -> _Loadable:
    """The class named by :func:`class_path` (imports its module)."""
    owner = "ScoringPyfunc"
    if not isinstance(path, str) or path.count(":") != 1:
        raise ContractError(owner, "model_class", path, "must be 'module:QualName'")
    module_name, qualname = path.split(":")
    target: object = importlib.import_module(module_name)
    try:
        for part in qualname.split("."):
            target = getattr(target, part)
    except AttributeError as exc:
        raise ContractError(owner, "model_class", path, "must name an existing class") from exc
    if not isinstance(target, type) or not callable(getattr(target, "load", None)):
        raise ContractError(owner, "model_class", path, "must name a class with load(directory)")
    loader: _Loadable = target  # type: ignore[assignment]  # checked just above: a class with load
    return loader


class RegistryScorer:
    """A registered model version behind the ``Scorer`` port.

    ``model_version`` is the registry version. Scoring refuses a frame without a
    ``feature_version`` column, or with any row of another version, before the model sees it.
    """

    def __init__(self, model: RegistrableModel, *, model_version: str) -> None:
        if not isinstance(model, RegistrableModel):
            raise ContractError(
                "RegistryScorer", "model", type(model).__name__, "must be a RegistrableModel"
            )
        self._model = model
        self._model_version = non_empty("RegistryScorer", "model_version", model_version)
        self._matrix_model = model if isinstance(model, MatrixModel) else None

    def __repr__(self) -> str:
        return (
            f"RegistryScorer(model_version={self._model_version!r}, "
            f"feature_version={self.feature_version!r})"
        )

    @property
    def model_version(self) -> str:
        return self._model_version

    @property
    def feature_version(self) -> str:
        return self._model.feature_version

    @property
    def model(self) -> RegistrableModel:
        """The loaded model itself (for contributions, importance)."""
        return self._model

    @property
    def feature_columns(self) -> tuple[str, ...]:
        return self._model.feature_columns

    def score(self, features: pl.DataFrame) -> Scores:
        self._check_frame(features)
        return self._model.predict(features)

    def score_matrix(self, matrix: Matrix, feature_version: str) -> tuple[Floats, Floats]:
        """(p_win, expected return) of rows in matrix form: float32, one column per
        :attr:`feature_columns` entry, computed by ``feature_version`` (refused unless it is the
        model's). The same scores as :meth:`score` of a frame with the same values."""
        self._check_version(feature_version)
        model = self._matrix_model
        if model is not None:
            return model.predict_matrix(matrix, feature_version)
        scores = self._model.predict(self._frame(matrix, feature_version))
        return (
            np.asarray(scores.p_win, dtype=np.float64),
            np.asarray(scores.expected_return, dtype=np.float64),
        )

    def contributions_matrix(self, matrix: Matrix, feature_version: str) -> Floats | None:
        """SHAP values of rows in matrix form (one column per feature, then ``bias``), or None
        when the model cannot explain itself this way."""
        self._check_version(feature_version)
        model = self._matrix_model
        return None if model is None else model.contributions_matrix(matrix, feature_version)

    def _frame(self, matrix: Matrix, feature_version: str) -> pl.DataFrame:
        columns = list(self._model.feature_columns)
        return pl.from_numpy(np.asarray(matrix), schema=columns, orient="row").with_columns(
            pl.lit(feature_version, dtype=pl.String).alias(VERSION_COLUMN)
        )

    def _check_version(self, feature_version: str) -> None:
        if feature_version != self.feature_version:
            raise ContractError(
                "RegistryScorer",
                VERSION_COLUMN,
                feature_version,
                f"must be {self.feature_version!r} (model version {self._model_version})",
            )

    def _check_frame(self, features: pl.DataFrame) -> None:
        owner = "RegistryScorer"
        if not isinstance(features, pl.DataFrame):
            raise ContractError(owner, "features", type(features).__name__, "must be a DataFrame")
        if VERSION_COLUMN not in features.columns:
            raise ContractError(
                owner,
                "features",
                features.columns,
                f"must have a {VERSION_COLUMN!r} column (model {self._model_version} scores "
                f"only {self.feature_version!r})",
            )
        versions = features.get_column(VERSION_COLUMN)
        wrong = versions != self.feature_version
        if wrong.any():
            raise ContractError(
                owner,
                VERSION_COLUMN,
                versions.filter(wrong)[0],
                f"must be {self.feature_version!r} (model version {self._model_version})",
            )
