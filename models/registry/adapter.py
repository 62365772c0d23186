"""The MLflow model registry behind the ``ModelRegistry`` port (see ``docs/registry.md``).

One training is one parent run (params, OOS metrics, artifacts, lineage tags) with a nested run per
walk-forward fold; the model is logged as an ``mlflow.pyfunc`` model (models from code; the saved
model directory as its artifact, with signature and input example) and registered under
``model_name``. Version tags carry the feature version, every OOS metric as ``oos_<name>`` and the
lineage. The aliases ``champion`` and ``challenger`` name the versions in play; promotion time
comes from the injected clock and is kept in the version tag ``promoted_at``.

MLflow's fluent API keeps the tracking URI and the active run in process-wide state: every call
here sets this registry's URIs for its duration and puts the previous ones back, so a registry is
not meant to be used from several threads at once.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Final

import mlflow
import mlflow.pyfunc
import polars as pl
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from data_contracts.errors import ContractError
from data_contracts.ports import Clock, RegisteredModel
from data_contracts.timeutil import require_aware
from data_contracts.validation import finite, instance_of, non_empty
from models.registry.pyfunc import MODEL_ARTIFACT, MODEL_CLASS_KEY, ScoringPyfunc
from models.registry.scoring import (
    VERSION_COLUMN,
    RegistrableModel,
    RegistryScorer,
    class_path,
)

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "FEATURE_VERSION_TAG",
    "METRIC_TAG_PREFIX",
    "PROMOTED_AT_TAG",
    "MlflowRegistry",
    "RegisteredVersion",
]

_OWNER: Final = "MlflowRegistry"
CHAMPION: Final = "champion"
CHALLENGER: Final = "challenger"
FEATURE_VERSION_TAG: Final = "feature_version"
FEATURE_COLUMNS_TAG: Final = "feature_columns"
PROMOTED_AT_TAG: Final = "promoted_at"
METRIC_TAG_PREFIX: Final = "oos_"
FOLD_KEY: Final = "fold"
_RESERVED_TAGS: Final = frozenset(
    {FEATURE_VERSION_TAG, FEATURE_COLUMNS_TAG, PROMOTED_AT_TAG, MODEL_CLASS_KEY}
)
_MAX_TAG_KEY: Final = 250
_MAX_TAG_VALUE: Final = 8000  # MLflow's run-tag limit (version tags allow more)
_EXAMPLE_ROWS: Final = 5
_PIP_PACKAGES: Final = ("mlflow", "numpy", "pandas", "polars", "pyarrow", "scikit-learn", "xgboost")
_NOT_FOUND: Final = frozenset({"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"})
# Guards MLflow's process-global tracking and registry URIs.
_MLFLOW_GLOBALS: Final = threading.RLock()
# MLflow's tqdm bars for artifact downloads would cut through kitepilot's own progress output. Off
# for the whole process, set once here (a user's own setting is kept), never per session: a
# session that set and removed it raced any thread copying os.environ at that moment (starting a
# subprocess copies it; a key deleted mid-copy is a KeyError there — the demo's paper session
# once failed so while its worker loaded the champion on another thread).
_PROGRESS_BAR: Final = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
os.environ.setdefault(_PROGRESS_BAR, "false")
_QUIET_LOGGERS: Final = {
    "mlflow": logging.WARNING,  # "Creating initial MLflow database tables...", "Validating ..."
    "alembic": logging.WARNING,  # the store's schema migrations
    "mlflow.utils.environment": logging.ERROR,  # "Failed to resolve installed pip version"
}
_ENTRY_POINT: Final = Path(__file__).with_name("pyfunc_entry.py")  # models from code


@dataclass(frozen=True, slots=True)
class RegisteredVersion:
    """What :meth:`MlflowRegistry.log_training` created: the version and where it came from."""

    name: str
    version: str
    run_id: str
    model_uri: str  # ``models:/<name>/<version>``
    feature_version: str


class MlflowRegistry:
    """``ModelRegistry`` over MLflow (tracking + registry at ``tracking_uri``).

    ``artifact_root`` is the artifact location of the experiment (created on the first training,
    named ``experiment_name``, default ``model_name``); an existing experiment must already use it.
    ``clock`` stamps promotions.
    """

    def __init__(
        self,
        tracking_uri: str,
        artifact_root: Path,
        model_name: str,
        *,
        clock: Clock,
        experiment_name: str | None = None,
    ) -> None:
        self._tracking_uri = non_empty(_OWNER, "tracking_uri", tracking_uri)
        instance_of(_OWNER, "artifact_root", artifact_root, Path)
        self._artifact_location = artifact_root.resolve().as_uri()
        self._model_name = non_empty(_OWNER, "model_name", model_name)
        if "/" in model_name or ":" in model_name:
            raise ContractError(_OWNER, "model_name", model_name, "must not contain '/' or ':'")
        instance_of(_OWNER, "clock", clock, Clock)
        self._clock = clock
        self._experiment_name = non_empty(
            _OWNER, "experiment_name", model_name if experiment_name is None else experiment_name
        )
        with self._session():  # the client opens (and may create) the store: quietly
            self._client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def __repr__(self) -> str:
        return f"MlflowRegistry({self._tracking_uri!r}, model_name={self._model_name!r})"

    @property
    def model_name(self) -> str:
        return self._model_name

    # --- logging -----------------------------------------------------------------------------

    def log_training(
        self,
        *,
        model: RegistrableModel,
        params: Mapping[str, object],
        metrics: Mapping[str, float],
        fold_metrics: Sequence[Mapping[str, float]],
        artifacts: Mapping[str, Path],
        lineage: Mapping[str, str],
        input_example: pl.DataFrame,
        run_name: str = "walk-forward",
    ) -> RegisteredVersion:
        """Log one training and register its model as a new version (no alias is moved).

        - ``params``: run parameters (values as ``str``).
        - ``metrics``: the out-of-sample metrics, on the parent run and the logged model, and as
          version tags ``oos_<name>`` (:meth:`version_metrics` reads them back).
        - ``fold_metrics``: one mapping per fold, each logged on a nested run ``fold-<n>``; ``n``
          is the mapping's ``fold`` entry when it has one, else its position (0-based).
        - ``artifacts``: destination path inside the run (e.g. ``reports/walk_forward.html``) →
          local file or directory.
        - ``lineage``: tags on the run and the version, e.g. ``lake_partitions``,
          ``code_version`` (git commit), ``data_source``.
        - ``input_example``: feature rows; its first rows (feature columns plus
          ``feature_version``) become the model's input example and signature.
        """
        instance_of(_OWNER, "model", model, RegistrableModel)
        model_class = class_path(model)
        clean_params = _params(params)
        clean_metrics = _metrics("metrics", metrics)
        folds = _folds(fold_metrics)
        staged = _artifacts(artifacts)
        tags = _lineage(lineage)
        non_empty(_OWNER, "run_name", run_name)
        example = _example(model, input_example)
        output = _scores_frame(model, example)
        signature = infer_signature(example.to_pandas(), output.to_pandas())
        run_tags = {**tags, FEATURE_VERSION_TAG: model.feature_version}

        with self._session(), tempfile.TemporaryDirectory(prefix="kitepilot-registry-") as tmp:
            model_dir = Path(tmp) / MODEL_ARTIFACT
            model.save(model_dir)
            experiment_id = self._experiment_id()
            with mlflow.start_run(
                experiment_id=experiment_id, run_name=run_name, tags=run_tags
            ) as parent:
                if clean_params:
                    mlflow.log_params(clean_params)
                for number, values in folds:
                    with mlflow.start_run(
                        experiment_id=experiment_id,  # else MLflow files it in the default one
                        run_name=f"fold-{number}",
                        nested=True,
                        tags={FOLD_KEY: str(number)},
                    ):
                        mlflow.log_metrics(values)
                for destination, source in staged:
                    _log_artifact(destination, source, Path(tmp) / "staged")
                info = mlflow.pyfunc.log_model(
                    name="model",
                    python_model=_ENTRY_POINT,
                    artifacts={MODEL_ARTIFACT: str(model_dir)},
                    model_config={MODEL_CLASS_KEY: model_class},
                    signature=signature,
                    input_example=example.to_pandas(),
                    registered_model_name=self._model_name,
                    pip_requirements=_pip_requirements(),
                )
                if clean_metrics:
                    mlflow.log_metrics(clean_metrics, model_id=info.model_id)
            version = str(info.registered_model_version)
            version_tags = {
                **tags,
                FEATURE_VERSION_TAG: model.feature_version,
                FEATURE_COLUMNS_TAG: ",".join(model.feature_columns),
                MODEL_CLASS_KEY: model_class,
                **{f"{METRIC_TAG_PREFIX}{k}": repr(v) for k, v in clean_metrics.items()},
            }
            for key, value in version_tags.items():
                self._client.set_model_version_tag(self._model_name, version, key, value)
        return RegisteredVersion(
            name=self._model_name,
            version=version,
            run_id=parent.info.run_id,
            model_uri=f"models:/{self._model_name}/{version}",
            feature_version=model.feature_version,
        )

    # --- aliases -----------------------------------------------------------------------------

    def champion(self) -> RegisteredModel | None:
        """The version the ``champion`` alias points at, or None."""
        return self._by_alias(CHAMPION)

    def challenger(self) -> RegisteredModel | None:
        """The version the ``challenger`` alias points at, or None."""
        return self._by_alias(CHALLENGER)

    def promote(self, version: str) -> RegisteredModel:
        """Make ``version`` the champion, stamped with the clock's time (tag ``promoted_at``).

        A challenger alias on that version is removed (it is the champion now). Callers gate this
        on evaluation; the registry does not compare metrics.
        """
        self._version(version)
        promoted_at = require_aware(_OWNER, "clock.now()", self._clock.now())
        with self._session():
            self._client.set_model_version_tag(
                self._model_name, version, PROMOTED_AT_TAG, promoted_at.isoformat()
            )
            self._client.set_registered_model_alias(self._model_name, CHAMPION, version)
            if self._aliases().get(CHALLENGER) == version:
                self._client.delete_registered_model_alias(self._model_name, CHALLENGER)
        return self._registered(self._version(version))

    def mark_challenger(self, version: str) -> RegisteredModel:
        """Point the ``challenger`` alias at ``version`` (refused for the current champion)."""
        self._version(version)
        with self._session():
            if self._aliases().get(CHAMPION) == version:
                raise ContractError(
                    _OWNER, "version", version, "must not be the champion to become challenger"
                )
            self._client.set_registered_model_alias(self._model_name, CHALLENGER, version)
        return self._registered(self._version(version))

    # --- reading -----------------------------------------------------------------------------

    def version_metrics(self, version: str) -> dict[str, float]:
        """The out-of-sample metrics logged with ``version`` (name without the ``oos_`` prefix)."""
        tags = self._version(version).tags
        return {
            key.removeprefix(METRIC_TAG_PREFIX): float(value)
            for key, value in sorted(tags.items())
            if key.startswith(METRIC_TAG_PREFIX)
        }

    def load(self, model: RegisteredModel) -> RegistryScorer:
        """The registered version as a ``Scorer`` (through MLflow's pyfunc loader).

        Refuses a ``RegisteredModel`` of another registered name or whose feature version does
        not match the version's own tag (a stale handle).
        """
        instance_of(_OWNER, "model", model, RegisteredModel)
        if model.name != self._model_name:
            raise ContractError(_OWNER, "model.name", model.name, f"must be {self._model_name!r}")
        registered = self._registered(self._version(model.version))
        if registered.feature_version != model.feature_version:
            raise ContractError(
                _OWNER,
                "model.feature_version",
                model.feature_version,
                f"must be the version's own feature version ({registered.feature_version!r})",
                f"{self._model_name} v{model.version}",
            )
        with self._session():
            pyfunc_model = mlflow.pyfunc.load_model(f"models:/{self._model_name}/{model.version}")
        wrapper = pyfunc_model.unwrap_python_model()
        if not isinstance(wrapper, ScoringPyfunc):
            raise ContractError(
                _OWNER, "model", type(wrapper).__name__, "must be logged by kitepilot's registry"
            )
        loaded = wrapper.model
        if loaded.feature_version != model.feature_version:
            raise ContractError(
                _OWNER,
                "model.feature_version",
                loaded.feature_version,
                f"must match the registered tag ({model.feature_version!r})",
            )
        return RegistryScorer(loaded, model_version=model.version)

    # --- internals ---------------------------------------------------------------------------

    @contextmanager
    def _session(self) -> Iterator[None]:
        """This registry's URIs for MLflow's fluent API, quietly (MLflow's INFO logs and its own
        deprecation warnings hidden); the previous state is put back after. MLflow's URIs are
        process-global: one session at a time (the streaming worker loads a new champion on a
        watcher thread while its flow looks the alias up). The environment is never changed
        here (see ``_PROGRESS_BAR``)."""
        with _MLFLOW_GLOBALS:
            yield from self._quiet_session()

    def _quiet_session(self) -> Iterator[None]:
        previous_tracking = mlflow.get_tracking_uri()
        previous_registry = mlflow.get_registry_uri()
        loggers = [logging.getLogger(name) for name in _QUIET_LOGGERS]
        levels = [logger.level for logger in loggers]
        for logger, quiet in zip(loggers, _QUIET_LOGGERS.values(), strict=True):
            logger.setLevel(max(logger.getEffectiveLevel(), quiet))
        mlflow.set_tracking_uri(self._tracking_uri)
        mlflow.set_registry_uri(self._tracking_uri)
        try:
            with warnings.catch_warnings():
                # MLflow's own deprecation noise (SQLAlchemy, pandas inside mlflow); not ours.
                for category in (DeprecationWarning, FutureWarning):
                    warnings.filterwarnings("ignore", category=category, module=r"mlflow\.")
                yield
        finally:
            mlflow.set_tracking_uri(previous_tracking)
            mlflow.set_registry_uri(previous_registry)
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)

    def _experiment_id(self) -> str:
        experiment = self._client.get_experiment_by_name(self._experiment_name)
        if experiment is None:
            return self._client.create_experiment(
                self._experiment_name, artifact_location=self._artifact_location
            )
        if experiment.lifecycle_stage != "active":
            raise ContractError(
                _OWNER, "experiment_name", self._experiment_name, "must not be a deleted experiment"
            )
        if experiment.artifact_location != self._artifact_location:
            raise ContractError(
                _OWNER,
                "artifact_root",
                self._artifact_location,
                f"must be the experiment's artifact location ({experiment.artifact_location})",
                self._experiment_name,
            )
        return str(experiment.experiment_id)

    def _aliases(self) -> dict[str, str]:
        try:
            registered = self._client.get_registered_model(self._model_name)
        except MlflowException as exc:
            if exc.error_code in _NOT_FOUND:
                return {}
            raise
        return {alias: str(version) for alias, version in registered.aliases.items()}

    def _by_alias(self, alias: str) -> RegisteredModel | None:
        """The version ``alias`` points at, in one registry call (the streaming worker re-checks
        the champion this way); None when the model or the alias does not exist."""
        try:
            with self._session():
                version = self._client.get_model_version_by_alias(self._model_name, alias)
        except MlflowException as exc:
            if exc.error_code in _NOT_FOUND:
                return None
            raise
        return self._registered(version)

    def _version(self, version: str) -> ModelVersion:
        if not isinstance(version, str) or not version.isdigit():
            raise ContractError(_OWNER, "version", version, "must be a version number as a string")
        try:
            with self._session():
                return self._client.get_model_version(self._model_name, version)
        except MlflowException as exc:
            if exc.error_code in _NOT_FOUND:
                raise ContractError(
                    _OWNER,
                    "version",
                    version,
                    f"must be a registered version of {self._model_name!r}",
                ) from exc
            raise

    def _registered(self, version: ModelVersion) -> RegisteredModel:
        tags = version.tags
        feature_version = tags.get(FEATURE_VERSION_TAG)
        if not feature_version:
            raise ContractError(
                _OWNER,
                "version",
                version.version,
                f"must carry a {FEATURE_VERSION_TAG!r} tag (logged by log_training)",
                self._model_name,
            )
        promoted = tags.get(PROMOTED_AT_TAG)
        promoted_at = None
        if promoted:
            promoted_at = require_aware(_OWNER, PROMOTED_AT_TAG, datetime.fromisoformat(promoted))
        return RegisteredModel(
            name=self._model_name,
            version=str(version.version),
            feature_version=feature_version,
            promoted_at=promoted_at,
        )


def _params(params: Mapping[str, object]) -> dict[str, str]:
    out = {}
    for key, value in params.items():
        _tag_key("params", key)
        out[key] = str(value)
    return out


def _metrics(field: str, metrics: Mapping[str, float]) -> dict[str, float]:
    out = {}
    for key, value in metrics.items():
        _tag_key(field, key)
        out[key] = finite(_OWNER, f"{field}[{key!r}]", value)
    return out


def _folds(fold_metrics: Sequence[Mapping[str, float]]) -> list[tuple[int, dict[str, float]]]:
    out = []
    for position, values in enumerate(fold_metrics):
        field = f"fold_metrics[{position}]"
        number: object = values.get(FOLD_KEY, position)
        if isinstance(number, float) and number.is_integer():
            number = int(number)
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise ContractError(_OWNER, f"{field}[{FOLD_KEY!r}]", number, "must be an integer >= 0")
        rest = {k: v for k, v in values.items() if k != FOLD_KEY}
        out.append((number, _metrics(field, rest)))
    numbers = [n for n, _ in out]
    if len(set(numbers)) != len(numbers):
        raise ContractError(_OWNER, "fold_metrics", numbers, "must not repeat a fold number")
    return out


def _artifacts(artifacts: Mapping[str, Path]) -> list[tuple[PurePosixPath, Path]]:
    out = []
    for destination, source in artifacts.items():
        field = f"artifacts[{destination!r}]"
        target = PurePosixPath(destination)
        if not destination or target.is_absolute() or ".." in target.parts:
            raise ContractError(_OWNER, field, destination, "must be a relative artifact path")
        instance_of(_OWNER, field, source, Path)
        if not source.exists():
            raise ContractError(_OWNER, field, str(source), "must be an existing file or directory")
        out.append((target, source))
    return out


def _log_artifact(destination: PurePosixPath, source: Path, staging: Path) -> None:
    """Log ``source`` so that it appears at ``destination`` inside the run's artifacts."""
    parent = None if str(destination.parent) == "." else str(destination.parent)
    if source.is_dir():
        mlflow.log_artifacts(str(source), artifact_path=str(destination))
        return
    if source.name != destination.name:  # another name: log a copy that has the wanted name
        renamed = staging / destination
        renamed.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, renamed)
        source = renamed
    mlflow.log_artifact(str(source), artifact_path=parent)


