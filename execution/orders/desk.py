"""The decision API: approve or reject a proposal — what the dashboard, the CLI and the demo
approver call. A decision is recorded append-only (who, when, why); an expired proposal, a decided
one, or any approval while the kill switch is engaged is refused. The executor then acts on the
approval (in this process via :meth:`DecisionDesk.approve`'s ``then``, or in the executor's own
process, which picks up approvals it has not risk-checked yet)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from data_contracts.enums import Verdict
from data_contracts.errors import ContractError
from data_contracts.ids import DecisionId, ProposalId
from data_contracts.ports import Clock
from data_contracts.trading import Decision, Proposal
from data_contracts.validation import non_empty
from execution.audit import AuditKind
from execution.orders.context import AuditTrail
from execution.store.oms import OmsStore
from execution.store.sql import SqlStore

__all__ = ["DecisionDesk"]


@dataclass(slots=True)
class DecisionDesk:
    store: SqlStore
    clock: Clock
    audit: AuditTrail | None = None

    def approve(self, proposal_id: ProposalId, decided_by: str, reason: str = "") -> Proposal:
        """Record an approval; returns the proposal for the executor. Refused (ContractError)
        while the kill switch is engaged, and for an unknown, expired or decided proposal."""
        kill = OmsStore.of(self.store).kill_switch()
        if kill.engaged:
            rule = f"cannot be approved: the kill switch is engaged ({kill.actor}: {kill.reason})"
            raise ContractError("Decision", "proposal_id", proposal_id.value, rule)
        return self._decide(proposal_id, Verdict.APPROVE, decided_by, reason)

    def reject(self, proposal_id: ProposalId, decided_by: str, reason: str = "") -> Proposal:
        return self._decide(proposal_id, Verdict.REJECT, decided_by, reason)

    def _decide(
        self, proposal_id: ProposalId, verdict: Verdict, decided_by: str, reason: str
    ) -> Proposal:
        non_empty("Decision", "decided_by", decided_by)
        proposal = self.store.get(proposal_id)
        if proposal is None:
            raise ContractError(
                "Decision", "proposal_id", proposal_id.value, "must name a stored proposal"
            )
        decision = Decision(
            decision_id=DecisionId(f"d-{secrets.token_hex(8)}"),
            proposal_id=proposal_id,
            verdict=verdict,
            decided_by=decided_by,
            ts_event=self.clock.now(),
            reason=reason,
        )
        self.store.record_decision(decision)  # refuses expired / decided / not PROPOSED
        if self.audit is not None:
            self.audit.append(
                AuditKind.DECISION,
                proposal_id.value,
                {"decision": decision},
                actor=decided_by,
                instrument_token=proposal.instrument_token,
            )
        return proposal
