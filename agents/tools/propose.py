"""``propose_trade``: the one tool that writes, and all it writes is a proposal.

The proposal is checked and priced by :mod:`execution.console.agent_proposals` and stored as
PROPOSED with ``origin=AGENT``: it waits in the approval queue for a person, and an approval
still goes through the risk engine against the account at that moment. Nothing here reaches the
broker's order routes (the last price is read, for the drift warning, through the read-only view).
"""

from __future__ import annotations

from agents.context import ToolContext
from agents.errors import ErrorCode, ToolFailure
from agents.tools.common import Result, resolve
from data_contracts.enums import Side
from data_contracts.errors import ContractError
from execution.console.agent_proposals import (
    AgentProposalRules,
    TradeRequest,
    prepare_agent_proposal,
    submit_agent_proposal,
)

__all__ = ["propose"]


def propose(
    ctx: ToolContext,
    *,
    symbol: str,
    side: str,
    lots: int,
    limit_price: float,
    stop_loss: float,
    take_profit: float,
    p_win: float,
    rationale: str,
    ttl_seconds: float | None,
    hold_minutes: int | None,
) -> Result:
    _, instrument = resolve(ctx, symbol)
    try:
        chosen_side = Side(side.strip().upper())
    except ValueError:
        raise ContractError("propose_trade", "side", side, "must be BUY or SELL") from None
    request = TradeRequest(
        exchange=instrument.exchange,
        tradingsymbol=instrument.tradingsymbol,
        side=chosen_side,
        lots=lots,
        limit_price=limit_price,
        stop_loss=stop_loss,
        take_profit=take_profit,
        p_win=p_win,
        rationale=rationale,
        ttl_seconds=ttl_seconds,
        hold_minutes=hold_minutes,
    )
    key = f"{instrument.exchange.value}:{instrument.tradingsymbol}"
    try:
        last: float | None = ctx.market.call(lambda m: m.ltp([key])).get(key)
    except ToolFailure as failure:
        if failure.code is not ErrorCode.UNAVAILABLE:
            raise
        last = None
    rules = AgentProposalRules.from_config(ctx.config, ctx.calendar, ctx.charges)
    prepared = prepare_agent_proposal(request, instrument, ctx.clock.now(), rules, last_price=last)
    added = submit_agent_proposal(ctx.store, ctx.audit, prepared, actor=ctx.actor)
    proposal = prepared.proposal
    expected = prepared.expectation
    return Result(
        "the operational store (approval queue) and the audit log",
        {
            "proposal_id": proposal.proposal_id.value,
            "stored": added,
            "already_proposed": not added,
            "status": "PROPOSED: waiting for a person to approve or reject it",
            "symbol": key,
            "side": proposal.side.value,
            "lots": proposal.lots,
            "quantity": proposal.quantity,
            "limit_price": proposal.limit_price,
            "stop_loss": proposal.stop_loss,
            "take_profit": proposal.take_profit,
            "time_exit": proposal.time_exit,
            "expires_at": proposal.expires_at,
            "p_win": proposal.p_win,
            "expected_charges": proposal.expected_charges,
            "expected_net_profit": proposal.expected_net_profit,
            "win_charges": expected.win_charges,
            "loss_charges": expected.loss_charges,
            "last_price": last,
            "adjustments": prepared.adjustments,
            "warnings": prepared.warnings,
            "note": "an approval is a person's decision; the risk engine re-checks it against "
            "the account before any order, and may veto it",
        },
    )
