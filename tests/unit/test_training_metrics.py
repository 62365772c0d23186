"""ML metrics and calibrators: exact on hand examples, equal to scikit-learn, defined everywhere."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

from data_contracts.errors import ContractError
from models.training import Calibrator, calibration_table, classification_metrics, fit_calibrator
from models.training.calibration import sigmoid


def test_classification_metrics_hand_example_is_exact() -> None:
    win = np.array([True, False, True, False])
    p = np.array([0.9, 0.2, 0.6, 0.7])

    metrics = classification_metrics(win, p, threshold=0.65)

    assert metrics == pytest.approx(
        {
            "auc": 0.75,  # 3 of the 4 (win, loss) pairs are ordered correctly
            "brier": (0.01 + 0.04 + 0.16 + 0.49) / 4,
            "log_loss": -(math.log(0.9) + math.log(0.8) + math.log(0.6) + math.log(0.3)) / 4,
            "ece": (0.1 + 0.2 + 0.4 + 0.7) / 4,  # one row per bin
            "precision": 0.5,  # 0.9 (win) and 0.7 (loss) are at or above 0.65
            "recall": 0.5,
            "base_rate": 0.5,
            "rows": 4.0,
            "predicted_positive": 2.0,
        },
        abs=1e-12,
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_classification_metrics_equal_sklearn_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = np.round(rng.random(300), 1)  # coarse scores: many ties
    win = rng.random(300) < p

    metrics = classification_metrics(win, p.clip(0.01, 0.99), threshold=0.5)

    clipped = p.clip(0.01, 0.99)
    assert metrics["auc"] == pytest.approx(roc_auc_score(win, clipped), abs=1e-12)
    assert metrics["brier"] == pytest.approx(brier_score_loss(win, clipped), abs=1e-12)
    assert metrics["log_loss"] == pytest.approx(log_loss(win, clipped), abs=1e-12)


def test_classification_metrics_ece_on_known_bins() -> None:
    # Bin [0.2, 0.3): predicted 0.25 twice, observed 1 of 2 -> gap 0.25 on half the rows.
    # Bin [0.8, 0.9): predicted 0.8 twice, observed 2 of 2 -> gap 0.2 on half the rows.
    win = np.array([1, 0, 1, 1])
    p = np.array([0.25, 0.25, 0.8, 0.8])

    assert classification_metrics(win, p, 0.5)["ece"] == pytest.approx(0.5 * 0.25 + 0.5 * 0.2)


@pytest.mark.parametrize(
    ("win", "p"),
    [
        ([], []),
        ([True, True, True], [0.2, 0.7, 0.9]),
        ([False, False], [0.1, 0.95]),
    ],
)
def test_classification_metrics_empty_or_one_class_are_nan_free(
    win: list[bool], p: list[float]
) -> None:
    metrics = classification_metrics(np.array(win, dtype=bool), np.array(p), threshold=0.8)

    assert all(math.isfinite(v) for v in metrics.values())
    assert metrics["auc"] == 0.5
    assert metrics["rows"] == len(win)


def test_classification_metrics_no_predicted_positive_gives_zero_precision() -> None:
    metrics = classification_metrics(np.array([True, False]), np.array([0.3, 0.4]), 0.9)

    assert (metrics["precision"], metrics["recall"], metrics["predicted_positive"]) == (0, 0, 0)


@pytest.mark.parametrize(
    ("win", "p", "threshold", "field"),
    [
        ([True], [1.5], 0.5, "p_win"),
        ([True], [float("nan")], 0.5, "p_win"),
        ([True, False], [0.5], 0.5, "p_win"),
        ([2], [0.5], 0.5, "win"),
        ([True], [0.5], 1.5, "threshold"),
    ],
)
def test_classification_metrics_bad_input_raises_naming_field(
    win: list[object], p: list[float], threshold: float, field: str
) -> None:
    with pytest.raises(ContractError) as error:
        classification_metrics(np.array(win), np.array(p), threshold)

    assert error.value.field == field


@given(
    st.lists(st.tuples(st.booleans(), st.floats(0, 1)), max_size=50),
    st.floats(0, 1),
)
def test_classification_metrics_any_input_is_bounded_and_nan_free(
    rows: list[tuple[bool, float]], threshold: float
) -> None:
    win = np.array([w for w, _ in rows], dtype=bool)
    p = np.array([q for _, q in rows], dtype=np.float64)

    metrics = classification_metrics(win, p, threshold)

    assert all(math.isfinite(v) for v in metrics.values())
    for name in ("auc", "brier", "ece", "precision", "recall", "base_rate"):
        assert 0.0 <= metrics[name] <= 1.0


def test_calibration_table_lists_every_bin_with_rates() -> None:
    win = np.array([1, 0, 1, 1])
    p = np.array([0.25, 0.25, 0.8, 1.0])

    table = calibration_table(win, p, bins=4)

    assert table.columns == ["bin", "lower", "upper", "mean_predicted", "observed_rate", "rows"]
    assert table["rows"].to_list() == [0, 2, 0, 2]
    assert table["mean_predicted"].to_list() == [None, 0.25, None, 0.9]
    assert table["observed_rate"].to_list() == [None, 0.5, None, 1.0]
    assert table["upper"][-1] == 1.0


def test_calibration_table_empty_input_has_empty_bins() -> None:
    table = calibration_table(np.array([], dtype=bool), np.array([]))

    assert table.height == 10
    assert table["rows"].sum() == 0
    assert table.schema["mean_predicted"] == pl.Float64


def _one_dimensional_problem(seed: int, rows: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    margin = rng.normal(0.0, 2.0, rows)
    win = rng.random(rows) < sigmoid(0.6 * margin - 0.3)
    return margin, win


def test_isotonic_calibrator_equals_sklearn_isotonic_regression() -> None:
    margin, win = _one_dimensional_problem(0)
    new = np.linspace(-8, 8, 401)

    calibrator = fit_calibrator("isotonic", margin, win)

    reference = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(sigmoid(margin), win)
    np.testing.assert_allclose(
        calibrator.apply(new), reference.predict(sigmoid(new)), rtol=0, atol=1e-12
    )


def test_platt_calibrator_equals_weighted_logistic_regression() -> None:
    # Platt's smoothed targets as a weighted logistic regression: each row once as a win with
    # weight t and once as a loss with weight 1 - t, no regularisation.
    margin, win = _one_dimensional_problem(1)
    pos, neg = win.sum(), (~win).sum()
    target = np.where(win, (pos + 1) / (pos + 2), 1 / (neg + 2))

    calibrator = fit_calibrator("platt", margin, win)

    reference = LogisticRegression(C=1e12, tol=1e-12, max_iter=10_000).fit(
        np.concatenate([margin, margin])[:, None],
        np.concatenate([np.ones_like(target), np.zeros_like(target)]),
        sample_weight=np.concatenate([target, 1 - target]),
    )
    assert calibrator.slope == pytest.approx(reference.coef_[0, 0], abs=1e-5)
    assert calibrator.intercept == pytest.approx(reference.intercept_[0], abs=1e-5)
    assert calibrator.slope == pytest.approx(0.6, abs=0.1)


def test_platt_calibrator_separable_data_stays_finite() -> None:
    margin = np.array([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0])
    win = margin > 0

    calibrator = fit_calibrator("platt", margin, win)

    p = calibrator.apply(margin)
    assert math.isfinite(calibrator.slope)
    assert calibrator.slope > 0
    assert np.all((p > 0) & (p < 1))


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_calibrator_json_round_trip_applies_identically(method: str) -> None:
    margin, win = _one_dimensional_problem(2)
    calibrator = fit_calibrator(method, margin, win)  # type: ignore[arg-type]

    loaded = Calibrator.from_json(calibrator.to_json())

    assert loaded == calibrator
    assert np.array_equal(loaded.apply(margin), calibrator.apply(margin))


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_fit_calibrator_one_class_raises_naming_win(method: str) -> None:
    with pytest.raises(ContractError) as error:
        fit_calibrator(method, np.array([0.1, 0.2]), np.array([True, True]))  # type: ignore[arg-type]

    assert error.value.field == "win"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"method": "isotonic", "thresholds": [0.2, 0.1], "values": [0.1, 0.2]}, "thresholds"),
        ({"method": "isotonic", "thresholds": [0.1, 0.2], "values": [0.5, 0.2]}, "values"),
        ({"method": "isotonic", "thresholds": "0.1", "values": [0.5]}, "thresholds"),
        ({"method": "platt", "slope": "1", "intercept": 0}, "slope"),
        ({"method": "beta"}, "method"),
    ],
)
def test_calibrator_from_bad_json_raises_naming_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(ContractError) as error:
        Calibrator.from_json(data)

    assert error.value.field == field
