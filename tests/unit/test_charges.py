"""Specification of the charges model: Zerodha's calculator values, dated rates, the ₹20
brokerage cap, DP and stamp duty sides, input and file validation, invariants for every trade."""

from __future__ import annotations

import math
from dataclasses import fields
from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from data_contracts.charges import ChargeBreakdown, ChargesModel
from data_contracts.enums import ChargeSegment, Side
from data_contracts.errors import ContractError

D = Decimal
MODEL = ChargesModel.default()
REPO = Path(__file__).resolve().parents[2]
SHIPPED_YAML = REPO / "data_contracts" / "data" / "zerodha_charges.yaml"

DELIVERY, INTRADAY = ChargeSegment.DELIVERY, ChargeSegment.INTRADAY
FUTURES, OPTIONS = ChargeSegment.FUTURES, ChargeSegment.OPTIONS

APR23_TO_MAR24 = date(2023, 6, 1)
APR24_TO_SEP24 = date(2024, 7, 15)
OCT24_TO_MAR26 = date(2025, 6, 16)
FROM_APR26 = date(2026, 4, 15)

ITEMS = ("brokerage", "stt", "exchange_txn", "sebi", "stamp_duty", "gst", "dp")
DP_WITH_GST = D("15.34")  # ₹13 + 18% GST


def paisa(value: Decimal) -> Decimal:
    return value.quantize(D("0.01"))


# --- §5.6: the calculator's reference trade (buy 1000, sell 1000, qty 500: ₹5L a side) ------------

REFERENCE = [
    # segment, date, brokerage, stt, exchange_txn, sebi, gst, stamp, total (excl. DP), shown total
    (INTRADAY, OCT24_TO_MAR26, "40", "125", "30.70", "1.00", "12.906", "15", "224.606", "224.61"),
    (DELIVERY, OCT24_TO_MAR26, "0", "1000", "30.70", "1.00", "5.706", "75", "1112.406", "1112.41"),
    (FUTURES, OCT24_TO_MAR26, "40", "100", "18.30", "1.00", "10.674", "10", "179.974", "179.97"),
    (OPTIONS, OCT24_TO_MAR26, "40", "500", "355.30", "1.00", "71.334", "15", "982.634", "982.63"),
    (INTRADAY, FROM_APR26, "40", "125", "30.70", "1.00", "12.906", "15", "224.606", "224.61"),
    (DELIVERY, FROM_APR26, "0", "1000", "30.70", "1.00", "5.706", "75", "1112.406", "1112.41"),
    (FUTURES, FROM_APR26, "40", "250", "18.30", "1.00", "10.674", "10", "329.974", "329.97"),
    (OPTIONS, FROM_APR26, "40", "750", "355.30", "1.00", "71.334", "15", "1232.634", "1232.63"),
]


@pytest.mark.parametrize(
    ("segment", "on", "brokerage", "stt", "exchange_txn", "sebi", "gst", "stamp", "total", "shown"),
    REFERENCE,
)
def test_round_trip_calculator_reference_trade_matches_every_item_to_the_paisa(
    segment: ChargeSegment,
    on: date,
    brokerage: str,
    stt: str,
    exchange_txn: str,
    sebi: str,
    gst: str,
    stamp: str,
    total: str,
    shown: str,
) -> None:
    charges = MODEL.round_trip(segment, 1000, 1000, 500, on)

    items = (charges.brokerage, charges.stt, charges.exchange_txn, charges.sebi, charges.gst)
    assert items == (D(brokerage), D(stt), D(exchange_txn), D(sebi), D(gst))
    assert charges.stamp_duty == D(stamp)
    # The calculator's delivery figure leaves out the DP charge (ref §5.6); the round trip has it.
    assert charges.total - charges.dp == D(total)
    assert paisa(charges.total - charges.dp) == D(shown)


