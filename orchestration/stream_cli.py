"""``kitepilot stream``: the streaming worker, on the paper exchange, on Kite, or replaying the
lake (backtest mode through the worker)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, time
from functools import partial
from pathlib import Path

from data_contracts.config import KitepilotConfig
from data_contracts.enums import TradingMode
from data_contracts.errors import ContractError
from data_contracts.nse_calendar import NseCalendar
from execution.store import SqlStore
from orchestration.broker_endpoints import BrokerEndpoints
from orchestration.broker_login import broker_session, paper_session
from orchestration.stream_setup import FeedKind, StreamSpec, build_stream
from streaming.run import run_flow

__all__ = ["StreamSummary", "run_stream", "stream_spec", "summary"]


@dataclass(frozen=True)
class StreamSummary:
    """What a stream run left in the store."""

    proposals: int
    exits: int
    dead_letters: Mapping[str, int]
    metrics: Mapping[str, Mapping[str, float]]


def _live_session(config: KitepilotConfig) -> BrokerEndpoints:
    if config.mode is not TradingMode.LIVE:
        raise ContractError("mode", "mode", config.mode.value, "must be 'live' to stream from Kite")
    return broker_session(config).endpoints


def stream_spec(
    config: KitepilotConfig,
    *,
    live: bool,
    replay: tuple[date, date] | None,
    processes: int,
    until: time | None = None,
) -> StreamSpec:
    """The worker's spec from the command line's choices."""
    if replay is not None:
        calendar = NseCalendar.default(override=config.calendar.holidays_file)
        first, last = replay
        days = tuple(s.date for s in calendar.sessions(first, last))
        if not days:
            raise ContractError("stream", "--from", first, f"must leave a session up to {last}")
        return StreamSpec(
            config=config, feed=FeedKind.REPLAY, days=days, partitions=processes, until=until
        )
    session = _live_session(config) if live else paper_session(config)
    return StreamSpec(
        config=config,
        feed=FeedKind.KITE,
        partitions=processes,
        session=session,
        worker_name="live" if live else "paper",
    )


def recovery_dir(config: KitepilotConfig, spec: StreamSpec) -> Path | None:
    """Where a run keeps its Bytewax snapshots (under ``var/recovery``), or None for a run that
    must start afresh: a replay (a finished one's snapshot would replay nothing) and a paper
    session (the paper exchange replays its day from the open each time it starts, so the state
    of an earlier run would be ahead of the market and refuse every tick). Live Kite's market
    time only moves forward: a restarted live worker resumes its state."""
    if spec.feed is not FeedKind.KITE or spec.worker_name != "live":
        return None
    return config.storage.var_dir / "recovery" / f"stream-{spec.worker_name}"


def run_stream(config: KitepilotConfig, spec: StreamSpec, *, processes: int) -> StreamSummary:
    """Run the worker until its feed ends (a replay) or it is interrupted; what it stored."""
    try:
        run_flow(
            partial(build_stream, spec),
            processes=processes,
            recovery_dir=recovery_dir(config, spec),
        )
    except KeyboardInterrupt:
        pass  # Ctrl-C: a live stream's normal end; what it stored is summarised below
    return summary(config)


def summary(config: KitepilotConfig) -> StreamSummary:
    """What the store holds now."""
    with SqlStore.open(config.storage.database_url) as store:
        return StreamSummary(
            proposals=store.proposal_count(),
            exits=len(store.exits()),
            dead_letters=dict(store.dead_letter_counts()),
            metrics=store.latest_metrics(),
        )
