"""The MLflow registry against a real MLflow (SQLite tracking store, local artifacts; no mocks).

The model is a real ``models.training.TrainedModel`` trained on a small synthetic frame. One
tracking database serves the module (creating its tables takes seconds); each test registers under
its own model name, so aliases and versions never leak between tests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import polars as pl
import pytest
from mlflow import MlflowClient
from mlflow.models import Model

from data_contracts.clock import ManualClock
from data_contracts.errors import ContractError
from data_contracts.ports import RegisteredModel
from models.registry import MlflowRegistry, RegisteredVersion
from models.reports import write_walk_forward_report
from models.training import TrainedModel, TrainingConfig, train_model

FEATURES = ("ret_1", "rsi_14")
FEATURE_VERSION = "fs-test-1"
T0 = datetime(2025, 1, 6, 4, 0, tzinfo=UTC)
LINEAGE = {
    "lake_partitions": "candles_1m:2025-01-06..2025-01-10 (5 days)",
    "code_version": "0123456789abcdef0123456789abcdef01234567",
    "data_source": "simulator",
}
METRICS = {"auc": 0.6125, "brier": 0.2375, "net_pnl": 1234.5}
FOLD_METRICS = [
    {"fold": 0, "auc": 0.6, "net_pnl": 500.0},
    {"fold": 1, "auc": 0.58, "net_pnl": -120.0},
    {"fold": 2, "auc": 0.65, "net_pnl": 854.5},
]


def _training_frame(n: int = 600, seed: int = 3) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    ts = [T0 + timedelta(minutes=i) for i in range(n)]
    ret_1, rsi = rng.normal(size=n), rng.normal(size=n)
    net_return = 0.8 * ret_1 + rng.normal(scale=0.7, size=n)
    return pl.DataFrame(
        {
            "instrument_token": [256265] * n,
            "ts_event": ts,
            "exit_ts": [t + timedelta(minutes=5) for t in ts],
            "feature_version": [FEATURE_VERSION] * n,
            "ret_1": ret_1,
            "rsi_14": rsi,
            "net_return_pct": net_return,
            "win": net_return > 0,
        }
    ).with_columns(pl.col("ts_event", "exit_ts").dt.cast_time_unit("us"))


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return _training_frame()


@pytest.fixture(scope="module")
def model(frame: pl.DataFrame) -> TrainedModel:
    config = TrainingConfig(n_estimators=20, early_stopping_rounds=5, embargo_minutes=0)
    return train_model(
        frame, feature_columns=FEATURES, feature_version=FEATURE_VERSION, config=config
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    root = tmp_path_factory.mktemp("mlflow")
    return f"sqlite:///{root / 'mlflow.db'}", root / "mlartifacts"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2025, 1, 13, 3, 30, tzinfo=UTC))


@pytest.fixture
def registry(
    store: tuple[str, Path], clock: ManualClock, request: pytest.FixtureRequest
) -> MlflowRegistry:
    uri, artifacts = store
    name = re.sub(r"[^A-Za-z0-9_-]", "-", request.node.name)[-60:]  # one model name per test
    return MlflowRegistry(uri, artifacts, name, clock=clock)


@pytest.fixture
def report(tmp_path: Path) -> Path:
    folds = pl.DataFrame({"fold": [0, 1, 2], "auc": [0.6, 0.58, 0.65]})
    return write_walk_forward_report(
        tmp_path / "walk_forward.html",
        folds=folds,
        calibration=pl.DataFrame(
            {"bin": [0], "mean_predicted": [0.5], "observed_rate": [0.5], "rows": [10]}
        ),
        equity=pl.DataFrame(
            {"ts": [T0], "strategy": ["model"], "equity": [1.0]},
            schema_overrides={"ts": pl.Datetime("us", "UTC")},
        ),
        comparison=pl.DataFrame({"strategy": ["model"], "net_pnl": [1.0]}),
        importance=pl.DataFrame({"feature": list(FEATURES), "gain": [2.0, 1.0]}),
        shap=pl.DataFrame({"feature": list(FEATURES), "mean_abs_shap": [0.2, 0.1]}),
        summary={"data_source": "simulator"},
        plotlyjs="directory",
    )


Log = Callable[..., RegisteredVersion]


@pytest.fixture
def log(registry: MlflowRegistry, model: TrainedModel, frame: pl.DataFrame) -> Log:
    def log_training(**overrides: Any) -> RegisteredVersion:
        arguments: dict[str, Any] = {
            "model": model,
            "params": {"n_estimators": 20, "window": "expanding"},
            "metrics": METRICS,
            "fold_metrics": FOLD_METRICS,
            "artifacts": {},
            "lineage": LINEAGE,
            "input_example": frame,
        }
        arguments.update(overrides)
        return registry.log_training(**arguments)

    return log_training


def _client(store: tuple[str, Path]) -> MlflowClient:
    return MlflowClient(tracking_uri=store[0], registry_uri=store[0])


def _with_registry(store: tuple[str, Path], call: Callable[[], Any]) -> Any:
    """``call()`` with MLflow's global URIs pointing at the test store (then put back)."""
    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(store[0])
    mlflow.set_registry_uri(store[0])
    try:
        return call()
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])