@pytest.mark.parametrize(
    ("segment", "shown_total"),
    [(INTRADAY, 224.61), (FUTURES, 179.97), (OPTIONS, 982.63), (DELIVERY, 1127.75)],
)
def test_as_dict_reference_trade_shows_calculator_total(
    segment: ChargeSegment, shown_total: float
) -> None:
    shown = MODEL.round_trip(segment, 1000, 1000, 500, OCT24_TO_MAR26).as_dict()

    # Delivery: 1112.406 + the DP charge 15.34 = 1127.746, shown 1127.75.
    assert shown["total"] == shown_total


def test_round_trip_small_intraday_trade_matches_reference_items() -> None:
    # ref §5.6: buy ₹10,000, sell ₹10,100 intraday at Oct-24 rates, total 10.692.
    charges = MODEL.round_trip(INTRADAY, 10_000, 10_100, 1, OCT24_TO_MAR26)

    assert charges.brokerage == D("6.03")  # 0.03% of 10,000 = 3.00, plus 0.03% of 10,100 = 3.03
    assert charges.stt == D("2.525")  # 0.025% of the 10,100 sell
    assert charges.exchange_txn == D("0.61707")  # 0.00307% of 20,100 (ref shows 0.6171)
    assert charges.sebi == D("0.0201")  # 0.0001% of 20,100
    assert charges.gst == D("1.2000906")  # 18% of (6.03 + 0.61707 + 0.0201); ref shows 1.2001
    assert charges.stamp_duty == D("0.30")  # 0.003% of the 10,000 buy
    assert charges.total == D("10.6922606")  # ref: 10.692
    assert charges.as_dict()["total"] == 10.69


def test_round_trip_one_nifty_lot_april_2026_matches_reference_items() -> None:
    # ref §5.6: 1 NIFTY lot (65) bought at 100, sold at 120, Apr-2026 rates, total 65.107.
    charges = MODEL.round_trip(OPTIONS, 100, 120, 65, FROM_APR26)

    assert charges.brokerage == D("40")  # flat ₹20 per order
    assert charges.stt == D("11.70")  # 0.15% of the 7,800 sell premium
    assert charges.exchange_txn == D("5.08079")  # 0.03553% of 14,300 (ref shows 5.0808)
    assert charges.sebi == D("0.0143")
    assert charges.gst == D("8.1171162")  # 18% of (40 + 5.08079 + 0.0143); ref shows 8.1171
    assert charges.stamp_duty == D("0.195")  # 0.003% of the 6,500 buy premium
    assert charges.total == D("65.1072062")  # ref: 65.107


# --- before October 2024 (computed from the old rates) --------------------------------------------

PRE_OCTOBER_2024 = [
    # Apr-2024..Sep-2024: STT futures 0.0125% / options 0.0625% of the sell; exchange 0.00322% cash,
    # 0.00188% futures, 0.0495% options, each plus IPFT 0.0001% (options 0.0005%); ₹5L a side.
    #
    # Intraday: 10L x (0.00322 + 0.0001)% = 33.20; GST 18% x (40 + 33.20 + 1) = 13.356
    (INTRADAY, APR24_TO_SEP24, "40", "125", "33.20", "13.356", "15", "227.556"),
    # Delivery: STT 0.1% x 10L = 1000; exchange 33.20; GST 18% x (0 + 33.20 + 1) = 6.156
    (DELIVERY, APR24_TO_SEP24, "0", "1000", "33.20", "6.156", "75", "1115.356"),
    # Futures: STT 0.0125% x 5L = 62.50; 10L x (0.00188 + 0.0001)% = 19.80; GST 18% x 60.80 = 10.944
    (FUTURES, APR24_TO_SEP24, "40", "62.5", "19.80", "10.944", "10", "144.244"),
    # Options: STT 0.0625% x 5L = 312.50; 10L x (0.0495 + 0.0005)% = 500; GST 18% x 541 = 97.38
    (OPTIONS, APR24_TO_SEP24, "40", "312.5", "500", "97.38", "15", "965.88"),
    # Apr-2023..Mar-2024, futures: exchange 0.0019% + IPFT 0.0001% = 0.002% of 10L = 20.00;
    # GST 18% x (40 + 20 + 1) = 10.98
    (FUTURES, APR23_TO_MAR24, "40", "62.5", "20.00", "10.98", "10", "144.48"),
    # Apr-2023..Mar-2024, options: exchange 0.05% + IPFT 0.0005% = 0.0505% of 10L = 505;
    # GST 18% x (40 + 505 + 1) = 98.28
    (OPTIONS, APR23_TO_MAR24, "40", "312.5", "505", "98.28", "15", "971.78"),
]


