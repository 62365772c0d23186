"""The demo approver: a clearly labelled policy that stands in for the human in ``kitepilot demo``
and ``kitepilot replay``.

It decides pending proposals through :class:`~execution.orders.desk.DecisionDesk` — the API the
dashboard and the CLI use — so every decision is recorded and audited under its label
(``decided_by="demo-approver (automatic, p_win ≥ 0.80)"``). It approves a proposal whose
``p_win`` reaches the threshold and rejects the rest with the reason. It never sends anything:
the executor risk-checks every approval against the current state and may still veto it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from data_contracts.errors import ContractError
from data_contracts.trading import DECISION_REASON_MAX_CHARS, Proposal
from execution.orders.desk import DecisionDesk

__all__ = ["DEMO_APPROVER", "DemoApprover", "DemoDecision"]

DEMO_APPROVER: Final = "demo-approver"
_OWNER: Final = "DemoApprover"


@dataclass(frozen=True, slots=True)
class DemoDecision:
    """What the approver did with one proposal. ``recorded`` is False when the desk refused the
    decision (expired meanwhile, decided elsewhere); ``reason`` says why either way."""

    proposal_id: str
    tradingsymbol: str
    p_win: float
    approved: bool
    recorded: bool
    reason: str


@dataclass(frozen=True, slots=True)
class DemoApprover:
    """Approve pending proposals with ``p_win >= threshold``, reject the others."""

    threshold: float

    def __post_init__(self) -> None:
        value = self.threshold
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ContractError(_OWNER, "threshold", value, "must be a number")
        if not math.isfinite(value) or not 0.0 <= value <= 1.0:
            raise ContractError(_OWNER, "threshold", value, "must be a probability in [0, 1]")

    @property
    def decided_by(self) -> str:
        """The label every decision carries (the audit log and the dashboard show it)."""
        return f"{DEMO_APPROVER} (automatic, p_win ≥ {self.threshold:.2f})"

    def verdict(self, proposal: Proposal) -> tuple[bool, str]:
        """The policy alone: (approve?, reason in words)."""
        if proposal.p_win >= self.threshold:
            return True, f"p_win {proposal.p_win:.3f} ≥ {self.threshold:.2f}"
        return False, f"p_win {proposal.p_win:.3f} < {self.threshold:.2f}"

    def review(self, desk: DecisionDesk) -> list[DemoDecision]:
        """Decide every proposal pending at the desk's clock, oldest first.

        An approval the desk refuses (the kill switch is engaged) becomes a rejection with that
        reason, so the proposal does not come back every turn; a proposal that expired or was
        decided elsewhere meanwhile is reported as not recorded.
        """
        decisions = []
        for proposal in reversed(desk.store.pending(desk.clock.now())):
            approve, reason = self.verdict(proposal)
            decisions.append(self._decide(desk, proposal, approve, reason))
        return decisions

    def _decide(
        self, desk: DecisionDesk, proposal: Proposal, approve: bool, reason: str
    ) -> DemoDecision:
        pid = proposal.proposal_id
        try:
            if approve:
                desk.approve(pid, self.decided_by, reason)
            else:
                desk.reject(pid, self.decided_by, reason)
        except ContractError as refused:
            if not approve or "kill switch" not in refused.rule:
                return self._outcome(proposal, approve, recorded=False, reason=refused.rule)
            # The rule may quote a long kill-switch note: keep within a decision's reason limit.
            reason = f"approval refused: {refused.rule}"[:DECISION_REASON_MAX_CHARS]
            try:
                desk.reject(pid, self.decided_by, reason)
            except ContractError as again:
                return self._outcome(proposal, False, recorded=False, reason=again.rule)
            return self._outcome(proposal, False, recorded=True, reason=reason)
        return self._outcome(proposal, approve, recorded=True, reason=reason)

    @staticmethod
    def _outcome(
        proposal: Proposal, approved: bool, *, recorded: bool, reason: str
    ) -> DemoDecision:
        return DemoDecision(
            proposal_id=proposal.proposal_id.value,
            tradingsymbol=proposal.tradingsymbol,
            p_win=proposal.p_win,
            approved=approved,
            recorded=recorded,
            reason=reason,
        )