def test_registry_log_training_parent_run_has_params_metrics_lineage(
    log: Log, store: tuple[str, Path]
) -> None:
    logged = log()

    run = _client(store).get_run(logged.run_id)
    assert {k: run.data.params[k] for k in ("n_estimators", "window")} == {
        "n_estimators": "20",
        "window": "expanding",
    }
    assert run.data.metrics == METRICS
    assert {k: run.data.tags[k] for k in LINEAGE} == LINEAGE
    assert run.data.tags["feature_version"] == FEATURE_VERSION
    assert run.info.status == "FINISHED"


def test_registry_log_training_one_nested_run_per_fold(log: Log, store: tuple[str, Path]) -> None:
    logged = log()

    client = _client(store)
    experiment_id = client.get_run(logged.run_id).info.experiment_id
    children = client.search_runs(
        [experiment_id], filter_string=f"tags.mlflow.parentRunId = '{logged.run_id}'"
    )
    by_fold = {run.data.tags["fold"]: run for run in children}
    assert sorted(by_fold) == ["0", "1", "2"]
    assert by_fold["1"].data.metrics == {"auc": 0.58, "net_pnl": -120.0}
    assert by_fold["2"].info.run_name == "fold-2"


def test_registry_log_training_artifacts_logged_at_their_paths(
    log: Log, store: tuple[str, Path], report: Path, tmp_path: Path
) -> None:
    plot = tmp_path / "calibration-fold.html"
    plot.write_text("<html>calibration</html>", encoding="utf-8")
    plots = tmp_path / "plots"
    plots.mkdir()
    (plots / "equity.html").write_text("<html>equity</html>", encoding="utf-8")

    logged = log(
        artifacts={
            "reports/walk_forward.html": report,
            "plots/calibration.html": plot,
            "more": plots,
            "walk_forward.html": report,
        }
    )

    client = _client(store)
    listed = {a.path for a in client.list_artifacts(logged.run_id, "reports")}
    listed |= {a.path for a in client.list_artifacts(logged.run_id, "plots")}
    listed |= {a.path for a in client.list_artifacts(logged.run_id, "more")}
    listed |= {a.path for a in client.list_artifacts(logged.run_id) if not a.is_dir}
    assert listed == {
        "reports/walk_forward.html",
        "plots/calibration.html",
        "more/equity.html",
        "walk_forward.html",
    }
    local = Path(client.download_artifacts(logged.run_id, "reports/walk_forward.html"))
    assert local.read_bytes() == report.read_bytes()


