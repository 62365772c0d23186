"""Specification of the vectorized charges (``ChargesModel.leg_totals``, ``dp_totals``): the same
dated rates as the Decimal ``leg`` / ``dp_charge``, to far below a paisa, and checked inputs."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from data_contracts.charges import ChargesModel
from data_contracts.enums import ChargeSegment, Side
from data_contracts.errors import ContractError

MODEL = ChargesModel.default()
# Each side of every rate change in the shipped file (Oct-2024 and Apr-2026 STT, Apr-2023 start).
DAYS = [
    date(2023, 4, 1),
    date(2024, 9, 30),
    date(2024, 10, 1),
    date(2025, 6, 16),
    date(2026, 3, 31),
    date(2026, 4, 1),
]


def days_array(days: list[date]) -> np.ndarray:
    return np.array(days, dtype="datetime64[D]")


@pytest.mark.parametrize("segment", list(ChargeSegment))
@pytest.mark.parametrize("side", list(Side))
def test_leg_totals_each_rate_period_equals_decimal_leg(segment: ChargeSegment, side: Side) -> None:
    # ₹5L (over the ₹20 brokerage cap) and ₹10k (under it) on both sides of every rate change.
    prices, quantities = [1000.0, 100.0], [500, 100]
    rows = [(p, q, d) for d in DAYS for p, q in zip(prices, quantities, strict=True)]
    turnover = np.array([p * q for p, q, _ in rows])

    totals = MODEL.leg_totals(segment, side, turnover, days_array([d for *_, d in rows]))

    expected = [float(MODEL.leg(segment, side, p, q, d).total) for p, q, d in rows]
    assert totals == pytest.approx(expected, abs=1e-6)


@given(
    segment=st.sampled_from(list(ChargeSegment)),
    side=st.sampled_from(list(Side)),
    trades=st.lists(
        st.tuples(
            st.decimals(min_value="0.05", max_value="99999", places=2),
            st.integers(min_value=1, max_value=20_000),
            st.integers(min_value=0, max_value=(date(2027, 12, 31) - date(2023, 4, 1)).days),
        ),
        min_size=1,
        max_size=20,
    ),
)
def test_leg_totals_any_orders_match_decimal_leg_to_a_micro_rupee(
    segment: ChargeSegment, side: Side, trades: list[tuple[Any, int, int]]
) -> None:
    prices = [float(price) for price, _, _ in trades]
    quantities = [quantity for _, quantity, _ in trades]
    days = [date(2023, 4, 1) + timedelta(days=offset) for _, _, offset in trades]
    turnover = np.array(prices) * np.array(quantities)

    totals = MODEL.leg_totals(segment, side, turnover, days_array(days))

    expected = [
        float(MODEL.leg(segment, side, p, q, d).total)
        for p, q, d in zip(prices, quantities, days, strict=True)
    ]
    assert np.abs(totals - np.array(expected)).max() <= 1e-6


def test_dp_totals_equals_dp_charge_on_each_day() -> None:
    totals = MODEL.dp_totals(days_array(DAYS))

    assert totals.tolist() == pytest.approx([float(MODEL.dp_charge(d).total) for d in DAYS])


def test_leg_totals_empty_input_returns_empty_float_array() -> None:
    totals = MODEL.leg_totals(ChargeSegment.OPTIONS, Side.SELL, np.zeros(0), days_array([]))

    assert (totals.shape, totals.dtype) == ((0,), np.float64)


@pytest.mark.parametrize(
    ("turnover", "days", "field"),
    [
        (np.array([0.0]), days_array([date(2025, 6, 16)]), "turnover"),
        (np.array([np.nan]), days_array([date(2025, 6, 16)]), "turnover"),
        (np.array([-5.0]), days_array([date(2025, 6, 16)]), "turnover"),
        (np.array([[1.0]]), days_array([date(2025, 6, 16)]), "turnover"),
        (np.array([1.0]), np.array(["2025-06-16T10:00"], dtype="datetime64[m]"), "days"),
        (np.array([1.0]), np.array([20255]), "days"),
        (np.array([1.0, 2.0]), days_array([date(2025, 6, 16)]), "days"),
        (np.array([1.0]), np.array(["NaT"], dtype="datetime64[D]"), "days"),
        (np.array([1.0]), days_array([date(2023, 3, 31)]), "days"),
    ],
)
def test_leg_totals_bad_input_raises_naming_the_argument(
    turnover: np.ndarray, days: np.ndarray, field: str
) -> None:
    with pytest.raises(ContractError) as raised:
        MODEL.leg_totals(ChargeSegment.INTRADAY, Side.BUY, turnover, days)

    assert raised.value.field == field


@pytest.mark.parametrize(
    ("segment", "side", "field"), [("cash", "BUY", "segment"), ("intraday", "HOLD", "side")]
)
def test_leg_totals_unknown_segment_or_side_raises(segment: Any, side: Any, field: str) -> None:
    with pytest.raises(ContractError) as raised:
        MODEL.leg_totals(segment, side, np.array([1.0]), days_array([date(2025, 6, 16)]))

    assert raised.value.field == field
