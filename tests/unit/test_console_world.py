"""The console tests' world: a real SQLite store (tmp file), the executor over the hand-written
fake broker (as ``test_executor.py`` builds it), and the decision desk — so the read models are
tested over real proposals, decisions, verdicts, orders and fills. Imported by the other
``test_console_*`` modules."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from data_contracts.charges import ChargesModel
from data_contracts.clock import ManualClock
from data_contracts.ids import ProposalId
from data_contracts.instruments import Instrument
from data_contracts.nse_calendar import NseCalendar
from data_contracts.trading import Proposal
from execution.orders.context import ExecutorSettings, OmsContext
from execution.orders.desk import DecisionDesk
from execution.orders.executor import Executor, Submission
from execution.orders.tags import client_tag
from execution.risk import RiskVerdict, check_entry
from execution.store import OmsStore, SqlStore
from tests import factories
from tests.fake_broker import FakeBroker

T0 = factories.T0
CE = factories.NIFTY_CE_TOKEN
CALENDAR = NseCalendar.default()
CHARGES = ChargesModel.default()
CAPITAL = 1_000_000.0
LIMITS = factories.risk_limits(capital=CAPITAL)


def ce_instrument() -> Instrument:
    return factories.nifty_ce_instrument()


class ConsoleWorld:
    """The store, a market clock at 09:30:30 IST, the fake broker quoting the CE at 100."""

    def __init__(self, url: str) -> None:
        self.clock = ManualClock(T0 + timedelta(seconds=30))
        self.broker = FakeBroker(self.clock, prices={CE: 100.0})
        self.store = SqlStore.open(url)
        context = OmsContext(
            store=self.store,
            broker=self.broker,
            instruments={CE: ce_instrument()},
            calendar=CALENDAR,
            clock=self.clock,
            settings=ExecutorSettings(limits=LIMITS, retry_backoff_seconds=0.0),
            charges=CHARGES,
        )
        self.executor = Executor(context, sleep=lambda _: None)
        self.desk = DecisionDesk(self.store, self.clock)

    @property
    def oms(self) -> OmsStore:
        return OmsStore.of(self.store)

    def propose(self, pid: str = "p-1", **overrides: object) -> Proposal:
        proposal = factories.proposal(proposal_id=ProposalId(pid), **overrides)
        assert self.store.add(proposal)
        return proposal

    def approve(self, proposal: Proposal, reason: str = "") -> Submission:
        self.desk.approve(proposal.proposal_id, "asha", reason)
        return self.executor.submit_entry(proposal)

    def fill_entry(self, proposal: Proposal, price: float | None = None) -> None:
        """The broker fills the entry's first slice; the executor polls and stores the fill."""
        self.broker.fill(client_tag(proposal.proposal_id.value, 0).value, price=price)
        self.executor.poll_orders()

    def precheck(self, proposal: Proposal) -> RiskVerdict:
        """The risk engine's entry check against the account now (what the screen pre-checks)."""
        state = self.executor.account.state(fresh_prices=(proposal.instrument_token,))
        instrument = ce_instrument()
        return check_entry(
            proposal,
            instrument,
            state,
            LIMITS,
            CALENDAR,
            freeze_quantity=instrument.freeze_quantity,
        )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ConsoleWorld]:
    w = ConsoleWorld(f"sqlite:///{tmp_path / 'kitepilot.db'}")
    yield w
    w.store.close()


def test_console_world_approved_and_filled_entry_is_stored_as_a_fill(world: ConsoleWorld) -> None:
    proposal = world.propose()

    world.approve(proposal)
    world.fill_entry(proposal)

    (stored,) = world.oms.fills()
    assert stored.fill.quantity == proposal.quantity
    assert stored.fill.charges > 0
