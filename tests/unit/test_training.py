"""Fold model training: determinism, early stopping, calibration quality, scoring, save/load."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from data_contracts.errors import ContractError
from data_contracts.ports import Scores
from models.training import (
    TrainedModel,
    TrainingConfig,
    classification_metrics,
    fold_predictions,
    train_fold,
    train_model,
    walk_forward_predictions,
)
from models.walkforward import WalkForwardConfig, walk_forward_folds

FEATURES = ("x0", "x1", "x2", "x3")
VERSION = "candles-v1-abc123"
SESSION_OPEN = datetime(2024, 1, 1, 3, 46, tzinfo=UTC)  # 09:16 IST
FAST = TrainingConfig(n_estimators=60, learning_rate=0.2, max_depth=3, early_stopping_rounds=10)


def _synthetic(
    rows: int, seed: int, *, per_day: int = 375, first_day: int = 0, noise_only: bool = False
) -> pl.DataFrame:
    """Decisions a minute apart over NSE-like sessions; ``p_true`` is each row's true win chance."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, len(FEATURES)))
    logit = 1.5 * x[:, 0] + x[:, 1] - 0.5 * x[:, 2] * x[:, 3]
    p_true = np.full(rows, 0.5) if noise_only else 1.0 / (1.0 + np.exp(-logit))
    win = rng.random(rows) < p_true
    index = np.arange(rows)
    offsets = (first_day + index // per_day) * 1440 + index % per_day
    ts = [SESSION_OPEN + timedelta(minutes=int(m)) for m in offsets]
    return pl.DataFrame(
        {
            "instrument_token": np.full(rows, 256265, dtype=np.int64),
            "ts_event": ts,
            "exit_ts": [t + timedelta(minutes=10) for t in ts],
            **{name: x[:, i] for i, name in enumerate(FEATURES)},
            "win": win,
            "net_return_pct": np.where(win, 0.4, -0.4) + 0.1 * x[:, 0],
            "p_true": p_true,
            "feature_version": VERSION,
        },
        schema_overrides={
            "ts_event": pl.Datetime("us", "UTC"),
            "exit_ts": pl.Datetime("us", "UTC"),
        },
    )


def _train(data: pl.DataFrame, config: TrainingConfig = FAST) -> TrainedModel:
    return train_model(data, feature_columns=FEATURES, feature_version=VERSION, config=config)


@pytest.fixture(scope="module")
def train_data() -> pl.DataFrame:
    return _synthetic(6000, seed=1)


@pytest.fixture(scope="module")
def test_data() -> pl.DataFrame:
    return _synthetic(2000, seed=2, first_day=30)


@pytest.fixture(scope="module")
def model(train_data: pl.DataFrame) -> TrainedModel:
    return _train(train_data)


@pytest.mark.parametrize(
    ("field", "overrides"),
    [
        ("n_estimators", {"n_estimators": 0}),
        ("learning_rate", {"learning_rate": 0.0}),
        ("learning_rate", {"learning_rate": 1.5}),
        ("subsample", {"subsample": 1.2}),
        ("calibration_fraction", {"validation_fraction": 0.5, "calibration_fraction": 0.5}),
        ("calibration", {"calibration": "beta"}),
        ("nthread", {"nthread": 0}),
        ("seed", {"seed": -1}),
    ],
)
def test_training_config_invalid_field_raises_naming_it(
    field: str, overrides: dict[str, object]
) -> None:
    with pytest.raises(ContractError) as error:
        TrainingConfig(**overrides)  # type: ignore[arg-type]

    assert error.value.field == field


def test_training_config_xgboost_params_use_hist_and_the_seed() -> None:
    params = TrainingConfig(seed=11, nthread=1).xgboost_params()

    assert (params["tree_method"], params["seed"], params["nthread"]) == ("hist", 11, 1)


def test_train_model_same_seed_gives_bit_identical_predictions(
    train_data: pl.DataFrame, test_data: pl.DataFrame, model: TrainedModel
) -> None:
    again = _train(train_data)

    first = model.predict_arrays(test_data)
    second = again.predict_arrays(test_data)

    assert np.array_equal(first[0], second[0])
    assert np.array_equal(first[1], second[1])
    assert bytes(model.classifier.save_raw("ubj")) == bytes(again.classifier.save_raw("ubj"))


def test_train_model_other_seed_gives_other_trees(
    train_data: pl.DataFrame, model: TrainedModel
) -> None:
    other = _train(train_data, replace(FAST, seed=8))

    assert bytes(model.classifier.save_raw("ubj")) != bytes(other.classifier.save_raw("ubj"))


def test_train_model_row_order_does_not_change_the_model(
    train_data: pl.DataFrame, test_data: pl.DataFrame, model: TrainedModel
) -> None:
    shuffled = train_data.sample(fraction=1.0, shuffle=True, seed=5)

    reordered = _train(shuffled)

    assert np.array_equal(
        reordered.predict_arrays(test_data)[0], model.predict_arrays(test_data)[0]
    )


def test_train_model_noise_labels_stop_early(train_data: pl.DataFrame) -> None:
    noise = _synthetic(6000, seed=3, noise_only=True)
    config = replace(FAST, n_estimators=200, learning_rate=0.3)

    model = _train(noise, config)

    assert (
        model.classifier.num_boosted_rounds() < config.n_estimators - config.early_stopping_rounds
    )
    assert model.metadata.best_iteration_classifier == model.classifier.num_boosted_rounds() - 1


def test_train_model_metadata_accounts_for_every_row(
    train_data: pl.DataFrame, model: TrainedModel
) -> None:
    meta = model.metadata

    rows = meta.rows_fit + meta.rows_validation + meta.rows_calibration + meta.rows_purged
    assert rows == train_data.height
    assert meta.rows_purged > 0  # 10-minute labels straddle the intraday slice boundaries
    assert meta.train_start == SESSION_OPEN
    assert meta.config == FAST


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_train_model_known_probabilities_calibrated_p_is_reliable(method: str) -> None:
    train = _synthetic(20000, seed=11)
    test = _synthetic(20000, seed=12, first_day=60)
    config = replace(FAST, n_estimators=150, learning_rate=0.1, calibration=method)
    model = _train(train, config)

    p = model.predict_arrays(test)[0]

    win, p_true = test["win"].to_numpy(), test["p_true"].to_numpy()
    bins = np.minimum((p * 10).astype(int), 9)
    true_ece = sum(abs(p[bins == b].sum() - p_true[bins == b].sum()) for b in range(10)) / p.size
    picked = p >= 0.8
    assert classification_metrics(win, p, 0.8)["ece"] < 0.03
    assert true_ece < 0.03
    assert picked.sum() > 1000
    assert win[picked].mean() >= 0.8
    assert p_true[picked].mean() >= 0.8


def test_train_model_one_class_raises_naming_win() -> None:
    data = _synthetic(600, seed=4).with_columns(win=pl.lit(value=True))

    with pytest.raises(ContractError) as error:
        _train(data)

    assert error.value.field == "win"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.drop("net_return_pct"), "train"),
        (lambda d: d.with_columns(win=pl.col("win").cast(pl.Int8)), "win"),
        (lambda d: d.with_columns(feature_version=pl.lit("other")), "feature_version"),
        (lambda d: d.with_columns(x0=pl.lit(float("inf"))), "features"),
        (lambda d: d.with_columns(x1=pl.col("x1").cast(pl.String)), "features"),
        (lambda d: d.with_columns(net_return_pct=pl.lit(None, dtype=pl.Float64)), "net_return_pct"),
    ],
)
def test_train_model_bad_input_raises_naming_field(
    change: object, field: str, train_data: pl.DataFrame
) -> None:
    data = change(train_data.head(600))  # type: ignore[operator]

    with pytest.raises(ContractError) as error:
        _train(data)

    assert error.value.field == field


