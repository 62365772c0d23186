"""What the crash-restart and kill-switch scenarios found, pinned down: the state a kill -9 (or a
fill landing mid-reconciliation) leaves, reproduced exactly over the real SQL store and the
executor's hand-written broker stub, then the restart.

Each test is a finding of docs/RELIABILITY.md ("Found"); a bug found and not yet fixed is pinned
with ``xfail(strict=True)`` (it fails as XPASS once its fix lands, and the marker goes with the
fix). All of them are fixed now.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from data_contracts.charges import ChargesModel
from data_contracts.clock import SystemClock
from data_contracts.enums import Exchange, ExitReason, OrderStatus, Product, ProposalStatus, Side
from data_contracts.ids import ProposalId, StrategyId
from data_contracts.instruments import Instrument
from data_contracts.nse_calendar import NseCalendar
from data_contracts.pricegrid import round_for_side
from data_contracts.trading import ExitProposal, Fill, OpenTrade
from execution.kite.broker import kite_broker
from execution.orders.context import ExecutorSettings, OmsContext
from execution.orders.executor import Executor
from execution.orders.intents import entry_intents, exit_intents
from execution.orders.kill_switch import engage
from execution.orders.reconcile import reconcile
from execution.orders.service import ExecutionService
from execution.orders.tags import client_tag
from execution.paper.app import ExchangeSettings, build_exchange, open_market, run_in_thread
from execution.store import OrderPurpose, SqlStore
from tests import factories
from tests.fake_broker import FakeBroker
from tests.integration.test_kite_broker import ADMIN, API_KEY, API_SECRET, Paper
from tests.integration.test_kite_broker import DAY as PAPER_DAY
from tests.unit.test_executor import CE, World, _exit

INFY = 408065


@dataclass
class TornBroker(FakeBroker):
    """A broker whose order fills while reconciliation reads its books: the trade book is read
    before the fill, the positions after it (Kite's books are separate requests)."""

    fill_between_reads: list[str] = field(default_factory=list)

    def fills(self) -> Sequence[Fill]:
        seen = super().fills()
        for tag in self.fill_between_reads:
            self.fill(tag)
        self.fill_between_reads.clear()
        return seen


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(f"sqlite:///{tmp_path / 'kitepilot.db'}")
    yield w
    w.store.close()


@pytest.fixture
def torn(tmp_path: Path) -> Iterator[World]:
    w = World(f"sqlite:///{tmp_path / 'kitepilot.db'}")
    w.broker = TornBroker(w.clock, prices={CE: 100.0})
    w.executor = w._executor()
    yield w
    w.store.close()


def _open_trade(world: World) -> str:
    proposal = world.propose()
    world.approve(proposal)
    world.broker.fill(client_tag(proposal.proposal_id.value, 0).value, price=100.0)
    world.executor.poll_orders()
    assert world.store.status(proposal.proposal_id) is ProposalStatus.FILLED
    return proposal.proposal_id.value


def test_restart_after_a_kill_between_send_and_acknowledgement_finds_the_order_by_its_tag(
    world: World,
) -> None:
    proposal = world.propose()
    world.desk.approve(proposal.proposal_id, "operator")
    world.broker.script.append("lose_answer")  # placed; the process dies before the answer
    world.executor.submit_entry(proposal)

    world.restart()
    ExecutionService(world.executor).start()
    world.executor.submit_approved()
    world.executor.poll_orders()

    assert len(world.broker.placed) == 1
    (record,) = world.oms.orders()
    assert record.latest is not None
    assert record.latest.status is OrderStatus.OPEN


def test_exit_claimed_but_not_sent_before_a_kill_is_sent_again_after_the_restart(
    world: World,
) -> None:
    entry = _open_trade(world)
    (trade,) = world.store.open_trades()
    exit_proposal = _exit(trade.proposal_id, world.clock.now(), price=100.0)
    world.store.add_exit(exit_proposal)
    subject = exit_proposal.exit_id.value
    world.oms.record_verdict(subject, OrderPurpose.EXIT, world.clock.now(), True, {})
    (intent,) = exit_intents(exit_proposal, None, world.clock.now())
    world.oms.claim_order(
        intent, subject_id=subject, purpose=OrderPurpose.EXIT, slice_index=0, reference_price=100.0
    )  # claimed; the process dies before sending it

    world.restart()
    world.clock.advance(timedelta(minutes=1))  # past the in-flight grace
    service = ExecutionService(world.executor)
    findings = service.start()
    service.run_once()

    assert [f.kind for f in findings] == ["stuck_order"]
    sells = [i for i in world.broker.placed if i.side is Side.SELL]
    assert len(sells) == 1, f"the exit of {entry} was never sent again"


def test_approval_with_a_stored_verdict_but_no_claimed_order_is_sent_after_the_restart(
    world: World,
) -> None:
    world.accepted_not_sent()  # the process dies here, before claim_order

    world.restart()
    service = ExecutionService(world.executor)
    service.start()
    service.run_once()

    assert len(world.broker.placed) == 1


def test_entry_sent_before_a_kill_that_fills_after_the_restart_opens_its_trade(
    world: World,
) -> None:
    proposal = world.accepted_not_sent()
    subject = proposal.proposal_id.value
    (intent,) = entry_intents(proposal, None, world.clock.now())
    world.oms.claim_order(
        intent, subject_id=subject, purpose=OrderPurpose.ENTRY, slice_index=0, reference_price=100.0
    )
    world.broker.place_order(intent)  # sent; the process dies before recording SENT

    world.restart()
    service = ExecutionService(world.executor)
    service.start()
    world.broker.fill(intent.client_tag.value, price=100.0)
    service.run_once()
    world.executor.poll_orders()

    assert world.executor.account.position_quantity(CE, Product.NRML) == 65
    assert [t.proposal_id.value for t in world.store.open_trades()] == [subject]


def test_fill_landing_between_the_reconciliation_reads_is_not_a_position_mismatch(
    torn: World,
) -> None:
    proposal = torn.propose()
    torn.approve(proposal)  # working at the broker
    tag = client_tag(proposal.proposal_id.value, 0).value
    torn.broker.fill_between_reads.append(tag)

    findings = reconcile(torn.executor)
    torn.executor.poll_orders()

    assert [f.kind for f in findings] == []
    assert torn.executor.account.position_quantity(CE, Product.NRML) == 65


def test_exit_fill_landing_between_the_reconciliation_reads_leaves_a_readable_book(
    torn: World,
) -> None:
    _open_trade(torn)
    (trade,) = torn.store.open_trades()
    exit_proposal = _exit(trade.proposal_id, torn.clock.now(), price=100.0)
    torn.store.add_exit(exit_proposal)
    torn.executor.submit_exits()  # the exit is working at the broker
    torn.broker.fill_between_reads.append(client_tag(exit_proposal.exit_id.value, 0).value)

    reconcile(torn.executor)
    torn.executor.poll_orders()

    assert torn.executor.account.position_quantity(CE, Product.NRML) == 0


class EquityWorld(World):
    """The unit tests' world with INFY (NSE, MIS) tradable too."""

    def _executor(self) -> Executor:
        executor = super()._executor()
        instruments = dict(executor.context.instruments)
        instruments[INFY] = factories.infy_instrument()
        executor.context.instruments = instruments
        return executor


@pytest.fixture
def equities(tmp_path: Path) -> Iterator[World]:
    w = EquityWorld(f"sqlite:///{tmp_path / 'kitepilot.db'}")
    w.broker.prices[INFY] = 1500.0
    yield w
    w.store.close()


def _infy(pid: str, side: Side) -> dict[str, object]:
    stop, target = (1490.0, 1520.0) if side is Side.BUY else (1510.0, 1480.0)
    return {
        "proposal_id": ProposalId(pid),
        "strategy_id": StrategyId("equity-intraday"),
        "instrument_token": INFY,
        "exchange": Exchange.NSE,
        "tradingsymbol": "INFY",
        "side": side,
        "product": Product.MIS,
        "lots": 10,
        "lot_size": 1,
        "tick_size": 0.05,
        "limit_price": 1500.0,
        "stop_loss": stop,
        "take_profit": target,
    }


def _infy_exit(trade: OpenTrade, now: datetime) -> ExitProposal:
    return ExitProposal(
        exit_id=ExitProposal.id_for(trade.proposal_id),
        entry_proposal_id=trade.proposal_id,
        ts_event=now,
        ts_init=now,
        reason=ExitReason.TIME,
        strategy_id=trade.strategy_id,
        instrument_token=INFY,
        exchange=Exchange.NSE,
        tradingsymbol="INFY",
        product=Product.MIS,
        side=trade.side.opposite,
        quantity=trade.quantity,
        lot_size=1,
        tick_size=0.05,
        reference_price=1500.0,
        limit_price=1500.0,
    )


def _fill_everything(world: World) -> None:
    for intent in world.broker.placed:
        if not world.broker.order(intent.client_tag.value).is_final:
            world.broker.fill(intent.client_tag.value, price=1500.0)
    world.executor.poll_orders()


def test_opposite_entries_on_one_instrument_still_leave_every_trade_able_to_exit(
    equities: World,
) -> None:
    long_ = equities.propose(**_infy("p-long", Side.BUY))
    equities.approve(long_)  # working, not filled yet: no open trade for the filter to see
    equities.clock.advance(timedelta(minutes=1))
    short = equities.propose(**_infy("p-short", Side.SELL), ts_event=equities.clock.now())
    equities.approve(short)
    _fill_everything(equities)

    for trade in equities.store.open_trades():
        equities.store.add_exit(_infy_exit(trade, equities.clock.now()))
    equities.executor.submit_exits()
    _fill_everything(equities)

    assert equities.store.open_trades() == []
    assert equities.executor.account.position_quantity(INFY, Product.MIS) == 0


def test_exit_decided_while_the_kill_switch_flatten_is_working_does_not_reverse_the_position(
    world: World,
) -> None:
    _open_trade(world)
    (trade,) = world.store.open_trades()
    report = engage(world.executor, "operator", "drill")  # the flatten is working, not filled
    world.store.add_exit(_exit(trade.proposal_id, world.clock.now(), price=100.0))
    world.executor.submit_exits()
    for intent in world.broker.placed:
        if not world.broker.order(intent.client_tag.value).is_final:
            world.broker.fill(intent.client_tag.value, price=100.0)
    world.executor.poll_orders()

    assert len(report.exits) == 1
    assert world.executor.account.position_quantity(CE, Product.NRML) == 0


HDFCBANK = 341249


@pytest.fixture
def live_rate_paper(tmp_path: Path) -> Iterator[tuple[Executor, Any]]:
    """The paper exchange with Kite's rate limits counted in wall time (as live: one quote
    request a second) and an executor over the real ``kiteconnect`` client on its market clock."""
    market = open_market("sim", PAPER_DAY, seed=11, tokens=[INFY, HDFCBANK])
    exchange = build_exchange(
        market,
        ExchangeSettings(API_KEY, API_SECRET, admin_token=ADMIN, step_seconds=0.02),
        database="sqlite://",
        starting_cash=10_000_000,
        speed=0,
    )
    with run_in_thread(exchange) as running:
        paper = Paper(running)  # the market at 09:30
        broker = kite_broker(
            API_KEY,
            paper.access_token,
            clock=SystemClock(),
            root=running.url,
            charges=ChargesModel.default(),
            symbols={t: (i.exchange.value, i.tradingsymbol) for t, i in _dump(market).items()},
        )
        store = SqlStore.open(f"sqlite:///{tmp_path / 'kitepilot.db'}")
        context = OmsContext(
            store=store,
            broker=broker,
            instruments=_dump(market),
            calendar=NseCalendar.default(),
            clock=exchange.clock,
            settings=ExecutorSettings(limits=factories.risk_limits(max_symbol_exposure=5e6)),
            charges=ChargesModel.default(),
        )
        yield Executor(context), broker
        store.close()


def _dump(market: Any) -> dict[int, Instrument]:
    return {
        int(i.instrument_token): i
        for i in market.instruments
        if int(i.instrument_token) in (INFY, HDFCBANK)
    }


def test_kill_switch_right_after_another_quote_request_at_live_rate_limits_still_flattens(
    live_rate_paper: tuple[Executor, Any],
) -> None:
    executor, broker = live_rate_paper
    for token in (INFY, HDFCBANK):
        last = broker.last_prices([token])[token]
        price = round_for_side(Decimal(str(last)) * Decimal("1.01"), Decimal("0.05"), Side.BUY)
        instrument = executor.context.instruments[token]
        broker.place_order(
            factories.order_intent(
                client_tag=client_tag(f"manual-{token}", 0),
                instrument_token=token,
                exchange=instrument.exchange,
                tradingsymbol=instrument.tradingsymbol,
                quantity=10,
                lot_size=1,
                product=Product.MIS,
                price=float(price),
            )
        )
        time.sleep(1.1)  # the next quote request is allowed
    broker.last_prices([INFY, HDFCBANK])  # the running executor refreshes its marks just now

    report = engage(executor, "operator", "drill")

    assert [s.accepted for s in report.exits] == [True, True], [s.reasons for s in report.exits]


def test_exit_left_behind_by_the_market_is_replaced_after_the_fill_timeout(
    world: World,
) -> None:
    _open_trade(world)
    (trade,) = world.store.open_trades()
    world.store.add_exit(_exit(trade.proposal_id, world.clock.now(), price=100.0))
    world.executor.submit_exits()  # a SELL LIMIT at 100; the market falls away from it
    world.broker.prices[CE] = 90.0

    world.clock.advance(timedelta(minutes=5))  # well past the 60 s fill timeout
    service = ExecutionService(world.executor)
    service.run_once()
    world.clock.advance(timedelta(minutes=1))
    service.run_once()

    sells = [i for i in world.broker.placed if i.side is Side.SELL]
    assert len(sells) == 2, "the exit was never re-priced or replaced"
