"""The promotion gate."""

from __future__ import annotations

import math

import pytest

from data_contracts.errors import ContractError
from models.promotion import PromotionCriteria, decide_promotion

GOOD = {"auc": 0.60, "ece": 0.02, "net_pnl": 500.0, "sharpe": 1.2}


def test_first_model_clearing_every_floor_is_promoted():
    decision = decide_promotion(GOOD, None, PromotionCriteria(), data_checks_passed=True)

    assert decision.promote
    assert "no current champion" in decision.reasons


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"auc": 0.51}, "auc"),
        ({"ece": 0.2}, "calibration error"),
        ({"net_pnl": -10.0}, "net P&L"),
        ({"auc": math.nan}, "auc"),
        ({"ece": None}, "calibration error"),
    ],
)
def test_a_challenger_below_a_floor_stays_challenger(change, reason):
    metrics = {k: v for k, v in (GOOD | change).items() if v is not None}

    decision = decide_promotion(metrics, None, PromotionCriteria(), data_checks_passed=True)

    assert not decision.promote
    assert any(r.startswith(f"FAILED {reason}") for r in decision.reasons)


def test_failed_data_checks_block_promotion_whatever_the_metrics():
    decision = decide_promotion(GOOD, None, PromotionCriteria(), data_checks_passed=False)

    assert not decision.promote
    assert "FAILED data checks failed" in decision.reasons


@pytest.mark.parametrize(
    ("metric", "champion_value", "improvement", "promote"),
    [
        ("net_pnl", 400.0, 0.0, True),
        ("net_pnl", 500.0, 0.0, True),  # a tie is not worse
        ("net_pnl", 600.0, 0.0, False),
        ("net_pnl", 450.0, 100.0, False),  # better, but not by enough
        ("sharpe", 1.5, 0.0, False),
        ("auc", 0.55, 0.01, True),
    ],
)
def test_against_a_champion_the_primary_metric_decides(
    metric, champion_value, improvement, promote
):
    champion = GOOD | {metric: champion_value}
    criteria = PromotionCriteria(primary_metric=metric, min_improvement=improvement)

    decision = decide_promotion(GOOD, champion, criteria, data_checks_passed=True)

    assert decision.promote is promote
    assert any(metric in r for r in decision.reasons)


def test_decision_reads_as_a_sentence():
    text = str(
        decide_promotion(
            GOOD, GOOD | {"net_pnl": 9e9}, PromotionCriteria(), data_checks_passed=True
        )
    )

    assert text.startswith("keep as challenger: FAILED net_pnl")


@pytest.mark.parametrize(
    ("field", "value"),
    [("primary_metric", "profit"), ("min_improvement", -1.0), ("min_auc", 1.5)],
)
def test_invalid_criteria_raise_naming_the_field(field, value):
    with pytest.raises(ContractError, match=field):
        PromotionCriteria(**{field: value})
