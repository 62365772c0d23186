"""The keyed step: Bytewax's stateful operator around :mod:`models.live`'s group processors.

Items are keyed by shard (:func:`models.live.shard_of`): one shard holds the state of every group
congruent to it. Bytewax routes each shard's items to one worker and hands them over in batches;
the bars a batch closes, across the shard's groups, are decided together
(:func:`models.live.decide`: one feature build and one model call per round of bars). The shard's
state is plain data, pickled at the end of every epoch for recovery.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bytewax.operators import StatefulBatchLogic

from data_contracts.market import Tick
from data_contracts.trading import Proposal
from models.live import (
    ClockMark,
    Closed,
    GroupProcessor,
    GroupState,
    LiveContext,
    Output,
    ScoredPoint,
    decide,
    group_of,
)
from streaming.metrics import StreamMetrics

__all__ = ["ShardLogic", "WorkerRuntime"]


@dataclass
class WorkerRuntime:
    """What every shard of a worker process shares: the live context (built once, lazily, in
    the process that runs the flow) and the metrics."""

    context_factory: Callable[[], LiveContext]
    metrics: StreamMetrics
    # True when ticks carry the wall-clock time they arrived (live/paper feeds): the sink then
    # measures tick→proposal end to end; a replay's ticks carry market time, so the step
    # measures its own processing from the tick that closed the bar to the proposal.
    end_to_end_latency: bool = False
    _context: LiveContext | None = None

    @property
    def context(self) -> LiveContext:
        if self._context is None:
            self._context = self.context_factory()
        return self._context


class ShardLogic(StatefulBatchLogic[Tick | ClockMark, Output, bytes]):
    """One shard's groups; restored from the last snapshot after a restart."""

    def __init__(self, runtime: WorkerRuntime, resume: bytes | None) -> None:
        self._runtime = runtime
        states = pickle.loads(resume) if resume is not None else {}  # noqa: S301 - our own snapshot
        self._groups = {
            key: GroupProcessor(runtime.context, state)
            for key, state in states.items()
            if isinstance(state, GroupState)
        }

    def on_batch(self, values: list[Tick | ClockMark]) -> tuple[Iterable[Output], bool]:
        out: list[Output] = []
        closed: list[Closed] = []
        started: dict[tuple[int, object], int] = {}
        last: Tick | None = None
        ticks = 0
        for value in values:
            if isinstance(value, ClockMark):
                made_at = value.ts_init or value.now
                for processor in self._groups.values():
                    closed += [(processor, bar, made_at) for bar in processor.due(value.now)]
                continue
            began = time.perf_counter_ns()
            processor = self._processor(value)
            refused, bar = processor.advance(value)
            if refused:
                out += refused
            if bar is not None:
                closed.append((processor, bar, value.ts_init))
                started[(bar.instrument_token, bar.ts_event)] = began
            last = value
            ticks += 1
        decided = decide(closed)
        self._measure(decided, started, ticks, last)
        out += decided
        return out, not self._groups

    def snapshot(self) -> bytes:
        states = {key: processor.state for key, processor in self._groups.items()}
        return pickle.dumps(states, protocol=pickle.HIGHEST_PROTOCOL)

    def _key(self, tick: Tick) -> int:
        return group_of(tick.instrument_token, self._runtime.context.underlying_of)

    def _processor(self, tick: Tick) -> GroupProcessor:
        key = self._key(tick)
        processor = self._groups.get(key)
        if processor is None:
            processor = GroupProcessor(self._runtime.context, GroupState(key=key))
            self._groups[key] = processor
        return processor

    def _measure(
        self,
        decided: list[Output],
        started: dict[tuple[int, object], int],
        ticks: int,
        last: Tick | None,
    ) -> None:
        metrics = self._runtime.metrics
        if ticks:
            metrics.count("ticks", ticks)
        if last is not None:
            metrics.feed_lag_seconds = (last.ts_init - last.ts_event).total_seconds()
        if self._runtime.end_to_end_latency:
            return
        finished = time.perf_counter_ns()
        point: ScoredPoint | None = None
        for item in decided:
            if isinstance(item, ScoredPoint):
                point = item
            elif isinstance(item, Proposal) and point is not None:
                began = started.get((point.decision_token, point.ts_event))
                if began is not None:
                    metrics.latency((finished - began) / 1_000)
