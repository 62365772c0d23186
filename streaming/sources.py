"""Bytewax inputs: the live Kite feed (Kite or the paper exchange, same code) and the lake replay.

Both emit ``(key, Tick | ClockMark)`` for the keyed step and ``DeadLetter`` for what the boundary
refused. Partitions split the groups (``key % partitions``), so ``-p N`` processes share the work
and each group's ticks stay in order in one partition.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from threading import Event
from typing import Final, Protocol

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from data_contracts.feed import DeadLetter
from data_contracts.market import Tick
from data_contracts.ports import Clock
from execution.replay_feed import FeedItem, LakeReplay
from models.live import ClockMark, bar_close

__all__ = ["KiteFeedSource", "LakeReplaySource", "SourceItem"]

SourceItem = FeedItem | DeadLetter
# How soon an idle live partition looks at its feed again: a tick that arrives while the flow is
# idle waits up to this long before the flow sees it (it was 20 ms: ten times the whole 2 ms
# tick -> proposal budget). Polling an empty feed is a lock and an empty deque: an idle
# flow polling ~900 times a second used no more CPU than at ~50 (0.08-0.1 s in 3 s, start-up
# included).
_IDLE: Final = timedelta(milliseconds=1)


class _ReplayPartition(StatefulSourcePartition[SourceItem, int]):
    def __init__(self, replay: LakeReplay, resume: int | None, batch_size: int) -> None:
        self._done = 0 if resume is None else resume
        self._items: Iterator[FeedItem] = replay.items(skip=self._done)
        self._batch_size = batch_size

    def next_batch(self) -> list[SourceItem]:
        batch: list[SourceItem] = []
        for item in self._items:
            batch.append(item)
            if len(batch) >= self._batch_size:
                break
        if not batch:
            raise StopIteration
        self._done += len(batch)
        return batch

    def snapshot(self) -> int:
        return self._done


class LakeReplaySource(FixedPartitionedSource[SourceItem, int]):
    """Replay days from the lake; ``replay_for(part, parts)`` builds one partition's replay."""

    def __init__(
        self,
        replay_for: Callable[[int, int], LakeReplay],
        *,
        partitions: int = 1,
        batch_size: int = 1_000,
    ) -> None:
        self._replay_for = replay_for
        self._partitions = partitions
        self._batch_size = batch_size

    def list_parts(self) -> list[str]:
        return [f"replay-{n}-of-{self._partitions}" for n in range(self._partitions)]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _ReplayPartition:
        part = int(for_part.split("-")[1])
        return _ReplayPartition(
            self._replay_for(part, self._partitions), resume_state, self._batch_size
        )


class _Feed(Protocol):
    """What a live partition needs from the Kite adapter's ``TickerFeed``."""

    def start(self) -> None: ...
    def drain(self, max_items: int = 10_000) -> list[Tick | DeadLetter]: ...
    def watchdog(self, now: datetime) -> bool: ...
    def close(self) -> None: ...


class _KitePartition(StatefulSourcePartition[SourceItem, None]):
    """One WebSocket connection's ticks. Market time is the latest exchange timestamp seen (a
    paper session may replay another day at any speed); a clock mark follows each minute of it,
    so quiet instruments' bars close. The wall clock only drives the silence watchdog."""

    def __init__(
        self,
        feed: _Feed,
        *,
        keys: Sequence[int],
        key_of: Callable[[int], int],
        clock: Clock,
        mark_delay: timedelta,
        stop: Event | None,
    ) -> None:
        self._feed = feed
        self._keys = [str(k) for k in keys]
        self._key_of = key_of
        self._clock = clock
        self._mark_delay = mark_delay
        self._stop = stop
        self._next_mark: datetime | None = None
        self._idle = False
        feed.start()

    def next_batch(self) -> list[SourceItem]:
        if self._stop is not None and self._stop.is_set():
            raise StopIteration
        batch: list[SourceItem] = []
        latest: datetime | None = None
        for item in self._feed.drain():
            if isinstance(item, Tick):
                batch.append((str(self._key_of(item.instrument_token)), item))
                if latest is None or item.ts_event > latest:
                    latest = item.ts_event
            else:
                batch.append(item)
        if latest is not None:
            batch += self._marks(latest)
        self._feed.watchdog(self._clock.now())
        self._idle = not batch
        return batch

    def _marks(self, market_time: datetime) -> list[SourceItem]:
        if self._next_mark is None:
            self._next_mark = bar_close(market_time) + self._mark_delay
            return []
        if market_time < self._next_mark:
            return []
        mark = ClockMark(self._next_mark, ts_init=self._clock.now())
        self._next_mark = bar_close(market_time) + self._mark_delay
        return [(key, mark) for key in self._keys]

    def next_awake(self) -> datetime | None:
        return self._clock.now() + _IDLE if self._idle else None

    def snapshot(self) -> None:
        return None  # a live feed cannot be replayed: a restart resumes from the next tick

    def close(self) -> None:
        self._feed.close()


class KiteFeedSource(FixedPartitionedSource[SourceItem, None]):
    """Live ticks through ``kiteconnect.KiteTicker`` (Kite or the paper exchange).

    ``feed_for(tokens)`` builds the adapter's feed for one partition's instruments (one WebSocket
    connection each: Kite allows three per API key, so at most three partitions). Setting
    ``stop`` ends the flow.
    """

    def __init__(
        self,
        feed_for: Callable[[Sequence[int]], _Feed],
        *,
        tokens: Sequence[int],
        key_of: Callable[[int], int],
        clock: Clock,
        partitions: int = 1,
        mark_delay: timedelta = timedelta(seconds=5),
        stop: Event | None = None,
    ) -> None:
        self._feed_for = feed_for
        self._stop = stop
        self._tokens = list(tokens)
        self._key_of = key_of
        self._clock = clock
        self._partitions = min(max(partitions, 1), 3)
        self._mark_delay = mark_delay

    def list_parts(self) -> list[str]:
        return [f"kite-{n}-of-{self._partitions}" for n in range(self._partitions)]

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _KitePartition:
        part = int(for_part.split("-")[1])
        mine = [t for t in self._tokens if self._key_of(t) % self._partitions == part]
        keys = sorted({self._key_of(t) for t in mine})
        return _KitePartition(
            self._feed_for(mine),
            keys=keys,
            key_of=self._key_of,
            clock=self._clock,
            mark_delay=self._mark_delay,
            stop=self._stop,
        )
