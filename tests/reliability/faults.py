"""Broker faults: the replayed day with 10 % of the paper exchange's answers going wrong, one way
at a time, and then all ways at once.

The day (after the worker's warm-up, from 09:25) is cut into equal segments, one per fault kind
(:data:`KINDS`); in each, the exchange's :class:`~execution.paper.faults.FaultPlan` makes that
kind happen at ``rate``:

- ``http_429``, ``http_5xx`` (500/502/503 in equal parts), ``timeout`` (the work is done, the
  answer held 10 s, past the client's 7 s timeout) and ``lost_response`` (the work is done, the
  connection dropped): on every REST request of the executor and the worker (quotes, history,
  order placement/modification/cancellation, order and trade books, positions, margins);
- ``reject`` and ``partial_fill``: on order placements (the order is accepted, then rejected;
  a fill is cut to half of what the book allowed);
- ``ws_drop`` and ``ws_stall`` (5 s of silence): on the ticker's frames, i.e. on each publish to
  each connection (the worker's ticks and the executor's order updates);
- ``mixed``: all of them at once (the response faults share ``rate`` between them).

Between segments the harness records what the exchange injected and counted, the alerts and
findings so far, and — when a circuit breaker fired the kill switch — re-arms it as an operator
would (``kitepilot rearm``'s function), so every segment is traded.

Goals: zero duplicate orders, every order final or flagged (a reconciliation finding or an alert
names it), no crash (both processes alive throughout), alerts raised.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from datetime import time as dt_time
from pathlib import Path
from typing import Any, Final

from data_contracts.timeutil import IST
from execution.orders.kill_switch import REARM_CONFIRMATION, rearm
from execution.paper.faults import FaultPlan, RouteFaults, WsFaults
from execution.paper.limits import RouteClass
from tests.reliability.harness import (
    EXECUTOR,
    WORKER,
    CrashLoop,
    Stack,
    StackSettings,
    Truth,
    integrity,
    market_at,
)
from tests.stream_world import World

__all__ = ["KINDS", "FaultsPlan", "plan_for", "play_segment", "run"]

KINDS: Final = (
    "http_429",
    "http_5xx",
    "timeout",
    "lost_response",
    "reject",
    "partial_fill",
    "ws_drop",
    "ws_stall",
    "mixed",
)
_REST: Final = (
    RouteClass.QUOTE,
    RouteClass.HISTORICAL,
    RouteClass.ORDER_PLACE,
    RouteClass.ORDER_MODIFY,
    RouteClass.ORDER_CANCEL,
    RouteClass.OTHER,
)
_FAULTS_FROM: Final = dt_time(9, 25)


@dataclass(frozen=True)
class FaultsPlan:
    rate: float = 0.10
    kinds: tuple[str, ...] = KINDS
    until: dt_time = dt_time(15, 30)
    speed: float = 120.0
    seed: int = 5
    stocks: int = 4
    config: tuple[tuple[str, str], ...] = ()  # extra config keys (SECTION__KEY, value)


def _response(kind: str, rate: float) -> RouteFaults:
    if kind == "http_5xx":
        return RouteFaults(http_500=rate / 3, http_502=rate / 3, http_503=rate / 3)
    if kind == "mixed":
        share = rate / 6
        return RouteFaults(
            http_429=share,
            http_500=share,
            http_502=share,
            http_503=share,
            timeout=share,
            lost_response=share,
        )
    return RouteFaults(**{kind: rate})


def plan_for(kind: str, rate: float, seed: int) -> FaultPlan:
    """The exchange's fault plan for one segment."""
    if kind in ("http_429", "timeout", "lost_response", "http_5xx"):
        return FaultPlan(seed=seed, routes={r: _response(kind, rate) for r in _REST})
    if kind in ("reject", "partial_fill"):
        return FaultPlan(seed=seed, routes={RouteClass.ORDER_PLACE: RouteFaults(**{kind: rate})})
    if kind == "ws_drop":
        return FaultPlan(seed=seed, ws=WsFaults(drop=rate))
    if kind == "ws_stall":
        return FaultPlan(seed=seed, ws=WsFaults(stall=rate))
    if kind == "mixed":
        routes = {r: _response(kind, rate) for r in _REST}
        routes[RouteClass.ORDER_PLACE] = _response(kind, rate).model_copy(
            update={"reject": rate, "partial_fill": rate}
        )
        return FaultPlan(seed=seed, routes=routes, ws=WsFaults(drop=rate / 2, stall=rate / 2))
    raise ValueError(f"unknown fault kind {kind!r}; one of {', '.join(KINDS)}")


def _segments(plan: FaultsPlan) -> list[tuple[str, datetime, datetime]]:
    first, last = market_at(_FAULTS_FROM), market_at(plan.until)
    step = (last - first) / len(plan.kinds)
    return [(k, first + i * step, first + (i + 1) * step) for i, k in enumerate(plan.kinds)]