def test_train_model_null_features_are_missing_values(train_data: pl.DataFrame) -> None:
    data = train_data.head(1500).with_columns(
        x2=pl.when(pl.int_range(pl.len()) % 3 == 0).then(None).otherwise(pl.col("x2"))
    )

    model = _train(data)

    p_win, _ = model.predict_arrays(data.head(10))
    assert np.all((p_win >= 0) & (p_win <= 1))


def test_trained_model_predict_returns_scores_in_row_order(
    model: TrainedModel, test_data: pl.DataFrame
) -> None:
    rows = test_data.head(5)

    scores = model.predict(rows)
    reversed_scores = model.predict(rows.reverse())

    assert isinstance(scores, Scores)
    assert len(scores.p_win) == len(scores.expected_return) == 5
    assert list(reversed_scores.p_win) == list(scores.p_win)[::-1]


def test_trained_model_predict_other_feature_version_raises(
    model: TrainedModel, test_data: pl.DataFrame
) -> None:
    rows = test_data.head(3).with_columns(feature_version=pl.lit("candles-v2-def456"))

    with pytest.raises(ContractError) as error:
        model.predict(rows)

    assert error.value.field == "feature_version"
    assert VERSION in str(error.value)


@pytest.mark.parametrize("dropped", ["x2", "feature_version"])
def test_trained_model_predict_missing_column_raises(
    model: TrainedModel, test_data: pl.DataFrame, dropped: str
) -> None:
    with pytest.raises(ContractError) as error:
        model.predict(test_data.head(3).drop(dropped))

    assert error.value.field == "features"
    assert dropped in str(error.value)