@pytest.mark.parametrize(
    ("segment", "on", "brokerage", "stt", "exchange_txn", "gst", "stamp", "total"),
    PRE_OCTOBER_2024,
)
def test_round_trip_before_october_2024_uses_old_stt_and_exchange_rates(
    segment: ChargeSegment,
    on: date,
    brokerage: str,
    stt: str,
    exchange_txn: str,
    gst: str,
    stamp: str,
    total: str,
) -> None:
    charges = MODEL.round_trip(segment, 1000, 1000, 500, on)

    items = (charges.brokerage, charges.stt, charges.exchange_txn, charges.sebi, charges.gst)
    assert items == (D(brokerage), D(stt), D(exchange_txn), D("1"), D(gst))
    assert (charges.stamp_duty, charges.total - charges.dp) == (D(stamp), D(total))


@pytest.mark.parametrize(
    ("segment", "day_before", "effective_from", "sell_stt_before", "sell_stt_from"),
    [
        (FUTURES, date(2024, 9, 30), date(2024, 10, 1), "62.5", "100"),  # 0.0125% -> 0.02% of 5L
        (OPTIONS, date(2024, 9, 30), date(2024, 10, 1), "312.5", "500"),  # 0.0625% -> 0.1%
        (FUTURES, date(2026, 3, 31), date(2026, 4, 1), "100", "250"),  # 0.02% -> 0.05%
        (OPTIONS, date(2026, 3, 31), date(2026, 4, 1), "500", "750"),  # 0.1% -> 0.15%
    ],
)
def test_leg_sell_stt_changes_exactly_on_effective_date(
    segment: ChargeSegment,
    day_before: date,
    effective_from: date,
    sell_stt_before: str,
    sell_stt_from: str,
) -> None:
    before = MODEL.leg(segment, Side.SELL, 1000, 500, day_before)
    from_change = MODEL.leg(segment, Side.SELL, 1000, 500, effective_from)

    assert (before.stt, from_change.stt) == (D(sell_stt_before), D(sell_stt_from))


@pytest.mark.parametrize(
    ("on", "expected_stt"),
    [
        (date(2026, 3, 31), D("6.09375")),  # 0.125% of 75 x 65
        (date(2026, 4, 1), D("7.3125")),  # 0.15% of 75 x 65
    ],
)
def test_options_exercise_stt_on_intrinsic_value_follows_april_2026_change(
    on: date, expected_stt: Decimal
) -> None:
    exercised = MODEL.options_exercise(75, 65, on)

    assert exercised.stt == expected_stt
    assert exercised.total == expected_stt


# --- the ₹20 brokerage cap (0.03% of 66,666.67 is ₹20) -------------------------------------------


@pytest.mark.parametrize("segment", [INTRADAY, FUTURES])
@pytest.mark.parametrize(
    ("price", "expected"),
    [
        (66_666.66, D("19.999998")),  # just below: 0.03% of 66,666.66
        (66_666.67, D("20")),  # at: 0.03% would be 20.000001, capped
        (66_666.68, D("20")),  # just above
        (1_000_000, D("20")),  # far above
        (100, D("0.03")),  # far below
    ],
)
def test_leg_brokerage_at_cap_boundary_is_lower_of_percent_and_20(
    segment: ChargeSegment, price: float, expected: Decimal
) -> None:
    assert MODEL.leg(segment, Side.BUY, price, 1, OCT24_TO_MAR26).brokerage == expected


