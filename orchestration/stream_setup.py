"""Composition of the streaming worker from the config: which feed, which instruments, the
strategy settings, the champion, the store, the warm-up history — one picklable
:class:`StreamSpec`, so every ``-p N`` process builds the same flow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from enum import StrEnum
from functools import partial
from pathlib import Path
from threading import Event

from bytewax.dataflow import Dataflow
from bytewax.inputs import Source

from data_contracts.clock import SystemClock
from data_contracts.config import KitepilotConfig
from data_contracts.enums import Exchange, InstrumentType
from data_contracts.errors import ContractError
from data_contracts.instruments import Instrument, underlying_tokens
from data_contracts.nse_calendar import NseCalendar
from execution.audit import AuditLog
from execution.kite import (
    KiteHistoricalSource,
    KiteSourceSettings,
    TickerFeed,
    TickParser,
    kite_client,
)
from execution.paper.market_lake import lake_instruments
from execution.replay_feed import LakeReplay
from execution.simulator.ticks import MEAN_TICKS_PER_BAR
from execution.store import SqlStore
from models.lake import Lake
from models.live import (
    ChampionScorer,
    LakeHistory,
    LiveContext,
    LiveStrategy,
    SourceHistory,
    shard_of,
)
from models.registry import MlflowRegistry
from orchestration.broker_endpoints import BrokerEndpoints
from orchestration.model_settings import live_settings
from streaming.flow import build_flow
from streaming.metrics import StreamMetrics
from streaming.sinks import Observer, StoreSink
from streaming.sources import KiteFeedSource, LakeReplaySource, SourceItem
from streaming.step import WorkerRuntime

__all__ = [
    "FeedKind",
    "StreamSpec",
    "build_stream",
    "live_universe",
    "replay_universe",
]


class FeedKind(StrEnum):
    REPLAY = "replay"  # days from the lake (backtest mode, tests)
    KITE = "kite"  # live ticks from Kite or the paper exchange


@dataclass(frozen=True)
class StreamSpec:
    """Everything a worker process needs to build its flow (picklable)."""

    config: KitepilotConfig
    feed: FeedKind
    days: tuple[date, ...] = ()
    partitions: int = 1
    emit_features: bool = False
    batch_size: int = 1_000
    worker_name: str = "stream"
    until: time | None = None  # replay each day up to this IST time (tests, quick looks)
    tokens: tuple[int, ...] = ()  # replay only these instruments (and their derivatives)
    session: BrokerEndpoints | None = None  # the live feed's connection
    stop: Event | None = field(default=None, compare=False)  # set to end a live flow (tests)


def replay_universe(
    lake: Lake, days: Sequence[date], tokens: Sequence[int] = ()
) -> list[Instrument]:
    """The instruments of the replayed days (the lake's instruments dumps), only ``tokens`` and
    their derivatives when given."""
    seen: dict[int, Instrument] = {}
    for day in days:
        for instrument in lake_instruments(lake, day):
            seen.setdefault(int(instrument.instrument_token), instrument)
    if not tokens:
        return list(seen.values())
    underlying_of = underlying_tokens(seen.values())
    wanted = set(tokens)
    return [i for t, i in seen.items() if t in wanted or underlying_of.get(t) in wanted]


def _calendar(config: KitepilotConfig) -> NseCalendar:
    return NseCalendar.default(override=config.calendar.holidays_file)


def live_universe(instruments: Sequence[Instrument], expiries: int = 2) -> list[Instrument]:
    """What the live worker streams: NSE equities, the indices with options, and those options of
    the nearest ``expiries`` expiries in the dump (a dump lists only live contracts; a paper
    session's dump is its replayed day's)."""
    underlying_of = underlying_tokens(instruments)
    option_expiries = sorted(
        {i.expiry for i in instruments if i.is_option and i.expiry is not None}
    )[:expiries]
    index_with_options = set(underlying_of.values())
    chosen = []
    for i in instruments:
        token = int(i.instrument_token)
        if i.is_option:
            if i.expiry in option_expiries and token in underlying_of:
                chosen.append(i)
        elif i.exchange is Exchange.NSE and i.instrument_type is InstrumentType.EQ:
            chosen.append(i)
        elif token in index_with_options:
            chosen.append(i)
    return chosen


def _kite_source(spec: StreamSpec) -> KiteHistoricalSource:
    session = spec.session
    if session is None:
        raise ContractError("StreamSpec", "session", None, "is needed for the live feed")
    client = kite_client(session.api_key, session.access_token, root=session.rest_root)
    return KiteHistoricalSource(
        client,
        SystemClock(),
        calendar=_calendar(spec.config),
        settings=KiteSourceSettings(cache_dir=spec.config.storage.var_dir / "kite"),
    )


def _instruments(spec: StreamSpec) -> list[Instrument]:
    if spec.feed is FeedKind.REPLAY:
        return replay_universe(Lake(spec.config.storage.lake_dir), spec.days, spec.tokens)
    now = SystemClock().now()
    everything = list(_kite_source(spec).instruments(now))
    chosen = live_universe(everything)
    if spec.tokens:
        wanted = set(spec.tokens)
        underlying_of = underlying_tokens(chosen)
        chosen = [
            i
            for i in chosen
            if int(i.instrument_token) in wanted
            or underlying_of.get(int(i.instrument_token)) in wanted
        ]
    return chosen


def _context(spec: StreamSpec) -> LiveContext:
    config = spec.config
    calendar = _calendar(config)
    lake = Lake(config.storage.lake_dir)
    instruments = _instruments(spec)
    settings = live_settings(config, calendar)
    storage = config.storage
    registry = MlflowRegistry(
        storage.mlflow_tracking_uri,
        Path(storage.mlflow_artifacts_dir),
        config.training.model_name,
        clock=SystemClock(),
    )
    return LiveContext(
        strategy=LiveStrategy(settings, {int(i.instrument_token): i for i in instruments}),
        champion=ChampionScorer(
            registry,
            feature_version=settings.feature_set.version,
            recheck=timedelta(seconds=config.loops.champion_recheck_seconds),
        ),
        underlying_of=underlying_tokens(instruments),
        trades=SqlStore.open(storage.database_url),
        history=(
            LakeHistory(lake, calendar)
            if spec.feed is FeedKind.REPLAY
            else SourceHistory(_kite_source(spec), calendar)
        ),
        candle_timeout=timedelta(seconds=config.loops.candle_close_timeout_seconds),
        fno_cooldown=timedelta(hours=config.strategy.fno_cooldown_hours),
        max_concurrent=config.risk.max_concurrent_positions,
        emit_features=spec.emit_features,
        source=spec.feed.value,
    )


def _replay(
    spec: StreamSpec, part: int, parts: int, *, mean_ticks: float = MEAN_TICKS_PER_BAR
) -> LakeReplay:
    config = spec.config
    lake = Lake(config.storage.lake_dir)
    instruments = replay_universe(lake, spec.days, spec.tokens)
    underlying_of = underlying_tokens(instruments)

    def key_of(token: int) -> int:
        return shard_of(token, underlying_of)

    mine = [i for i in instruments if key_of(int(i.instrument_token)) % parts == part]
    return LakeReplay(
        lake,
        spec.days,
        mine,
        seed=config.paper_exchange.seed,
        calendar=_calendar(config),
        key_of=key_of,
        mark_delay=timedelta(seconds=config.loops.candle_close_timeout_seconds),
        until=spec.until,
        mean_ticks=mean_ticks,
    )


def _feed(spec: StreamSpec, tokens: Sequence[int]) -> TickerFeed:
    session = spec.session
    if session is None:
        raise ContractError("StreamSpec", "session", None, "is needed for the live feed")
    return TickerFeed(
        api_key=session.api_key,
        access_token=session.access_token,
        root=session.ticker_root,
        tokens=tokens,
        parser=TickParser(tokens, source=spec.feed.value),
        clock=SystemClock(),
        silence_seconds=spec.config.loops.feed_silence_seconds,
    )


def _live_source(spec: StreamSpec) -> KiteFeedSource:
    instruments = _instruments(spec)
    underlying_of = underlying_tokens(instruments)
    return KiteFeedSource(
        partial(_feed, spec),
        tokens=[int(i.instrument_token) for i in instruments],
        key_of=partial(shard_of, underlying_of=underlying_of),
        clock=SystemClock(),
        partitions=spec.partitions,
        mark_delay=timedelta(seconds=spec.config.loops.candle_close_timeout_seconds),
        stop=spec.stop,
    )


def build_stream(
    spec: StreamSpec,
    observer: Observer | None = None,
    source: Source[SourceItem] | None = None,
) -> Dataflow:
    """The flow of ``spec`` (module-level, so ``partial(build_stream, spec)`` crosses processes).
    ``source`` replaces the spec's feed (tests script one, e.g. with an ``ABORT``)."""
    metrics = StreamMetrics()
    live = spec.feed is FeedKind.KITE
    runtime = WorkerRuntime(
        context_factory=partial(_context, spec), metrics=metrics, end_to_end_latency=live
    )
    database_url = spec.config.storage.database_url
    sink = StoreSink(
        partial(SqlStore.open, database_url),
        metrics=metrics,
        clock=SystemClock(),
        worker_name=spec.worker_name,
        end_to_end_latency=live,
        observer=observer,
        audit_factory=partial(AuditLog, spec.config.storage.var_dir / "audit", SystemClock()),
    )
    if source is None:
        source = (
            _live_source(spec)
            if live
            else LakeReplaySource(
                partial(_replay, spec), partitions=spec.partitions, batch_size=spec.batch_size
            )
        )
    return build_flow(source, sink, runtime)