def _lineage(lineage: Mapping[str, str]) -> dict[str, str]:
    out = {}
    for key, value in lineage.items():
        _tag_key("lineage", key)
        if key in _RESERVED_TAGS or key.startswith((METRIC_TAG_PREFIX, "mlflow.")):
            raise ContractError(_OWNER, "lineage", key, "must not use a reserved tag name")
        if not isinstance(value, str) or len(value) > _MAX_TAG_VALUE:
            raise ContractError(
                _OWNER, f"lineage[{key!r}]", value, f"must be a str of <= {_MAX_TAG_VALUE} chars"
            )
        out[key] = value
    return out


def _tag_key(field: str, key: object) -> None:
    if not isinstance(key, str) or not key.strip() or len(key) > _MAX_TAG_KEY:
        raise ContractError(_OWNER, field, key, f"keys must be names of 1-{_MAX_TAG_KEY} chars")


def _example(model: RegistrableModel, input_example: pl.DataFrame) -> pl.DataFrame:
    if not isinstance(input_example, pl.DataFrame) or input_example.is_empty():
        raise ContractError(_OWNER, "input_example", input_example, "must be a non-empty frame")
    columns = list(model.feature_columns)
    missing = [c for c in columns if c not in input_example.columns]
    if missing:
        raise ContractError(_OWNER, "input_example", missing, "must have every feature column")
    example = input_example.head(_EXAMPLE_ROWS)
    if VERSION_COLUMN not in example.columns:
        example = example.with_columns(pl.lit(model.feature_version).alias(VERSION_COLUMN))
    return example.select(VERSION_COLUMN, *columns)


def _scores_frame(model: RegistrableModel, example: pl.DataFrame) -> pl.DataFrame:
    scores = model.predict(example)
    return pl.DataFrame(
        {"p_win": list(scores.p_win), "expected_return": list(scores.expected_return)},
        schema={"p_win": pl.Float64, "expected_return": pl.Float64},
    )


def _pip_requirements() -> list[str]:
    """Pinned runtime packages of the pyfunc model (kitepilot itself must be importable)."""
    out = []
    for package in _PIP_PACKAGES:
        try:
            out.append(f"{package}=={importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            out.append(package)
    return out
