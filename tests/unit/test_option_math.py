"""Black-76 price, greeks and implied vol: closed forms, parity, finite differences, round trips."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from data_contracts.errors import ContractError
from models.option_math import Greeks, black76_greeks, black76_price, implied_vol

forwards = st.floats(min_value=50.0, max_value=60_000.0)
moneyness = st.floats(min_value=0.7, max_value=1.3)
years = st.floats(min_value=1.0 / 365.0, max_value=1.0)
vols = st.floats(min_value=0.05, max_value=1.5)
discounts = st.floats(min_value=0.9, max_value=1.0)
calls = st.booleans()


def _normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def test_black76_price_at_the_money_matches_closed_form() -> None:
    # Arrange: ATM, the premium is F·(2·N(sigma·sqrt(t)/2) - 1), discounted.
    forward, t, vol, discount = 24_000.0, 0.25, 0.2, 0.98
    expected = discount * forward * (2.0 * _normal_cdf(vol * math.sqrt(t) / 2.0) - 1.0)

    # Act
    call = black76_price(forward, forward, t, vol, True, discount)
    put = black76_price(forward, forward, t, vol, False, discount)

    # Assert
    assert isinstance(call, float)
    assert call == pytest.approx(expected, rel=1e-13)
    assert put == pytest.approx(expected, rel=1e-13)


@pytest.mark.parametrize(
    ("forward", "strike", "is_call", "expected"),
    [
        # Textbook values (Hull, Black-76 on a future): F=20, K=20, t=4/12, sigma=0.25, r=9%.
        (20.0, 20.0, True, 1.1166),
        (20.0, 20.0, False, 1.1166),
    ],
)
def test_black76_price_textbook_example_matches(
    forward: float, strike: float, is_call: bool, expected: float
) -> None:
    t = 4.0 / 12.0
    price = black76_price(forward, strike, t, 0.25, is_call, math.exp(-0.09 * t))
    assert price == pytest.approx(expected, abs=5e-5)


@given(forwards, moneyness, years, vols, discounts)
def test_black76_price_put_call_parity_holds(
    forward: float, m: float, t: float, vol: float, discount: float
) -> None:
    strike = forward * m
    call = black76_price(forward, strike, t, vol, True, discount)
    put = black76_price(forward, strike, t, vol, False, discount)
    assert call - put == pytest.approx(discount * (forward - strike), abs=1e-9 * forward)


@given(forwards, moneyness, years, vols, calls)
def test_black76_price_within_no_arbitrage_bounds(
    forward: float, m: float, t: float, vol: float, is_call: bool
) -> None:
    strike = forward * m
    price = black76_price(forward, strike, t, vol, is_call)
    intrinsic = max(forward - strike, 0.0) if is_call else max(strike - forward, 0.0)
    assert intrinsic - 1e-9 * forward <= price <= (forward if is_call else strike)


@given(forwards, moneyness, st.floats(min_value=7.0 / 365.0, max_value=1.0), vols, calls)
def test_black76_greeks_match_finite_differences(
    forward: float, m: float, t: float, vol: float, is_call: bool
) -> None:
    # Arrange: a constant rate, so the discount decays with t exactly as theta assumes.
    strike, rate = forward * m, 0.065

    def value(f: float = forward, tt: float = t, v: float = vol) -> float:
        return black76_price(f, strike, tt, v, is_call, math.exp(-rate * tt))

    h_f, h_v, h_t = 1e-4 * forward * vol * math.sqrt(t), 1e-5, 1e-6  # small against the spread

    # Act
    greeks = black76_greeks(forward, strike, t, vol, is_call, math.exp(-rate * t))

    # Assert
    delta = (value(f=forward + h_f) - value(f=forward - h_f)) / (2 * h_f)
    up, down = (
        black76_greeks(f, strike, t, vol, is_call, math.exp(-rate * t)).delta
        for f in (forward + h_f, forward - h_f)
    )
    gamma = (up - down) / (2 * h_f)  # of the analytic delta: a second price difference is noise
    vega = (value(v=vol + h_v) - value(v=vol - h_v)) / (2 * h_v) * 0.01
    theta = -(value(tt=t + h_t) - value(tt=t - h_t)) / (2 * h_t) / 365.0
    assert float(greeks.delta) == pytest.approx(delta, rel=1e-6, abs=1e-6)
    assert float(greeks.gamma) == pytest.approx(float(gamma), rel=1e-6, abs=1e-9 / forward)
    assert float(greeks.vega) == pytest.approx(vega, rel=1e-6, abs=1e-9 * forward)
    assert float(greeks.theta) == pytest.approx(theta, rel=1e-4, abs=1e-7 * forward)


def test_black76_greeks_call_and_put_relations_hold() -> None:
    # Arrange
    forward = np.array([24_000.0, 24_000.0, 500.0])
    strike = np.array([23_500.0, 25_000.0, 520.0])
    discount = 0.99

    # Act
    call = black76_greeks(forward, strike, 0.05, 0.14, True, discount)
    put = black76_greeks(forward, strike, 0.05, 0.14, False, discount)

    # Assert: delta_call - delta_put = D; gamma and vega do not depend on the side.
    assert isinstance(call, Greeks)
    np.testing.assert_allclose(call.delta - put.delta, discount, rtol=1e-12)
    np.testing.assert_allclose(call.gamma, put.gamma, rtol=1e-12)
    np.testing.assert_allclose(call.vega, put.vega, rtol=1e-12)
    assert ((call.delta > 0) & (call.delta < 1) & (put.delta < 0) & (call.theta < 0)).all()


@given(forwards, moneyness, years, vols, calls, discounts)
def test_implied_vol_round_trips_black76_price(
    forward: float, m: float, t: float, vol: float, is_call: bool, discount: float
) -> None:
    # Arrange: skip prices whose vega is so small that 1e-6 of vol is below float resolution.
    strike = forward * m
    vega_per_unit = float(black76_greeks(forward, strike, t, vol, is_call, discount).vega) * 100
    assume(vega_per_unit >= 1e-5 * forward)
    price = black76_price(forward, strike, t, vol, is_call, discount)

    # Act
    recovered = implied_vol(price, forward, strike, t, is_call, discount)

    # Assert
    assert recovered == pytest.approx(vol, abs=1e-6)


def test_implied_vol_array_round_trips_every_row() -> None:
    # Arrange: a 10,000-row chain across strikes, expiries, vols and sides.
    rng = np.random.default_rng(11)
    n = 10_000
    forward = rng.uniform(100.0, 50_000.0, n)
    strike = forward * rng.uniform(0.8, 1.2, n)
    t = rng.uniform(2.0 / 365.0, 1.0, n)
    vol = rng.uniform(0.08, 1.0, n)
    is_call = rng.random(n) < 0.5
    price = black76_price(forward, strike, t, vol, is_call, 0.99)
    usable = black76_greeks(forward, strike, t, vol, is_call, 0.99).vega * 100 >= 1e-5 * forward

    # Act
    recovered = implied_vol(price, forward, strike, t, is_call, 0.99)

    # Assert
    assert recovered.shape == (n,)
    np.testing.assert_allclose(recovered[usable], vol[usable], atol=1e-8)


@pytest.mark.parametrize(
    ("price", "is_call", "why"),
    [
        (0.0, True, "zero premium"),
        (3.0, True, "below intrinsic 5"),
        (5.0, True, "exactly intrinsic"),
        (105.0, True, "above the forward"),
        (100.0, False, "put at the strike bound 95"),
        (96.0, False, "put above its bound"),
    ],
)
def test_implied_vol_without_solution_is_nan(price: float, is_call: bool, why: str) -> None:
    assert math.isnan(implied_vol(price, 100.0, 95.0, 0.5, is_call)), why


def test_implied_vol_bad_array_rows_are_nan_others_solved() -> None:
    # Arrange
    good = black76_price(100.0, 100.0, 0.5, 0.3, True)
    prices = np.array([good, good, good, np.nan, good])
    t = np.array([0.5, 0.0, -1.0, 0.5, 0.5])
    forward = np.array([100.0, 100.0, 100.0, 100.0, np.inf])

    # Act
    vols = implied_vol(prices, forward, 100.0, t, True)

    # Assert
    assert vols[0] == pytest.approx(0.3, abs=1e-10)
    assert np.isnan(vols[1:]).all()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"forward": 0.0}, "forward"),
        ({"forward": -5.0}, "forward"),
        ({"strike": math.nan}, "strike"),
        ({"t": 0.0}, "t"),
        ({"vol": 0.0}, "vol"),
        ({"vol": math.inf}, "vol"),
        ({"discount": 0.0}, "discount"),
        ({"is_call": "CE"}, "is_call"),
    ],
)
def test_black76_price_scalar_outside_domain_raises(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {
        "forward": 100.0,
        "strike": 100.0,
        "t": 0.5,
        "vol": 0.2,
        "is_call": True,
        "discount": 1.0,
    }
    args.update(kwargs)
    with pytest.raises(ContractError, match=field):
        black76_price(**args)  # type: ignore[call-overload]  # deliberately wrong types


def test_implied_vol_negative_scalar_price_raises() -> None:
    with pytest.raises(ContractError, match="price"):
        implied_vol(-1.0, 100.0, 100.0, 0.5, True)


def test_black76_price_array_bad_rows_are_nan_not_errors() -> None:
    prices = black76_price(
        np.array([100.0, -1.0, 100.0]), 100.0, np.array([0.5, 0.5, 0.0]), 0.2, True
    )
    assert np.isfinite(prices[0])
    assert np.isnan(prices[1:]).all()


def test_black76_greeks_broadcast_to_common_shape() -> None:
    # Arrange: a strike ladder against two forwards, calls and puts.
    strikes = np.linspace(22_000.0, 26_000.0, 5)[None, :]
    forwards = np.array([[23_900.0], [24_100.0]])
    sides = np.array([[True], [False]])

    # Act
    greeks = black76_greeks(forwards, strikes, 7 / 365, 0.13, sides)

    # Assert
    assert greeks.delta.shape == greeks.gamma.shape == greeks.theta.shape == (2, 5)
    assert greeks.vega.shape == (2, 5)
