"""The streaming sink: proposals stored once and audited once, paused proposals counted, not
stored; the writes run on a writer thread and every epoch's snapshot waits for them; a writer
failure fails the flow."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest

from data_contracts.clock import ManualClock
from data_contracts.errors import ContractError
from data_contracts.ids import ProposalId
from data_contracts.trading import Proposal
from execution.audit import AuditKind, AuditLog
from execution.store import OperatorFlag, SqlStore
from streaming.metrics import StreamMetrics
from streaming.sinks import StoreSink
from tests import factories


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'kitepilot.db'}"


def _sink(tmp_path: Path, metrics: StreamMetrics, **kwargs: object) -> StoreSink:
    clock = ManualClock(factories.T0)
    return StoreSink(
        lambda: SqlStore.open(_url(tmp_path)),
        metrics=metrics,
        clock=clock,
        audit_factory=lambda: AuditLog(tmp_path / "audit", clock),
        **kwargs,  # type: ignore[arg-type]  # the tests' keyword overrides
    )


def _proposals(tmp_path: Path) -> int:
    with SqlStore.open(_url(tmp_path)) as store:
        return store.proposal_count()


def test_sink_stores_and_audits_each_proposal_once(tmp_path: Path) -> None:
    metrics = StreamMetrics()
    partition = _sink(tmp_path, metrics).build_part("store", "store-0", None)
    proposal = factories.proposal()

    partition.write_batch([proposal])
    partition.write_batch([proposal])  # a replay after a crash
    partition.close()

    audit = AuditLog(tmp_path / "audit", ManualClock(factories.T0))
    entries = list(audit.entries(kinds=[AuditKind.PROPOSAL]))
    assert [e.subject for e in entries] == [proposal.proposal_id.value]
    assert _proposals(tmp_path) == 1
    assert (metrics.counts["proposals"], metrics.counts["proposals_duplicate"]) == (1, 1)


def test_paused_proposals_are_counted_not_stored_and_exits_still_are(tmp_path: Path) -> None:
    metrics = StreamMetrics()
    with SqlStore.open(_url(tmp_path)) as store:
        store.set_flag(OperatorFlag.PROPOSALS_PAUSED, True, factories.T0, "asha")
    partition = _sink(tmp_path, metrics).build_part("store", "store-0", None)

    partition.write_batch(
        [factories.proposal(proposal_id=ProposalId("p-paused")), factories.exit_proposal()]
    )
    partition.close()

    with SqlStore.open(_url(tmp_path)) as store:
        assert store.proposal_count() == 0
        assert len(store.exits()) == 1
    snapshot = metrics.snapshot(factories.T0 + timedelta(seconds=1))
    assert snapshot["proposals_paused"] == 1


class _GatedStore:
    """A real store whose proposal writes wait for ``gate`` (a slow disk, made controllable)."""

    def __init__(self, store: SqlStore, gate: threading.Event) -> None:
        self._store = store
        self._gate = gate

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    def add_many(self, batch: Sequence[Proposal]) -> list[bool]:
        self._gate.wait(timeout=10)
        return self._store.add_many(batch)


def test_sink_writes_off_the_flows_thread_and_a_snapshot_waits_for_the_writes(
    tmp_path: Path,
) -> None:
    gate = threading.Event()
    sink = StoreSink(
        lambda: _GatedStore(SqlStore.open(_url(tmp_path)), gate),  # type: ignore[arg-type,return-value]  # a SqlStore behind a gate
        metrics=StreamMetrics(),
        clock=ManualClock(factories.T0),
    )
    partition = sink.build_part("store", "store-3", None)
    partition.write_batch([factories.proposal()])  # returns at once: the writer waits

    stored_before_snapshot = _proposals(tmp_path)
    snapshot = threading.Thread(target=partition.snapshot)
    snapshot.start()
    snapshot.join(timeout=0.2)
    waiting = snapshot.is_alive()
    gate.set()
    snapshot.join(timeout=10)

    assert stored_before_snapshot == 0
    assert waiting  # the epoch cannot end before its results are stored
    assert not snapshot.is_alive()
    assert _proposals(tmp_path) == 1
    partition.close()


class _FailingStore:
    def __init__(self, store: SqlStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    def add_many(self, batch: Sequence[Proposal]) -> list[bool]:
        raise OSError("disk full")


def test_a_writer_failure_fails_the_flow_at_the_next_snapshot(tmp_path: Path) -> None:
    sink = StoreSink(
        lambda: _FailingStore(SqlStore.open(_url(tmp_path))),  # type: ignore[arg-type,return-value]  # a SqlStore that fails
        metrics=StreamMetrics(),
        clock=ManualClock(factories.T0),
    )
    partition = sink.build_part("store", "store-0", None)
    partition.write_batch([factories.proposal()])

    with pytest.raises(RuntimeError, match="store writer failed") as raised:
        partition.snapshot()
    assert isinstance(raised.value.__cause__, OSError)
    with pytest.raises(RuntimeError, match="store writer failed"):
        partition.write_batch([factories.proposal(proposal_id=ProposalId("p-2"))])
    with pytest.raises(RuntimeError, match="store writer failed"):
        partition.close()


def test_partitions_of_a_process_share_one_writer_named_by_the_lowest(tmp_path: Path) -> None:
    metrics = StreamMetrics()
    sink = _sink(tmp_path, metrics)
    parts = [sink.build_part("store", f"store-{n}", None) for n in (5, 2, 9)]

    parts[0].write_batch([factories.proposal(proposal_id=ProposalId("p-a"))])
    parts[1].write_batch([factories.proposal(proposal_id=ProposalId("p-b"))])
    for part in parts[:2]:
        part.snapshot()  # what Bytewax does at the end of the last epoch, before close
        part.close()
    stored_while_one_is_open = _proposals(tmp_path)
    parts[2].close()  # the last one closes the writer: metrics flushed, store closed

    with SqlStore.open(_url(tmp_path)) as store:
        latest = store.latest_metrics()
    assert stored_while_one_is_open == 2
    assert set(latest) == {"stream-2"}
    assert latest["stream-2"]["proposals"] == 2


def test_sink_routes_shards_to_their_partition_and_other_keys_by_hash(tmp_path: Path) -> None:
    sink = _sink(tmp_path, StreamMetrics())

    assert len(sink.list_parts()) == 16
    assert [sink.part_fn(str(n)) for n in (0, 7, 15)] == [0, 7, 15]
    assert sink.part_fn("boundary") == sink.part_fn("boundary") >= 0


@pytest.mark.parametrize("batches", [0, -1, True, 2.5])
def test_sink_refuses_a_queue_bound_below_one_batch(tmp_path: Path, batches: object) -> None:
    with pytest.raises(ContractError, match="queue_batches"):
        _sink(tmp_path, StreamMetrics(), queue_batches=batches)


class _CountingGatedStore(_GatedStore):
    """A gated store that also notes the size of every proposal write."""

    def __init__(self, store: SqlStore, gate: threading.Event) -> None:
        super().__init__(store, gate)
        self.writes: list[int] = []

    def add_many(self, batch: Sequence[Proposal]) -> list[bool]:
        self.writes.append(len(batch))
        return super().add_many(batch)


def test_batches_queued_while_the_writer_is_busy_are_written_together(tmp_path: Path) -> None:
    gate = threading.Event()
    stores: list[_CountingGatedStore] = []

    def store() -> _CountingGatedStore:
        stores.append(_CountingGatedStore(SqlStore.open(_url(tmp_path)), gate))
        return stores[-1]

    clock = ManualClock(factories.T0)
    sink = StoreSink(
        store,  # type: ignore[arg-type]  # a SqlStore behind a gate
        metrics=StreamMetrics(),
        clock=clock,
        audit_factory=lambda: AuditLog(tmp_path / "audit", clock),
    )
    partition = sink.build_part("store", "store-0", None)
    partition.write_batch([factories.proposal(proposal_id=ProposalId("p-0"))])
    waited = threading.Event()
    for _ in range(1_000):  # until the writer holds the first batch (at most 10 s)
        if stores[0].writes or waited.wait(0.01):
            break
    for n in range(1, 4):  # queued while the first batch is being written
        partition.write_batch([factories.proposal(proposal_id=ProposalId(f"p-{n}"))])
    gate.set()
    partition.snapshot()
    partition.close()

    assert stores[0].writes == [1, 3]  # the three queued batches: one transaction
    entries = list(AuditLog(tmp_path / "audit", clock).entries(kinds=[AuditKind.PROPOSAL]))
    assert [e.subject for e in entries] == [f"p-{n}" for n in range(4)]
    assert _proposals(tmp_path) == 4
