"""The book of positions: fills and reconciliation adjustments folded in time order, and a book
that always reads (an adjustment never leaves an open position without a price)."""

from __future__ import annotations

from datetime import datetime, timedelta

from data_contracts.enums import Product, Side
from data_contracts.ids import OrderId, TradeId
from data_contracts.trading import Fill
from execution.orders.positions import book_positions
from execution.store.oms import PositionAdjustment
from tests import factories

T0 = factories.T0
CE = factories.NIFTY_CE_TOKEN
KEY = (CE, Product.NRML)


def _fill(trade: str, side: Side, quantity: int, price: float, at: datetime) -> Fill:
    return Fill(
        trade_id=TradeId(trade),
        order_id=OrderId(f"o-{trade}"),
        client_tag=None,
        instrument_token=CE,
        side=side,
        product=Product.NRML,
        quantity=quantity,
        price=price,
        ts_event=at,
        ts_init=at,
    )


def _adjustment(quantity: int, price: float, at: datetime) -> PositionAdjustment:
    return PositionAdjustment(
        instrument_token=CE,
        product=Product.NRML,
        tradingsymbol="NIFTY-CE",
        quantity=quantity,
        average_price=price,
        ts_event=at,
        detail="test",
    )


def test_adjustment_to_flat_is_applied_after_the_fills_before_it() -> None:
    entry = _fill("T1", Side.BUY, 65, 100.0, T0)
    flatten = _adjustment(-65, 0.0, T0 + timedelta(minutes=1))

    book = book_positions([entry], [flatten])

    assert book[KEY].quantity == 0
    assert book[KEY].average_price == 0.0


def test_zero_priced_adjustment_followed_by_a_fill_still_reads() -> None:
    """The crash-loop's book: an old adjustment to a flat broker (price 0.0) and, stored after
    it, the exit fill it had raced; the book reads, priced at the nearest known price."""
    entry = _fill("T1", Side.BUY, 65, 100.0, T0)
    exit_fill = _fill("T2", Side.SELL, 65, 102.0, T0 + timedelta(minutes=1))
    flatten = _adjustment(-65, 0.0, T0 + timedelta(minutes=1))  # same instant: fills first

    book = book_positions([exit_fill, entry], [flatten])

    assert book[KEY].quantity == -65
    assert book[KEY].average_price == 102.0
    assert book[KEY].realised_pnl == 65 * 2.0


def test_zero_priced_adjustment_before_any_fill_takes_the_first_known_price() -> None:
    early = _adjustment(-65, 0.0, T0 - timedelta(minutes=1))
    entry = _fill("T1", Side.BUY, 65, 100.0, T0)

    book = book_positions([entry], [early])

    assert book[KEY].quantity == 0  # -65 priced at 100.0, then the buy closes it
    assert book[KEY].realised_pnl == 0.0


def test_adjustment_opening_a_position_takes_the_brokers_average() -> None:
    carried = _adjustment(75, 98.5, T0)

    book = book_positions([_fill("T1", Side.BUY, 25, 110.0, T0 + timedelta(minutes=1))], [carried])

    assert book[KEY].quantity == 100
    assert book[KEY].average_price == (75 * 98.5 + 25 * 110.0) / 100


def test_adjustments_are_applied_in_time_order_with_the_fills() -> None:
    buy = _fill("T1", Side.BUY, 65, 100.0, T0)
    sell = _fill("T2", Side.SELL, 65, 101.0, T0 + timedelta(minutes=2))
    later = _adjustment(30, 105.0, T0 + timedelta(minutes=5))
    between = _adjustment(10, 0.0, T0 + timedelta(minutes=1))  # priced from the position

    book = book_positions([sell, buy], [later, between])

    assert book[KEY].quantity == 40  # 65 + 10 - 65 + 30
    assert book[KEY].average_price == 105.0
