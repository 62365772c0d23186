"""``propose_trade``: the one tool that writes, and all it writes is a proposal.

The proposal is checked and priced by :mod:`execution.console.agent_proposals` and stored as
PROPOSED with ``origin=AGENT``: it waits in the approval queue for a person, and an approval
still goes through the risk engine against the account at that moment. Nothing here reaches the
broker's order routes (the instruments dump and, for the drift warning, the last price are read
through the read-only view).

The instrument is ``symbol`` (``NSE:INFY``, ``NFO:NIFTY26AUG24300CE``), or — with ``expiry``,
``strike`` and ``option_type`` — the NFO option of the underlying ``symbol`` names (``NIFTY``).
"""

from __future__ import annotations

from typing import TypeVar

from agents.context import ToolContext
from agents.errors import ErrorCode, ToolFailure
from agents.tools.common import Result, instruments, parse_day, resolve
from data_contracts.enums import Product, Side
from data_contracts.errors import ContractError
from data_contracts.instruments import Instrument
from execution.console.agent_proposals import (
    AgentProposalRules,
    TradeRequest,
    option_contract,
    prepare_agent_proposal,
    submit_agent_proposal,
)

__all__ = ["propose"]

_TOOL = "propose_trade"
_E = TypeVar("_E", Side, Product)


def propose(
    ctx: ToolContext,
    *,
    symbol: str,
    side: str,
    lots: int,
    limit_price: float,
    stop_loss: float | None,
    take_profit: float | None,
    p_win: float,
    rationale: str,
    ttl_seconds: float | None,
    hold_minutes: int | None,
    product: str | None = None,
    expiry: str | None = None,
    strike: float | None = None,
    option_type: str | None = None,
) -> Result:
    instrument = _instrument(ctx, symbol, expiry, strike, option_type)
    request = TradeRequest(
        exchange=instrument.exchange,
        tradingsymbol=instrument.tradingsymbol,
        side=_choice(Side, "side", side, "must be BUY or SELL (an option: BUY only)"),
        lots=lots,
        limit_price=limit_price,
        stop_loss=stop_loss,
        take_profit=take_profit,
        p_win=p_win,
        rationale=rationale,
        ttl_seconds=ttl_seconds,
        hold_minutes=hold_minutes,
        product=_product(product),
    )
    rules = AgentProposalRules.from_config(ctx.config, ctx.calendar, ctx.charges)
    now = ctx.clock.now()
    prepare_agent_proposal(request, instrument, now, rules)  # a refusal costs no broker call
    key = f"{instrument.exchange.value}:{instrument.tradingsymbol}"
    try:
        last: float | None = ctx.market.call(lambda m: m.ltp([key])).get(key)
    except ToolFailure as failure:
        if failure.code is not ErrorCode.UNAVAILABLE:
            raise
        last = None
    prepared = prepare_agent_proposal(request, instrument, now, rules, last_price=last)
    added = submit_agent_proposal(ctx.store, ctx.audit, prepared, actor=ctx.actor)
    proposal = prepared.proposal
    expected = prepared.expectation
    data: dict[str, object] = {
        "proposal_id": proposal.proposal_id.value,
        "stored": added,
        "already_proposed": not added,
        "status": "PROPOSED: waiting for a person to approve or reject it",
        "symbol": key,
        "side": proposal.side.value,
        "product": proposal.product.value,
        "charge_segment": prepared.segment.value,
        "lots": proposal.lots,
        "lot_size": proposal.lot_size,
        "quantity": proposal.quantity,
        "limit_price": proposal.limit_price,
        "stop_loss": proposal.stop_loss,
        "take_profit": proposal.take_profit,
        "notional": proposal.notional,
        "risk_to_stop": proposal.risk_amount,
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
    }
    if instrument.instrument_type.is_option:
        data["option"] = _option_terms(
            instrument, proposal.limit_price, proposal.stop_loss, proposal.take_profit
        )
    return Result("the operational store (approval queue) and the audit log", data)


def _instrument(
    ctx: ToolContext,
    symbol: str,
    expiry: str | None,
    strike: float | None,
    option_type: str | None,
) -> Instrument:
    """``symbol``'s instrument, or the option the contract arguments name on its underlying."""
    contract = {"expiry": expiry, "strike": strike, "option_type": option_type}
    given = {name for name, value in contract.items() if value is not None}
    if not given:
        return resolve(ctx, symbol)[1]
    missing = sorted(contract.keys() - given)
    if missing:
        rule = (
            f"is required with {' and '.join(sorted(given))} (expiry, strike and option_type "
            "together name an option of the underlying in symbol)"
        )
        raise ContractError(_TOOL, missing[0], None, rule)
    day = parse_day(expiry, "expiry")
    if day is None or strike is None or option_type is None:
        raise ContractError(_TOOL, "expiry", expiry, "must be a date as YYYY-MM-DD")
    _, known = instruments(ctx)
    return option_contract(known, symbol, day, strike, option_type)


def _product(value: str | None) -> Product:
    if value is None or not value.strip():
        return Product.MIS
    rule = "must be MIS (intraday), CNC (NSE equity delivery) or NRML (an NFO option overnight)"
    return _choice(Product, "product", value, rule)


def _choice(kind: type[_E], name: str, value: str, rule: str) -> _E:
    try:
        return kind(value.strip().upper())
    except ValueError:
        raise ContractError(_TOOL, name, value, rule) from None


def _option_terms(
    instrument: Instrument, premium: float, stop: float, target: float
) -> dict[str, object]:
    """The contract and its exits as percentages of the premium."""
    return {
        "underlying": instrument.underlying,
        "expiry": instrument.expiry,
        "strike": instrument.strike,
        "option_type": instrument.instrument_type.value,
        "premium": premium,
        "stop_loss_pct_of_premium": round((stop - premium) / premium * 100, 2),
        "take_profit_pct_of_premium": round((target - premium) / premium * 100, 2),
    }
