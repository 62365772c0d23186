"""The executor through the real ``kiteconnect`` client against the paper exchange: approve →
risk → order → fill → position → exit → realised P&L, with faults on, and a crash between send
and acknowledgement."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from data_contracts.charges import ChargesModel
from data_contracts.clock import ManualClock, SystemClock
from data_contracts.enums import ChargeSegment, Exchange, ExitReason, Product, ProposalStatus, Side
from data_contracts.errors import ContractError
from data_contracts.ids import ProposalId, StrategyId
from data_contracts.nse_calendar import NseCalendar
from data_contracts.pricegrid import round_for_side
from data_contracts.trading import ExitProposal, Proposal
from execution.kite.order_updates import OrderUpdateFeed
from execution.orders.context import ExecutorSettings, OmsContext
from execution.orders.desk import DecisionDesk
from execution.orders.executor import Executor
from execution.orders.intents import entry_intents
from execution.orders.kill_switch import engage
from execution.orders.positions import pnl_by_symbol_day
from execution.orders.service import ExecutionService
from execution.orders.tags import client_tag
from execution.store import OmsStore, OrderPurpose, SqlStore
from tests import factories
from tests.integration.test_kite_broker import API_KEY, DAY, INFY, Paper, wait_until
from tests.integration.test_kite_broker import paper as paper  # the fixture, re-exported
from tests.unit.test_executor import LIMITS

pytestmark = pytest.mark.usefixtures("paper")


class Desk:
    def __init__(self, exchange: Paper, url: str) -> None:
        self.paper = exchange
        self.url = url
        self.clock = ManualClock(factories.T0 + timedelta(seconds=30))  # 09:30:30 IST on DAY
        self.store = SqlStore.open(url)
        self.executor = self.new_executor()

    def new_executor(self) -> Executor:
        context = OmsContext(
            store=self.store,
            broker=self.paper.broker,
            instruments={INFY: factories.infy_instrument()},
            calendar=NseCalendar.default(),
            clock=self.clock,
            settings=ExecutorSettings(limits=LIMITS, retry_backoff_seconds=0.05),
            charges=ChargesModel.default(),
        )
        return Executor(context)

    def last(self) -> float:
        return self.paper.broker.last_prices([INFY])[INFY]

    def propose(self, pid: str, quantity: int = 3) -> Proposal:
        last = Decimal(str(self.last()))
        limit = float(round_for_side(last * Decimal("1.005"), Decimal("0.05"), Side.BUY))
        proposal = factories.proposal(
            proposal_id=ProposalId(pid),
            strategy_id=StrategyId("equity-intraday"),
            instrument_token=INFY,
            exchange=Exchange.NSE,
            tradingsymbol="INFY",
            product=Product.MIS,
            lots=quantity,
            lot_size=1,
            limit_price=limit,
            stop_loss=float(round_for_side(last * Decimal("0.98"), Decimal("0.05"), Side.BUY)),
            take_profit=float(round_for_side(last * Decimal("1.03"), Decimal("0.05"), Side.SELL)),
        )
        self.store.add(proposal)
        return proposal

    def approve(self, proposal: Proposal) -> None:
        DecisionDesk(self.store, self.clock).approve(proposal.proposal_id, "operator")
        self.executor.submit_entry(proposal)

    def orders_at_broker(self, pid: str) -> int:
        tags = {client_tag(pid, i) for i in range(3)}
        return sum(1 for event in self.paper.broker.orders() if event.client_tag in tags)


@pytest.fixture
def desk(paper: Paper, tmp_path: Path) -> Iterator[Desk]:
    d = Desk(paper, f"sqlite:///{tmp_path / 'kitepilot.db'}")
    yield d
    d.store.close()


def test_approve_to_fill_to_exit_realises_the_move_minus_the_charges_models_round_trip(
    desk: Desk,
) -> None:
    proposal = desk.propose("p-e2e")

    desk.approve(proposal)
    desk.executor.poll_orders()

    assert desk.store.status(proposal.proposal_id) is ProposalStatus.FILLED
    (trade,) = desk.store.open_trades()
    assert desk.executor.account.position_quantity(INFY, Product.MIS) == 3
    exit_price = float(
        round_for_side(Decimal(str(desk.last())) * Decimal("0.995"), Decimal("0.05"), Side.SELL)
    )
    exit_proposal = ExitProposal(
        exit_id=ExitProposal.id_for(trade.proposal_id),
        entry_proposal_id=trade.proposal_id,
        ts_event=desk.clock.now(),
        ts_init=desk.clock.now(),
        reason=ExitReason.MANUAL,
        strategy_id=trade.strategy_id,
        instrument_token=INFY,
        exchange=Exchange.NSE,
        tradingsymbol="INFY",
        product=Product.MIS,
        side=Side.SELL,
        quantity=3,
        lot_size=1,
        tick_size=0.05,
        reference_price=desk.last(),
        limit_price=exit_price,
    )
    desk.store.add_exit(exit_proposal)
    ExecutionService(desk.executor).run_once()
    desk.executor.poll_orders()

    assert desk.store.status(proposal.proposal_id) is ProposalStatus.CLOSED
    assert desk.executor.account.position_quantity(INFY, Product.MIS) == 0
    fills = [s.fill for s in OmsStore.of(desk.store).fills()]
    buys = [f for f in fills if f.side is Side.BUY]
    sells = [f for f in fills if f.side is Side.SELL]
    buy = sum(f.price * f.quantity for f in buys) / 3
    sell = sum(f.price * f.quantity for f in sells) / 3
    (line,) = pnl_by_symbol_day(fills, marks={})
    round_trip = ChargesModel.default().round_trip(ChargeSegment.INTRADAY, buy, sell, 3, DAY)
    assert line.realised == pytest.approx((sell - buy) * 3)
    assert line.charges == pytest.approx(float(round_trip.total), abs=0.02)
    assert line.net == pytest.approx((sell - buy) * 3 - float(round_trip.total), abs=0.02)


@pytest.mark.parametrize(
    "faults",
    [
        ["lost_response"],
        ["timeout"],
        ["http_503"],
        ["http_429", "http_429"],
        ["http_500", "lost_response"],
    ],
)
def test_faults_never_make_two_orders_for_one_proposal(desk: Desk, faults: list[str]) -> None:
    schedule = [
        {"route": "order_place", "nth": n, "fault": fault} for n, fault in enumerate(faults, 1)
    ]
    desk.paper.admin("PUT", "/_paper/faults", {"schedule": schedule})
    proposal = desk.propose("p-fault")

    desk.approve(proposal)
    ExecutionService(desk.executor).start()
    desk.executor.poll_orders()

    assert desk.orders_at_broker("p-fault") == 1
    (record,) = OmsStore.of(desk.store).orders(subject_id="p-fault")
    assert record.is_final
    assert desk.store.status(proposal.proposal_id) is ProposalStatus.FILLED


def test_executor_killed_between_send_and_acknowledgement_reconciles_to_one_order(
    desk: Desk,
) -> None:
    proposal = desk.propose("p-crash")
    DecisionDesk(desk.store, desk.clock).approve(proposal.proposal_id, "operator")
    oms = OmsStore.of(desk.store)
    (child,) = entry_intents(proposal, None, desk.clock.now())
    assert oms.claim_order(
        child,
        subject_id="p-crash",
        purpose=OrderPurpose.ENTRY,
        slice_index=0,
        reference_price=proposal.limit_price,
    )
    desk.paper.broker.place_order(child)  # sent; the process dies before recording the answer

    desk.executor = desk.new_executor()  # the restart
    ExecutionService(desk.executor).start()
    desk.executor.submit_approved()
    desk.executor.poll_orders()

    assert desk.orders_at_broker("p-crash") == 1
    assert desk.executor.account.position_quantity(INFY, Product.MIS) == 3


def test_partial_fill_past_the_timeout_is_cancelled_and_the_trade_opens_with_what_filled(
    desk: Desk,
) -> None:
    desk.paper.fault(1, "partial_fill")
    proposal = desk.propose("p-partial", quantity=10)

    desk.approve(proposal)
    desk.executor.poll_orders()
    (working,) = OmsStore.of(desk.store).orders(open_only=True)
    desk.clock.advance(desk.executor.context.settings.fill_timeout)
    cancelled = desk.executor.cancel_stale()
    desk.executor.poll_orders()

    assert cancelled == [working.client_tag.value]
    (record,) = OmsStore.of(desk.store).orders(subject_id="p-partial")
    assert record.is_final
    assert desk.orders_at_broker("p-partial") == 1
    (trade,) = desk.store.open_trades()
    assert trade.quantity == 5
    assert desk.executor.account.position_quantity(INFY, Product.MIS) == 5


def test_kill_switch_against_the_paper_exchange_leaves_it_flat_and_halted(desk: Desk) -> None:
    held = desk.propose("p-held")
    desk.approve(held)
    desk.executor.poll_orders()
    desk.paper.fault(1, "partial_fill")  # counted from now: the next placement works on
    working = desk.propose("p-working", quantity=10)
    desk.approve(working)

    report = engage(desk.executor, "operator", "drill")
    desk.executor.poll_orders()

    assert report.cancelled == (client_tag("p-working", 0).value,)
    assert all(submission.accepted for submission in report.exits)
    broker_positions = [p for p in desk.paper.broker.positions() if p.quantity]
    assert broker_positions == []
    assert OmsStore.of(desk.store).orders(open_only=True) == []
    blocked = desk.propose("p-after-kill")
    with pytest.raises(ContractError, match="kill switch is engaged"):
        DecisionDesk(desk.store, desk.clock).approve(blocked.proposal_id, "operator")


def test_order_updates_over_the_websocket_drive_the_order_and_the_trade_without_polling(
    desk: Desk,
) -> None:
    feed = OrderUpdateFeed(
        API_KEY,
        desk.paper.access_token,
        desk.paper.running.ticker_url,
        SystemClock(),
        desk.executor.on_order_update,
    )
    feed.start()
    try:
        wait_until(lambda: feed.connected, "the order feed to connect")
        proposal = desk.propose("p-ws")
        desk.approve(proposal)
        wait_until(
            lambda: (
                desk.executor.process_updates() >= 0
                and desk.store.status(proposal.proposal_id) is ProposalStatus.FILLED
            ),
            "the WebSocket's COMPLETE to open the trade",
        )
    finally:
        feed.close()

    (record,) = OmsStore.of(desk.store).orders(subject_id="p-ws")
    sources = [source for _, source in OmsStore.of(desk.store).order_events(record.client_tag)]
    assert "ws" in sources
    assert "poll" not in sources
