"""The keyed step: Bytewax's stateful operator around :mod:`models.live`'s group processors.

Items are keyed by shard (:func:`models.live.shard_of`): one shard holds the state of every group
that hashes to it. Bytewax routes each shard's items to one worker and hands them over in
batches, one shard at a time. A shard folds its ticks into candles at once (dead letters go out
at once) and *parks* the bars they close; then — Bytewax calls every key's ``on_batch`` of an
activation before any key's ``on_notify`` — the first shard notified decides the bars parked by
**all** the worker's shards together (:func:`models.live.decide`: one model call per round of
bars, across shards), so spreading groups over shards does not split a worker's rounds. The
answer does not depend on how bars are batched (``decide`` takes them in per-instrument rounds).

A shard's state is plain data, pickled at the end of every epoch for recovery: its groups and any
bar still parked (Bytewax notifies before it snapshots, so normally none), with the shard layout
(:data:`models.live.SHARD_LAYOUT`) it was taken under — a snapshot of another layout is dropped
(the groups start afresh once) because its groups now belong to other shards.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from bytewax.operators import StatefulBatchLogic

from data_contracts.market import Tick
from data_contracts.trading import Proposal
from models.live import (
    SHARD_LAYOUT,
    ClockMark,
    Closed,
    GroupProcessor,
    GroupState,
    LiveContext,
    Output,
    ScoredPoint,
    decide,
    group_of,
    load_feature_kernel,
)
from streaming.heap import freeze_startup_objects
from streaming.metrics import StreamMetrics

__all__ = ["ShardLogic", "WorkerRuntime"]


_NOTIFY_NOW: Final = datetime(1970, 1, 1, tzinfo=UTC)  # "as soon as possible" for notify_at


@dataclass
class WorkerRuntime:
    """What every shard of a worker process shares: the live context (built once, lazily, in
    the process that runs the flow), the metrics and the bars parked for the next decision.
    One per worker thread (``run_flow`` runs one worker per process)."""

    context_factory: Callable[[], LiveContext]
    metrics: StreamMetrics
    # True when ticks carry the wall-clock time they arrived (live/paper feeds): the sink then
    # measures tick→proposal end to end; a replay's ticks carry market time, so the step
    # measures its own processing from the tick that closed the bar to the proposal.
    end_to_end_latency: bool = False
    _context: LiveContext | None = None
    _kernel_loaded: bool = False
    # The shards with parked bars, in the order they parked them (decided together).
    _waiting: dict[int, ShardLogic] = field(default_factory=dict)
    # perf_counter_ns when a parked bar was closed (the step's own latency, replays).
    _started: dict[tuple[int, datetime], int] = field(default_factory=dict)

    @property
    def context(self) -> LiveContext:
        if self._context is None:
            self._context = self.context_factory()
        return self._context

    def load_feature_kernel(self, at: datetime) -> None:
        """At the worker's first tick (market time ``at``): load the compiled feature kernel
        now, so the first bar decided does not wait for it."""
        if not self._kernel_loaded:
            load_feature_kernel(self.context.strategy.settings.feature_set, at)
            self._kernel_loaded = True
            # The worker's startup is done: keep its objects out of full collections.
            freeze_startup_objects()


class ShardLogic(StatefulBatchLogic[Tick | ClockMark, Output, bytes]):
    """One shard's groups; restored from the last snapshot after a restart."""

    def __init__(self, runtime: WorkerRuntime, resume: bytes | None) -> None:
        self._runtime = runtime
        self._context: LiveContext | None = None
        self._groups: dict[int, GroupProcessor] = {}
        self._by_token: dict[int, GroupProcessor] = {}
        self._parked: list[Closed] = []
        if resume is None:
            return
        saved = pickle.loads(resume)  # noqa: S301 - our own snapshot
        if not isinstance(saved, dict) or saved.get("layout") != SHARD_LAYOUT:
            return  # another shard layout: its groups belong to other shards now
        context = self._ctx
        for key, state in saved["groups"].items():
            self._groups[key] = GroupProcessor(context, state)
        for key, candle, ts_init in saved["parked"]:
            self._parked.append((self._groups[key], candle, ts_init))
        if self._parked:
            runtime._waiting[id(self)] = self

    @property
    def _ctx(self) -> LiveContext:
        if self._context is None:
            self._context = self._runtime.context
        return self._context

    def on_batch(self, values: list[Tick | ClockMark]) -> tuple[Iterable[Output], bool]:
        out: list[Output] = []
        parked = self._parked
        started = self._runtime._started
        by_token = self._by_token
        last: Tick | None = None
        ticks = 0
        for value in values:
            if type(value) is ClockMark:
                made_at = value.ts_init or value.now
                for processor in self._groups.values():
                    parked += [(processor, bar, made_at) for bar in processor.due(value.now)]
                continue
            tick: Tick = value  # type: ignore[assignment]  # not a clock mark: a tick
            processor = by_token.get(tick.instrument_token) or self._processor(tick)
            refused, bar = processor.advance(tick)
            if refused:
                out += refused
            if bar is not None:
                parked.append((processor, bar, tick.ts_init))
                started[(bar.instrument_token, bar.ts_event)] = time.perf_counter_ns()
            last = tick
            ticks += 1
        if parked:
            self._runtime._waiting[id(self)] = self
        self._count(ticks, last)
        return out, not self._groups and not parked

    def notify_at(self) -> datetime | None:
        # Parked bars are decided at the first notification: Bytewax notifies after every
        # key's on_batch of the activation, so one decision covers the worker's shards.
        return _NOTIFY_NOW if self._parked else None

    def on_notify(self) -> tuple[Iterable[Output], bool]:
        return self._decide_parked(), not self._groups

    def on_eof(self) -> tuple[Iterable[Output], bool]:
        return self._decide_parked(), not self._groups

    def snapshot(self) -> bytes:
        state = {
            "layout": SHARD_LAYOUT,
            "groups": {key: processor.state for key, processor in self._groups.items()},
            "parked": [(p.state.key, candle, ts_init) for p, candle, ts_init in self._parked],
        }
        return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)

    def _decide_parked(self) -> list[Output]:
        """Decide the bars parked by every waiting shard of the worker, together."""
        runtime = self._runtime
        if not runtime._waiting:
            return []
        waiting = list(runtime._waiting.values())
        runtime._waiting.clear()
        closed: list[Closed] = []
        for shard in waiting:
            closed += shard._parked
            shard._parked = []
        decided = decide(closed)
        self._measure(decided)
        return decided

    def _processor(self, tick: Tick) -> GroupProcessor:
        self._runtime.load_feature_kernel(tick.ts_event)
        key = group_of(tick.instrument_token, self._ctx.underlying_of)
        processor = self._groups.get(key)
        if processor is None:
            processor = GroupProcessor(self._ctx, GroupState(key=key))
            self._groups[key] = processor
        self._by_token[tick.instrument_token] = processor
        return processor

    def _count(self, ticks: int, last: Tick | None) -> None:
        metrics = self._runtime.metrics
        if ticks:
            metrics.count("ticks", ticks)
        if last is not None:
            metrics.feed_lag_seconds = (last.ts_init - last.ts_event).total_seconds()

    def _measure(self, decided: list[Output]) -> None:
        runtime = self._runtime
        started, runtime._started = runtime._started, {}
        if runtime.end_to_end_latency:
            return
        metrics = runtime.metrics
        finished = time.perf_counter_ns()
        point: ScoredPoint | None = None
        for item in decided:
            if isinstance(item, ScoredPoint):
                point = item
            elif isinstance(item, Proposal) and point is not None:
                began = started.get((point.decision_token, point.ts_event))
                if began is not None:
                    metrics.latency((finished - began) / 1_000)
