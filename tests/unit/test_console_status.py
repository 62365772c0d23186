"""The system status panel from stored worker metrics, the kill switch, flags and the account."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from data_contracts.config import DEFAULTS_FILE, KitepilotConfig
from data_contracts.enums import TradingMode
from data_contracts.ports import RegisteredModel
from execution.console.status import (
    FEED_LIVE,
    FEED_STALE,
    NO_WORKERS,
    latency_percentiles_ms,
    system_status,
)
from execution.kite.session import SessionStatus
from execution.risk import RiskLimits, circuit_breaker
from execution.store import OperatorFlag
from streaming.metrics import StreamMetrics
from tests.unit.test_console_world import CALENDAR, T0, ConsoleWorld, world

__all__ = ["world"]  # the fixture, imported

CONFIG = KitepilotConfig.model_validate(yaml.safe_load(DEFAULTS_FILE.read_text("utf-8")))
SILENCE = timedelta(seconds=CONFIG.loops.feed_silence_seconds)


def _metrics(latencies_us: list[float], ticks: int = 0, lag: float = 0.0) -> StreamMetrics:
    metrics = StreamMetrics()
    metrics.count("ticks", ticks)
    for micros in latencies_us:
        metrics.latency(micros)
    metrics.feed_lag_seconds = lag
    return metrics


def test_system_status_without_workers_says_so(world: ConsoleWorld) -> None:
    status = system_status(
        CONFIG,
        world.store,
        world.clock.now(),
        account=None,
        session=None,
        champion=None,
        promoted_at=None,
    )

    assert (status.mode, status.feed_state) == ("PAPER", NO_WORKERS)
    assert (status.feed_lag_seconds, status.ticks_per_second) == (None, None)
    assert (status.dead_letters, status.latency_ms, status.circuit_breaker) == ({}, {}, ())
    assert (status.model_version, status.session_valid) == (None, None)
    assert not status.kill_switch.engaged
    assert not status.proposals_paused.value


def test_system_status_in_live_mode_says_live(world: ConsoleWorld) -> None:
    live = CONFIG.model_copy(update={"mode": TradingMode.LIVE})

    status = system_status(
        live,
        world.store,
        world.clock.now(),
        account=None,
        session=None,
        champion=None,
        promoted_at=None,
    )

    assert status.mode == "LIVE"


def test_system_status_sums_fresh_workers_and_takes_the_slowest_percentiles(
    world: ConsoleWorld,
) -> None:
    now = world.clock.now()
    first = _metrics([1_000.0] * 10, ticks=300, lag=0.4)
    first.dead_letter("crossed_book")
    second = _metrics([3_000.0] * 10, ticks=100, lag=1.5)
    second.dead_letter("crossed_book")
    second.dead_letter("stale_tick")
    for worker, metrics in (("w0", first), ("w1", second)):
        metrics.snapshot(now - timedelta(seconds=10))  # the rate mark
        world.store.record_metrics(worker, now - timedelta(seconds=2), metrics.snapshot(now))

    status = system_status(
        CONFIG, world.store, now, account=None, session=None, champion=None, promoted_at=None
    )

    assert status.feed_state == FEED_LIVE
    assert status.feed_lag_seconds == pytest.approx(1.5)
    assert status.ticks_per_second == pytest.approx(0.0)  # no ticks between the two snapshots
    assert status.dead_letters == {"crossed_book": 2, "stale_tick": 1}
    assert status.latency_ms == {"p50": 3.0, "p95": 3.0, "p99": 3.0}


def test_system_status_ticks_per_second_is_the_workers_sum(world: ConsoleWorld) -> None:
    now = world.clock.now()
    for worker, ticks in (("w0", 300), ("w1", 100)):
        metrics = _metrics([], ticks=0)
        metrics.snapshot(now - timedelta(seconds=10))
        metrics.count("ticks", ticks)
        world.store.record_metrics(worker, now, metrics.snapshot(now))

    status = system_status(
        CONFIG, world.store, now, account=None, session=None, champion=None, promoted_at=None
    )

    assert status.ticks_per_second == pytest.approx(40.0)
    assert status.latency_ms == {}


def test_system_status_feed_is_stale_when_no_worker_reported_lately(world: ConsoleWorld) -> None:
    reported = world.clock.now()
    world.store.record_metrics("w0", reported, _metrics([500.0], lag=0.5).snapshot(reported))
    later = reported + SILENCE + timedelta(seconds=30)

    status = system_status(
        CONFIG, world.store, later, account=None, session=None, champion=None, promoted_at=None
    )

    assert status.feed_state == FEED_STALE
    assert status.feed_lag_seconds == pytest.approx(0.5 + (SILENCE.total_seconds() + 30))


def test_system_status_leaves_a_long_gone_worker_out_of_a_live_feed(world: ConsoleWorld) -> None:
    now = world.clock.now()
    gone, alive = _metrics([9_000.0], lag=60.0), _metrics([1_000.0], lag=0.2)
    world.store.record_metrics("old", now - timedelta(hours=1), gone.snapshot(now))
    world.store.record_metrics("w0", now, alive.snapshot(now))

    status = system_status(
        CONFIG, world.store, now, account=None, session=None, champion=None, promoted_at=None
    )

    assert status.feed_state == FEED_LIVE
    assert status.feed_lag_seconds == pytest.approx(0.2)
    assert status.latency_ms["p99"] == pytest.approx(1.0)


def test_system_status_shows_who_fired_the_kill_switch_and_the_pause(world: ConsoleWorld) -> None:
    now = world.clock.now()
    world.oms.record_kill_switch(True, now, "asha", "feed looks wrong")
    world.store.set_flag(OperatorFlag.PROPOSALS_PAUSED, True, now, "ravi", "lunch")
    account = world.executor.account.state()

    status = system_status(
        CONFIG, world.store, now, account=account, session=None, champion=None, promoted_at=None
    )

    assert (status.kill_switch.engaged, status.kill_switch.actor) == (True, "asha")
    assert status.kill_switch.reason == "feed looks wrong"
    assert (status.proposals_paused.value, status.proposals_paused.actor) == (True, "ravi")
    expected = circuit_breaker(account, RiskLimits.from_config(CONFIG), CALENDAR)
    assert status.circuit_breaker == tuple((c.name, c.passed, c.detail) for c in expected)
    assert ("kill_switch", False) in {(name, ok) for name, ok, _ in status.circuit_breaker}


def test_system_status_shows_the_session_and_the_champion(world: ConsoleWorld) -> None:
    now = world.clock.now()
    expires = now + timedelta(hours=20)
    session = SessionStatus(True, "AB1234 logged in until 2026-08-19 06:00 IST", expires, 1.0)
    champion = RegisteredModel("kitepilot-equity", "12", "f1", T0 - timedelta(days=2))

    status = system_status(
        CONFIG,
        world.store,
        now,
        account=None,
        session=session,
        champion=champion,
        promoted_at=None,
    )

    assert (status.session_valid, status.session_reason) == (True, session.reason)
    assert status.session_expires_in_seconds == pytest.approx(20 * 3600)
    assert (status.model_version, status.model_promoted_at) == ("12", T0 - timedelta(days=2))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.floats(min_value=1, max_value=1e6), min_size=1, max_size=40),
        min_size=1,
        max_size=4,
    )
)
def test_latency_percentiles_bound_the_pooled_percentile_from_above(
    workers: list[list[float]],
) -> None:
    snapshots = [_metrics(latencies).snapshot(T0) for latencies in workers]
    pooled = _metrics([x for latencies in workers for x in latencies])

    shown = latency_percentiles_ms(snapshots)

    for q in (50, 95, 99):
        lowest = min(s[f"tick_to_proposal_p{q}_us"] for s in snapshots) / 1_000
        assert lowest <= pooled.percentile(q) / 1_000 <= shown[f"p{q}"]
        assert math.isfinite(shown[f"p{q}"])
