"""The console's words: rupees, IST times and feature contributions in plain sentences."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from data_contracts.errors import ContractError
from data_contracts.trading import FeatureContribution
from execution.console.words import MINUS, contribution_words, friendly_name, ist, rupees
from models.features import CANDLE_FEATURES, OPTION_FEATURES
from tests import factories


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (1234.5, "₹1,234.50"),
        (-12.0, f"{MINUS}₹12.00"),
        (0.0, "₹0.00"),
        (-0.004, "₹0.00"),
        (0.005, "₹0.01"),
        (1_500_000.0, "₹1,500,000.00"),
    ],
)
def test_rupees_of_an_amount_shows_sign_grouping_and_paise(amount: float, shown: str) -> None:
    assert rupees(amount) == shown


@pytest.mark.parametrize("amount", [float("nan"), float("inf")])
def test_rupees_of_a_non_finite_amount_is_refused(amount: float) -> None:
    with pytest.raises(ContractError, match="finite"):
        rupees(amount)


@given(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False))
def test_rupees_reads_back_as_the_amount_to_the_paisa(amount: float) -> None:
    shown = rupees(amount)

    value = float(shown.replace(MINUS, "-").replace("₹", "").replace(",", ""))

    assert value == pytest.approx(amount, abs=0.005 + 1e-9)
    assert shown.startswith(MINUS) == (value < 0)


def test_ist_of_a_utc_time_is_the_indian_clock_time() -> None:
    assert ist(factories.T0 + timedelta(seconds=65)) == "09:31:05 IST"


def test_ist_of_a_naive_time_is_refused() -> None:
    with pytest.raises(ContractError, match="aware"):
        ist(datetime(2026, 8, 18, 9, 30))  # noqa: DTZ001 - the naive time is the point


@pytest.mark.parametrize(
    ("contribution", "sentence"),
    [
        (
            FeatureContribution("rsi_14", 72.4, 0.12),
            "RSI (14) at 72.4 pushed the win chance up (+0.12)",
        ),
        (
            FeatureContribution("ema_12_rel", 0.0085, -0.05),
            f"price vs 12-bar EMA at +0.85% pulled the win chance down ({MINUS}0.05)",
        ),
        (
            FeatureContribution("days_to_expiry", 3.0, 0.004),
            "trading days to the weekly expiry at 3 pushed the win chance up (+0.004)",
        ),
        (
            FeatureContribution("day_of_week", 1.0, 0.0),
            "day of the week at Tuesday barely moved the win chance (0.00)",
        ),
        (
            FeatureContribution("volume_ratio_20", 1.35, 0.2),
            "volume vs its 20-bar average at 1.35\u00d7 pushed the win chance up (+0.20)",
        ),
        (
            FeatureContribution("ret_15m", 0.8, 0.12),
            "ret 15m at 0.8 pushed the win chance up (+0.12)",
        ),
    ],
)
def test_contribution_words_reads_as_a_sentence(
    contribution: FeatureContribution, sentence: str
) -> None:
    assert contribution_words(contribution) == sentence


@pytest.mark.parametrize("column", CANDLE_FEATURES.columns + OPTION_FEATURES.columns)
def test_friendly_name_of_every_model_feature_is_in_words(column: str) -> None:
    name = friendly_name(column)

    assert name != column.replace("_", " ")
    assert "_" not in name


@given(
    st.sampled_from(CANDLE_FEATURES.columns),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.floats(min_value=-10, max_value=10, allow_nan=False),
)
def test_contribution_words_direction_follows_the_contributions_sign(
    feature: str, value: float, contribution: float
) -> None:
    sentence = contribution_words(FeatureContribution(feature, value, contribution))

    assert sentence.startswith(f"{friendly_name(feature)} at ")
    if abs(contribution) >= 0.001:
        expected = "up" if contribution > 0 else "down"
        assert f"the win chance {expected} (" in sentence
    elif abs(contribution) < 0.0004:
        assert "barely moved" in sentence
