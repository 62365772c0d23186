"""``is_on_grid``'s integer fast path gives exactly the Decimal answer (and the same errors)."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from data_contracts.errors import ContractError
from data_contracts.pricegrid import (
    _FAST_LIMIT,
    DecimalLike,
    _as_integers,
    _on_grid_fast,
    _tick,
    is_on_grid,
    to_decimal,
)

# Real exchange ticks (NFO/BFO, currency, bonds) as the floats instruments carry.
TICKS = [0.01, 0.05, 0.1, 0.2, 0.5, 1.0, 5.0, 0.0025, 0.25, 0.005, 10.0]


def _reference(price: DecimalLike, tick_size: DecimalLike) -> bool | str:
    """The Decimal path alone (the implementation before the fast path); an error as its text."""
    try:
        units, tick_units, _ = _as_integers(to_decimal(price), _tick(tick_size))
    except ContractError as error:
        return str(error)
    return units % tick_units == 0


def _answer(price: DecimalLike, tick_size: DecimalLike) -> bool | str:
    try:
        return is_on_grid(price, tick_size)
    except ContractError as error:
        return str(error)


def _near(value: float) -> st.SearchStrategy[float]:
    """``value`` and the floats a few ulps either side of it (the boundary cases)."""
    return st.integers(-3, 3).map(lambda steps: _step(value, steps))


def _step(value: float, steps: int) -> float:
    for _ in range(abs(steps)):
        value = math.nextafter(value, math.inf if steps > 0 else -math.inf)
    return value


ticks = st.one_of(
    st.sampled_from(TICKS),
    st.floats(min_value=1e-6, max_value=1e3, allow_nan=False),
    st.sampled_from([0.0, -0.05, math.nan, math.inf, -math.inf, 1e16, 1e-20]),
)
grid_prices = st.builds(
    lambda n, tick, digits: round(n * tick, digits),
    st.integers(-(10**9), 10**9),
    st.sampled_from(TICKS),
    st.integers(0, 6),
)
prices = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e6, max_value=1e6),
    grid_prices,
    grid_prices.flatmap(_near),
    st.integers(-(10**20), 10**20),
    st.sampled_from([0.0, -0.0, 0.1 + 0.2, 1e15, 1e12 + 0.05, 2.0**40, 5e-324]),
)


@settings(max_examples=3000)
@given(prices, ticks)
@example(0.1 + 0.2, 0.05)
@example(100.05, 0.05)
@example(1099511627775.95, 0.05)  # just below the fast path's bound
@example(1e300, 0.05)
@example(math.nan, 0.05)
@example(100.0, math.nan)
@example(True, 0.05)
def test_the_fast_path_agrees_with_decimal(price: float | int, tick: float) -> None:
    assert _answer(price, tick) == _reference(price, tick)


@given(grid_prices.flatmap(_near), st.sampled_from(TICKS))
def test_the_fast_path_decides_realistic_prices(price: float, tick: float) -> None:
    """Every ordinary float price on an exchange tick is decided without Decimal — ordinary:
    in tick-decimal units within the fast path's exact range (₹1.1 crore at a 0.0025 tick)."""
    assume(abs(price) * 10 ** _decimals(tick) < _FAST_LIMIT)
    assert _on_grid_fast(price, tick) == _reference(price, tick)


def _decimals(tick: float) -> int:
    exponent = Decimal(repr(tick)).as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


@pytest.mark.parametrize(
    ("price", "tick"),
    [
        (Decimal("100.05"), 0.05),
        ("100.05", 0.05),
        (100.05, Decimal("0.05")),
        (100.05, "0.05"),
        (100.05, 5),
        (True, 0.05),
        (100.05, True),
    ],
)
def test_other_types_go_through_decimal(price: DecimalLike, tick: DecimalLike) -> None:
    assert _on_grid_fast(price, tick) is None
    assert _answer(price, tick) == _reference(price, tick)


def test_errors_name_the_field_as_before() -> None:
    with pytest.raises(ContractError, match=r"price.*must be a finite number"):
        is_on_grid(math.inf, 0.05)
    with pytest.raises(ContractError, match=r"tick_size.*must be > 0"):
        is_on_grid(100.0, -0.05)
