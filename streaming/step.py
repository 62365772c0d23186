"""The keyed step: Bytewax's stateful operator around :class:`models.live.GroupProcessor`.

Bytewax routes each group's items to one worker, hands them over in batches, and snapshots the
group's state at the end of every epoch (pickled: the state is plain data) for recovery.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bytewax.operators import StatefulBatchLogic

from data_contracts.market import Tick
from data_contracts.trading import Proposal
from models.live import ClockMark, GroupProcessor, GroupState, LiveContext, Output, group_of
from streaming.metrics import StreamMetrics

__all__ = ["GroupLogic", "WorkerRuntime"]


@dataclass
class WorkerRuntime:
    """What every group of a worker process shares: the live context (built once, lazily, in
    the process that runs the flow) and the metrics."""

    context_factory: Callable[[], LiveContext]
    metrics: StreamMetrics
    # True when ticks carry the wall-clock time they arrived (live/paper feeds): the sink then
    # measures tick→proposal end to end; a replay's ticks carry market time, so the step
    # measures its own processing of the tick that made the proposal.
    end_to_end_latency: bool = False
    _context: LiveContext | None = None

    @property
    def context(self) -> LiveContext:
        if self._context is None:
            self._context = self.context_factory()
        return self._context


class GroupLogic(StatefulBatchLogic[Tick | ClockMark, Output, bytes]):
    """One group's processor; state restored from its last snapshot after a restart."""

    def __init__(self, runtime: WorkerRuntime, resume: bytes | None) -> None:
        self._runtime = runtime
        state = pickle.loads(resume) if resume is not None else None  # noqa: S301 - our own snapshot
        self._processor = (
            GroupProcessor(runtime.context, state) if isinstance(state, GroupState) else None
        )

    def on_batch(self, values: list[Tick | ClockMark]) -> tuple[Iterable[Output], bool]:
        metrics = self._runtime.metrics
        out: list[Output] = []
        ticks = 0
        last: Tick | None = None
        for value in values:
            if isinstance(value, ClockMark):
                if self._processor is not None:
                    out += self._processor.on_clock(value.now, value.ts_init)
                continue
            processor = self._processor or self._start(value)
            started = time.perf_counter_ns()
            made = processor.on_tick(value)
            if made:
                if not self._runtime.end_to_end_latency and any(
                    isinstance(item, Proposal) for item in made
                ):
                    metrics.latency((time.perf_counter_ns() - started) / 1_000)
                out += made
            ticks += 1
            last = value
        if ticks:
            metrics.count("ticks", ticks)
        if last is not None:
            metrics.feed_lag_seconds = (last.ts_init - last.ts_event).total_seconds()
        return out, self._processor is None

    def snapshot(self) -> bytes:
        if self._processor is None:
            return pickle.dumps(None)
        return pickle.dumps(self._processor.state, protocol=pickle.HIGHEST_PROTOCOL)

    def _start(self, tick: Tick) -> GroupProcessor:
        context = self._runtime.context
        key = group_of(tick.instrument_token, context.underlying_of)
        self._processor = GroupProcessor(context, GroupState(key=key))
        return self._processor