@pytest.mark.parametrize(("segment", "expected"), [(OPTIONS, D("20")), (DELIVERY, D("0"))])
@pytest.mark.parametrize("price", [0.05, 66_666.67, 1_000_000])
def test_leg_brokerage_options_flat_and_delivery_free_at_any_turnover(
    segment: ChargeSegment, expected: Decimal, price: float
) -> None:
    assert MODEL.leg(segment, Side.SELL, price, 1, OCT24_TO_MAR26).brokerage == expected


# --- which side pays what ------------------------------------------------------------------------


@pytest.mark.parametrize("segment", list(ChargeSegment))
@pytest.mark.parametrize("side", list(Side))
def test_leg_never_includes_dp_charge(segment: ChargeSegment, side: Side) -> None:
    assert MODEL.leg(segment, side, 1000, 500, OCT24_TO_MAR26).dp == 0


@pytest.mark.parametrize(
    ("segment", "expected_dp"),
    [(DELIVERY, DP_WITH_GST), (INTRADAY, D(0)), (FUTURES, D(0)), (OPTIONS, D(0))],
)
def test_round_trip_dp_charge_only_for_delivery_once(
    segment: ChargeSegment, expected_dp: Decimal
) -> None:
    assert MODEL.round_trip(segment, 1000, 1010, 500, OCT24_TO_MAR26).dp == expected_dp


def test_dp_charge_is_13_rupees_plus_gst() -> None:
    assert MODEL.dp_charge(FROM_APR26) == ChargeBreakdown(dp=DP_WITH_GST)


@pytest.mark.parametrize(
    ("segment", "buy_stamp"),
    [(DELIVERY, "75"), (INTRADAY, "15"), (FUTURES, "10"), (OPTIONS, "15")],
)
def test_leg_stamp_duty_only_on_buy(segment: ChargeSegment, buy_stamp: str) -> None:
    buy = MODEL.leg(segment, Side.BUY, 1000, 500, OCT24_TO_MAR26)
    sell = MODEL.leg(segment, Side.SELL, 1000, 500, OCT24_TO_MAR26)

    assert (buy.stamp_duty, sell.stamp_duty) == (D(buy_stamp), D(0))


@pytest.mark.parametrize(
    ("segment", "buy_stt", "sell_stt"),
    [
        (DELIVERY, "500", "500"),
        (INTRADAY, "0", "125"),
        (FUTURES, "0", "100"),
        (OPTIONS, "0", "500"),
    ],
)
def test_leg_stt_on_buy_only_for_delivery(
    segment: ChargeSegment, buy_stt: str, sell_stt: str
) -> None:
    buy = MODEL.leg(segment, Side.BUY, 1000, 500, OCT24_TO_MAR26)
    sell = MODEL.leg(segment, Side.SELL, 1000, 500, OCT24_TO_MAR26)

    assert (buy.stt, sell.stt) == (D(buy_stt), D(sell_stt))


def test_round_trip_delivery_sold_on_later_day_prices_each_leg_on_its_own_day() -> None:
    # Bought before the Oct-2024 exchange-charge change, sold after it.
    charges = MODEL.round_trip(DELIVERY, 1000, 1000, 500, APR24_TO_SEP24, sell_on=OCT24_TO_MAR26)

    # 5L x (0.00322 + 0.0001)% = 16.60 on the buy, 5L x (0.00297 + 0.0001)% = 15.35 on the sell.
    assert charges.exchange_txn == D("31.95")
    assert charges.dp == DP_WITH_GST


# --- rounding and the breakdown type --------------------------------------------------------------


def test_as_dict_has_exactly_the_cli_keys_in_order() -> None:
    keys = list(ChargeBreakdown().as_dict())

    assert keys == ["brokerage", "stt", "exchange_txn", "sebi", "stamp_duty", "gst", "dp", "total"]


