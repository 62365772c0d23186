"""``ChargesModel.round_trip`` computes in one pass exactly what summing its validated legs gives:
the same Decimals (to the exponent), the same errors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

import data_contracts
from data_contracts.charges import ChargeBreakdown, ChargesModel
from data_contracts.enums import ChargeSegment, Side
from data_contracts.errors import ContractError

MODEL = ChargesModel.default()


def _reference(
    segment: ChargeSegment,
    buy: float | Decimal,
    sell: float | Decimal,
    quantity: int,
    on: date,
    sell_on: date | None,
) -> ChargeBreakdown:
    """The round trip as it was computed before: two validated legs (and the DP charge) summed."""
    sell_day = on if sell_on is None else sell_on
    if segment is ChargeSegment.INTRADAY and sell_day != on:
        raise ContractError(
            "ChargesModel", "sell_on", sell_on, f"must equal on ({on}) for an intraday round trip"
        )
    legs = MODEL.leg(segment, Side.BUY, buy, quantity, on) + MODEL.leg(
        segment, Side.SELL, sell, quantity, sell_day
    )
    if segment is ChargeSegment.DELIVERY:
        return legs + MODEL.dp_charge(sell_day)
    return legs


def _outcome(compute: Callable[[], ChargeBreakdown]) -> str:
    try:
        result = compute()
    except ContractError as error:
        return f"error: {error}"
    return repr(result)  # every item's Decimal repr: value and exponent


days = st.dates(min_value=date(2023, 4, 1), max_value=date(2028, 12, 31))
float_prices = st.one_of(
    st.floats(min_value=0.05, max_value=100_000, allow_nan=False),
    st.integers(1, 2_000_000).map(lambda paise: round(paise * 0.05, 2)),
)
prices = st.one_of(
    float_prices,
    float_prices.map(lambda p: Decimal(str(p))),
    st.integers(1, 100_000),
)


@settings(max_examples=1500)
@given(
    st.sampled_from(list(ChargeSegment)),
    prices,
    prices,
    st.integers(1, 100_000),
    days,
    st.one_of(st.none(), st.integers(0, 400).map(lambda d: timedelta(days=d))),
)
@example(ChargeSegment.DELIVERY, 123.45, 125.5, 40, date(2026, 5, 4), timedelta(days=2))
@example(ChargeSegment.OPTIONS, 100.0, 120.0, 65, date(2026, 4, 15), None)
@example(ChargeSegment.FUTURES, Decimal("2E+3"), Decimal("2.1E+3"), 75, date(2024, 10, 1), None)
def test_round_trip_equals_the_sum_of_its_legs(
    segment: ChargeSegment,
    buy: float | Decimal,
    sell: float | Decimal,
    quantity: int,
    on: date,
    later: timedelta | None,
) -> None:
    sell_on = None if later is None else on + later
    fast = _outcome(lambda: MODEL.round_trip(segment, buy, sell, quantity, on, sell_on=sell_on))
    assert fast == _outcome(lambda: _reference(segment, buy, sell, quantity, on, sell_on))


bad = st.sampled_from(
    [0, -1.0, float("nan"), float("inf"), Decimal("NaN"), True, "100", None, 10**400]
)


@given(
    st.sampled_from([*ChargeSegment, "bogus"]),
    st.one_of(prices, bad),
    st.one_of(prices, bad),
    st.one_of(st.integers(-2, 10), st.sampled_from([True, 1.5, "3"])),
    st.one_of(
        days,
        st.sampled_from([date(2023, 3, 31), datetime(2026, 5, 4, 10, 0, tzinfo=UTC), "2026-05-04"]),
    ),
    st.one_of(st.none(), days, st.just(date(2020, 1, 1))),
)
def test_round_trip_refuses_what_the_legs_refuse_with_the_same_error(
    segment: ChargeSegment,
    buy: float | Decimal,
    sell: float | Decimal,
    quantity: int,
    on: date,
    sell_on: date | None,
) -> None:
    fast = _outcome(lambda: MODEL.round_trip(segment, buy, sell, quantity, on, sell_on=sell_on))
    if segment == "bogus":
        assert fast.startswith("error: ")
        assert "segment" in fast
        return
    assert fast == _outcome(lambda: _reference(segment, buy, sell, quantity, on, sell_on))


def test_the_rates_memo_is_bounded_and_answers_the_same() -> None:
    # A model of its own, so the shared default's memo is left alone.
    model = ChargesModel.from_yaml(
        Path(data_contracts.__file__).parent / "data" / "zerodha_charges.yaml"
    )
    first = model.round_trip(ChargeSegment.INTRADAY, 100.0, 101.0, 10, date(2024, 1, 2))
    for offset in range(5_000):  # beyond the memo's bound: it is cleared, not grown
        model.round_trip(
            ChargeSegment.DELIVERY,
            100.0,
            101.0,
            10,
            date(2023, 4, 1) + timedelta(days=offset % 2_000),
        )
    assert len(model._schedule._memo) <= 4_096
    assert model.round_trip(ChargeSegment.INTRADAY, 100.0, 101.0, 10, date(2024, 1, 2)) == first