@dataclass
class Segment:
    kind: str
    start: datetime
    end: datetime
    status: dict[str, Any]
    orders: int
    alerts: int
    findings: int
    kill_switch: str | None
    crashed: list[str]
    wall_seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "market": f"{self.start.astimezone(IST):%H:%M}-{self.end.astimezone(IST):%H:%M}",
            "requests": self.status.get("requests", {}),
            "injected": self.status.get("injected", {}),
            "orders_claimed": self.orders,
            "alerts": self.alerts,
            "findings": self.findings,
            "kill_switch": self.kill_switch,
            "crashed": self.crashed,
            "wall_seconds": round(self.wall_seconds, 1),
        }


def play_segment(
    stack: Stack, kind: str, window: tuple[datetime, datetime], rate: float, seed: int
) -> Segment:
    start, end = window
    before = (len(stack.oms.orders()), len(stack.alerts.alerts), len(stack.oms.findings()))
    began = time.monotonic()
    stack.play_until(start)
    stack.set_faults(plan_for(kind, rate, seed))
    crashes = len(stack.crashes)
    aborted = None
    try:
        stack.play_until(end)
    except CrashLoop as loop:
        aborted = str(loop)
    crashed = [f"{c['process']} at {c['at']}: {c['log'][-1:]}" for c in stack.crashes[crashes:]]
    if aborted is not None:
        crashed.append(aborted)
    status = stack.call(stack.exchange.faults.status)
    stack.set_faults(FaultPlan())
    kill = stack.oms.kill_switch()
    fired = f"{kill.actor}: {kill.reason}" if kill.engaged else None
    if kill.engaged:
        rearm(stack.operator(), "reliability-operator", REARM_CONFIRMATION)
    return Segment(
        kind=kind,
        start=start,
        end=end,
        status=status,
        orders=len(stack.oms.orders()) - before[0],
        alerts=len(stack.alerts.alerts) - before[1],
        findings=len(stack.oms.findings()) - before[2],
        kill_switch=fired,
        crashed=crashed,
        wall_seconds=time.monotonic() - began,
    )


def _unflagged(truth: Truth, alert_keys: list[str]) -> list[str]:
    """Our orders neither final nor named by a finding or an alert."""
    named = {subject for _, subject in truth.findings}
    text = " ".join(alert_keys)
    return sorted(
        tag
        for tag, r in truth.store_orders.items()
        if not r["final"] and tag not in named and tag not in text
    )


def run(world: World, out: Path, plan: FaultsPlan) -> dict[str, Any]:
    """Play the day segment by segment; what :mod:`tests.reliability` records."""
    started = time.monotonic()
    settings = StackSettings(
        speed=plan.speed, until=plan.until, stocks=plan.stocks, config=dict(plan.config)
    )
    segments: list[Segment] = []
    with Stack(world, out / "faults", settings) as stack:
        stack.start()
        stack.operator()  # built before any fault (it reads the instruments dump)
        for n, (kind, start, end) in enumerate(_segments(plan)):
            segment = play_segment(stack, kind, (start, end), plan.rate, plan.seed + n)
            segments.append(segment)
            if any("could not start again" in c for c in segment.crashed):
                break
        alive = {name: stack.alive(name) for name in (WORKER, EXECUTOR)}
        stack.finish(settle_wall=10.0)
        truth = stack.truth()
        audit_keys = stack.audit_alerts()
        received = list(stack.alerts.alerts)
        audit_ok, entries, problem = stack.audit_intact()
    found = integrity(truth)
    unflagged = _unflagged(truth, audit_keys)
    crashed = [c for s in segments for c in s.crashed]
    alert_kinds: dict[str, int] = {}
    for key in audit_keys:
        kind = key.split(":")[0] if not key.startswith("reconciliation:") else key.rsplit(":", 1)[0]
        alert_kinds[kind] = alert_kinds.get(kind, 0) + 1
    return {
        "plan": {
            "rate": plan.rate,
            "kinds": list(plan.kinds),
            "until": plan.until.isoformat(timespec="minutes"),
            "speed": plan.speed,
            "seed": plan.seed,
            "stocks": plan.stocks,
            "config": dict(plan.config),
        },
        "segments": [s.as_dict() for s in segments],
        "integrity": found.counts(),
        "integrity_detail": {k: v for k, v in found.__dict__.items() if v},
        "orders": len(truth.store_orders),
        "orders_not_final": sorted(t for t, r in truth.store_orders.items() if not r["final"]),
        "orders_not_final_unflagged": unflagged,
        "findings": _count(kind for kind, _ in truth.findings),
        "alerts_received": len(received),
        "alerts_by_kind": alert_kinds,
        "processes_alive_at_end": alive,
        "crashed": crashed,
        "audit_chain": {"intact": audit_ok, "entries": entries, "problem": problem},
        "goal_met": (
            not found.duplicate_orders
            and not unflagged
            and not crashed
            and all(alive.values())
            and len(received) > 0
        ),
        "wall_seconds": round(time.monotonic() - started, 1),
    }


def _count(items: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return out
