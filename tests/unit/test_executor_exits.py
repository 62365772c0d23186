"""Exits that must end flat whatever happens to their orders: sent again for the rest when their
orders end short (left behind by the market, partly filled), never sent on top of closing orders
already working, and the kill switch's flatten closed again until the book is flat; an entry
that ends with nothing filled is UNFILLED, not SENT for ever; a trade closed outside its exit is
closed, not exited into the opposite position."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_contracts.enums import OrderStatus, Product, ProposalStatus, Side
from data_contracts.ids import InstrumentToken, OrderId, ProposalId, TradeId
from data_contracts.trading import ExitProposal, Fill, Position
from execution.alerts.channels import Alert
from execution.orders.executor import ALREADY_COVERED
from execution.orders.kill_switch import engage, make_flat
from execution.orders.reconcile import reconcile
from execution.orders.service import ExecutionService
from execution.orders.tags import client_tag
from execution.store import OrderPurpose
from execution.store.oms import OrderRecord
from tests.fake_broker import REJECT
from tests.unit.test_executor import CE, World, _exit


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(f"sqlite:///{tmp_path / 'kitepilot.db'}")
    yield w
    w.store.close()


def _open(world: World, lots: int = 1) -> str:
    proposal = world.propose(lots=lots)
    world.approve(proposal)
    world.broker.fill(client_tag(proposal.proposal_id.value, 0).value, price=100.0)
    world.executor.poll_orders()
    (trade,) = world.store.open_trades()
    exit_proposal = replace(
        _exit(trade.proposal_id, world.clock.now(), price=100.0), quantity=trade.quantity
    )
    world.store.add_exit(exit_proposal)
    return exit_proposal.exit_id.value


class Alerts:
    """The alerts raised, by key (an alerter behind the executor's port)."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    def raise_alert(self, alert: Alert) -> None:
        self.keys.append(alert.key)


def _sells(world: World) -> list[int]:
    return [i.quantity for i in world.broker.placed if i.side is Side.SELL]


def _exit_orders(world: World) -> list[OrderRecord]:
    return list(world.oms.orders(purpose=OrderPurpose.EXIT))


def _turns(world: World, service: ExecutionService, n: int, step: timedelta) -> None:
    for _ in range(n):
        world.clock.advance(step)
        service.run_once()


def test_exit_partly_filled_then_left_behind_sends_only_the_rest_and_closes_the_trade(
    world: World,
) -> None:
    subject = _open(world, lots=2)
    world.executor.submit_exits()
    world.broker.fill(client_tag(subject, 0).value, quantity=65, price=100.0)  # half, then
    world.broker.prices[CE] = 90.0  # the market falls away from the rest of the limit
    service = ExecutionService(world.executor)

    _turns(world, service, 3, timedelta(seconds=40))  # past the 60 s fill timeout
    world.broker.fill(client_tag(subject, 1).value, price=89.5)
    world.executor.poll_orders()

    assert _sells(world) == [130, 65]
    again = world.oms.order(client_tag(subject, 1))
    assert again is not None
    assert again.intent.price == pytest.approx(89.1)  # 1 % through 90
    assert world.store.open_trades() == []
    assert world.executor.account.position_quantity(CE, Product.NRML) == 0


def test_exit_now_on_top_of_a_working_exit_sends_nothing_more(world: World) -> None:
    _open(world, lots=2)
    world.executor.submit_exits()  # SELL 130 working

    manual = world.executor.exit_now(CE, Product.NRML, "operator")

    assert (manual.accepted, manual.reasons) == (False, (ALREADY_COVERED,))
    assert _sells(world) == [130]


def test_exit_refused_every_time_is_tried_once_a_poll_interval_then_left_to_a_person(
    world: World,
) -> None:
    _open(world)
    world.broker.script.extend([REJECT] * 400)
    alerts = Alerts()
    context = world.executor.context
    context.alerter = alerts
    # No automatic kill switch for the burst of rejections: engaged, its flatten would take over.
    context.settings = replace(context.settings, rejection_burst=10_000)
    service = ExecutionService(world.executor)

    _turns(world, service, 3, timedelta(seconds=1))  # within one poll interval: one try
    tries_soon = len(_exit_orders(world))
    _turns(world, service, 200, timedelta(seconds=5))
    abandoned = [key for key in alerts.keys if key.startswith("exit_abandoned")]

    assert tries_soon == 1
    assert len(_exit_orders(world)) == 180
    assert {r.latest.status for r in _exit_orders(world) if r.latest} == {OrderStatus.REJECTED}
    assert len(abandoned) == 1


def test_kill_switch_flatten_left_behind_is_closed_again_after_reconciliation(
    world: World,
) -> None:
    proposal = world.propose()
    world.approve(proposal)
    world.broker.fill(client_tag(proposal.proposal_id.value, 0).value, price=100.0)
    world.executor.poll_orders()
    report = engage(world.executor, "operator", "drill")  # SELL 65 at 99, resting
    world.broker.prices[CE] = 80.0
    service = ExecutionService(world.executor)
    service.start()

    _turns(world, service, 1, timedelta(seconds=61))  # cancelled, then flattened again
    (first, second) = world.oms.orders(purpose=OrderPurpose.FLATTEN)
    world.broker.fill(second.client_tag.value, price=79.5)
    world.executor.poll_orders()

    assert report.flat
    assert first.client_tag == report.exits[0].orders[0].client_tag
    assert world.broker.order(first.client_tag.value).status is OrderStatus.CANCELLED
    assert second.intent.price == pytest.approx(79.2)
    assert world.executor.account.position_quantity(CE, Product.NRML) == 0
    assert world.store.status(proposal.proposal_id) is ProposalStatus.CLOSED


def test_kill_switch_closes_what_it_can_and_alerts_on_positions_no_order_can_close(
    world: World,
) -> None:
    """Positions the broker reports that no order can close — an instrument kitepilot does not
    know (opened in the Kite app), less than one lot, whole lots and an odd rest (a lot size
    changed under it) — never stop the kill switch: the rest is flattened, whole lots of an odd
    quantity too, and each of the others is alerted for a person to close."""
    _open(world)  # ours: 65 CE NRML
    world.broker.add_carried_position(
        Position(InstrumentToken(408065), "INFY", Product.MIS, quantity=5, average_price=1500.0)
    )
    world.broker.add_carried_position(
        Position(InstrumentToken(CE), "CE", Product.MIS, quantity=40, average_price=100.0)
    )
    alerts = Alerts()
    world.executor.context.alerter = alerts
    reconcile(world.executor)  # the book takes the broker's MIS positions

    report = engage(world.executor, "operator", "drill")

    refused = {s.subject_id.split(":")[2:4][0]: s.reasons for s in report.exits if not s.accepted}
    assert _sells(world) == [65]  # ours, closed; nothing for the other two
    assert "not in the instruments" in refused["408065"][0]
    assert "less than one lot of 65" in refused[str(CE)][0]
    assert {k for k in alerts.keys if k.startswith("flatten_failed")} == {
        "flatten_failed:408065",
        f"flatten_failed:{CE}",
    }


def test_flatten_of_whole_lots_and_an_odd_rest_closes_the_whole_lots(world: World) -> None:
    world.broker.add_carried_position(
        Position(InstrumentToken(CE), "CE", Product.MIS, quantity=150, average_price=100.0)
    )
    reconcile(world.executor)

    closed = world.executor.flatten(
        CE, Product.MIS, subject_id="kill:test:odd", purpose=OrderPurpose.FLATTEN
    )

    assert closed.accepted
    assert _sells(world) == [130]  # two lots of 65; the 20 left are a person's to close


def test_entry_cancelled_unfilled_is_unfilled_and_a_late_fill_still_opens_its_trade(
    world: World,
) -> None:
    proposal = world.propose()
    world.approve(proposal)
    world.clock.advance(timedelta(seconds=61))
    world.broker.prices[CE] = 120.0  # the market ran away from the entry's limit

    cancelled = world.executor.cancel_stale()
    unfilled = world.store.status(proposal.proposal_id)
    # a fill that raced the cancel: the broker's trade book has it (reconciliation stores it)
    late = world.broker.fill(client_tag(proposal.proposal_id.value, 0).value, price=100.0)
    reconcile(world.executor)

    assert cancelled == [client_tag(proposal.proposal_id.value, 0).value]
    assert unfilled is ProposalStatus.UNFILLED
    assert world.store.status(proposal.proposal_id) is ProposalStatus.FILLED
    assert [t.quantity for t in world.store.open_trades()] == [late.quantity]


_ACTIONS = st.lists(
    st.one_of(
        st.tuples(st.just("exit"), st.just(0)),
        st.tuples(st.just("exit_now"), st.just(0)),
        st.tuples(st.just("kill"), st.just(0)),
        st.tuples(st.just("fill"), st.integers(0, 2)),  # a working order fills: 0 all, else 1 lot
        st.tuples(st.just("price"), st.integers(70, 130)),
        st.tuples(st.just("turn"), st.integers(1, 90)),  # the loop after this many seconds
        st.tuples(st.just("restart"), st.just(0)),
    ),
    max_size=14,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions=_ACTIONS)
def test_no_mix_of_exits_flattens_fills_and_restarts_ever_reverses_the_position(
    actions: list[tuple[str, int]],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        world = World(f"sqlite:///{Path(folder) / 'kitepilot.db'}")
        try:
            _open(world, lots=3)  # long 195, its exit stored (sent by "exit" or a loop turn)
            service = ExecutionService(world.executor)
            service.start()
            for action, value in actions:
                _act(world, service, action, value)
                assert _held(world) >= 0, action
            for _ in range(4):  # then the market fills whatever works: the exits end flat
                _act(world, service, "turn", 6)
                _act(world, service, "fill", 0)
                assert _held(world) >= 0
            assert _held(world) == 0
            assert world.store.open_trades() == []
        finally:
            world.store.close()


def _held(world: World) -> int:
    return sum(p.quantity for p in world.broker.positions() if p.product is Product.NRML)


def _act(world: World, service: ExecutionService, action: str, value: int) -> None:
    executor = world.executor
    if action == "exit":
        executor.submit_exits()
    elif action == "exit_now":
        executor.exit_now(CE, Product.NRML, "operator")
    elif action == "kill":
        engage(executor, "operator", "drill")
    elif action == "fill":
        working = [
            i for i in world.broker.placed if not world.broker.order(i.client_tag.value).is_final
        ]
        if working:
            intent = working[value % len(working)]
            left = intent.quantity - world.broker.order(intent.client_tag.value).filled_quantity
            world.broker.fill(
                intent.client_tag.value, quantity=left if value == 0 else min(65, left)
            )
    elif action == "price":
        world.broker.prices[CE] = float(value)
    elif action == "turn":
        world.clock.advance(timedelta(seconds=value))
        service.run_once()
    else:
        world.restart()
        service.executor = world.executor
        service.start()


def test_trade_closed_outside_its_exit_is_closed_not_exited_into_the_opposite_position(
    world: World,
) -> None:
    _open(world)  # long 65 NRML, its exit stored but not yet sent
    world.broker.add_outside_trade(  # the operator sold it in the Kite app
        Fill(
            trade_id=TradeId("K1"),
            order_id=OrderId("900"),
            client_tag=None,
            instrument_token=CE,
            side=Side.SELL,
            product=Product.NRML,
            quantity=65,
            price=101.0,
            ts_event=world.clock.now(),
            ts_init=world.clock.now(),
        )
    )
    reconcile(world.executor)

    sent = world.executor.submit_exits()

    assert sent == []
    assert _sells(world) == []
    assert world.store.open_trades() == []
    assert world.executor.account.position_quantity(CE, Product.NRML) == 0


def test_kill_recorded_by_another_process_is_made_flat_in_the_executors_next_turn(
    world: World,
) -> None:
    _open(world)
    service = ExecutionService(world.executor)
    service.start()
    world.executor.submit_exits()  # the trade's exit is working
    # `kitepilot kill`'s first step in its own process: only the engaged state, recorded
    world.oms.record_kill_switch(True, world.clock.now(), "cli", "drill")

    service.run_once()  # at once: no reconciliation interval waited for

    (flatten,) = world.oms.orders(purpose=OrderPurpose.FLATTEN)
    exit_order = world.broker.order(client_tag(ExitProposal.id_for(_entry(world)).value, 0).value)
    assert exit_order.status is OrderStatus.CANCELLED
    assert flatten.intent.quantity == 65


def test_two_processes_closing_one_position_for_one_kill_send_one_order(world: World) -> None:
    _open(world)
    other = world._executor()  # another process: the dashboard's executor, the same store
    report = engage(world.executor, "operator", "drill")

    cancelled, closing = make_flat(other)  # the running executor, seeing the switch engaged

    (flatten,) = world.oms.orders(purpose=OrderPurpose.FLATTEN)
    assert flatten.client_tag == report.exits[0].orders[0].client_tag
    assert (cancelled, closing) == ((), ())  # the first process's flatten is left working
    assert not world.broker.order(flatten.client_tag.value).is_final


def _entry(world: World) -> ProposalId:
    (trade,) = world.store.open_trades()
    return trade.proposal_id