def test_as_dict_rounds_half_up_to_the_paisa() -> None:
    shown = ChargeBreakdown(stt=D("2.525"), gst=D("1.2000906"), sebi=D("0.0049")).as_dict()

    # Half up, not banker's rounding: 2.525 -> 2.53 (half-even would give 2.52).
    assert (shown["stt"], shown["gst"], shown["sebi"]) == (2.53, 1.20, 0.0)
    assert shown["total"] == 3.73  # the exact total 3.7299906, rounded once


def test_add_sums_item_by_item_and_sum_builtin_works() -> None:
    buy = MODEL.leg(OPTIONS, Side.BUY, 100, 65, FROM_APR26)
    sell = MODEL.leg(OPTIONS, Side.SELL, 120, 65, FROM_APR26)

    assert sum([buy, sell]) == buy + sell == MODEL.round_trip(OPTIONS, 100, 120, 65, FROM_APR26)


def test_add_non_breakdown_raises_type_error() -> None:
    with pytest.raises(TypeError):
        _ = ChargeBreakdown() + 1  # type: ignore[operator]


@pytest.mark.parametrize("bad", [D("-0.01"), D("NaN"), D("Infinity"), 1.5, 2])
def test_charge_breakdown_non_decimal_or_negative_item_raises(bad: Any) -> None:
    with pytest.raises(ContractError) as caught:
        ChargeBreakdown(gst=bad)

    assert caught.value.field == "gst"


def test_leg_long_float_price_prices_every_item_exactly() -> None:
    # 17 significant digits times a large quantity: more digits than Decimal's default 28.
    price, quantity = 123.45678901234567, 987_654_321
    charges = MODEL.leg(OPTIONS, Side.SELL, price, quantity, OCT24_TO_MAR26)

    turnover = Fraction("123.45678901234567") * quantity
    exchange = turnover * Fraction("0.0003553")  # (0.03503 + 0.0005)%
    sebi = turnover * Fraction("0.000001")
    assert Fraction(charges.stt) == turnover * Fraction("0.001")
    assert (Fraction(charges.exchange_txn), Fraction(charges.sebi)) == (exchange, sebi)
    assert Fraction(charges.gst) == Fraction("0.18") * (20 + exchange + sebi)


# --- input validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "price", [0, -1, 0.0, math.nan, math.inf, -math.inf, True, "100", None, D("NaN"), D("-5")]
)
def test_leg_price_not_positive_finite_raises_naming_price(price: Any) -> None:
    with pytest.raises(ContractError) as caught:
        MODEL.leg(INTRADAY, Side.BUY, price, 1, OCT24_TO_MAR26)

    assert (caught.value.owner, caught.value.field) == ("ChargesModel", "price")


@pytest.mark.parametrize("quantity", [0, -5, 1.5, True, "1", None])
def test_leg_quantity_not_positive_integer_raises_naming_quantity(quantity: Any) -> None:
    with pytest.raises(ContractError) as caught:
        MODEL.leg(INTRADAY, Side.BUY, 100, quantity, OCT24_TO_MAR26)

    assert caught.value.field == "quantity"


@pytest.mark.parametrize(
    ("segment", "side", "field"),
    [("equity", Side.BUY, "segment"), (None, Side.BUY, "segment"), (INTRADAY, "buy", "side")],
)
def test_leg_unknown_segment_or_side_raises(segment: Any, side: Any, field: str) -> None:
    with pytest.raises(ContractError) as caught:
        MODEL.leg(segment, side, 100, 1, OCT24_TO_MAR26)

    assert caught.value.field == field


def test_leg_accepts_plain_strings_for_segment_and_side() -> None:
    assert MODEL.leg("options", "SELL", 100, 65, FROM_APR26) == MODEL.leg(  # type: ignore[arg-type]
        OPTIONS, Side.SELL, 100, 65, FROM_APR26
    )


@pytest.mark.parametrize("on", [date(2023, 3, 31), date(2020, 1, 1)])
def test_leg_date_before_first_effective_from_raises(on: date) -> None:
    with pytest.raises(ContractError) as caught:
        MODEL.leg(INTRADAY, Side.BUY, 100, 1, on)

    assert (caught.value.field, caught.value.value) == ("on", on)
    assert MODEL.valid_from == date(2023, 4, 1)


