"""Crash-restart: kill -9 the streaming worker or the executor at seeded random points of a
replayed day — including between sending an order and its acknowledgement — restart each time,
and count what was duplicated, lost or left inconsistent.

Method (docs/RELIABILITY.md):

1. A **reference** run plays the day (up to ``until``) with no kill.
2. The **chaos** run plays the same day and kills ``kills`` times, at market times drawn from a
   seeded RNG; each kill is one of

   - ``worker``: kill -9 of ``kitepilot stream --paper`` at that moment;
   - ``executor``: kill -9 of the executor at that moment;
   - ``executor-claimed``: the next time an order is claimed in the store and has no answer yet,
     kill -9 the executor at once (before the send, or while it is on the wire);
   - ``executor-unacknowledged``: the exchange delays its answer to the next order placement by
     a few seconds (a ``delay`` fault: the order *is* placed), and the executor is killed once
     the order is on the exchange's book while the store still has it in flight.

   Each killed process is restarted at once; while it is down the market runs at
   ``restart_speed``.
3. :func:`~tests.reliability.harness.integrity` counts duplicates, lost orders and fills and
   position mismatches of the chaos run (exchange vs store), and :func:`compare` sets its
   proposals, decisions, orders and fills against the reference run's: a difference is
   *explained* when the proposal's life overlaps an outage (a worker that is down sees no ticks;
   an executor that is down sends nothing), and *unexplained* otherwise.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Any, Final

from data_contracts.timeutil import IST
from execution.paper.faults import FaultPlan, RouteFaults
from execution.paper.limits import RouteClass
from tests.reliability.harness import (
    EXECUTOR,
    WORKER,
    CrashLoop,
    Outage,
    Stack,
    StackSettings,
    Truth,
    integrity,
    market_at,
)
from tests.stream_world import World

__all__ = ["KILL_MODES", "CrashPlan", "Kill", "compare", "interrupt", "kill_schedule", "run"]

KILL_MODES: Final = ("worker", "executor", "executor-claimed", "executor-unacknowledged")
_ACK_DELAY: Final = FaultPlan(
    routes={RouteClass.ORDER_PLACE: RouteFaults(delay=1.0, delay_seconds=4.0)}
)
_ORDER_WAIT: Final = timedelta(minutes=30)  # most market time to wait for an order to interrupt
_FIRST_KILL: Final = dt_time(9, 25)


@dataclass(frozen=True)
class CrashPlan:
    kills: int = 20
    until: dt_time = dt_time(15, 30)
    speed: float = 120.0
    seed: int = 11
    stocks: int = 4
    config: tuple[tuple[str, str], ...] = ()  # extra config keys (SECTION__KEY, value)


@dataclass(frozen=True)
class Kill:
    at: datetime
    mode: str


def kill_schedule(plan: CrashPlan) -> list[Kill]:
    """``plan.kills`` kills at seeded random market times between 09:25 and 10 minutes before
    ``until``; the modes take turns (so each appears) in a seeded order."""
    rng = random.Random(plan.seed)  # noqa: S311 - a seeded test schedule, not cryptography
    first = market_at(_FIRST_KILL)
    last = market_at(plan.until) - timedelta(minutes=10)
    span = (last - first).total_seconds()
    times = sorted(first + timedelta(seconds=rng.uniform(0, span)) for _ in range(plan.kills))
    modes = [KILL_MODES[i % len(KILL_MODES)] for i in range(plan.kills)]
    rng.shuffle(modes)
    return [Kill(at, mode) for at, mode in zip(times, modes, strict=True)]


def interrupt(stack: Stack, kill: Kill) -> Outage:
    """Carry out ``kill`` (the market is at or past ``kill.at``) and restart what was killed."""
    if kill.mode == "worker":
        outage = stack.kill(WORKER, kill.mode)
    elif kill.mode == "executor":
        outage = stack.kill(EXECUTOR, kill.mode)
    else:
        outage = _kill_in_flight(stack, kill)
    stack.restart(outage)
    return outage


def _kill_in_flight(stack: Stack, kill: Kill) -> Outage:
    """Wait (market running) for an order claimed and unanswered, then kill the executor."""
    unacknowledged = kill.mode == "executor-unacknowledged"
    if unacknowledged:
        stack.set_faults(_ACK_DELAY)
    deadline = stack.now() + _ORDER_WAIT
    try:
        while stack.now() < deadline:
            tag, on_book = _in_flight(stack)
            if tag is not None and (on_book or not unacknowledged):
                where = "on the exchange's book" if on_book else "not on the exchange's book"
                return stack.kill(EXECUTOR, kill.mode, f"order {tag} in flight, {where}")
            time.sleep(0.002)
        return stack.kill(EXECUTOR, kill.mode, "no order came within 30 market minutes")
    finally:
        if unacknowledged:
            stack.set_faults(FaultPlan())


def _in_flight(stack: Stack) -> tuple[str | None, bool]:
    """A claimed order of ours with no answer yet, and whether the exchange has it."""
    venue = stack.exchange.venue
    for record in stack.oms.orders(open_only=True):
        if record.in_flight:
            book = stack.call(lambda: {o.get("tag") for o in venue.orders()})
            return record.client_tag.value, record.client_tag.value in book
    return None, False


def play(stack: Stack, plan: CrashPlan, kills: list[Kill]) -> str | None:
    """Play the day to ``plan.until``, carrying out each kill when its time comes. Returns why
    the day was cut short (a process that crashed and could not start again), or None."""
    pending = list(kills)

    def step(now: datetime) -> None:
        while pending and now >= pending[0].at:
            interrupt(stack, pending.pop(0))

    aborted = None
    try:
        stack.play_until(market_at(plan.until), step)
    except CrashLoop as loop:
        aborted = f"at {stack.now().astimezone(IST):%H:%M:%S}: {loop}"
    stack.finish()
    return aborted


_MATCH: Final = timedelta(minutes=2)


def _worker_down(ts: datetime, outages: list[Outage]) -> bool:
    """Whether the bar closing at ``ts`` fell while the worker was down or warming up (from a
    minute before the kill to two minutes after it ran at full speed again)."""
    for outage in outages:
        back = outage.resumed_at or outage.back_at or outage.killed_at
        if outage.process == WORKER and (
            outage.killed_at - timedelta(minutes=1) <= ts <= back + timedelta(minutes=2)
        ):
            return True
    return False


def unmatched(reference: Truth, other: Truth) -> list[tuple[str, datetime]]:
    """Proposals of ``reference`` with none on the same instrument within two minutes in
    ``other``. Whether a bar proposes depends on the trades open at the time (one trade per
    instrument), so a proposal can move by a bar or two between two runs of the same day."""
    times: dict[str, list[datetime]] = {}
    for p in other.proposals.values():
        times.setdefault(p["symbol"], []).append(p["ts_event"])
    missing = []
    for pid, p in reference.proposals.items():
        near = [t for t in times.get(p["symbol"], []) if abs(t - p["ts_event"]) <= _MATCH]
        if not near:
            missing.append((pid, p["ts_event"]))
    return sorted(missing)


def compare(
    reference: Truth, chaos: Truth, outages: list[Outage], baseline: Truth | None
) -> dict[str, Any]:
    """Lost proposals of the chaos run against the reference run (and, for scale, of a second
    uninterrupted run against the same reference)."""
    lost = unmatched(reference, chaos)
    explained = [pid for pid, ts in lost if _worker_down(ts, outages)]
    out: dict[str, Any] = {
        "matching": "same instrument, bar within 2 minutes",
        "lost_explained_by_worker_outage": explained,
        "lost_unexplained": [pid for pid, ts in lost if not _worker_down(ts, outages)],
        "extra_in_chaos": [pid for pid, _ in unmatched(chaos, reference)],
    }
    if baseline is not None:
        out["baseline_unmatched"] = [pid for pid, _ in unmatched(reference, baseline)]
        out["baseline_extra"] = [pid for pid, _ in unmatched(baseline, reference)]
    return out


def summary(truth: Truth) -> dict[str, int]:
    """A run's counts: proposals by final status, orders, fills, open trades."""
    statuses: dict[str, int] = {}
    for p in truth.proposals.values():
        statuses[p["status"]] = statuses.get(p["status"], 0) + 1
    return {
        "proposals": len(truth.proposals),
        "undecided": sum(1 for p in truth.proposals.values() if p["decision"] is None),
        "open_trades_at_end": len(truth.open_trades),
        "orders": len(truth.store_orders),
        "exchange_orders": len(truth.exchange_orders),
        "fills": len(truth.store_fills),
        **{f"status_{k.lower()}": v for k, v in sorted(statuses.items())},
    }