def test_trained_model_predict_empty_frame_gives_empty_scores(
    model: TrainedModel, test_data: pl.DataFrame
) -> None:
    scores = model.predict(test_data.clear())

    assert (list(scores.p_win), list(scores.expected_return)) == ([], [])


def test_trained_model_expected_return_tracks_net_return(
    model: TrainedModel, test_data: pl.DataFrame
) -> None:
    expected = model.predict_arrays(test_data)[1]

    correlation = np.corrcoef(expected, test_data["net_return_pct"].to_numpy())[0, 1]
    assert correlation > 0.3


def test_trained_model_contributions_sum_to_the_raw_margin(
    model: TrainedModel, test_data: pl.DataFrame
) -> None:
    rows = test_data.head(20)

    contributions = model.contributions(rows)

    margin = model.classifier.inplace_predict(
        rows.select(FEATURES).to_numpy().astype(np.float32), predict_type="margin"
    )
    total = contributions.select(pl.sum_horizontal(*FEATURES, "bias")).to_series().to_numpy()
    assert contributions.columns == ["instrument_token", "ts_event", *FEATURES, "bias"]
    np.testing.assert_allclose(total, margin, rtol=0, atol=1e-4)


def test_trained_model_importance_ranks_the_informative_feature_first(model: TrainedModel) -> None:
    importance = model.importance()
    shap = model.mean_abs_contributions(_synthetic(500, seed=9).drop("p_true"))

    assert importance.columns == ["feature", "gain"]
    assert sorted(importance["feature"].to_list()) == sorted(FEATURES)
    assert importance["feature"][0] == "x0"
    assert shap.columns == ["feature", "mean_abs_shap"]
    assert shap["feature"][0] == "x0"


def test_trained_model_save_load_round_trip_predicts_identically(
    model: TrainedModel, test_data: pl.DataFrame, tmp_path: Path
) -> None:
    model.save(tmp_path / "fold-0")

    loaded = TrainedModel.load(tmp_path / "fold-0")

    before, after = model.predict_arrays(test_data), loaded.predict_arrays(test_data)
    assert np.array_equal(before[0], after[0])
    assert np.array_equal(before[1], after[1])
    assert (loaded.feature_columns, loaded.feature_version) == (FEATURES, VERSION)
    assert loaded.metadata == model.metadata
    assert loaded.calibrator == model.calibrator
    assert loaded.contributions(test_data.head(5)).equals(model.contributions(test_data.head(5)))


