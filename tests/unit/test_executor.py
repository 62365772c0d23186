"""The executor, kill switch and reconciliation over the real SQL store and a hand-written broker
fake (the paper-exchange integration tests drive the real ``kiteconnect`` client)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest

from data_contracts.charges import ChargesModel
from data_contracts.clock import ManualClock
from data_contracts.enums import (
    ChargeSegment,
    Exchange,
    ExitReason,
    OrderStatus,
    Product,
    ProposalStatus,
    Side,
)
from data_contracts.errors import ContractError
from data_contracts.ids import ClientTag, OrderId, ProposalId, StrategyId, TradeId
from data_contracts.instruments import Instrument
from data_contracts.nse_calendar import NseCalendar
from data_contracts.trading import ExitProposal, Fill, Position, Proposal
from execution.orders.context import ExecutorSettings, OmsContext
from execution.orders.desk import DecisionDesk
from execution.orders.executor import Executor
from execution.orders.intents import entry_intents
from execution.orders.kill_switch import REARM_CONFIRMATION, automatic_trigger, engage, rearm
from execution.orders.positions import pnl_by_symbol_day
from execution.orders.reconcile import reconcile
from execution.orders.service import ExecutionService
from execution.orders.tags import client_tag, is_our_tag
from execution.store import OmsStore, OrderPurpose, SqlStore
from tests import factories
from tests.fake_broker import BUSY, DROP, EXPIRED, LOSE_ANSWER, REJECT, FakeBroker

T0 = factories.T0
CE = factories.NIFTY_CE_TOKEN
LIMITS = factories.risk_limits()


def ce_instrument() -> Instrument:
    return factories.nifty_ce_instrument()


class World:
    def __init__(self, url: str) -> None:
        self.url = url
        self.clock = ManualClock(T0 + timedelta(seconds=30))
        self.broker = FakeBroker(self.clock, prices={CE: 100.0})
        self.store = SqlStore.open(url)
        self.executor = self._executor()
        self.desk = DecisionDesk(self.store, self.clock)

    def _executor(self) -> Executor:
        context = OmsContext(
            store=self.store,
            broker=self.broker,
            instruments={CE: ce_instrument()},
            calendar=NseCalendar.default(),
            clock=self.clock,
            settings=ExecutorSettings(limits=LIMITS, retry_backoff_seconds=0.0),
            charges=ChargesModel.default(),
        )
        return Executor(context, sleep=lambda _: None)

    def restart(self) -> None:
        """A new process: new store connection, new executor, the same database and broker."""
        self.store.close()
        self.store = SqlStore.open(self.url)
        self.executor = self._executor()
        self.desk = DecisionDesk(self.store, self.clock)

    @property
    def oms(self) -> OmsStore:
        return OmsStore.of(self.store)

    def propose(self, **overrides: object) -> Proposal:
        proposal = factories.proposal(**overrides)
        self.store.add(proposal)
        return proposal

    def accepted_not_sent(self) -> Proposal:
        """A proposal approved and risk-accepted, whose process died before claiming its order."""
        proposal = self.propose()
        self.desk.approve(proposal.proposal_id, "operator")
        subject = proposal.proposal_id.value
        self.oms.record_verdict(subject, OrderPurpose.ENTRY, self.clock.now(), True, {})
        return proposal

    def approve(self, proposal: Proposal):
        self.desk.approve(proposal.proposal_id, "operator")
        return self.executor.submit_entry(proposal)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(f"sqlite:///{tmp_path / 'kitepilot.db'}")
    yield w
    w.store.close()


def test_client_tag_is_deterministic_20_alphanumerics_per_slice() -> None:
    first, again, other = client_tag("p-1", 0), client_tag("p-1", 0), client_tag("p-1", 1)

    assert first == again != other
    assert len(first.value) == 20
    assert first.value.isalnum()
    assert is_our_tag(first.value)
    assert not is_our_tag("manual123")


def test_approved_proposal_passes_risk_and_sends_one_limit_order(world: World) -> None:
    proposal = world.propose()

    submission = world.approve(proposal)

    assert submission.accepted
    assert [i.price for i in world.broker.placed] == [proposal.limit_price]
    assert world.broker.placed[0].client_tag == client_tag(proposal.proposal_id.value, 0)
    assert world.store.status(proposal.proposal_id) is ProposalStatus.SENT
    assert world.oms.verdicts(proposal.proposal_id.value)[0].accepted


def test_a_burst_of_approvals_reads_prices_in_one_quote_call(world: World) -> None:
    proposals = [world.propose(proposal_id=ProposalId(f"p-burst-{n}")) for n in range(3)]
    for proposal in proposals:
        world.desk.approve(proposal.proposal_id, "operator")
    reads_before = world.broker.price_reads

    submissions = world.executor.submit_approved()

    assert [s.subject_id for s in submissions] == [p.proposal_id.value for p in proposals]
    assert world.broker.price_reads == reads_before + 1
    reasons = [r for s in submissions for r in s.reasons]
    assert not any("no current price" in r for r in reasons), reasons


def test_submitting_the_same_proposal_again_never_sends_a_second_order(world: World) -> None:
    proposal = world.propose()
    world.approve(proposal)

    world.executor.submit_entry(proposal)
    world.restart()
    world.executor.submit_entry(proposal)
    world.executor.submit_approved()

    assert len(world.broker.placed) == 1


def test_accepted_verdict_without_a_claimed_order_is_checked_again_and_sent_once(
    world: World,
) -> None:
    proposal = world.accepted_not_sent()
    subject = proposal.proposal_id.value
    world.restart()  # killed between the verdict and the claim

    first = world.executor.submit_approved()
    again = world.executor.submit_approved()

    assert [s.accepted for s in first] == [True]
    assert again == []
    assert len(world.broker.placed) == 1
    assert [v.accepted for v in world.oms.verdicts(subject)] == [True, True]  # checked anew
    assert world.store.status(proposal.proposal_id) is ProposalStatus.SENT


def test_accepted_verdict_without_a_claim_is_vetoed_when_the_new_check_fails(
    world: World,
) -> None:
    proposal = world.accepted_not_sent()
    world.broker.prices[CE] = 110.0  # moved beyond the drift band while the process was down
    world.restart()

    (submission,) = world.executor.submit_approved()

    assert not submission.accepted
    assert world.broker.placed == []
    assert world.store.status(proposal.proposal_id) is ProposalStatus.VETOED


def test_vetoed_verdict_whose_status_was_not_recorded_is_never_sent(world: World) -> None:
    proposal = world.propose()
    world.desk.approve(proposal.proposal_id, "operator")
    subject = proposal.proposal_id.value
    payload = {"accepted": False, "reasons": ["price moved"], "checks": []}
    world.oms.record_verdict(subject, OrderPurpose.ENTRY, world.clock.now(), False, payload)
    world.restart()  # killed between the veto and its VETOED status

    assert world.executor.submit_approved() == []
    assert world.executor.submit_approved() == []

    assert world.broker.placed == []
    assert world.store.status(proposal.proposal_id) is ProposalStatus.VETOED
    assert world.store.history(proposal.proposal_id)[-1].detail == "price moved"
    assert len(world.oms.verdicts(subject)) == 1


def test_entry_filled_before_its_sent_status_was_recorded_opens_its_trade_once(
    world: World,
) -> None:
    proposal = world.accepted_not_sent()
    subject = proposal.proposal_id.value
    (intent,) = entry_intents(proposal, None, world.clock.now())
    world.oms.claim_order(
        intent, subject_id=subject, purpose=OrderPurpose.ENTRY, slice_index=0, reference_price=100.0
    )
    world.broker.place_order(intent)
    world.restart()  # killed before SENT was recorded: the proposal is still APPROVED

    world.broker.fill(intent.client_tag.value, price=100.0)
    world.executor.poll_orders()
    world.executor.advance_trades()
    world.executor.submit_approved()

    (trade,) = world.store.open_trades()
    assert trade.proposal_id == proposal.proposal_id
    assert trade.quantity == 65
    assert trade.entry_price == pytest.approx(100.0)
    statuses = [e.status for e in world.store.history(proposal.proposal_id)]
    assert statuses.count(ProposalStatus.FILLED) == 1
    assert world.store.status(proposal.proposal_id) is ProposalStatus.FILLED
    assert len(world.broker.placed) == 1


def test_opposite_entry_on_an_instrument_with_a_working_entry_is_vetoed(world: World) -> None:
    world.approve(world.propose())  # a BUY, working
    opposite = world.propose(
        proposal_id=ProposalId("p-opposite"), side=Side.SELL, stop_loss=140.0, take_profit=60.0
    )

    submission = world.approve(opposite)

    assert not submission.accepted
    (verdict,) = world.oms.verdicts(opposite.proposal_id.value)
    failed = [check["name"] for check in verdict.payload["checks"] if not check["passed"]]
    assert "opposite_position" in failed
    assert len(world.broker.placed) == 1


def test_lost_response_after_acceptance_is_looked_up_not_resent(world: World) -> None:
    world.broker.script.append(LOSE_ANSWER)
    proposal = world.propose()

    world.approve(proposal)

    assert len(world.broker.placed) == 1
    record = world.oms.orders(subject_id=proposal.proposal_id.value)[0]
    assert record.latest is not None
    assert record.latest.status is OrderStatus.OPEN


def test_send_that_never_arrived_is_sent_again_with_the_same_tag(world: World) -> None:
    world.broker.script.extend([DROP, BUSY])
    proposal = world.propose()

    world.approve(proposal)

    assert len(world.broker.placed) == 1
    assert world.broker.placed[0].client_tag == client_tag(proposal.proposal_id.value, 0)


def test_ambiguous_send_with_broker_unreachable_stays_in_flight_until_reconciled(
    world: World,
) -> None:
    world.broker.script.append(LOSE_ANSWER)
    world.broker.lookups_fail = True
    proposal = world.propose()

    world.approve(proposal)
    assert world.oms.orders(open_only=True)[0].in_flight
    world.broker.lookups_fail = False
    world.restart()
    findings = ExecutionService(world.executor).start()

    assert len(world.broker.placed) == 1
    record = world.oms.orders()[0]
    assert record.latest is not None
    assert record.latest.status is OrderStatus.OPEN
    assert findings == []


def test_claimed_order_the_broker_never_got_is_closed_and_reported(world: World) -> None:
    world.broker.script.append(DROP)
    world.broker.lookups_fail = True
    proposal = world.propose()
    world.approve(proposal)  # ambiguous, cannot look up: in flight
    world.broker.lookups_fail = False

    world.clock.advance(timedelta(minutes=1))
    findings = reconcile(world.executor)

    assert [f.kind for f in findings] == ["stuck_order"]
    record = world.oms.orders()[0]
    assert record.latest is not None
    assert record.latest.status is OrderStatus.REJECTED
    assert world.broker.placed == []


def test_busy_broker_every_time_leaves_the_order_not_placed_and_alerted(world: World) -> None:
    world.broker.script.extend([BUSY, BUSY, BUSY])

    world.approve(world.propose())

    record = world.oms.orders()[0]
    assert record.latest is not None
    assert record.latest.status is OrderStatus.REJECTED
    assert "not placed after 3 attempts" in record.latest.status_message


def test_veto_is_stored_with_reasons_and_sends_nothing(world: World) -> None:
    world.broker.prices[CE] = 110.0  # 10 % above the limit: beyond the drift band
    proposal = world.propose()

    submission = world.approve(proposal)

    assert not submission.accepted
    (verdict,) = world.oms.verdicts(proposal.proposal_id.value)
    failed = [check["name"] for check in verdict.payload["checks"] if not check["passed"]]
    assert failed == ["price_drift"]
    assert verdict.reasons == submission.reasons
    assert world.broker.placed == []
    assert world.store.status(proposal.proposal_id) is ProposalStatus.VETOED


def test_expired_proposal_cannot_be_approved(world: World) -> None:
    proposal = world.propose()
    world.clock.set(proposal.expires_at)

    with pytest.raises(ContractError, match="expires_at"):
        world.desk.approve(proposal.proposal_id, "operator")


def test_approval_in_another_process_is_picked_up_by_the_executor_loop(world: World) -> None:
    proposal = world.propose()
    DecisionDesk(world.store, world.clock).approve(proposal.proposal_id, "dashboard")

    ExecutionService(world.executor).run_once()

    assert len(world.broker.placed) == 1


def test_account_exposures_name_their_underlying_for_the_per_symbol_limit(world: World) -> None:
    pending = world.propose(proposal_id=ProposalId("p-pending"))
    world.approve(pending)
    assert [e.underlying for e in world.executor.account.state().pending_entries] == ["NIFTY"]

    world.broker.fill(client_tag(pending.proposal_id.value, 0).value, price=100.0)
    world.executor.poll_orders()

    assert [e.underlying for e in world.executor.account.state().positions] == ["NIFTY"]


def test_fill_opens_the_trade_and_the_exit_closes_it_with_the_charges_models_pnl(
    world: World,
) -> None:
    proposal = world.propose()
    world.approve(proposal)
    tag = client_tag(proposal.proposal_id.value, 0).value
    world.broker.fill(tag, price=100.0)
    world.executor.poll_orders()
    assert world.store.status(proposal.proposal_id) is ProposalStatus.FILLED
    (trade,) = world.store.open_trades()

    world.clock.advance(timedelta(minutes=5))
    world.broker.prices[CE] = 150.0
    exit_proposal = _exit(trade.proposal_id, world.clock.now(), price=150.0)
    world.store.add_exit(exit_proposal)
    world.executor.submit_exits()
    world.broker.fill(client_tag(exit_proposal.exit_id.value, 0).value, price=150.0)
    world.executor.poll_orders()

    assert world.store.open_trades() == []
    assert world.store.status(proposal.proposal_id) is ProposalStatus.CLOSED
    fills = [stored.fill for stored in world.oms.fills()]
    (line,) = pnl_by_symbol_day(fills, marks={})
    expected = ChargesModel.default().round_trip(
        ChargeSegment.OPTIONS, 100.0, 150.0, 65, date(2026, 8, 18)
    )
    assert line.quantity == 0
    assert line.realised == pytest.approx(65 * 50.0)
    assert line.charges == pytest.approx(float(expected.total), abs=0.011)


def test_kill_switch_cancels_flattens_refuses_approvals_and_survives_restart(
    world: World,
) -> None:
    filled = world.propose()
    world.approve(filled)
    world.broker.fill(client_tag(filled.proposal_id.value, 0).value)
    working = world.propose(proposal_id=ProposalId("p-working"))
    world.approve(working)
    waiting = world.propose(proposal_id=ProposalId("p-waiting"))

    report = engage(world.executor, "operator", "test")

    assert report.cancelled == (client_tag("p-working", 0).value,)
    (flatten,) = report.exits
    assert flatten.accepted
    assert flatten.orders[0].intent.side is Side.SELL
    world.broker.fill(flatten.orders[0].client_tag.value)
    world.executor.poll_orders()
    assert world.executor.account.position_quantity(CE, Product.NRML) == 0
    assert world.store.open_trades() == []  # the exit monitor has nothing left to exit
    world.restart()
    assert world.oms.kill_switch().engaged
    with pytest.raises(ContractError, match="kill switch is engaged"):
        world.desk.approve(waiting.proposal_id, "operator")
    with pytest.raises(ContractError, match="REARM"):
        rearm(world.executor, "operator", "yes")
    assert not rearm(world.executor, "operator", REARM_CONFIRMATION).engaged


def test_rejection_burst_and_expired_session_trigger_the_kill_switch(world: World) -> None:
    for n in range(3):
        world.broker.script.append(REJECT)
        world.approve(world.propose(proposal_id=ProposalId(f"p-{n}")))
    state = world.executor.account.state()
    assert "rejections" in (automatic_trigger(world.executor, state, feed_silent_for=None) or "")

    world.restart()
    world.broker.script.append(EXPIRED)
    world.approve(world.propose(proposal_id=ProposalId("p-x")))
    state = world.executor.account.state()
    assert "session" in (automatic_trigger(world.executor, state, feed_silent_for=None) or "")


def test_stale_feed_while_open_fires_the_kill_switch_from_the_loop(world: World) -> None:
    wall = ManualClock(T0)  # the workers' metrics are stamped on the wall clock
    world.store.record_metrics("w0", wall.now(), {"ticks": 1.0})
    wall.advance(timedelta(minutes=5))

    ExecutionService(world.executor, wall_clock=wall).run_once()

    state = world.oms.kill_switch()
    assert state.engaged
    assert "feed silent" in state.reason


def test_reconciliation_stores_unknown_fills_and_adjusts_to_broker_positions(
    world: World,
) -> None:
    world.broker.add_outside_trade(
        Fill(
            trade_id=TradeId("M1"),
            order_id=OrderId("99"),
            client_tag=None,
            instrument_token=CE,
            side=Side.BUY,
            product=Product.NRML,
            quantity=65,
            price=90.0,
            ts_event=T0,
            ts_init=T0,
        )
    )
    world.broker.add_carried_position(
        Position(
            factories.INFY_TOKEN if hasattr(factories, "INFY_TOKEN") else 408065,
            "INFY",
            Product.MIS,  # CNC the book did not buy is the account holder's: never adopted
            quantity=5,
            average_price=1500.0,
        )
    )

    findings = reconcile(world.executor)

    kinds = sorted(f.kind for f in findings)
    assert kinds == ["position_mismatch", "unknown_fill"]
    assert world.executor.account.position_quantity(CE, Product.NRML) == 65
    assert world.executor.account.position_quantity(408065, Product.MIS) == 5
    assert reconcile(world.executor) == []


def _exit(entry: ProposalId, now, price: float) -> ExitProposal:
    return ExitProposal(
        exit_id=ExitProposal.id_for(entry),
        entry_proposal_id=entry,
        ts_event=now,
        ts_init=now,
        reason=ExitReason.TAKE_PROFIT,
        strategy_id=StrategyId("fno-long-options"),
        instrument_token=CE,
        exchange=Exchange.NFO,
        tradingsymbol=factories.NIFTY_CE_SYMBOL,
        product=Product.NRML,
        side=Side.SELL,
        quantity=65,
        lot_size=65,
        tick_size=0.05,
        reference_price=price,
        limit_price=price,
    )


_ = (ClientTag, replace)


def test_past_the_session_expiry_entries_are_vetoed_but_exits_still_go(world: World) -> None:
    entry = world.propose()
    world.approve(entry)
    world.broker.fill(client_tag(entry.proposal_id.value, 0).value)
    world.executor.poll_orders()
    (trade,) = world.store.open_trades()
    world.executor.context.session_expires_at = world.clock.now()

    vetoed = world.approve(world.propose(proposal_id=ProposalId("p-after-expiry")))
    world.store.add_exit(_exit(trade.proposal_id, world.clock.now(), price=100.0))
    (exit_submission,) = world.executor.submit_exits()

    assert not vetoed.accepted
    assert any("session" in reason for reason in vetoed.reasons)
    assert exit_submission.accepted


def test_exit_now_closes_the_position_and_its_trade_and_cancel_stops_a_working_order(
    world: World,
) -> None:
    held = world.propose()
    world.approve(held)
    world.broker.fill(client_tag(held.proposal_id.value, 0).value)
    world.executor.poll_orders()
    working = world.propose(proposal_id=ProposalId("p-working"))
    world.approve(working)

    exited = world.executor.exit_now(CE, Product.NRML, "operator")
    world.broker.fill(exited.orders[0].client_tag.value)
    world.executor.poll_orders()
    cancelled = world.executor.cancel(client_tag("p-working", 0), "operator")
    again = world.executor.cancel(client_tag("p-working", 0), "operator")

    assert exited.accepted
    assert exited.orders[0].purpose.value == "manual"
    assert world.store.open_trades() == []
    assert world.store.status(held.proposal_id) is ProposalStatus.CLOSED
    assert (cancelled, again) == (True, False)
    assert world.broker.order(client_tag("p-working", 0).value).status is OrderStatus.CANCELLED
