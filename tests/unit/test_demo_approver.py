"""The labelled demo approver: approves at the threshold, rejects below it, and records a refusal
even when the kill switch's note is long."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from data_contracts.clock import ManualClock
from data_contracts.enums import ProposalStatus
from data_contracts.ids import ProposalId
from execution.console.demo_approver import DemoApprover
from execution.orders.desk import DecisionDesk
from execution.store import OmsStore, SqlStore
from tests import factories


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    opened = SqlStore.open(f"sqlite:///{tmp_path / 'kitepilot.db'}")
    yield opened
    opened.close()


def _desk(store: SqlStore) -> DecisionDesk:
    proposal = factories.proposal()
    return DecisionDesk(store, ManualClock(proposal.ts_init + timedelta(seconds=5)))


@pytest.mark.parametrize(
    ("p_win", "status"), [(0.80, ProposalStatus.APPROVED), (0.79, ProposalStatus.REJECTED)]
)
def test_demo_approver_approves_at_the_threshold_and_rejects_below(
    store: SqlStore, p_win: float, status: ProposalStatus
) -> None:
    proposal = factories.proposal(p_win=p_win)
    store.add(proposal)

    (decision,) = DemoApprover(0.80).review(_desk(store))

    assert decision.recorded
    assert store.status(proposal.proposal_id) is status


def test_demo_approver_records_the_refusal_under_a_kill_switch_with_a_long_note(
    store: SqlStore,
) -> None:
    proposal = factories.proposal(proposal_id=ProposalId("p-long-note"), p_win=0.95)
    store.add(proposal)
    OmsStore.of(store).record_kill_switch(True, proposal.ts_init, "operator", "x" * 1_990)

    (decision,) = DemoApprover(0.80).review(_desk(store))

    assert decision.recorded
    assert store.status(proposal.proposal_id) is ProposalStatus.REJECTED
    (recorded,) = store.decisions(proposal.proposal_id)
    assert recorded.reason.startswith("approval refused: cannot be approved: the kill switch")
    assert len(recorded.reason) == 2_000
