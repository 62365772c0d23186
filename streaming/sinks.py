"""Bytewax output: every result of the flow goes to the store, exactly once per id.

Proposals and exits are idempotent on their ids (a replay after a crash writes nothing twice);
dead letters are appended with their reason; a newly stored proposal or exit also goes to the
audit log (when the sink has one). While the operator has paused new proposals, proposals are
counted (``proposals_paused``) and not stored; exits always are. Scored points and feature rows
are counted (and handed to ``observer`` when one is given: tests, benchmarks, the replay
report — on the flow's thread, as each batch reaches the sink, before it is stored). Each
worker's metrics snapshot goes to the store every ``metrics_every``.

**Off the flow's thread.** The writes (the store's transactions, the audit log's fsynced lines)
run on one writer thread per worker process, fed through a bounded queue (``queue_batches``
batches; a full queue holds the flow back), so the keyed step goes on deciding bars while a
batch is written; batches that queued up while the writer was busy are written together (one
transaction, one audit-log fsync: a group commit). Nothing is lost to a crash because of it: the
sink is a Bytewax *partitioned* sink (one partition per shard of the keyed step, all of a
process's partitions sharing its writer), and Bytewax ends every epoch by asking each partition
for a snapshot — :meth:`_StorePartition.snapshot` returns only once the writer has stored
everything queued before it. An epoch is therefore committed for recovery only after its results
are in the store; what a crash leaves in the queue belongs to an epoch that is not committed,
and the restarted flow emits it again (the store's idempotent writes absorb what was already
written). A writer error fails the flow at the next batch, snapshot or close.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Protocol
from zlib import adler32

from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition

from data_contracts.feed import DeadLetter
from data_contracts.ports import Clock, FeedLog, ProposalStore
from data_contracts.trading import ExitProposal, Proposal
from data_contracts.validation import integer
from execution.audit import AuditKind, AuditRecord
from execution.orders.context import AuditTrail
from execution.store.flags import FlagState, OperatorFlag
from models.live import SHARDS, FeatureRow, Output, ScoredPoint, Suppressed
from streaming.metrics import StreamMetrics

__all__ = ["QUEUE_BATCHES", "Observer", "StoreSink", "StreamStore"]

Observer = Callable[[list[Output]], None]

# Batches the writer may be behind the flow before a new batch waits for room.
QUEUE_BATCHES: Final = 8


class StreamStore(ProposalStore, FeedLog, Protocol):
    """What the sink writes to (``execution.store.SqlStore`` is one)."""

    def flag(self, flag: OperatorFlag) -> FlagState: ...

    def add_many(self, batch: Sequence[Proposal]) -> list[bool]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class _Settings:
    store_factory: Callable[[], StreamStore]
    audit_factory: Callable[[], AuditTrail] | None
    metrics: StreamMetrics
    clock: Clock
    worker_name: str
    metrics_every: timedelta
    end_to_end_latency: bool
    observer: Observer | None
    queue_batches: int


_STOP: Final = object()  # tells the writer thread to finish


@dataclass
class _Writer:
    """One worker process's store writer: a thread writing the batches its partitions queue."""

    settings: _Settings
    store: StreamStore
    audit: AuditTrail | None
    parts: set[int] = field(default_factory=set)  # the local partitions still open
    held: set[int] = field(default_factory=set)  # every local partition (names the worker)
    _queue: queue.Queue[list[Output] | object] = field(init=False)
    _thread: threading.Thread = field(init=False)
    _error: BaseException | None = None
    _flushed: datetime | None = None
    _name: str = ""

    def __post_init__(self) -> None:
        self._queue = queue.Queue(maxsize=self.settings.queue_batches)
        self._thread = threading.Thread(
            target=self._run, name=f"{self.settings.worker_name}-store-writer", daemon=True
        )
        self._thread.start()

    def put(self, items: list[Output]) -> None:
        self.check()
        self._queue.put(items)

    def drain(self) -> None:
        """Wait until every batch queued so far is stored (or the writer failed: raised)."""
        self._queue.join()
        self.check()

    def check(self) -> None:
        if self._error is not None:
            raise RuntimeError("the streaming sink's store writer failed") from self._error

    def close(self) -> None:
        """Store what is queued, flush the metrics, close the store; raise a writer error."""
        self._queue.put(_STOP)
        self._thread.join()
        try:
            self.check()
            self._flush(self.settings.clock.now())
        finally:
            self.store.close()

    # -- the writer thread ---------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            taken = [self._queue.get()]
            # Group commit: whatever else is queued already goes in the same write (one
            # transaction, one audit fsync); each batch is marked done only once written.
            while taken[-1] is not _STOP and len(taken) < self.settings.queue_batches:
                try:
                    taken.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            batches = [batch for batch in taken if isinstance(batch, list)]
            try:
                # After a failure batches are only let go of (the flow raises the failure).
                if self._error is None and batches:
                    self._write([item for batch in batches for item in batch])
            except BaseException as error:  # handed to the flow's thread (check)
                self._error = error
            finally:
                for _ in taken:
                    self._queue.task_done()
            if taken[-1] is _STOP:
                return

    def _write(self, items: list[Output]) -> None:
        store, metrics = self.store, self.settings.metrics
        now = self.settings.clock.now()
        # The operator's "pause new proposals", read once per batch that has any.
        paused = any(isinstance(i, Proposal) for i in items) and (
            store.flag(OperatorFlag.PROPOSALS_PAUSED).value
        )
        batch: list[Proposal] = []
        letters: list[DeadLetter] = []
        for item in items:
            if isinstance(item, Proposal):
                if paused:
                    metrics.count("proposals_paused")
                else:
                    batch.append(item)
            elif isinstance(item, ExitProposal):
                self._record("exits", store.add_exit(item), item.exit_id.value, item)
            elif isinstance(item, DeadLetter):
                letters.append(item)
                metrics.dead_letter(item.reason.value)
            else:
                self._count(item)
        # The batch's proposals in one transaction (one commit, not one per proposal), the new
        # ones in the audit log in one append (one fsync).
        records = []
        for proposal, added in zip(batch, store.add_many(batch), strict=True):
            self.settings.metrics.count("proposals" if added else "proposals_duplicate")
            if added:
                records.append(
                    AuditRecord(
                        AuditKind.PROPOSAL,
                        proposal.proposal_id.value,
                        {"proposal": proposal},
                        self.name,
                        proposal.instrument_token,
                    )
                )
        if records and self.audit is not None:
            self.audit.append_many(records)  # one write and one fsync for the batch
        if letters:
            store.add_dead_letters(letters)
        if self._flushed is None or now - self._flushed >= self.settings.metrics_every:
            self._flush(now)

    def _count(self, item: Output) -> None:
        metrics = self.settings.metrics
        if isinstance(item, ScoredPoint):
            metrics.count("scored")
            metrics.model_version = item.model_version
        elif isinstance(item, Suppressed):
            metrics.count("suppressed")
        elif isinstance(item, FeatureRow):
            metrics.count("feature_rows")

    def _record(self, kind: str, added: bool, subject: str, item: Proposal | ExitProposal) -> None:
        """Count it; the writer that stored it (``added``) also puts it in the audit log."""
        self.settings.metrics.count(kind if added else f"{kind}_duplicate")
        if added and self.audit is not None:
            self.audit.append(
                AuditKind.PROPOSAL,
                subject,
                {kind[:-1]: item},
                actor=self.name,
                instrument_token=item.instrument_token,
            )

    @property
    def name(self) -> str:
        """The worker's name in the metrics and the audit log: ``<worker_name>-<n>``, ``n`` the
        lowest partition this process holds (one process: ``stream-0``)."""
        if not self._name:
            self._name = f"{self.settings.worker_name}-{min(self.held, default=0)}"
        return self._name

    def _flush(self, now: datetime) -> None:
        self._flushed = now
        self.store.record_metrics(self.name, now, self.settings.metrics.snapshot(now))


