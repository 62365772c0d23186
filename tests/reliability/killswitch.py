"""Kill switch under load: fire it with open orders and positions while ticks stream; measure the
time to flat; check it halts, and stays engaged across a restart.

For each firing time of the plan, in one replayed day:

1. Open orders and positions: *manual* proposals (the strategy's last proposal, moved to
   another stock and price) are approved at the desk and sent by the executor: two BUY
   LIMITs 1 % under the market rest on the book (the harness waits until they are OPEN at the
   exchange; the fill timeout is raised so the executor does not cancel them first), and BUYs
   0.5 % through the market fill, besides the strategy's own open trades.
2. Fire: ``via="process"`` runs ``kitepilot kill`` itself as a new process (it records the
   switch engaged first, then builds its executor and engages; the running executor makes the
   account flat as soon as it sees the engagement); ``via="operator"`` calls ``engage`` on an
   executor already built in the harness, as the dashboard's kill button does.
3. Time to halted and to flat: from the moment the command is launched until the store shows the
   switch engaged, and until the exchange shows no net position and no open order (the store
   and the venue's positions read every 10 ms, its order book whenever those show engaged and
   no position). Wall seconds; the market keeps running at ``speed``.
4. Halted: for ``watch`` market minutes the worker keeps proposing and the approver keeps
   approving; no entry order may be claimed, and every approval must be refused.
5. Restart: kill -9 the executor, start it again; the kill switch must still be engaged, and for
   ``watch`` more minutes nothing is sent and the book stays flat.
6. Re-arm (``kitepilot rearm``'s function, typed REARM) before the next firing time.

Goal: flat and halted within 2 s, the state survives the restart.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any, Final

from data_contracts.enums import (
    OrderStatus,
    Product,
    ProposalOrigin,
    ProposalStatus,
    Side,
    Verdict,
)
from data_contracts.errors import ContractError
from data_contracts.ids import ProposalId
from data_contracts.pricegrid import round_for_side
from data_contracts.timeutil import IST
from data_contracts.trading import Proposal
from execution.orders.kill_switch import REARM_CONFIRMATION, engage, rearm
from execution.store import OrderPurpose
from tests.reliability.harness import (
    EXECUTOR,
    CrashLoop,
    Stack,
    StackSettings,
    integrity,
    market_at,
)
from tests.stream_world import World

__all__ = ["KillPlan", "fire", "manual_proposals", "run", "wait_resting", "watch"]

GOAL_SECONDS: Final = 2.0
_FLAT_WALL: Final = 60.0  # most wall seconds to wait for flat before calling it "not flat"
_OPEN_STATES: Final = frozenset(s.value for s in OrderStatus if not s.is_final)


@dataclass(frozen=True)
class KillPlan:
    fire_at: tuple[dt_time, ...] = (dt_time(10, 0), dt_time(11, 45), dt_time(13, 30))
    via: tuple[str, ...] = ("process", "operator", "process")
    resting: int = 2
    watch: timedelta = timedelta(minutes=5)
    speed: float = 60.0
    stocks: int = 4
    # Entries rest until the kill (the executor would cancel them after the 60 s fill timeout).
    config: tuple[tuple[str, str], ...] = (("LOOPS__ORDER_FILL_TIMEOUT_SECONDS", "3600"),)


def manual_proposals(stack: Stack, n: int) -> list[Proposal]:
    """Manual BUY proposals (about ₹2 lakh each) on up to ``2 n`` stocks the account is not short
    in: the first ``n`` 1 % under the market (they rest on the book: open orders), the rest 0.5 %
    through it (they fill: positions, besides the strategy's own)."""
    template = next(
        (p for p in reversed(_proposals(stack)) if p.origin is ProposalOrigin.STRATEGY), None
    )
    if template is None:
        return []
    instruments = stack.operator().context.instruments
    venue = stack.exchange.venue
    now = stack.now()
    held, _ = _exchange_open(stack)
    short = {token for (token, _), quantity in held.items() if quantity < 0}
    made = []
    # Not where the account is short: a BUY there would be an opposite entry ("Found", 6).
    for k, token in enumerate([t for t in stack.tokens if t not in short][: 2 * n]):
        quote = stack.call(partial(venue.last_quote, token))
        instrument = instruments[token]
        if quote is None:
            continue
        last = Decimal(str(quote.last_price))
        tick = Decimal(str(instrument.tick_size))
        through = Decimal("0.99") if k < n else Decimal("1.005")
        limit = round_for_side(last * through, tick, Side.BUY)
        quantity = max(1, int(Decimal(200_000) / limit))
        proposal = dataclasses.replace(
            template,
            proposal_id=ProposalId(f"manual:{token}:{now.astimezone(IST):%H%M%S}"),
            origin=ProposalOrigin.MANUAL,
            ts_event=now,
            ts_init=now,
            instrument_token=instrument.instrument_token,
            exchange=instrument.exchange,
            tradingsymbol=instrument.tradingsymbol,
            side=Side.BUY,
            product=Product.MIS,
            lots=quantity,
            lot_size=1,
            tick_size=float(tick),
            limit_price=float(limit),
            stop_loss=float(round_for_side(limit * Decimal("0.995"), tick, Side.BUY)),
            take_profit=float(round_for_side(limit * Decimal("1.01"), tick, Side.SELL)),
            expires_at=now + timedelta(minutes=2),
            time_exit=now + timedelta(minutes=30),
        )
        stack.store.add(proposal)
        made.append(proposal)
    return made


def _proposals(stack: Stack) -> list[Proposal]:
    found = [p for status in ProposalStatus for p in stack.store.with_status(status)]
    return sorted(found, key=lambda p: p.ts_event)


def _exchange_open(stack: Stack) -> tuple[dict[tuple[int, str], int], list[str]]:
    return _exchange_held(stack), _exchange_working(stack)


def _exchange_held(stack: Stack) -> dict[tuple[int, str], int]:
    """The exchange's net positions that are not flat (a handful of rows: cheap to read)."""
    positions = stack.call(stack.exchange.venue.positions)
    return {
        (int(p["instrument_token"]), str(p["product"])): int(p["quantity"])
        for p in positions["net"]
        if int(p["quantity"]) != 0
    }


def _exchange_working(stack: Stack) -> list[str]:
    """The exchange's orders still working, by tag (a read of the day's whole order book: by
    13:30 some 260 orders, ~10 ms of the exchange's own thread under load)."""
    orders = stack.call(stack.exchange.venue.orders)
    return [str(o.get("tag") or o["order_id"]) for o in orders if o["status"] in _OPEN_STATES]


def wait_resting(stack: Stack, proposals: list[Proposal]) -> int:
    """Play on until the manual proposals' orders are OPEN at the exchange (or a market minute
    went by); how many are resting."""
    deadline = stack.now() + timedelta(minutes=1)
    wanted = {p.proposal_id.value for p in proposals}
    resting = 0
    while stack.now() < deadline:
        records = [r for r in stack.oms.orders(open_only=True) if r.subject_id in wanted]
        resting = sum(
            1 for r in records if r.latest is not None and r.latest.status is OrderStatus.OPEN
        )
        if resting == len(wanted):
            break
        time.sleep(0.02)
    return resting


def _launch_kill(stack: Stack) -> subprocess.Popen[bytes]:
    """``kitepilot kill`` itself, as an operator types it (on the exchange's market clock)."""
    kitepilot = Path(sys.executable).with_name("kitepilot")
    argv = [str(kitepilot), "kill", "--reason", "kill switch drill", "--by", "reliability-cli"]
    log = (stack.run_dir / "logs" / "kill.log").open("ab")
    return subprocess.Popen(  # noqa: S603 - our own fixed argv, no shell
        argv,
        cwd=stack.run_dir,
        env=stack.environment(),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def fire(stack: Stack, via: str) -> dict[str, Any]:
    """Fire the kill switch now and measure until it is engaged (halted) and the exchange is
    flat."""
    held, working = _exchange_open(stack)
    before = stack.oms.kill_switch()
    fired_at = stack.now()
    launched = time.monotonic()
    process, detail = None, dict[str, object]()
    if via == "process":
        process = _launch_kill(stack)
    else:
        try:
            outcome = engage(stack.operator(), "reliability-operator", "kill switch drill")
            detail = {"exits": len(outcome.exits)}
        except ContractError as error:  # the book could not be read: the kill did not finish
            detail = {"error": str(error)}
    halted_at = flat_at = None
    while time.monotonic() - launched < _FLAT_WALL:
        kill = stack.oms.kill_switch()
        # This drill's engagement: a new one (the CLI stamps it on the exchange's clock, read
        # in whole seconds, so it may be a moment before ``fired_at``).
        engaged = kill.engaged and (not before.engaged or kill.ts_event != before.ts_event)
        if engaged and halted_at is None:
            halted_at = time.monotonic()
        # Flat: engaged, no net position, no working order. The order book is read only once
        # the rest holds: read every 10 ms it took up to half the exchange's thread late in
        # the day, slowing the very requests the kill switch makes.
        if engaged and not _exchange_held(stack) and not _exchange_working(stack):
            flat_at = time.monotonic()
            break
        time.sleep(0.01)
    exit_code = None
    if process is not None:
        exit_code = process.wait(timeout=120)
    left_held, left_working = _exchange_open(stack)
    return {
        "via": via,
        "fired_at": f"{fired_at.astimezone(IST):%H:%M:%S}",
        "positions_open_before": len(held),
        "orders_open_before": len(working),
        "flat": flat_at is not None,
        "command_to_halted_seconds": None if halted_at is None else round(halted_at - launched, 3),
        "command_to_flat_seconds": None if flat_at is None else round(flat_at - launched, 3),
        "kill_command": detail | {"exit_code": exit_code},
        "left_open": {"positions": len(left_held), "orders": left_working},
    }


def _entries_since(stack: Stack, since: datetime) -> list[str]:
    return [
        r.client_tag.value
        for r in stack.oms.orders(purpose=OrderPurpose.ENTRY)
        if r.created_at >= since
    ]


def _approvals_since(stack: Stack, since: datetime) -> int:
    return sum(
        1
        for p in _proposals(stack)
        for d in stack.store.decisions(p.proposal_id)
        if d.verdict is Verdict.APPROVE and d.ts_event >= since
    )


def watch(stack: Stack, since: datetime, minutes: timedelta) -> dict[str, Any]:
    stack.play_until(stack.now() + minutes)
    held, working = _exchange_open(stack)
    return {
        "entry_orders_after_kill": _entries_since(stack, since),
        "approvals_recorded_after_kill": _approvals_since(stack, since),
        "engaged": stack.oms.kill_switch().engaged,
        "positions_open": len(held),
        "orders_open": working,
    }


def _drill(stack: Stack, at: datetime, via: str, plan: KillPlan) -> dict[str, Any]:
    """One firing: resting orders, fire, flat?, halted?, restart, still halted?, re-arm."""
    stack.play_until(at - timedelta(minutes=1))
    before = stack.oms.kill_switch()
    if before.engaged:  # a circuit breaker fired it: re-armed, so this drill starts armed
        rearm(stack.operator(), "reliability-operator", REARM_CONFIRMATION)
    # Slowed while the manual orders are approved, sent and come to rest (a market minute at
    # full speed is under a wall second: too short on a loaded machine); fired at full speed.
    stack.slow_down()
    manual = manual_proposals(stack, plan.resting)
    placed = wait_resting(stack, manual[: plan.resting])
    stack.set_speed(plan.speed)
    drill = fire(stack, via)
    drill["resting_orders_placed"] = placed
    drill["engaged_before"] = f"{before.actor}: {before.reason}" if before.engaged else None
    since = stack.now()
    drill["halted"] = watch(stack, since, plan.watch)
    stack.restart(stack.kill(EXECUTOR, "after-kill-switch"))
    drill["after_restart"] = watch(stack, since, plan.watch)
    rearm(stack.operator(), "reliability-operator", REARM_CONFIRMATION)
    return drill


def run(world: World, out: Path, plan: KillPlan) -> dict[str, Any]:
    """Every firing time of the plan in one day; what :mod:`tests.reliability` records."""
    started = time.monotonic()
    last = max(plan.fire_at)
    until = (datetime.combine(date.min, last) + 2 * plan.watch + timedelta(minutes=5)).time()
    settings = StackSettings(
        speed=plan.speed, until=until, stocks=plan.stocks, config=dict(plan.config)
    )
    drills = []
    with Stack(world, out / "killswitch", settings) as stack:
        stack.start()
        stack.operator()
        aborted = None
        for n, (at, via) in enumerate(zip(plan.fire_at, plan.via, strict=True), start=1):
            try:
                drills.append(_drill(stack, market_at(at), via, plan))
            except CrashLoop as loop:
                aborted = f"drill {n}: {loop}"
                break
        stack.finish()
        truth = stack.truth()
        crashes = stack.crashes
    found = integrity(truth)
    times = [d["command_to_flat_seconds"] for d in drills if d["flat"]]
    ok = not crashes and aborted is None and len(drills) == len(plan.fire_at)
    return {
        "plan": {
            "fire_at": [t.isoformat(timespec="minutes") for t in plan.fire_at],
            "via": list(plan.via),
            "speed": plan.speed,
            "watch_minutes": plan.watch.total_seconds() / 60,
        },
        "drills": drills,
        "crashes": crashes,
        "aborted": aborted,
        "integrity": found.counts(),
        "integrity_detail": {k: v for k, v in found.__dict__.items() if v},
        "command_to_flat_max_seconds": max(times) if times else None,
        "goal_met": ok and all(_drill_ok(d) for d in drills) and found.clean,
        "wall_seconds": round(time.monotonic() - started, 1),
    }


def _drill_ok(drill: dict[str, Any]) -> bool:
    seconds = drill["command_to_flat_seconds"]
    return (
        drill["flat"]
        and seconds is not None
        and seconds <= GOAL_SECONDS
        and all(
            not drill[phase]["entry_orders_after_kill"]
            and drill[phase]["engaged"]
            and drill[phase]["positions_open"] == 0
            and not drill[phase]["orders_open"]
            for phase in ("halted", "after_restart")
        )
    )
