"""Tick-grid rounding, lot arithmetic and freeze-quantity slicing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from data_contracts.enums import Side
from data_contracts.errors import ContractError
from data_contracts.pricegrid import (
    Rounding,
    is_on_grid,
    is_whole_lots,
    lots_to_quantity,
    max_order_quantity,
    quantity_to_lots,
    round_for_side,
    round_to_tick,
    slice_quantity,
    to_decimal,
)

# Every tick in the real NFO/BFO dump, plus currency (0.0025) and a 0.25 bond tick.
TICKS = ["0.01", "0.05", "0.1", "0.2", "0.5", "1", "5", "0.0025", "0.25"]


# --- examples ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "tick", "rounding", "expected"),
    [
        (0.1 + 0.2, 0.05, Rounding.NEAREST, "0.30"),  # float artefact 0.30000000000000004
        (100.037, 0.05, Rounding.NEAREST, "100.05"),
        (100.037, 0.05, Rounding.DOWN, "100.00"),
        (100.037, 0.05, Rounding.UP, "100.05"),
        (100.025, 0.05, Rounding.NEAREST, "100.05"),  # a tie goes up
        (100.024, 0.05, Rounding.NEAREST, "100.00"),
        (100.05, 0.05, Rounding.DOWN, "100.05"),  # already on the grid: unchanged
        (100.05, 0.05, Rounding.UP, "100.05"),
        (1.15, 0.1, Rounding.DOWN, "1.1"),  # float 1.15 is below 1.15 in binary; not here
        (1.15, 0.1, Rounding.NEAREST, "1.2"),
        (24399.97, 0.1, Rounding.NEAREST, "24400.0"),
        (3.7, 0.2, Rounding.DOWN, "3.6"),
        (103, 5, Rounding.NEAREST, "105"),
        (103.2, 1.0, Rounding.NEAREST, "103.0"),
        (0.03, 0.05, Rounding.DOWN, "0.00"),  # a price below one tick can round to 0
        (Decimal("-1.02"), Decimal("0.05"), Rounding.DOWN, "-1.05"),  # DOWN is toward -inf
        ("83.12345", "0.0025", Rounding.NEAREST, "83.1225"),
    ],
)
def test_round_to_tick_example_gives_grid_price(
    price: Decimal | float | str, tick: Decimal | float | str, rounding: Rounding, expected: str
) -> None:
    result = round_to_tick(price, tick, rounding)
    assert result == Decimal(expected)
    assert str(result) == expected  # the tick's decimal places, no float noise


@pytest.mark.parametrize(
    ("price", "side", "expected"),
    [
        (101.07, Side.BUY, Decimal("101.05")),  # a buyer never pays more than asked
        (101.07, Side.SELL, Decimal("101.10")),  # a seller never takes less
        (101.05, Side.BUY, Decimal("101.05")),
        (101.05, Side.SELL, Decimal("101.05")),
    ],
)
def test_round_for_side_limit_price_rounds_against_overpaying(
    price: float, side: Side, expected: Decimal
) -> None:
    assert round_for_side(price, 0.05, side) == expected


@pytest.mark.parametrize(
    ("price", "tick", "on_grid"),
    [
        (0.15, 0.05, True),
        (0.151, 0.05, False),
        (24400.1, 0.1, True),
        (24400.15, 0.1, False),
        (1.0, 0.01, True),
        (0, 0.05, True),
        ("83.1225", "0.0025", True),
    ],
)
def test_is_on_grid_example_gives_answer(
    price: float | str, tick: float | str, on_grid: bool
) -> None:
    assert is_on_grid(price, tick) is on_grid


@pytest.mark.parametrize("tick", [0, -0.05, float("nan"), float("inf"), "x", True])
def test_round_to_tick_bad_tick_raises(tick: object) -> None:
    with pytest.raises(ContractError, match=r"PriceGrid\.tick_size"):
        round_to_tick(100, tick)  # type: ignore[arg-type]


@pytest.mark.parametrize("price", [float("nan"), float("inf"), "abc", True, None])
def test_round_to_tick_bad_price_raises(price: object) -> None:
    with pytest.raises(ContractError, match=r"PriceGrid\.price"):
        round_to_tick(price, 0.05)  # type: ignore[arg-type]


def test_to_decimal_float_reads_shortest_repr() -> None:
    assert to_decimal(0.05) == Decimal("0.05")
    assert to_decimal(0.1 + 0.2) == Decimal("0.30000000000000004")


@pytest.mark.parametrize(
    ("quantity", "lot_size", "lots"),
    [(65, 65, 1), (1755, 65, 27), (0, 30, 0), (71475, 71475, 1)],
)
def test_quantity_to_lots_whole_lots_gives_count(quantity: int, lot_size: int, lots: int) -> None:
    assert quantity_to_lots(quantity, lot_size) == lots
    assert lots_to_quantity(lots, lot_size) == quantity


@pytest.mark.parametrize(("quantity", "lot_size"), [(100, 65), (1, 30), (1800, 65)])
def test_quantity_to_lots_partial_lot_raises(quantity: int, lot_size: int) -> None:
    assert not is_whole_lots(quantity, lot_size)
    with pytest.raises(
        ContractError,
        match=rf"Lots\.quantity must be a whole number of lots of "
        rf"{lot_size}, was {quantity}",
    ):
        quantity_to_lots(quantity, lot_size)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: lots_to_quantity(-1, 65), "lots"),
        (lambda: lots_to_quantity(1, 0), "lot_size"),
        (lambda: lots_to_quantity(1.5, 65), "lots"),  # type: ignore[arg-type]
        (lambda: quantity_to_lots(-65, 65), "quantity"),
        (lambda: quantity_to_lots(True, 1), "quantity"),
        (lambda: max_order_quantity(65, 0), "freeze_quantity"),
        (lambda: max_order_quantity(65, 65), "freeze_quantity"),  # not even one lot fits below
        (lambda: slice_quantity(0, 65, 1800), "quantity"),
        (lambda: slice_quantity(100, 65, 1800), "quantity"),
    ],
)
def test_lot_arithmetic_bad_input_raises(call: object, field: str) -> None:
    with pytest.raises(ContractError, match=rf"Lots\.{field} "):
        call()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("quantity", "lot_size", "freeze", "slices"),
    [
        # NIFTY, lot 65, freeze 1800: 27 lots (1755) per order.
        (65 * 60, 65, 1800, (1755, 1755, 390)),
        (1755, 65, 1800, (1755,)),
        (65, 65, 1800, (65,)),
        # BANKNIFTY, lot 30, freeze 600: exactly 20 lots would equal the freeze quantity, which
        # may be rejected (reference §1.10), so orders stay at 19 lots.
        (600, 30, 600, (570, 30)),
        (570, 30, 600, (570,)),
        (1140, 30, 600, (570, 570)),
    ],
)
def test_slice_quantity_above_freeze_gives_whole_lot_children(
    quantity: int, lot_size: int, freeze: int, slices: tuple[int, ...]
) -> None:
    assert slice_quantity(quantity, lot_size, freeze) == slices


@pytest.mark.parametrize(
    ("lot_size", "freeze", "largest"),
    [(65, 1800, 1755), (30, 600, 570), (60, 1200, 1140), (120, 2800, 2760), (25, 600, 575)],
)
def test_max_order_quantity_stays_strictly_below_freeze(
    lot_size: int, freeze: int, largest: int
) -> None:
    assert max_order_quantity(lot_size, freeze) == largest


# --- invariants --------------------------------------------------------------------------------

ticks = st.sampled_from(TICKS).map(Decimal)
prices = st.decimals(
    min_value=Decimal(0),
    max_value=Decimal(1_000_000),
    places=6,
    allow_nan=False,
    allow_infinity=False,
)
roundings = st.sampled_from(list(Rounding))


@given(prices, ticks, roundings)
def test_round_to_tick_any_price_lands_on_grid_within_bound(
    price: Decimal, tick: Decimal, rounding: Rounding
) -> None:
    result = round_to_tick(price, tick, rounding)
    assert is_on_grid(result, tick)
    assert (result / tick) == (result / tick).to_integral_value()
    distance = abs(result - price)
    if rounding is Rounding.NEAREST:
        assert distance * 2 <= tick
    else:
        assert distance < tick
    if rounding is Rounding.DOWN:
        assert result <= price
    if rounding is Rounding.UP:
        assert result >= price


@given(prices, ticks, roundings, roundings)
def test_round_to_tick_any_price_is_idempotent(
    price: Decimal, tick: Decimal, first: Rounding, second: Rounding
) -> None:
    once = round_to_tick(price, tick, first)
    assert round_to_tick(once, tick, second) == once


@given(prices, ticks)
def test_round_to_tick_down_up_bracket_the_price(price: Decimal, tick: Decimal) -> None:
    down = round_to_tick(price, tick, Rounding.DOWN)
    up = round_to_tick(price, tick, Rounding.UP)
    nearest = round_to_tick(price, tick, Rounding.NEAREST)
    assert nearest in (down, up)
    assert up - down == (0 if is_on_grid(price, tick) else tick)


@given(st.floats(min_value=0, max_value=1e6, allow_nan=False), ticks)
def test_round_to_tick_any_float_matches_its_decimal_repr(price: float, tick: Decimal) -> None:
    assert round_to_tick(price, tick) == round_to_tick(Decimal(repr(price)), tick)


@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=1, max_value=100_000))
def test_lots_to_quantity_any_lots_round_trip(lots: int, lot_size: int) -> None:
    quantity = lots_to_quantity(lots, lot_size)
    assert is_whole_lots(quantity, lot_size)
    assert quantity_to_lots(quantity, lot_size) == lots


@given(
    st.integers(min_value=1, max_value=5_000),
    st.integers(min_value=1, max_value=2_000),
    st.integers(min_value=1, max_value=20_000),
)
def test_slice_quantity_any_order_children_fit_and_sum(
    lots: int, lot_size: int, headroom: int
) -> None:
    freeze = lot_size + headroom  # above one lot, else nothing could be ordered
    quantity = lots * lot_size
    children = slice_quantity(quantity, lot_size, freeze)
    assert sum(children) == quantity
    assert all(0 < child < freeze for child in children)
    assert all(child % lot_size == 0 for child in children)
    # No fewer orders would do.
    largest = max_order_quantity(lot_size, freeze)
    assert len(children) == -(-quantity // largest)