def test_trained_model_save_writes_plain_files_no_pickle(
    model: TrainedModel, tmp_path: Path
) -> None:
    model.save(tmp_path)

    names = sorted(p.name for p in tmp_path.iterdir())
    manifest = json.loads((tmp_path / "model.json").read_text(encoding="utf-8"))
    assert names == ["calibrator.json", "classifier.ubj", "model.json", "regressor.ubj"]
    assert manifest["feature_version"] == VERSION
    assert json.loads((tmp_path / "calibrator.json").read_text(encoding="utf-8"))["method"] == (
        "isotonic"
    )


@pytest.mark.parametrize("broken", ["missing_file", "wrong_format"])
def test_trained_model_load_broken_directory_raises(
    model: TrainedModel, tmp_path: Path, broken: str
) -> None:
    model.save(tmp_path)
    if broken == "missing_file":
        (tmp_path / "regressor.ubj").unlink()
    else:
        manifest = json.loads((tmp_path / "model.json").read_text(encoding="utf-8"))
        (tmp_path / "model.json").write_text(json.dumps({**manifest, "format": "other/9"}))

    with pytest.raises(ContractError) as error:
        TrainedModel.load(tmp_path)

    assert error.value.field == ("directory" if broken == "missing_file" else "format")


def test_train_fold_equals_train_model_on_the_fold_rows(test_data: pl.DataFrame) -> None:
    data = _synthetic(8 * 120, seed=6, per_day=120)
    (fold, *_) = walk_forward_folds(
        data["ts_event"], data["exit_ts"], WalkForwardConfig(train_days=5, test_days=2)
    )

    via_fold = train_fold(
        data, fold, feature_columns=FEATURES, feature_version=VERSION, config=FAST
    )
    direct = _train(data[fold.train.tolist()])

    assert np.array_equal(
        via_fold.predict_arrays(test_data)[0], direct.predict_arrays(test_data)[0]
    )


def test_walk_forward_predictions_cover_each_test_row_once_out_of_sample() -> None:
    data = _synthetic(9 * 150, seed=7, per_day=150)
    folds = walk_forward_folds(
        data["ts_event"], data["exit_ts"], WalkForwardConfig("rolling", 5, 2, 30)
    )

    predictions = walk_forward_predictions(
        data, folds, feature_columns=FEATURES, feature_version=VERSION, config=FAST
    )

    model, first = fold_predictions(
        data, folds[0], feature_columns=FEATURES, feature_version=VERSION, config=FAST
    )
    assert predictions.columns == [
        "instrument_token",
        "ts_event",
        "exit_ts",
        "fold",
        "p_win",
        "expected_return",
        "win",
        "net_return_pct",
    ]
    assert predictions.height == sum(f.test.size for f in folds)
    assert predictions["ts_event"].is_sorted()
    assert predictions["ts_event"].min() == folds[0].test_start
    assert predictions.group_by("fold").len().sort("fold")["len"].to_list() == [
        f.test.size for f in folds
    ]
    assert predictions.filter(pl.col("fold") == 0).equals(first)
    assert model.metadata.train_end < folds[0].test_start


def test_walk_forward_predictions_no_folds_gives_empty_frame() -> None:
    data = _synthetic(10, seed=8)

    predictions = walk_forward_predictions(
        data, [], feature_columns=FEATURES, feature_version=VERSION, config=FAST
    )

    assert predictions.height == 0
    assert predictions.schema["p_win"] == pl.Float64


def test_walk_forward_predictions_without_version_column_uses_the_given_version() -> None:
    data = _synthetic(6 * 150, seed=10, per_day=150).drop("feature_version")
    folds = walk_forward_folds(data["ts_event"], data["exit_ts"], WalkForwardConfig(train_days=5))

    predictions = walk_forward_predictions(
        data, folds, feature_columns=FEATURES, feature_version=VERSION, config=FAST
    )

    assert predictions.height == folds[0].test.size