@pytest.mark.parametrize("on", [datetime(2025, 6, 16, 10, 0, tzinfo=UTC), "2025-06-16", None])
def test_leg_date_not_a_calendar_date_raises(on: Any) -> None:
    with pytest.raises(ContractError) as caught:
        MODEL.leg(INTRADAY, Side.BUY, 100, 1, on)

    assert caught.value.field == "on"


def test_round_trip_intraday_across_days_raises() -> None:
    with pytest.raises(ContractError) as caught:
        MODEL.round_trip(INTRADAY, 100, 101, 1, OCT24_TO_MAR26, sell_on=date(2025, 6, 17))

    assert caught.value.field == "sell_on"


@pytest.mark.parametrize("intrinsic_value", [0, -1, math.nan])
def test_options_exercise_non_positive_intrinsic_value_raises(intrinsic_value: float) -> None:
    with pytest.raises(ContractError) as caught:
        MODEL.options_exercise(intrinsic_value, 65, FROM_APR26)

    assert caught.value.field == "intrinsic_value"


# --- the rates file -----------------------------------------------------------------------------


def _shipped() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SHIPPED_YAML.read_text(encoding="utf-8"))
    return loaded


def _write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "charges.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def test_from_yaml_shipped_file_prices_like_default(tmp_path: Path) -> None:
    model = ChargesModel.from_yaml(_write(tmp_path, _shipped()))

    for segment in ChargeSegment:
        assert model.round_trip(segment, 1000, 1000, 500, FROM_APR26) == MODEL.round_trip(
            segment, 1000, 1000, 500, FROM_APR26
        )


def _drop_futures_stt(doc: dict[str, Any]) -> None:
    del doc["stt"]["futures"]


def _garble_rate(doc: dict[str, Any]) -> None:
    doc["stt"]["futures"][1]["sell_percent"] = "zero point two"


def _unsort_dates(doc: dict[str, Any]) -> None:
    doc["stt"]["options"][1]["effective_from"] = date(2023, 1, 1)


def _drop_source(doc: dict[str, Any]) -> None:
    del doc["exchange_txn"]["options"][0]["source"]


def _misspell_field(doc: dict[str, Any]) -> None:
    doc["sebi"][0]["percnt"] = doc["sebi"][0].pop("percent")


def _negative_rate(doc: dict[str, Any]) -> None:
    doc["gst"][0]["percent"] = "-18"


def _percent_over_100(doc: dict[str, Any]) -> None:
    doc["stamp_duty"]["intraday"][0]["buy_percent"] = "300"


def _bad_date(doc: dict[str, Any]) -> None:
    doc["sebi"][0]["effective_from"] = "2023-13-01"


def _later_horizon(doc: dict[str, Any]) -> None:
    doc["dp_charge"][0]["effective_from"] = date(2024, 1, 1)


def _unknown_top_key(doc: dict[str, Any]) -> None:
    doc["turnover_tax"] = []


def _empty_series(doc: dict[str, Any]) -> None:
    doc["gst"] = []


def _wrong_version(doc: dict[str, Any]) -> None:
    doc["schema_version"] = 2


def _brokerage_without_cap(doc: dict[str, Any]) -> None:
    del doc["brokerage"]["intraday"][0]["cap_inr"]


@pytest.mark.parametrize(
    ("break_it", "key"),
    [
        (_drop_futures_stt, "stt.futures"),
        (_garble_rate, "stt.futures[1].sell_percent"),
        (_unsort_dates, "stt.options[1].effective_from"),
        (_drop_source, "exchange_txn.options[0].source"),
        (_misspell_field, "sebi[0].percnt"),
        (_negative_rate, "gst[0].percent"),
        (_percent_over_100, "stamp_duty.intraday[0].buy_percent"),
        (_bad_date, "sebi[0].effective_from"),
        (_later_horizon, "dp_charge[0].effective_from"),
        (_unknown_top_key, "turnover_tax"),
        (_empty_series, "gst"),
        (_wrong_version, "schema_version"),
        (_brokerage_without_cap, "brokerage.intraday[0].cap_inr"),
    ],
)
def test_from_yaml_malformed_file_raises_naming_the_key(
    tmp_path: Path, break_it: Any, key: str
) -> None:
    document = _shipped()
    break_it(document)

    with pytest.raises(ContractError) as caught:
        ChargesModel.from_yaml(_write(tmp_path, document))

    assert (caught.value.owner, caught.value.field) == ("charges.yaml", key)


