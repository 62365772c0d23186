"""The system status panel: mode, the streaming feed, the model, the broker session, the kill
switch and the pause flag, the circuit breaker, and tick→proposal latency.

The feed numbers come from the streaming workers' metrics snapshots in the store
(``stream_metrics``, one row per worker, written by ``StreamMetrics.snapshot`` every few seconds
while a worker has output): a worker whose snapshot is older than ``loops.feed_silence_seconds``
is *stale*. Aggregates use the fresh workers, or every worker when none is fresh (then the state
says "stale"), so a worker that stopped long ago does not count in a live feed's numbers.

Latency percentiles: a snapshot holds each worker's own nearest-rank p50/p95/p99 of its
tick→proposal latencies (``tick_to_proposal_p{q}_us``), not the histogram buckets, so the
percentile of all workers' latencies together cannot be recomputed exactly. It always lies
between the smallest and the largest of the workers' own percentiles (if every worker has at
least q % of its samples at or below its p_q, then at least q % of all samples are at or below
the largest p_q), so the panel shows **the largest across workers** for each q: an upper bound,
exact with one worker. A worker with no samples yet (p50 = 0) is left out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Final

from data_contracts.config import KitepilotConfig
from data_contracts.nse_calendar import NseCalendar
from data_contracts.ports import RegisteredModel
from data_contracts.timeutil import require_aware
from execution.kite.session import SessionStatus
from execution.risk import AccountState, RiskLimits, circuit_breaker
from execution.store.flags import FlagState, OperatorFlag
from execution.store.oms import KillSwitchState, OmsStore
from execution.store.sql import SqlStore

__all__ = [
    "FEED_LIVE",
    "FEED_STALE",
    "NO_WORKERS",
    "SystemStatus",
    "WorkerSnapshot",
    "latency_percentiles_ms",
    "system_status",
    "worker_snapshots",
]

FEED_LIVE: Final = "live"
FEED_STALE: Final = "stale"
NO_WORKERS: Final = "no workers"
_QUANTILES: Final = (50, 95, 99)
_DEAD_LETTER_PREFIX: Final = "dead_letters."


@dataclass(frozen=True, slots=True)
class SystemStatus:
    mode: str  # "PAPER" / "LIVE"
    feed_state: str  # "live" / "stale" / "no workers"
    feed_lag_seconds: float | None
    ticks_per_second: float | None
    dead_letters: Mapping[str, int]
    model_version: str | None
    model_promoted_at: datetime | None
    session_valid: bool | None
    session_expires_in_seconds: float | None
    session_reason: str
    kill_switch: KillSwitchState
    proposals_paused: FlagState
    circuit_breaker: tuple[tuple[str, bool, str], ...]  # (name, passed, detail)
    latency_ms: Mapping[str, float]  # "p50", "p95", "p99": tick→proposal


@dataclass(frozen=True, slots=True)
class WorkerSnapshot:
    """One streaming worker's latest metrics (``StreamMetrics.snapshot``) and when it wrote them."""

    worker: str
    ts_event: datetime
    metrics: Mapping[str, float]


def system_status(
    config: KitepilotConfig,
    store: SqlStore,
    now: datetime,
    *,
    account: AccountState | None,
    session: SessionStatus | None,
    champion: RegisteredModel | None,
    promoted_at: datetime | None,
    calendar: NseCalendar | None = None,
) -> SystemStatus:
    """The status at ``now``. ``account``: the executor's snapshot for the circuit breaker (None:
    no breaker rows); ``session``: the saved broker session's status (None: unknown);
    ``champion`` and ``promoted_at`` (default: the champion's own) from the model registry;
    ``calendar`` defaults to the NSE calendar with the configured holiday override."""
    now = require_aware("system_status", "now", now)
    workers = worker_snapshots(store)
    silence = timedelta(seconds=config.loops.feed_silence_seconds)
    fresh = [w for w in workers if now - w.ts_event <= silence]
    used = fresh or workers
    if not workers:
        state, lag, rate = NO_WORKERS, None, None
    else:
        state = FEED_LIVE if fresh else FEED_STALE
        lag = max(w.metrics.get("feed_lag_seconds", 0.0) for w in used)
        if not fresh:  # nothing heard since the newest snapshot: the feed is at least that late
            lag += min((now - w.ts_event).total_seconds() for w in used)
        rate = sum(w.metrics.get("ticks_per_second", 0.0) for w in used)
    breakers: tuple[tuple[str, bool, str], ...] = ()
    if account is not None:
        nse = calendar or _calendar(config.calendar.holidays_file)
        checks = circuit_breaker(account, RiskLimits.from_config(config), nse)
        breakers = tuple((c.name, c.passed, c.detail) for c in checks)
    expires_in = None
    if session is not None and session.expires_at is not None:
        expires_in = max(0.0, (session.expires_at - now).total_seconds())
    return SystemStatus(
        mode=config.mode.value.upper(),
        feed_state=state,
        feed_lag_seconds=lag,
        ticks_per_second=rate,
        dead_letters=_dead_letters(used),
        model_version=None if champion is None else champion.version,
        model_promoted_at=promoted_at
        if promoted_at is not None
        else (None if champion is None else champion.promoted_at),
        session_valid=None if session is None else session.valid,
        session_expires_in_seconds=expires_in,
        session_reason="broker session not known" if session is None else session.reason,
        kill_switch=OmsStore.of(store).kill_switch(),
        proposals_paused=store.flag(OperatorFlag.PROPOSALS_PAUSED),
        circuit_breaker=breakers,
        latency_ms=latency_percentiles_ms([w.metrics for w in used]),
    )


def worker_snapshots(store: SqlStore) -> list[WorkerSnapshot]:
    """Every worker's latest snapshot with its time."""
    return [WorkerSnapshot(*snapshot) for snapshot in store.metric_snapshots()]


def latency_percentiles_ms(snapshots: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """``{"p50", "p95", "p99"}`` in milliseconds: per quantile the largest of the workers' own
    (an upper bound of the pooled percentile; see the module docstring). Empty without samples."""
    sampled = [s for s in snapshots if s.get("tick_to_proposal_p50_us", 0.0) > 0]
    if not sampled:
        return {}
    return {
        f"p{q}": max(s.get(f"tick_to_proposal_p{q}_us", 0.0) for s in sampled) / 1_000
        for q in _QUANTILES
    }


def _dead_letters(snapshots: Sequence[WorkerSnapshot]) -> dict[str, int]:
    """Dead letters by reason, summed over the workers (each counts since it started)."""
    counts: dict[str, int] = {}
    for snapshot in snapshots:
        for name, value in snapshot.metrics.items():
            if name.startswith(_DEAD_LETTER_PREFIX):
                reason = name.removeprefix(_DEAD_LETTER_PREFIX)
                counts[reason] = counts.get(reason, 0) + round(value)
    return dict(sorted(counts.items()))


@lru_cache(maxsize=4)
def _calendar(override: Path | None) -> NseCalendar:
    return NseCalendar.default(override=override)
