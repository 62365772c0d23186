"""The executor's loop: what ``kitepilot execute`` (or a thread of ``kitepilot stream``) runs.

Each turn: first the kill switch — a new engagement by any process is made flat at once, before
anything else of the turn, and looked for again after the approvals and after the polling (a kill
recorded meanwhile does not wait for the rest of the turn); order updates from the WebSocket;
approvals made in other processes; exits the exit monitor stored — or, when the kill switch is
engaged, none: its flattens alone close the positions; then, on their own intervals,
polling of working orders, the fill timeout, reconciliation (after which, while the kill switch
is engaged, whatever position is left — a flatten the market left behind, a fill that landed
after it — is closed again) and the automatic kill-switch triggers. A restart begins with
reconciliation, so an order sent just before a crash is found by its tag, never sent again.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

from data_contracts.clock import SystemClock
from data_contracts.ports import Clock
from execution.orders.executor import Executor
from execution.orders.kill_switch import automatic_trigger, engage, flatten_book, make_flat
from execution.orders.reconcile import reconcile
from execution.store.oms import Finding

__all__ = ["ExecutionService"]


@dataclass(slots=True)
class ExecutionService:
    executor: Executor
    actor: str = "executor"
    # The streaming workers stamp their metrics with the wall clock; in a replay the executor's
    # own clock is the market's, so feed silence is measured on this one.
    wall_clock: Clock = field(default_factory=SystemClock)
    _last_poll: datetime | None = None
    _last_reconcile: datetime | None = None
    _kill_handled: datetime | None = None  # the engagement this executor has made flat
    findings: list[Finding] = field(default_factory=list)

    def start(self) -> list[Finding]:
        """Reconcile before anything else (a restart resolves what was in flight)."""
        self._last_reconcile = self.executor.context.clock.now()
        found = reconcile(self.executor)
        self.findings += found
        return found

    def run_once(self) -> None:
        executor, ctx = self.executor, self.executor.context
        self._kill_engaged()
        executor.process_updates()
        executor.submit_approved()  # while engaged, the risk engine vetoes each (and says so)
        engaged = self._kill_engaged()
        if not engaged:  # engaged, its flatten alone closes the positions
            executor.submit_exits()
        now = ctx.clock.now()
        stale: list[str] = []
        if self._last_poll is None or now - self._last_poll >= ctx.settings.poll_interval:
            self._last_poll = now
            executor.poll_orders()
            stale = executor.cancel_stale()
            ctx.store.checkpoint()  # the store's WAL, copied back off the approval path
        engaged = self._kill_engaged()  # a kill recorded meanwhile does not wait for the rest
        # Engaged, a flatten cancelled as stale is replaced at once, on a book reconciled first.
        due = now - (self._last_reconcile or now) >= ctx.settings.reconcile_interval
        if due or (engaged and stale):
            self._last_reconcile = now
            self.findings += reconcile(executor)
            # Flat until re-armed: what is left is closed (while the market can close it).
            if engaged and ctx.calendar.is_open(now):
                flatten_book(executor)
        self._check_triggers()

    def _kill_engaged(self) -> bool:
        """Whether the kill switch is engaged; when another process (``kitepilot kill``, the
        dashboard's button) has just engaged it, this executor makes the account flat at once
        too — it need not wait for that process to start and connect (:func:`make_flat`: the
        same claimed flatten orders, so nothing is sent twice)."""
        ctx = self.executor.context
        kill = ctx.oms.kill_switch()
        if not kill.engaged:
            return False
        if kill.ts_event != self._kill_handled:
            self._kill_handled = kill.ts_event
            now = ctx.clock.now()
            # The loop reconciles on schedule (the last one under two intervals ago: one may be
            # due right now): the book is as checked as for any close, so what it holds is
            # closed first, and reconciliation comes after (make_flat).
            recent = self._last_reconcile is not None and (
                now - self._last_reconcile < 2 * ctx.settings.reconcile_interval
            )
            make_flat(self.executor, reconciled_recently=recent)
            self._last_reconcile = now
        return True

    def _check_triggers(self) -> None:
        executor, ctx = self.executor, self.executor.context
        if ctx.oms.kill_switch().engaged:
            return
        state = executor.account.state()
        reason = automatic_trigger(executor, state, feed_silent_for=self._feed_silence())
        if reason is not None:
            self._kill_handled = engage(executor, "auto", reason).state.ts_event

    def _feed_silence(self) -> float | None:
        """Wall seconds since the streaming workers last reported, while the market is open."""
        ctx = self.executor.context
        if not ctx.calendar.is_open(ctx.clock.now()):
            return None
        latest = ctx.store.latest_metric_time()
        return None if latest is None else (self.wall_clock.now() - latest).total_seconds()

    def run(self, stop: threading.Event, interval: float = 0.2) -> None:
        self.start()
        while not stop.is_set():
            self.run_once()
            stop.wait(interval)