def test_registry_log_training_registers_version_with_tags(
    log: Log, registry: MlflowRegistry, store: tuple[str, Path]
) -> None:
    first = log()
    second = log()

    version = _client(store).get_model_version(registry.model_name, second.version)
    assert (first.version, second.version) == ("1", "2")
    assert second.model_uri == f"models:/{registry.model_name}/2"
    assert version.run_id == second.run_id
    assert version.tags["feature_version"] == FEATURE_VERSION
    assert version.tags["feature_columns"] == ",".join(FEATURES)
    assert {k: version.tags[k] for k in LINEAGE} == LINEAGE
    assert version.tags["oos_auc"] == "0.6125"
    assert registry.version_metrics(second.version) == METRICS


def test_registry_logged_model_has_signature_and_input_example(
    log: Log, registry: MlflowRegistry, store: tuple[str, Path]
) -> None:
    logged = log()

    directory = _with_registry(
        store, lambda: mlflow.artifacts.download_artifacts(artifact_uri=logged.model_uri)
    )
    info = Model.load(Path(directory) / "MLmodel")
    example = json.loads(
        Path(directory, info.saved_input_example_info["artifact_path"]).read_text()
    )
    assert info.signature.inputs.input_names() == ["feature_version", *FEATURES]
    assert info.signature.outputs.input_names() == ["p_win", "expected_return"]
    assert example["columns"] == ["feature_version", *FEATURES]
    assert len(example["data"]) == 5
    config = info.flavors["python_function"]["config"]
    assert config == {"model_class": "models.training.model:TrainedModel"}


def test_registry_load_scores_exactly_like_the_trained_model(
    log: Log, registry: MlflowRegistry, model: TrainedModel, frame: pl.DataFrame
) -> None:
    logged = log()
    handle = RegisteredModel(registry.model_name, logged.version, FEATURE_VERSION, None)

    scorer = registry.load(handle)

    rows = frame.tail(50)
    assert scorer.model_version == logged.version
    assert scorer.feature_version == FEATURE_VERSION
    assert scorer.score(rows) == model.predict(rows)


def test_registry_pyfunc_model_predicts_like_the_trained_model(
    log: Log, store: tuple[str, Path], model: TrainedModel, frame: pl.DataFrame
) -> None:
    logged = log()
    rows = frame.tail(20).select("feature_version", *FEATURES)
    served = _with_registry(store, lambda: mlflow.pyfunc.load_model(logged.model_uri))

    predicted = served.predict(rows.to_pandas())

    assert predicted["p_win"].tolist() == list(model.predict(rows).p_win)
    assert predicted["expected_return"].tolist() == list(model.predict(rows).expected_return)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda f: f.with_columns(feature_version=pl.lit("fs-other")), id="other"),
        pytest.param(lambda f: f.drop("feature_version"), id="missing"),
        pytest.param(
            lambda f: f.with_columns(
                feature_version=pl.when(pl.int_range(pl.len()) == 3)
                .then(pl.lit("fs-other"))
                .otherwise(pl.col("feature_version"))
            ),
            id="one-row",
        ),
    ],
)
def test_registry_loaded_scorer_other_feature_version_refused(
    log: Log,
    registry: MlflowRegistry,
    frame: pl.DataFrame,
    change: Callable[[pl.DataFrame], pl.DataFrame],
) -> None:
    logged = log()
    scorer = registry.load(
        RegisteredModel(registry.model_name, logged.version, FEATURE_VERSION, None)
    )

    with pytest.raises(ContractError) as raised:
        scorer.score(change(frame.head(10)))

    assert raised.value.owner == "RegistryScorer"


def test_registry_empty_has_no_champion_or_challenger(registry: MlflowRegistry) -> None:
    assert (registry.champion(), registry.challenger()) == (None, None)


def test_registry_promote_sets_champion_with_clock_time(
    log: Log, registry: MlflowRegistry, clock: ManualClock
) -> None:
    logged = log()

    promoted = registry.promote(logged.version)

    champion = registry.champion()
    assert promoted == champion
    assert champion == RegisteredModel(
        registry.model_name, logged.version, FEATURE_VERSION, clock.now()
    )
    assert champion.promoted_at is not None
    assert champion.promoted_at.utcoffset() == timedelta(0)


