"""The paper venue's account: charges from the one charges model, cash, positions and funds."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_contracts.charges import ChargesModel
from data_contracts.enums import ChargeSegment, Side
from data_contracts.instruments import Instrument
from execution.paper.types import KiteApiError
from execution.paper.venue import PaperVenue
from tests.unit.test_paper_venue import CE, DAY, FUT, INFY, form, latest, make_venue, quote

MODEL = ChargesModel.default()


def _round_trip(
    venue: PaperVenue, instrument: Instrument, product: str, buy: str, sell: str
) -> None:
    venue.on_quote(quote(instrument, float(Decimal(buy) - Decimal("0.05"))))
    bought = venue.place("regular", form(instrument, product=product, price=buy))
    venue.on_quote(quote(instrument, float(sell)))
    sold = venue.place(
        "regular", form(instrument, product=product, price=sell, transaction_type="SELL")
    )
    assert latest(venue, bought)["status"] == latest(venue, sold)["status"] == "COMPLETE"


@pytest.mark.parametrize(
    ("instrument", "product", "segment", "buy", "sell"),
    [
        (CE, "NRML", ChargeSegment.OPTIONS, "100.05", "120"),
        (CE, "MIS", ChargeSegment.OPTIONS, "100.05", "90.5"),
        (FUT, "NRML", ChargeSegment.FUTURES, "24500.05", "24600"),
        (INFY, "MIS", ChargeSegment.INTRADAY, "1000.05", "1010"),
        (INFY, "CNC", ChargeSegment.DELIVERY, "1000.05", "1010"),  # includes one DP charge
    ],
)
def test_round_trip_debited_charges_equal_charges_model(
    instrument: Instrument, product: str, segment: ChargeSegment, buy: str, sell: str
) -> None:
    venue, _ = make_venue(cash=5_000_000.0)

    _round_trip(venue, instrument, product, buy, sell)

    quantity = instrument.lot_size
    expected = MODEL.round_trip(segment, float(buy), float(sell), quantity, on=DAY).total
    assert venue.charges_debited() == expected
    gross = (Decimal(sell) - Decimal(buy)) * quantity
    assert venue.cash() == Decimal(5_000_000) + gross - expected


def test_order_filled_in_several_trades_pays_one_brokerage() -> None:
    venue, _ = make_venue()
    venue.on_quote(quote(CE, 100.0, size=65))

    order_id = venue.place("regular", form(price="100.15", quantity="195"))

    trades = venue.order_trades(order_id)
    assert len(trades) == 3
    turnover = sum(Decimal(str(t["average_price"])) * t["quantity"] for t in trades)
    expected = MODEL.leg(ChargeSegment.OPTIONS, Side.BUY, turnover, 1, DAY)
    assert venue.charges_debited() == expected.total
    assert expected.brokerage == 20


def test_contract_note_of_a_filled_order_shows_the_debited_charges() -> None:
    venue, _ = make_venue()
    venue.on_quote(quote(CE, 100.0))
    order_id = venue.place("regular", form(price="100.05"))
    item = {
        "order_id": order_id,
        "exchange": "NFO",
        "tradingsymbol": CE.tradingsymbol,
        "transaction_type": "BUY",
        "variety": "regular",
        "product": "NRML",
        "order_type": "LIMIT",
        "quantity": 65,
        "average_price": 100.05,
    }

    note = venue.contract_note([item])[0]
    unknown = venue.contract_note([item | {"order_id": "1"}])[0]

    assert note["charges"]["total"] == float(venue.charges_debited())
    assert unknown["charges"] == note["charges"]  # the model prices the same order the same
    assert note["charges"]["brokerage"] == 20.0


def test_order_margins_option_buy_needs_the_premium() -> None:
    venue, _ = make_venue()

    margin = venue.order_margins([dict(form(price="100"), quantity=65)])[0]

    assert (margin["option_premium"], margin["total"]) == (6500.0, 6500.0)
    assert margin["charges"]["total"] == float(
        MODEL.leg(ChargeSegment.OPTIONS, Side.BUY, 100, 65, DAY).total
    )


def test_positions_long_partly_closed_realised_and_unrealised() -> None:
    venue, _ = make_venue()
    venue.on_quote(quote(CE, 100.0))
    venue.place("regular", form(price="100.05", quantity="130"))
    venue.on_quote(quote(CE, 110.0))
    venue.place("regular", form(price="110", quantity="65", transaction_type="SELL"))
    venue.on_quote(quote(CE, 105.0, close=95.0))

    (net,) = venue.positions()["net"]

    assert (net["quantity"], net["average_price"], net["last_price"]) == (65, 100.05, 105)
    assert net["buy_value"] == pytest.approx(130 * 100.05)
    assert net["sell_value"] == pytest.approx(65 * 110)
    assert net["value"] == pytest.approx(net["sell_value"] - net["buy_value"])
    assert net["realised"] == pytest.approx(65 * (110 - 100.05))
    assert net["unrealised"] == pytest.approx(65 * (105 - 100.05))
    assert net["pnl"] == pytest.approx(net["value"] + 65 * 105)
    assert net["pnl"] == pytest.approx(net["realised"] + net["unrealised"])
    assert venue.positions()["day"] == venue.positions()["net"]


def test_positions_short_future_has_negative_quantity_and_positive_value() -> None:
    venue, _ = make_venue()
    venue.on_quote(quote(FUT, 24500.0))
    venue.place("regular", form(FUT, price="24500", transaction_type="SELL"))
    venue.on_quote(quote(FUT, 24400.0))

    (net,) = venue.positions()["net"]

    assert (net["quantity"], net["average_price"]) == (-65, 24500)
    assert net["value"] == pytest.approx(65 * 24500)
    assert net["unrealised"] == pytest.approx(-65 * (24400 - 24500))


def test_positions_next_day_carry_nrml_overnight_and_cnc_into_holdings() -> None:
    venue, clock = make_venue(cash=5_000_000.0)
    venue.on_quote(quote(FUT, 24500.0))
    venue.on_quote(quote(INFY, 1000.0))
    venue.place("regular", form(FUT, price="24500.05"))
    venue.place("regular", form(INFY, product="CNC", price="1000.05", quantity="10"))
    assert venue.holdings() == []  # today's CNC buys are positions; holdings from tomorrow

    clock.set(datetime(2026, 8, 19, 4, 0, tzinfo=UTC))
    venue.on_quote(quote(FUT, 24600.0, close=24550.0))

    positions = venue.positions()
    (net,) = positions["net"]
    assert (net["product"], net["quantity"], net["overnight_quantity"]) == ("NRML", 65, 65)
    assert net["m2m"] == pytest.approx(65 * (24600 - 24550))
    assert positions["day"] == []
    (holding,) = venue.holdings()
    assert (holding["quantity"], holding["t1_quantity"], holding["average_price"]) == (
        10,
        0,
        1000.05,
    )


def test_margins_net_is_cash_minus_debits_and_blocks_for_open_orders() -> None:
    venue, _ = make_venue(cash=300_000.0)
    venue.on_quote(quote(FUT, 24500.0))
    venue.place("regular", form(FUT, price="24500.05"))  # 12 % of 1,592,503.25 held
    venue.place("regular", form(CE, price="90"))  # 5,850 premium blocked

    equity = venue.margins("equity")

    held = Decimal("24500.05") * 65 * Decimal("0.12")
    charges = venue.charges_debited()
    m2m_loss = Decimal("0.05") * 65  # bought at 24500.05, last 24500
    assert equity["net"] == pytest.approx(float(300_000 - held - 5850 - charges - m2m_loss))
    assert equity["net"] == pytest.approx(
        equity["available"]["cash"] - equity["utilised"]["debits"]
    )
    assert equity["utilised"]["span"] == pytest.approx(float(held))
    with pytest.raises(KiteApiError, match="Invalid `segment`"):
        venue.margins("currency")


_ORDERS = st.lists(
    st.tuples(
        st.sampled_from(["CE", "INFY", "FUT"]),
        st.sampled_from(["BUY", "SELL"]),
        st.integers(min_value=1, max_value=4),  # lots
        st.integers(min_value=-3, max_value=3),  # price offset in ticks from the touch
        st.sampled_from(["MIS", "NRML", "CNC"]),
        st.integers(min_value=-20, max_value=20),  # next quote move in ticks
        st.booleans(),  # cancel what is left
    ),
    max_size=15,
)


@settings(max_examples=40, deadline=None)
@given(orders=_ORDERS)
def test_cash_change_equals_sells_minus_buys_minus_charges(
    orders: list[tuple[str, str, int, int, str, int, bool]],
) -> None:
    venue, _ = make_venue(cash=3_000_000.0)
    instruments = {"CE": CE, "INFY": INFY, "FUT": FUT}
    prices = {"CE": Decimal(100), "INFY": Decimal(1000), "FUT": Decimal(24500)}
    tick = Decimal("0.05")
    for name in instruments:
        venue.on_quote(quote(instruments[name], float(prices[name]), size=130))
    for name, side, lots, offset, product, move, cancel in orders:
        instrument = instruments[name]
        if instrument is not INFY and product == "CNC":
            product = "NRML"
        if instrument is INFY and product == "NRML":
            product = "CNC"
        price = prices[name] + offset * tick
        order_id = venue.place(
            "regular",
            form(
                instrument,
                transaction_type=side,
                quantity=str(lots * instrument.lot_size),
                product=product,
                price=str(price),
            ),
        )
        prices[name] += move * tick
        venue.on_quote(quote(instrument, float(prices[name]), size=130))
        if cancel and latest(venue, order_id)["status"] == "OPEN":
            venue.cancel("regular", order_id)

    trades = venue.trades()
    sells = sum(
        Decimal(str(t["average_price"])) * t["quantity"]
        for t in trades
        if t["transaction_type"] == "SELL"
    )
    buys = sum(
        Decimal(str(t["average_price"])) * t["quantity"]
        for t in trades
        if t["transaction_type"] == "BUY"
    )
    assert venue.cash() - Decimal(3_000_000) == sells - buys - venue.charges_debited()
    for position in venue.positions()["net"]:
        signed = sum(
            t["quantity"] if t["transaction_type"] == "BUY" else -t["quantity"]
            for t in trades
            if (t["instrument_token"], t["product"])
            == (position["instrument_token"], position["product"])
        )
        assert position["quantity"] == signed
    options = [p for p in venue.positions()["net"] if p["instrument_token"] == CE.instrument_token]
    assert all(p["quantity"] >= 0 for p in options)  # never short options
