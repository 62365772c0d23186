"""The kill switch: cancel every working order, flatten every position, halt new trades — and
stay engaged across restarts until a person re-arms it with a typed confirmation.

Engaged state is a row in the store (``kill_switch_events``), so every process (executor,
dashboard, CLI, streaming worker) sees it, and a restart finds it. While engaged, approvals are
refused (:mod:`execution.orders.desk`), and the risk engine vetoes every entry (its
``kill_switch`` check); exits still go, since they reduce risk.

Automatic triggers (:func:`automatic_trigger`): the daily loss limit, a stale feed while the
market is open, an expired broker session, a burst of rejections, repeated exceptions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from data_contracts.enums import AlertSeverity
from data_contracts.errors import ContractError
from data_contracts.validation import storable
from execution.audit import AuditKind
from execution.orders.executor import ALREADY_COVERED, Executor, Submission
from execution.orders.reconcile import reconcile
from execution.risk import AccountState, circuit_breaker
from execution.store.oms import KillSwitchState, OrderPurpose

__all__ = [
    "REARM_CONFIRMATION",
    "KillReport",
    "automatic_trigger",
    "engage",
    "flatten_book",
    "make_flat",
    "rearm",
]

REARM_CONFIRMATION: Final = "REARM"


@dataclass(frozen=True, slots=True)
class KillReport:
    """What firing the kill switch did."""

    state: KillSwitchState
    cancelled: tuple[str, ...]
    exits: tuple[Submission, ...]

    @property
    def flat(self) -> bool:
        return all(
            submission.accepted or submission.reasons == (ALREADY_COVERED,)
            for submission in self.exits
        )


def engage(executor: Executor, actor: str, reason: str) -> KillReport:
    """Engage (or re-fire) the kill switch: record it, cancel our working orders, and close every
    open position — ours, and any the broker reports — with protected LIMIT orders."""
    ctx = executor.context
    now = ctx.clock.now()
    # A kill is never refused for its note: text a store cannot keep is replaced, not rejected.
    reason, actor = storable(reason), storable(actor)
    if not ctx.oms.kill_switch().engaged:
        ctx.oms.record_kill_switch(True, now, actor, reason)
    ctx.record(
        AuditKind.KILL_SWITCH, "kill_switch", {"action": "engage", "reason": reason}, actor=actor
    )
    ctx.alert("kill_switch", AlertSeverity.CRITICAL, "Kill switch engaged", f"{actor}: {reason}")
    cancelled, exits = make_flat(executor)
    return KillReport(ctx.oms.kill_switch(), cancelled, exits)


def make_flat(
    executor: Executor, *, reconciled_recently: bool = False
) -> tuple[tuple[str, ...], tuple[Submission, ...]]:
    """What an engaged kill switch does to the account: cancel every working order of ours and
    close every open position — ours, and any the broker reports (reconciliation). Any process
    may do it, several at once (the one that fired the switch, the running executor that sees it
    engaged): their closing orders are the same claimed slices (:func:`flatten_book`).

    ``reconciled_recently``: the caller's book is reconciled with the broker on schedule (the
    running executor's loop: the last time under two reconciliation intervals ago). Then what it
    holds is closed at once — each position but what closing orders working cover — before
    anything else; the working orders are cancelled, and what the cancelled exits covered is
    closed next; reconciliation comes last, and whatever else it finds (a manual trade, a fill
    the book missed) is closed after it. A full reconciliation is several broker round trips, a
    second or more under load. Otherwise the book takes the broker's positions first, so every
    one gets closed in one go. Either way each close is net of the closing orders working, so
    none is sent twice and none reverses a position."""
    if not reconciled_recently:
        executor.process_updates()
        executor.poll_orders()  # what already filled is not cancelled, it is flattened below
        cancelled = tuple(executor.cancel_open_orders(keep=(OrderPurpose.FLATTEN,)))
        executor.poll_orders()
        reconcile(executor)  # the book takes the broker's positions, so every one gets closed
        return cancelled, flatten_book(executor)
    prices: dict[int, float] = {}  # one quote request a second: the first's are used again
    first = flatten_book(executor, prices)
    cancelled = tuple(executor.cancel_open_orders(keep=(OrderPurpose.FLATTEN,)))
    executor.poll_orders()  # the cancels' final states: a cancelled exit covers nothing now
    freed = flatten_book(executor, prices)
    reconcile(executor)
    return cancelled, first + freed + flatten_book(executor)


def flatten_book(
    executor: Executor, prices: dict[int, float] | None = None
) -> tuple[Submission, ...]:
    """Close every open position of the book, but what closing orders already working cover,
    with protected LIMIT orders priced at last prices fetched now (in one quote request, asked
    again after a second when refused: Kite allows one a second per API key); alert on each
    position that could not be closed. The kill switch does this when fired, and the executor's
    loop again after each reconciliation while it stays engaged, until the book is flat.

    ``prices``: last prices the caller fetched for this kill a moment ago (within the second in
    which the broker would refuse another quote request), by token; those are used, and when a
    request is made here it asks for every open position of the book, and adds them there.

    A position's flatten is round ``n`` of the kill event (``kill:<engaged at>:<token>:<product>
    :<n>``, the next round once every order of the last one has ended): two processes closing
    the same position for the same kill claim the same slices, so only one of them sends."""
    ctx = executor.context
    kill = ctx.oms.kill_switch()
    fired = kill.ts_event if kill.engaged and kill.ts_event is not None else ctx.clock.now()
    book = executor.account.positions()
    open_positions = [
        (key, p.quantity) for key, p in book.items() if p.quantity and executor.uncovered(*key)
    ]
    if not open_positions:
        return ()
    if prices is None:
        prices = executor.fresh_prices(sorted({token for (token, _), _ in open_positions}))
    elif any(token not in prices for (token, _), _ in open_positions):
        held = {token for (token, _), p in book.items() if p.quantity}
        prices.update(executor.fresh_prices(sorted(held - prices.keys())))
    exits = []
    for (token, product), quantity in open_positions:
        base = f"kill:{fired:%Y%m%dT%H%M%S%f}:{token}:{product.value}"
        submission = executor.flatten(
            token,
            product,
            subject_id=_round(executor, base),
            purpose=OrderPurpose.FLATTEN,
            last_price=prices.get(token),
        )
        exits.append(submission)
        if not submission.accepted and submission.reasons != (ALREADY_COVERED,):
            ctx.alert(
                f"flatten_failed:{token}",
                AlertSeverity.CRITICAL,
                "Kill switch could not close a position",
                f"{token} {product.value} qty {quantity}: {'; '.join(submission.reasons)}",
            )
    return tuple(exits)


def _round(executor: Executor, base: str) -> str:
    """``base:n`` for the first round ``n`` not over: unclaimed, or with an order still working."""
    oms = executor.context.oms
    n = 1
    while True:
        subject = f"{base}:{n}"
        orders = oms.orders(subject_id=subject)
        if not orders or not all(order.is_final for order in orders):
            return subject
        n += 1


def rearm(executor: Executor, actor: str, confirmation: str) -> KillSwitchState:
    """Re-arm after a kill: needs the typed confirmation ``REARM``."""
    ctx = executor.context
    if confirmation != REARM_CONFIRMATION:
        rule = f"must be the typed word {REARM_CONFIRMATION!r} to re-arm the kill switch"
        raise ContractError("kill_switch", "confirmation", confirmation, rule)
    state = ctx.oms.kill_switch()
    if not state.engaged:
        return state
    ctx.oms.record_kill_switch(False, ctx.clock.now(), actor, "re-armed")
    ctx.record(AuditKind.KILL_SWITCH, "kill_switch", {"action": "rearm"}, actor=actor)
    ctx.alert("kill_switch_rearmed", AlertSeverity.WARNING, "Kill switch re-armed", actor)
    return ctx.oms.kill_switch()


def automatic_trigger(
    executor: Executor, state: AccountState, *, feed_silent_for: float | None
) -> str | None:
    """Why the kill switch must fire now (None: it need not). ``feed_silent_for``: seconds since
    the streaming worker's last metrics while the market is open (None when unknown/closed)."""
    ctx = executor.context
    settings = ctx.settings
    breakers = {c.name: c for c in circuit_breaker(state, settings.limits, ctx.calendar)}
    daily = breakers.get("daily_loss")
    if daily is not None and not daily.passed:
        return daily.detail
    if not state.session_valid:
        return "broker session expired or invalid"
    if feed_silent_for is not None and feed_silent_for > settings.stale_feed.total_seconds():
        return f"market feed silent for {feed_silent_for:.0f} s"
    rejections = executor.rejections_in_window()
    if rejections >= settings.rejection_burst:
        minutes = settings.rejection_window.total_seconds() / 60
        return f"{rejections} order rejections within {minutes:g} min"
    if state.exceptions_last_minute > settings.limits.max_exceptions_per_minute:
        return f"{state.exceptions_last_minute} broker exceptions in the last minute"
    return None