@pytest.mark.parametrize("text", ["stt: [unclosed", "- just\n- a list\n", "42\n"])
def test_from_yaml_not_a_mapping_document_raises(tmp_path: Path, text: str) -> None:
    path = tmp_path / "charges.yaml"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(ContractError) as caught:
        ChargesModel.from_yaml(path)

    assert caught.value.field == "<document>"


# --- invariants for every trade -------------------------------------------------------------------

segments = st.sampled_from(list(ChargeSegment))
sides = st.sampled_from(list(Side))
prices = st.one_of(
    st.decimals(min_value=D("0.05"), max_value=D("1000000"), places=2),
    st.floats(min_value=0.01, max_value=1e6, allow_nan=False, allow_infinity=False),
)
quantities = st.integers(min_value=1, max_value=1_000_000)
days = st.dates(min_value=date(2023, 4, 1), max_value=date(2030, 12, 31))


@given(segment=segments, side=sides, price=prices, quantity=quantities, on=days)
# A float with 17 significant digits times a large quantity needs more than Decimal's default 28.
@example(segment=INTRADAY, side=Side.SELL, price=0.1 + 0.2, quantity=999_999, on=OCT24_TO_MAR26)
def test_leg_any_trade_items_non_negative_and_sum_to_total(
    segment: ChargeSegment, side: Side, price: Decimal | float, quantity: int, on: date
) -> None:
    charges = MODEL.leg(segment, side, price, quantity, on)
    items = [getattr(charges, f.name) for f in fields(charges)]

    assert all(item >= 0 for item in items)
    # Fractions are exact in any Decimal context, so this checks that nothing was rounded.
    assert Fraction(charges.total) == sum(Fraction(item) for item in items)
    shown = charges.as_dict()
    # Each shown item is off by at most half a paisa, so 7 of them by at most 3.5 paise.
    assert abs(sum(shown[name] for name in ITEMS) - shown["total"]) <= 0.035 + 1e-9


@given(
    segment=segments,
    side=sides,
    price=prices,
    quantity=quantities,
    extra=st.integers(min_value=0, max_value=1_000_000),
    on=days,
)
def test_leg_any_trade_charges_non_decreasing_in_quantity(
    segment: ChargeSegment, side: Side, price: Decimal | float, quantity: int, extra: int, on: date
) -> None:
    smaller = MODEL.leg(segment, side, price, quantity, on)
    larger = MODEL.leg(segment, side, price, quantity + extra, on)

    assert all(getattr(smaller, name) <= getattr(larger, name) for name in ITEMS)
    assert smaller.total <= larger.total


@given(segment=segments, buy=prices, sell=prices, quantity=quantities, on=days, sell_on=days)
def test_round_trip_any_trade_equals_buy_leg_plus_sell_leg_plus_dp(
    segment: ChargeSegment,
    buy: Decimal | float,
    sell: Decimal | float,
    quantity: int,
    on: date,
    sell_on: date,
) -> None:
    sell_day = on if segment is INTRADAY else sell_on

    charges = MODEL.round_trip(segment, buy, sell, quantity, on, sell_on=sell_day)

    expected = MODEL.leg(segment, Side.BUY, buy, quantity, on) + MODEL.leg(
        segment, Side.SELL, sell, quantity, sell_day
    )
    if segment is DELIVERY:
        expected = expected + MODEL.dp_charge(sell_day)
    assert charges == expected
    assert charges.dp == (DP_WITH_GST if segment is DELIVERY else 0)
