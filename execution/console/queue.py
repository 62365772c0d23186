"""The proposal queue the operator approves from: one card per recent proposal, newest first.

A card holds everything the screen shows about a proposal — the trade, the expected net profit
with the charges model's round trip itemised, the model's view and its reasons in words, the TTL
countdown, whether it can still be approved, the risk pre-check now, and, once decided, the
decision and the executor's stored risk verdict. Reading only: approving goes through
``execution.orders.desk.DecisionDesk`` (see ``execution.console.actions``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

from data_contracts.charges import ChargesModel
from data_contracts.enums import ChargeSegment, Exchange, ProposalStatus, Side
from data_contracts.errors import ContractError
from data_contracts.timeutil import require_aware, to_ist
from data_contracts.trading import Decision, Proposal
from data_contracts.validation import integer
from execution.console.words import contribution_words
from execution.kite.orders import charge_segment
from execution.risk import RiskVerdict
from execution.store.oms import OmsStore
from execution.store.sql import SqlStore

__all__ = ["RECENT", "ProposalCard", "charges_breakdown", "proposal_queue"]

RECENT: Final = timedelta(hours=1)
"""How long a decided or expired proposal stays on the queue (so its verdict comes back on it)."""

_PRICED: Final = frozenset({Exchange.NSE, Exchange.NFO})  # what the charges model prices


@dataclass(frozen=True, slots=True)
class ProposalCard:
    """One proposal as the approval screen shows it (times UTC; ``words.ist`` shows them)."""

    proposal_id: str
    created_at: datetime
    tradingsymbol: str
    exchange: str
    side: str
    product: str
    lots: int
    lot_size: int
    quantity: int
    limit_price: float
    stop_loss: float
    take_profit: float
    expected_net_profit: float
    expected_charges: float
    charges_breakdown: Mapping[str, float]
    p_win: float
    expected_return: float
    reasons: tuple[str, ...]
    model_version: str
    feature_version: str
    origin: str
    rationale: str
    expires_at: datetime
    seconds_left: float
    expired: bool
    status: str
    actionable: bool
    precheck: tuple[bool, tuple[str, ...]] | None
    verdict: tuple[bool, tuple[str, ...]] | None
    decision: tuple[str, str, datetime, str] | None


def charges_breakdown(proposal: Proposal, charges: ChargesModel) -> Mapping[str, float]:
    """The round trip at the limit price out and the take-profit back, itemised in rupees by the
    one charges model (``ChargeBreakdown.as_dict``: brokerage, stt, exchange_txn, sebi,
    stamp_duty, gst, dp, total). The buy leg is the limit for a BUY and the target for a SELL.
    Empty where the model prices nothing: an exchange it does not cover, a day before its rates.
    """
    day = to_ist(proposal.ts_event).date()
    if proposal.exchange not in _PRICED or day < charges.valid_from:
        return {}
    segment = charge_segment(proposal.exchange, proposal.tradingsymbol, proposal.product)
    buy, sell = proposal.limit_price, proposal.take_profit
    if proposal.side is Side.SELL:
        buy, sell = sell, buy
    sell_on: date | None = None
    if segment is not ChargeSegment.INTRADAY:
        sell_on = max(day, to_ist(proposal.time_exit).date())
    trip = charges.round_trip(segment, buy, sell, proposal.quantity, day, sell_on=sell_on)
    return trip.as_dict()


def proposal_queue(
    store: SqlStore,
    now: datetime,
    *,
    charges: ChargesModel,
    precheck: Callable[[Proposal], RiskVerdict] | None = None,
    limit: int = 50,
) -> list[ProposalCard]:
    """The queue at ``now``, newest first (``ts_event``, then id): every proposal still PROPOSED
    and not expired, and every one that expired or was decided within :data:`RECENT` — a decision
    is always before the expiry, so both are "expires_at after now - RECENT".

    ``precheck`` (the risk engine's entry check against the account now) runs for the cards that
    can still be approved; its ContractError becomes a failed pre-check with the error as reason.
    """
    now = require_aware("proposal_queue", "now", now)
    integer("proposal_queue", "limit", limit, minimum=1)
    oms = OmsStore.of(store)
    return [
        _card(proposal, status, now, store, oms, charges, precheck)
        for proposal, status in store.recent(now - RECENT, limit)
    ]


def _card(
    proposal: Proposal,
    status: ProposalStatus,
    now: datetime,
    store: SqlStore,
    oms: OmsStore,
    charges: ChargesModel,
    precheck: Callable[[Proposal], RiskVerdict] | None,
) -> ProposalCard:
    pid = proposal.proposal_id
    expired = proposal.is_expired(now) or status is ProposalStatus.EXPIRED
    actionable = status is ProposalStatus.PROPOSED and not expired
    decided = store.decisions(pid)
    stored = oms.verdicts(pid.value)
    return ProposalCard(
        proposal_id=pid.value,
        created_at=proposal.ts_event,
        tradingsymbol=proposal.tradingsymbol,
        exchange=proposal.exchange.value,
        side=proposal.side.value,
        product=proposal.product.value,
        lots=proposal.lots,
        lot_size=proposal.lot_size,
        quantity=proposal.quantity,
        limit_price=proposal.limit_price,
        stop_loss=proposal.stop_loss,
        take_profit=proposal.take_profit,
        expected_net_profit=proposal.expected_net_profit,
        expected_charges=proposal.expected_charges,
        charges_breakdown=charges_breakdown(proposal, charges),
        p_win=proposal.p_win,
        expected_return=proposal.expected_return,
        reasons=tuple(contribution_words(c) for c in proposal.explanation),
        model_version=proposal.model_version,
        feature_version=proposal.feature_version,
        origin=proposal.origin.value,
        rationale=proposal.rationale,
        expires_at=proposal.expires_at,
        seconds_left=max(0.0, (proposal.expires_at - now).total_seconds()),
        expired=expired,
        status=status.value,
        actionable=actionable,
        precheck=_precheck(proposal, precheck) if actionable and precheck else None,
        verdict=(stored[-1].accepted, stored[-1].reasons) if stored else None,
        decision=_decision(decided[-1]) if decided else None,
    )


def _decision(decision: Decision) -> tuple[str, str, datetime, str]:
    return decision.verdict.value, decision.decided_by, decision.ts_event, decision.reason


def _precheck(
    proposal: Proposal, precheck: Callable[[Proposal], RiskVerdict]
) -> tuple[bool, tuple[str, ...]]:
    try:
        verdict = precheck(proposal)
    except ContractError as error:
        return False, (f"pre-check failed: {error}",)
    return verdict.accepted, verdict.reasons
