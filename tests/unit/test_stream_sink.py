"""The streaming sink: proposals stored once and audited once, paused proposals counted, not
stored."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from data_contracts.clock import ManualClock
from data_contracts.ids import ProposalId
from execution.audit import AuditKind, AuditLog
from execution.store import OperatorFlag, SqlStore
from streaming.metrics import StreamMetrics
from streaming.sinks import StoreSink
from tests import factories


def _sink(tmp_path: Path, metrics: StreamMetrics) -> StoreSink:
    url = f"sqlite:///{tmp_path / 'kitepilot.db'}"
    clock = ManualClock(factories.T0)
    return StoreSink(
        lambda: SqlStore.open(url),
        metrics=metrics,
        clock=clock,
        audit_factory=lambda: AuditLog(tmp_path / "audit", clock),
    )


def test_sink_stores_and_audits_each_proposal_once(tmp_path: Path) -> None:
    metrics = StreamMetrics()
    partition = _sink(tmp_path, metrics).build("out", 0, 1)
    proposal = factories.proposal()

    partition.write_batch([proposal])
    partition.write_batch([proposal])  # a replay after a crash
    partition.close()

    audit = AuditLog(tmp_path / "audit", ManualClock(factories.T0))
    entries = list(audit.entries(kinds=[AuditKind.PROPOSAL]))
    assert [e.subject for e in entries] == [proposal.proposal_id.value]
    with SqlStore.open(f"sqlite:///{tmp_path / 'kitepilot.db'}") as store:
        assert store.proposal_count() == 1


def test_paused_proposals_are_counted_not_stored_and_exits_still_are(tmp_path: Path) -> None:
    metrics = StreamMetrics()
    with SqlStore.open(f"sqlite:///{tmp_path / 'kitepilot.db'}") as store:
        store.set_flag(OperatorFlag.PROPOSALS_PAUSED, True, factories.T0, "asha")
    partition = _sink(tmp_path, metrics).build("out", 0, 1)

    partition.write_batch(
        [factories.proposal(proposal_id=ProposalId("p-paused")), factories.exit_proposal()]
    )
    partition.close()

    with SqlStore.open(f"sqlite:///{tmp_path / 'kitepilot.db'}") as store:
        assert store.proposal_count() == 0
        assert len(store.exits()) == 1
    snapshot = metrics.snapshot(factories.T0 + timedelta(seconds=1))
    assert snapshot["proposals_paused"] == 1
