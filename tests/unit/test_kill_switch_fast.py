"""The running executor makes a kill recorded by another process flat before anything else of its
turn (or in the turn that was polling when it came), and — its book reconciled on schedule —
closes the positions it holds before it reconciles, then closes what reconciliation finds
besides; never a second close of a position already being closed, never a reversal. The order of
broker calls is what is observed."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from data_contracts.enums import OrderStatus, Product, Side
from data_contracts.ids import OrderId, ProposalId, TradeId
from data_contracts.instruments import Instrument
from data_contracts.trading import Fill, OrderEvent, OrderIntent, Position
from execution.orders.kill_switch import make_flat
from execution.orders.service import ExecutionService
from execution.orders.tags import client_tag
from execution.store import OrderPurpose
from tests.fake_broker import FakeBroker
from tests.unit.test_executor import CE, World, ce_instrument
from tests.unit.test_executor_exits import _open

OTHER = 47_165 * 256 + 2  # an instrument the book knows nothing of: traded in the Kite app


@dataclass
class CallLog(FakeBroker):
    """The fake broker, noting the calls that matter to the order of the kill's work."""

    calls: list[str] = field(default_factory=list)
    on_orders: list[Callable[[], None]] = field(default_factory=list)  # once each, at a poll
    on_place: list[Callable[[], None]] = field(default_factory=list)  # once each, at a send

    def place_order(self, intent: OrderIntent) -> OrderId:
        self.calls.append(f"place {intent.side.value} {intent.quantity}")
        while self.on_place:
            self.on_place.pop(0)()
        return super().place_order(intent)

    def orders(self) -> Sequence[OrderEvent]:
        while self.on_orders:
            self.on_orders.pop(0)()
        return super().orders()

    def cancel_order(self, order_id: OrderId) -> None:
        self.calls.append("cancel")
        super().cancel_order(order_id)

    def positions(self) -> Sequence[Position]:
        self.calls.append("positions")
        return super().positions()

    def last_prices(self, tokens: Iterable[int]) -> Mapping[int, float]:
        self.calls.append("quote")
        return super().last_prices(tokens)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(f"sqlite:///{tmp_path / 'kitepilot.db'}")
    w.broker = CallLog(w.clock, prices={CE: 100.0})
    w.executor = w._executor()
    yield w
    w.store.close()


def _log(world: World) -> list[str]:
    assert isinstance(world.broker, CallLog)
    return world.broker.calls


def _outside_trade(world: World, quantity: int) -> None:
    """A BUY made in the Kite app: a position only the broker reports."""
    now = world.clock.now()
    world.broker.add_outside_trade(
        Fill(
            trade_id=TradeId("APP-1"),
            order_id=OrderId("APP-1"),
            client_tag=None,
            instrument_token=OTHER,
            side=Side.BUY,
            product=Product.NRML,
            quantity=quantity,
            price=50.0,
            ts_event=now,
            ts_init=now,
        )
    )