def _settings(plan: CrashPlan) -> StackSettings:
    return StackSettings(
        speed=plan.speed, until=plan.until, stocks=plan.stocks, config=dict(plan.config)
    )


def _uninterrupted(world: World, folder: Path, plan: CrashPlan) -> tuple[Truth, dict[str, Any]]:
    with Stack(world, folder, _settings(plan)) as reference:
        reference.start()
        aborted = play(reference, plan, [])
        return reference.truth(), {"aborted": aborted, "crashes": reference.crashes}


def _no_loss_beyond_noise(comparison: dict[str, Any]) -> bool:
    """Proposals of the chaos run missing against the reference, worker up, are no more than a
    second *uninterrupted* run misses against the same reference. Which proposals a run makes
    depends on which trades are open, i.e. on fill timing, so two runs of the same day differ
    (docs/RELIABILITY.md: 55-57 of ~235); the orders, fills and positions are compared exactly
    (``integrity``). Without a baseline run, none may be missing."""
    lost = len(comparison["lost_unexplained"])
    return (
        lost <= len(comparison["baseline_unmatched"])
        if "baseline_unmatched" in comparison
        else lost == 0
    )


def run(world: World, out: Path, plan: CrashPlan, *, baseline: bool = True) -> dict[str, Any]:
    """The reference run, optionally a second uninterrupted run (the run-to-run noise), and the
    chaos run; what :mod:`tests.reliability` records."""
    started = time.monotonic()
    reference, reference_run = _uninterrupted(world, out / "reference", plan)
    second, second_run = _uninterrupted(world, out / "baseline", plan) if baseline else (None, {})
    with Stack(world, out / "chaos", _settings(plan)) as chaos:
        chaos.start()
        aborted = play(chaos, plan, kill_schedule(plan))
        truth = chaos.truth()
        crashes = chaos.crashes
        audit_ok, audit_entries, audit_problem = chaos.audit_intact()
        outages = chaos.outages
        startup = chaos.startup
    found = integrity(truth)
    comparison = compare(reference, truth, outages, second)
    return {
        "plan": {
            "kills": plan.kills,
            "until": plan.until.isoformat(timespec="minutes"),
            "speed": plan.speed,
            "seed": plan.seed,
            "stocks": plan.stocks,
            "config": dict(plan.config),
        },
        "kills": [o.as_dict() for o in outages],
        "kills_by_mode": {m: sum(1 for o in outages if o.mode == m) for m in KILL_MODES},
        "restart_wall_seconds": {
            process: [round(o.wall_down, 2) for o in outages if o.process == process]
            for process in (WORKER, EXECUTOR)
        },
        "startup_wall_seconds": startup,
        "runs": {
            "reference": summary(reference)
            | {"integrity": integrity(reference).counts()}
            | reference_run,
            **(
                {}
                if second is None
                else {
                    "baseline": summary(second)
                    | {"integrity": integrity(second).counts()}
                    | second_run
                }
            ),
            "chaos": summary(truth) | {"aborted": aborted},
        },
        "integrity": found.counts(),
        "integrity_detail": {k: v for k, v in found.__dict__.items() if v},
        "findings": [f"{kind}:{subject}" for kind, subject in truth.findings],
        "crashes": crashes,
        "audit_chain": {"intact": audit_ok, "entries": audit_entries, "problem": audit_problem},
        "comparison": comparison,
        "aborted": aborted,
        "goal_met": (
            found.clean
            and _no_loss_beyond_noise(comparison)
            and audit_ok
            and not crashes
            and aborted is None
        ),
        "wall_seconds": round(time.monotonic() - started, 1),
    }
