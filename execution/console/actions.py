"""What an operator can do from the dashboard, each behind the action token and through the same
path as the CLI: the decision desk, the executor (with the risk engine) and the kill switch — all
audited with who did it.

Reading needs no token; every action does (``hmac.compare_digest`` against the configured one).
Actions that need the broker (kill, re-arm, exit now, cancel) build the executor on first use
(``executor_factory``), so the screen works read-only while the broker is unreachable.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from data_contracts.enums import Product
from data_contracts.errors import ContractError
from data_contracts.ids import ClientTag, ProposalId
from data_contracts.ports import Clock
from execution.audit import AuditKind
from execution.orders.context import AuditTrail
from execution.orders.desk import DecisionDesk
from execution.orders.executor import Executor
from execution.orders.kill_switch import REARM_CONFIRMATION, engage, rearm
from execution.store.flags import OperatorFlag
from execution.store.sql import SqlStore

__all__ = ["KILL_CONFIRMATION", "ActionResult", "OperatorActions"]

# What a person types to fire the kill switch (re-arming needs REARM_CONFIRMATION).
KILL_CONFIRMATION: Final = "KILL"


@dataclass(frozen=True, slots=True)
class ActionResult:
    ok: bool
    message: str


_REFUSED: Final = ActionResult(False, "refused: a valid action token is required (read-only)")


@dataclass(slots=True)
class OperatorActions:
    """The dashboard's actions (one instance per app; thread-safe as far as the store is)."""

    store: SqlStore
    clock: Clock
    token: str
    executor_factory: Callable[[], Executor]
    audit: AuditTrail | None = None
    _executor: Executor | None = field(default=None, init=False)

    def authorised(self, token: str | None) -> bool:
        """Whether ``token`` is the action token: anything but a non-empty string of valid
        Unicode (a lone surrogate cannot be encoded) is not."""
        if not isinstance(token, str) or not token:
            return False
        try:
            given = token.encode()
        except UnicodeEncodeError:
            return False
        return hmac.compare_digest(given, self.token.encode())

    def approve(
        self, token: str | None, proposal_id: str, actor: str, reason: str = ""
    ) -> ActionResult:
        if not self.authorised(token):
            return _REFUSED
        return self._attempt(
            lambda: self._desk().approve(ProposalId(proposal_id), actor, reason),
            f"approved {proposal_id}; the executor risk-checks it now",
        )

    def reject(
        self, token: str | None, proposal_id: str, actor: str, reason: str = ""
    ) -> ActionResult:
        if not self.authorised(token):
            return _REFUSED
        return self._attempt(
            lambda: self._desk().reject(ProposalId(proposal_id), actor, reason),
            f"rejected {proposal_id}",
        )

    def kill(self, token: str | None, actor: str, confirmation: str, reason: str) -> ActionResult:
        if not self.authorised(token):
            return _REFUSED
        if confirmation != KILL_CONFIRMATION:
            return ActionResult(False, f"type {KILL_CONFIRMATION} to fire the kill switch")
        try:
            report = engage(self.executor(), actor, reason or "dashboard")
        except (ContractError, OSError) as error:
            return ActionResult(False, f"kill switch: {error}")
        return ActionResult(
            True,
            f"KILL SWITCH ENGAGED by {actor}: {len(report.cancelled)} orders cancelled, "
            f"{len(report.exits)} positions closing",
        )

    def rearm(self, token: str | None, actor: str, confirmation: str) -> ActionResult:
        if not self.authorised(token):
            return _REFUSED
        if confirmation != REARM_CONFIRMATION:
            return ActionResult(False, f"type {REARM_CONFIRMATION} to re-arm")
        return self._attempt(lambda: rearm(self.executor(), actor, confirmation), "re-armed")

    def exit_now(
        self, token: str | None, actor: str, instrument_token: int, product: str
    ) -> ActionResult:
        if not self.authorised(token):
            return _REFUSED
        try:
            submission = self.executor().exit_now(instrument_token, Product(product), actor)
        except (ContractError, ValueError, OSError) as error:
            return ActionResult(False, f"exit now: {error}")
        if not submission.accepted:
            return ActionResult(False, "exit vetoed: " + "; ".join(submission.reasons))
        return ActionResult(True, f"exit sent: {len(submission.orders)} order(s)")

    def cancel(self, token: str | None, actor: str, client_tag: str) -> ActionResult:
        if not self.authorised(token):
            return _REFUSED
        try:
            done = self.executor().cancel(ClientTag(client_tag), actor)
        except (ContractError, OSError) as error:
            return ActionResult(False, f"cancel: {error}")
        return ActionResult(done, "cancelled" if done else "not working any more")

    def pause_proposals(
        self, token: str | None, actor: str, paused: bool, reason: str = ""
    ) -> ActionResult:
        if not self.authorised(token):
            return _REFUSED
        self.store.set_flag(OperatorFlag.PROPOSALS_PAUSED, paused, self.clock.now(), actor, reason)
        if self.audit is not None:
            self.audit.append(
                AuditKind.OPERATOR, "proposals_paused", {"paused": paused}, actor=actor
            )
        return ActionResult(True, "new proposals paused" if paused else "new proposals resumed")

    def executor(self) -> Executor:
        """The executor for actions that need the broker (built on first use)."""
        if self._executor is None:
            self._executor = self.executor_factory()
        return self._executor

    def _desk(self) -> DecisionDesk:
        return DecisionDesk(self.store, self.clock, self.audit)

    @staticmethod
    def _attempt(action: Callable[[], object], done: str) -> ActionResult:
        try:
            action()
        except ContractError as error:
            return ActionResult(False, str(error))
        return ActionResult(True, done)