def _instrument(token: int) -> Instrument:
    ce = ce_instrument()
    return replace(ce, exchange_token=token // 256, instrument_token=token)


def _kill_from_another_process(world: World) -> None:
    world.oms.record_kill_switch(True, world.clock.now(), "cli", "drill")


def test_a_kill_is_made_flat_before_the_turns_approvals_are_sent(world: World) -> None:
    _open(world)
    service = ExecutionService(world.executor)
    service.start()
    waiting = world.propose(proposal_id=ProposalId("p-waiting"))
    world.desk.approve(waiting.proposal_id, "operator")  # approved before the kill, not sent
    _kill_from_another_process(world)
    _log(world).clear()

    service.run_once()

    flatten = next(i for i, call in enumerate(_log(world)) if call.startswith("place SELL 65"))
    # the approvals' quote comes after the flatten went out (and the entry is vetoed)
    assert _log(world).index("quote", flatten) > flatten
    assert not any(call.startswith("place BUY") for call in _log(world))
    assert world.oms.verdicts(waiting.proposal_id.value)[-1].accepted is False


def test_a_kill_recorded_while_approvals_are_sent_stops_the_rest_until_the_account_is_flat(
    world: World,
) -> None:
    _open(world)
    service = ExecutionService(world.executor)
    service.start()
    burst = [world.propose(proposal_id=ProposalId(f"p-burst-{n}")) for n in range(3)]
    for proposal in burst:
        world.desk.approve(proposal.proposal_id, "operator")
    assert isinstance(world.broker, CallLog)
    # the first entry goes out; as it does, another process kills
    world.broker.on_place.append(lambda: _kill_from_another_process(world))
    _log(world).clear()

    service.run_once()
    sent_in_the_kills_turn = [c for c in _log(world) if c.startswith("place")]
    checked_in_the_kills_turn = [bool(world.oms.verdicts(p.proposal_id.value)) for p in burst]
    service.run_once()

    assert sent_in_the_kills_turn == ["place BUY 65", "place SELL 65"]  # then flat at once
    assert checked_in_the_kills_turn == [True, False, False]  # the rest waited for the flatten
    later = [world.oms.verdicts(p.proposal_id.value)[-1].accepted for p in burst[1:]]
    assert later == [False, False]  # vetoed in the next turn, never sent
    assert [c for c in _log(world) if c.startswith("place BUY")] == ["place BUY 65"]


def test_a_kill_recorded_while_the_turn_polls_is_made_flat_in_that_turn(world: World) -> None:
    _open(world)
    service = ExecutionService(world.executor)
    service.start()
    assert isinstance(world.broker, CallLog)
    # the trade's exit goes out this turn; while the turn polls it, another process kills
    world.broker.on_orders.append(lambda: _kill_from_another_process(world))

    service.run_once()

    assert world.oms.kill_switch().engaged
    (flatten,) = world.oms.orders(purpose=OrderPurpose.FLATTEN)
    assert flatten.intent.quantity == 65


def test_a_book_reconciled_on_schedule_is_closed_before_reconciling_again(
    world: World,
) -> None:
    _open(world)
    service = ExecutionService(world.executor)
    service.start()
    # the next reconciliation is due (1.5 intervals since the last): still on schedule
    world.clock.advance(world.executor.context.settings.reconcile_interval * 1.5)
    _outside_trade(world, 130)
    world.broker.prices[OTHER] = 50.0
    world.executor.context.instruments[OTHER] = _instrument(OTHER)
    _kill_from_another_process(world)
    _log(world).clear()

    service.run_once()

    calls = _log(world)
    first_positions = calls.index("positions")
    assert calls.index("place SELL 65") < first_positions  # what the book held: at once
    assert calls.index("place SELL 130") > first_positions  # what reconciliation found: then
    assert [c for c in calls if c.startswith("place")] == ["place SELL 65", "place SELL 130"]


def test_a_position_no_close_covers_is_closed_before_working_orders_are_cancelled(
    world: World,
) -> None:
    _open(world)  # long 65, its exit not sent
    resting = world.propose(proposal_id=ProposalId("p-resting"))
    assert world.approve(resting).accepted  # a BUY working on the book
    _log(world).clear()

    make_flat(world.executor, reconciled_recently=True)

    calls = _log(world)
    assert calls.index("place SELL 65") < calls.index("cancel")
    entry = world.broker.order(client_tag("p-resting", 0).value)
    assert entry.status is OrderStatus.CANCELLED


def test_a_book_not_reconciled_for_two_intervals_is_reconciled_first(world: World) -> None:
    _open(world)
    service = ExecutionService(world.executor)
    service.start()
    world.clock.advance(2 * world.executor.context.settings.reconcile_interval)
    _kill_from_another_process(world)
    _log(world).clear()

    service._kill_engaged()

    calls = _log(world)
    assert calls.index("positions") < next(i for i, c in enumerate(calls) if c.startswith("place"))


def test_closing_first_cancels_the_working_exit_and_sells_the_position_once(
    world: World,
) -> None:
    exit_id = _open(world)
    world.executor.submit_exits()  # the trade's exit SELL 65 is working
    _log(world).clear()

    cancelled, closing = make_flat(world.executor, reconciled_recently=True)
    again, more = make_flat(world.executor, reconciled_recently=True)  # another process's

    exit_order = world.broker.order(client_tag(exit_id, 0).value)
    assert exit_order.status is OrderStatus.CANCELLED
    assert cancelled == (client_tag(exit_id, 0).value,)
    assert [c for c in _log(world) if c.startswith("place")] == ["place SELL 65"]
    assert [s.accepted for s in closing] == [True]
    assert (again, more) == ((), ())
    (flatten,) = world.oms.orders(purpose=OrderPurpose.FLATTEN)
    world.broker.fill(flatten.client_tag.value, price=99.0)
    world.executor.poll_orders()
    assert world.executor.account.position_quantity(CE, Product.NRML) == 0


def test_closing_first_while_the_exit_has_filled_unseen_sends_nothing(world: World) -> None:
    exit_id = _open(world)
    world.executor.submit_exits()
    world.broker.fill(client_tag(exit_id, 0).value, price=100.0)  # filled; the book not told
    _log(world).clear()

    make_flat(world.executor, reconciled_recently=True)

    assert not [c for c in _log(world) if c.startswith("place")]  # no reversal
    assert world.executor.account.position_quantity(CE, Product.NRML) == 0
    assert world.store.open_trades() == []