class _StorePartition(StatefulSinkPartition[Output, None]):
    """One partition (a shard's results) of a process's sink; the writing is the writer's."""

    def __init__(self, writer: _Writer, part: int, release: Callable[[int], None]) -> None:
        self._writer = writer
        self._part = part
        self._release = release
        writer.parts.add(part)
        writer.held.add(part)

    def write_batch(self, values: list[Output]) -> None:
        settings = self._writer.settings
        if settings.end_to_end_latency:
            now = settings.clock.now()
            for item in values:
                if isinstance(item, Proposal):
                    settings.metrics.latency((now - item.ts_init).total_seconds() * 1e6)
        if settings.observer is not None:
            settings.observer(values)
        self._writer.put(values)

    def snapshot(self) -> None:
        # The epoch's barrier: its results are stored before Bytewax commits it for recovery.
        self._writer.drain()

    def close(self) -> None:
        self._release(self._part)


class StoreSink(FixedPartitionedSink[Output, None]):
    """Writes the flow's results to a store opened per worker process by ``store_factory``.

    Items are ``(key, result)``: the keyed step's shard (``"0"`` … ``"15"``) picks the
    partition; any other key (the boundary's dead letters) is hashed to one.
    """

    def __init__(
        self,
        store_factory: Callable[[], StreamStore],
        *,
        metrics: StreamMetrics,
        clock: Clock,
        worker_name: str = "stream",
        metrics_every: timedelta = timedelta(seconds=5),
        end_to_end_latency: bool = False,
        observer: Observer | None = None,
        audit_factory: Callable[[], AuditTrail] | None = None,
        queue_batches: int = QUEUE_BATCHES,
    ) -> None:
        integer("StoreSink", "queue_batches", queue_batches, minimum=1)
        self._settings = _Settings(
            store_factory=store_factory,
            audit_factory=audit_factory,
            metrics=metrics,
            clock=clock,
            worker_name=worker_name,
            metrics_every=metrics_every,
            end_to_end_latency=end_to_end_latency,
            observer=observer,
            queue_batches=queue_batches,
        )
        self._writer: _Writer | None = None
        self._lock = threading.Lock()

    def list_parts(self) -> list[str]:
        return [f"store-{n}" for n in range(SHARDS)]

    def part_fn(self, item_key: str) -> int:
        return int(item_key) if item_key.isdecimal() else adler32(item_key.encode())

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _StorePartition:
        part = int(for_part.rsplit("-", 1)[1])
        with self._lock:
            if self._writer is None:
                settings = self._settings
                audit = None if settings.audit_factory is None else settings.audit_factory()
                self._writer = _Writer(settings, settings.store_factory(), audit)
            return _StorePartition(self._writer, part, self._release)

    def _release(self, part: int) -> None:
        """A partition closed; the last one of the process closes the writer."""
        with self._lock:
            writer = self._writer
            if writer is None:
                return
            writer.parts.discard(part)
            if writer.parts:
                return
            self._writer = None
        writer.close()
