"""The book view over fills and orders the executor stored from the fake broker."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from data_contracts.enums import Product
from execution.console.book import IN_FLIGHT, book_view
from execution.orders.positions import pnl_by_symbol_day
from execution.orders.tags import client_tag
from tests.fake_broker import LOSE_ANSWER
from tests.unit.test_console_world import CAPITAL, CE, ConsoleWorld, world

__all__ = ["world"]  # the fixture, imported

DAY = date(2026, 8, 18)
OPEN_0915 = datetime(2026, 8, 18, 3, 45, tzinfo=UTC)


def _round_trip(world: ConsoleWorld, exit_price: float = 150.0) -> None:
    """Approve and fill an entry at 100, then exit it now and fill the exit."""
    proposal = world.propose()
    world.approve(proposal)
    world.fill_entry(proposal, price=100.0)
    world.clock.advance(timedelta(minutes=5))
    world.broker.prices[CE] = exit_price
    exited = world.executor.exit_now(CE, Product.NRML, "asha")
    world.broker.fill(exited.orders[0].client_tag.value, price=exit_price)
    world.executor.poll_orders()


def test_book_view_totals_equal_pnl_by_symbol_day_after_a_round_trip(world: ConsoleWorld) -> None:
    _round_trip(world)

    book = book_view(world.store, DAY, capital=CAPITAL, marks={})

    (line,) = pnl_by_symbol_day([s.fill for s in world.oms.fills()], {})
    (row,) = book.positions
    assert (row.quantity, row.mark, row.unrealised) == (0, None, 0.0)
    assert row.tradingsymbol == "NIFTY2681824400CE"
    assert row.realised == pytest.approx(65 * 50.0)
    assert (book.realised, book.charges, book.net) == (line.realised, line.charges, line.net)
    assert book.net == pytest.approx(65 * 50.0 - line.charges)


def test_book_view_marks_an_open_position_to_the_given_price(world: ConsoleWorld) -> None:
    proposal = world.propose()
    world.approve(proposal)
    world.fill_entry(proposal, price=100.0)

    book = book_view(world.store, DAY, capital=CAPITAL, marks={CE: 110.0})

    (line,) = pnl_by_symbol_day([s.fill for s in world.oms.fills()], {CE: 110.0})
    (row,) = book.positions
    assert (row.quantity, row.average_price, row.mark) == (65, 100.0, 110.0)
    assert row.unrealised == pytest.approx(650.0)
    assert (book.unrealised, book.charges, book.net) == (line.unrealised, line.charges, line.net)
    assert row.net == pytest.approx(650.0 - row.charges)


def test_book_view_equity_curve_steps_at_each_fill(world: ConsoleWorld) -> None:
    _round_trip(world)

    book = book_view(world.store, DAY, capital=CAPITAL, marks={})

    fills = [s.fill for s in world.oms.fills()]
    assert [t for t, _ in book.equity_curve] == [OPEN_0915, *(f.ts_event for f in fills)]
    equity = [e for _, e in book.equity_curve]
    assert equity[0] == CAPITAL
    assert equity[1] == pytest.approx(CAPITAL - fills[0].charges)  # bought at 100, valued at 100
    assert equity[2] == pytest.approx(CAPITAL + book.net)


def test_book_view_blotter_is_newest_first_with_the_fills_slippage(world: ConsoleWorld) -> None:
    proposal = world.propose()
    world.approve(proposal)
    world.clock.advance(timedelta(seconds=3))
    world.fill_entry(proposal, price=99.5)  # half a rupee better than the 100 limit

    book = book_view(world.store, DAY, capital=CAPITAL, marks={})

    fill_row, order_row = book.blotter
    tag = client_tag(proposal.proposal_id.value, 0).value
    assert (fill_row.kind, fill_row.client_tag, fill_row.purpose) == ("fill", tag, "entry")
    assert (fill_row.side, fill_row.quantity, fill_row.price) == ("BUY", 65, 99.5)
    assert fill_row.slippage == pytest.approx(-32.5)
    assert (order_row.kind, order_row.status, order_row.filled) == ("order", "COMPLETE", 65)
    assert (order_row.price, order_row.average_price) == (100.0, 99.5)
    assert order_row.slippage == pytest.approx(-32.5)
    assert fill_row.time > order_row.time


def test_book_view_blotter_shows_an_unanswered_order_in_flight(world: ConsoleWorld) -> None:
    world.broker.script.append(LOSE_ANSWER)
    world.broker.lookups_fail = True
    world.approve(world.propose())

    book = book_view(world.store, DAY, capital=CAPITAL, marks={})

    (order_row,) = book.blotter
    assert (order_row.status, order_row.filled, order_row.slippage) == (IN_FLIGHT, 0, None)
    assert book.positions == ()


def test_book_view_of_the_next_day_carries_the_open_position_without_its_pnl(
    world: ConsoleWorld,
) -> None:
    proposal = world.propose()
    world.approve(proposal)
    world.fill_entry(proposal, price=100.0)

    book = book_view(world.store, DAY + timedelta(days=1), capital=CAPITAL, marks={CE: 120.0})

    (row,) = book.positions
    assert (row.quantity, row.realised, row.charges) == (65, 0.0, 0.0)
    assert row.unrealised == pytest.approx(65 * 20.0)
    assert book.net == pytest.approx(65 * 20.0)
    assert book.blotter == ()
    assert len(book.equity_curve) == 1


def test_book_view_of_a_day_without_trading_is_empty(world: ConsoleWorld) -> None:
    book = book_view(world.store, DAY, capital=CAPITAL, marks={})

    assert (book.positions, book.blotter) == ((), ())
    assert (book.realised, book.unrealised, book.charges, book.net) == (0, 0, 0, 0)
    assert book.equity_curve == ((OPEN_0915, CAPITAL),)
