"""Bytewax output: every result of the flow goes to the store, exactly once per id.

Proposals and exits are idempotent on their ids (a replay after a crash writes nothing twice);
dead letters are appended with their reason; a newly stored proposal or exit also goes to the
audit log (when the sink has one). While the operator has paused new proposals, proposals are
counted (``proposals_paused``) and not stored; exits always are. Scored points and feature rows
are counted (and handed to ``observer`` when one is given: tests, benchmarks, the replay
report). Each worker's metrics snapshot goes to the store every ``metrics_every``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bytewax.outputs import DynamicSink, StatelessSinkPartition

from data_contracts.feed import DeadLetter
from data_contracts.ports import Clock, FeedLog, ProposalStore
from data_contracts.trading import ExitProposal, Proposal
from execution.audit import AuditKind
from execution.orders.context import AuditTrail
from execution.store.flags import FlagState, OperatorFlag
from models.live import FeatureRow, Output, ScoredPoint, Suppressed
from streaming.metrics import StreamMetrics

__all__ = ["Observer", "StoreSink", "StreamStore"]

Observer = Callable[[list[Output]], None]


class StreamStore(ProposalStore, FeedLog, Protocol):
    """What the sink writes to (``execution.store.SqlStore`` is one)."""

    def flag(self, flag: OperatorFlag) -> FlagState: ...

    def add_many(self, batch: Sequence[Proposal]) -> list[bool]: ...

    def close(self) -> None: ...


@dataclass
class _Counters:
    proposals: int = 0
    duplicates: int = 0


class _StorePartition(StatelessSinkPartition[Output]):
    def __init__(
        self,
        store: StreamStore,
        *,
        worker: str,
        metrics: StreamMetrics,
        clock: Clock,
        metrics_every: timedelta,
        end_to_end_latency: bool,
        observer: Observer | None,
        audit: AuditTrail | None,
    ) -> None:
        self._store = store
        self._audit = audit
        self._worker = worker
        self._metrics = metrics
        self._clock = clock
        self._every = metrics_every
        self._end_to_end = end_to_end_latency
        self._observer = observer
        self._flushed: datetime | None = None

    def write_batch(self, items: list[Output]) -> None:
        letters: list[DeadLetter] = []
        metrics = self._metrics
        now = self._clock.now()
        # The operator's "pause new proposals", read once per batch that has any.
        paused = any(isinstance(i, Proposal) for i in items) and (
            self._store.flag(OperatorFlag.PROPOSALS_PAUSED).value
        )
        batch: list[Proposal] = []
        for item in items:
            if isinstance(item, Proposal):
                if paused:
                    metrics.count("proposals_paused")
                    continue
                if self._end_to_end:
                    metrics.latency((now - item.ts_init).total_seconds() * 1e6)
                batch.append(item)
            elif isinstance(item, ExitProposal):
                self._record("exits", self._store.add_exit(item), item.exit_id.value, item)
            elif isinstance(item, DeadLetter):
                letters.append(item)
                metrics.dead_letter(item.reason.value)
            else:
                self._count(item)
        # The batch's proposals in one transaction (one commit, not one per proposal).
        for proposal, added in zip(batch, self._store.add_many(batch), strict=True):
            self._record("proposals", added, proposal.proposal_id.value, proposal)
        if letters:
            self._store.add_dead_letters(letters)
        if self._observer is not None:
            self._observer(items)
        if self._flushed is None or now - self._flushed >= self._every:
            self._flush(now)

    def close(self) -> None:
        self._flush(self._clock.now())
        self._store.close()

    def _count(self, item: Output) -> None:
        metrics = self._metrics
        if isinstance(item, ScoredPoint):
            metrics.count("scored")
            metrics.model_version = item.model_version
        elif isinstance(item, Suppressed):
            metrics.count("suppressed")
        elif isinstance(item, FeatureRow):
            metrics.count("feature_rows")

    def _record(self, kind: str, added: bool, subject: str, item: Proposal | ExitProposal) -> None:
        """Count it; the writer that stored it (``added``) also puts it in the audit log."""
        self._metrics.count(kind if added else f"{kind}_duplicate")
        if added and self._audit is not None:
            self._audit.append(
                AuditKind.PROPOSAL,
                subject,
                {kind[:-1]: item},
                actor=self._worker,
                instrument_token=item.instrument_token,
            )

    def _flush(self, now: datetime) -> None:
        self._flushed = now
        self._store.record_metrics(self._worker, now, self._metrics.snapshot(now))


class StoreSink(DynamicSink[Output]):
    """Writes the flow's results to a store opened per worker by ``store_factory``."""

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
    ) -> None:
        self._store_factory = store_factory
        self._audit_factory = audit_factory
        self._metrics = metrics
        self._clock = clock
        self._worker_name = worker_name
        self._every = metrics_every
        self._end_to_end = end_to_end_latency
        self._observer = observer

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _StorePartition:
        return _StorePartition(
            self._store_factory(),
            worker=f"{self._worker_name}-{worker_index}",
            metrics=self._metrics,
            clock=self._clock,
            metrics_every=self._every,
            end_to_end_latency=self._end_to_end,
            observer=self._observer,
            audit=None if self._audit_factory is None else self._audit_factory(),
        )