def test_registry_challenger_promoted_replaces_champion_and_clears_alias(
    log: Log, registry: MlflowRegistry, clock: ManualClock
) -> None:
    first, second = log(), log()
    registry.promote(first.version)
    first_promoted_at = clock.now()
    challenger = registry.mark_challenger(second.version)
    clock.advance(timedelta(days=1))

    registry.promote(second.version)

    champion = registry.champion()
    assert challenger == RegisteredModel(registry.model_name, "2", FEATURE_VERSION, None)
    assert champion is not None
    assert (champion.version, champion.promoted_at) == ("2", clock.now())
    assert registry.challenger() is None
    old = registry.mark_challenger(first.version)
    assert old.promoted_at == first_promoted_at  # the time it was last made champion


def test_registry_mark_challenger_on_champion_refused(log: Log, registry: MlflowRegistry) -> None:
    logged = log()
    registry.promote(logged.version)

    with pytest.raises(ContractError, match="must not be the champion"):
        registry.mark_challenger(logged.version)

    assert registry.challenger() is None


@pytest.mark.parametrize("version", ["7", "one", ""])
def test_registry_unknown_version_refused(log: Log, registry: MlflowRegistry, version: str) -> None:
    log()

    with pytest.raises(ContractError) as raised:
        registry.promote(version)

    assert raised.value.field == "version"
    assert registry.champion() is None


@pytest.mark.parametrize(
    ("handle", "field"),
    [
        (lambda name: RegisteredModel("another-model", "1", FEATURE_VERSION, None), "model.name"),
        (lambda name: RegisteredModel(name, "1", "fs-stale", None), "model.feature_version"),
    ],
)
def test_registry_load_mismatched_handle_refused(
    log: Log,
    registry: MlflowRegistry,
    handle: Callable[[str], RegisteredModel],
    field: str,
) -> None:
    log()

    with pytest.raises(ContractError) as raised:
        registry.load(handle(registry.model_name))

    assert raised.value.field == field


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"metrics": {"auc": float("nan")}}, "metrics['auc']"),
        ({"fold_metrics": [{"fold": 0, "auc": 0.5}, {"fold": 0, "auc": 0.6}]}, "fold_metrics"),
        ({"fold_metrics": [{"fold": -1, "auc": 0.5}]}, "fold_metrics[0]['fold']"),
        ({"lineage": {"feature_version": "x"}}, "lineage"),
        ({"lineage": {"oos_auc": "0.9"}}, "lineage"),
        ({"artifacts": {"../escape.html": Path(__file__)}}, "artifacts['../escape.html']"),
        ({"artifacts": {"r.html": Path("/nonexistent/r.html")}}, "artifacts['r.html']"),
        ({"input_example": pl.DataFrame({"ret_1": [0.1]})}, "input_example"),
    ],
)
def test_registry_log_training_bad_input_refused_before_any_write(
    log: Log,
    registry: MlflowRegistry,
    store: tuple[str, Path],
    overrides: dict[str, Any],
    field: str,
) -> None:
    with pytest.raises(ContractError) as raised:
        log(**overrides)

    assert raised.value.field == field
    assert _client(store).search_model_versions(f"name = '{registry.model_name}'") == []


def test_registry_existing_experiment_other_artifact_root_refused(
    log: Log, registry: MlflowRegistry, store: tuple[str, Path], clock: ManualClock, tmp_path: Path
) -> None:
    log()
    elsewhere = MlflowRegistry(store[0], tmp_path / "other", registry.model_name, clock=clock)

    with pytest.raises(ContractError) as raised:
        elsewhere.log_training(
            model=registry.load(
                RegisteredModel(registry.model_name, "1", FEATURE_VERSION, None)
            ).model,
            params={},
            metrics={},
            fold_metrics=[],
            artifacts={},
            lineage={},
            input_example=_training_frame(10),
        )

    assert raised.value.field == "artifact_root"
