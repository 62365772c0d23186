"""Proposals from an agent (an LLM client of the MCP server, or ``kitepilot analyze --propose``):
validated, priced with the one charges model and written to the same store and audit log as the
strategies' proposals, so they wait in the same approval queue and face the same risk engine.

Writing a proposal is all an agent can do. Nothing here decides, sends or changes anything else:
a person still approves (``DecisionDesk``) and the executor's risk engine still re-checks against
the account at that moment.

Rules (each refusal is a ContractError naming the argument, the rule and the value):

- the instrument is a tradable NSE equity or an NFO option (kitepilot trades no futures), and an
  option can only be bought (long options only);
- ``lots`` is a whole number >= 1 (for an NSE equity a lot is one share);
- prices are positive and moved onto the instrument's tick grid: the limit the way that never
  overpays (BUY down, SELL up), stop and target to the nearest tick; every move is reported;
- the stop is on the losing side of the limit and the target on the winning side;
- ``p_win`` (the agent's probability of reaching the target first) is strictly between 0 and 1;
- the TTL is within [10 s, ``mcp.max_proposal_ttl_seconds``] (default
  ``strategy.proposal_ttl_seconds``) and the holding time within the strategy's maximum (default
  that maximum), cut at the day's MIS square-off;
- the rationale is non-empty text of at most 2,000 characters.

What only warns (the warnings are appended to the stored rationale, so the approver sees them):
the market is closed now, the limit is further from the last price than the risk engine's drift
limit, ``p_win`` is below ``strategy.min_confidence``, the expected net profit after charges is
below ``strategy.min_expected_net_profit``.

The id is stable: the same request in the same minute is the same proposal (stored once).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final

from data_contracts.charges import ChargesModel
from data_contracts.config import KitepilotConfig
from data_contracts.enums import Exchange, InstrumentType, Product, ProposalOrigin, Side
from data_contracts.errors import ContractError
from data_contracts.ids import InstrumentToken, ProposalId, StrategyId
from data_contracts.instruments import Instrument
from data_contracts.nse_calendar import NseCalendar
from data_contracts.pricegrid import Rounding, round_for_side, round_to_tick
from data_contracts.timeutil import require_aware, to_ist
from data_contracts.trading import Proposal
from data_contracts.validation import finite, integer, non_empty
from execution.audit import AuditKind
from execution.kite.orders import charge_segment
from execution.orders.context import AuditTrail
from execution.store.sql import SqlStore
from models.expectation import BracketExpectation, bracket_expectation

__all__ = [
    "AGENT_FEATURE_VERSION",
    "AGENT_MODEL_VERSION",
    "AGENT_STRATEGY",
    "MAX_RATIONALE_CHARS",
    "AgentProposalRules",
    "PreparedProposal",
    "TradeRequest",
    "agent_proposal_id",
    "prepare_agent_proposal",
    "submit_agent_proposal",
]

AGENT_STRATEGY: Final = StrategyId("mcp-agent")
AGENT_MODEL_VERSION: Final = "agent"  # no model scored it: the approver sees "model agent"
AGENT_FEATURE_VERSION: Final = "none"
MAX_RATIONALE_CHARS: Final = 2000
MIN_TTL: Final = timedelta(seconds=10)
_OWNER: Final = "propose_trade"
_WARNINGS_HEADER: Final = "kitepilot checks: "


@dataclass(frozen=True, slots=True)
class TradeRequest:
    """What an agent asks for, as it asked (prices not yet on the grid)."""

    exchange: Exchange
    tradingsymbol: str
    side: Side
    lots: int
    limit_price: float
    stop_loss: float
    take_profit: float
    p_win: float
    rationale: str
    ttl_seconds: float | None = None
    hold_minutes: int | None = None


@dataclass(frozen=True, slots=True)
class AgentProposalRules:
    """The bounds and thresholds agent proposals are checked against (from the config)."""

    default_ttl: timedelta
    max_ttl: timedelta
    equity_max_hold: timedelta
    option_max_hold: timedelta
    max_price_drift_pct: float
    min_confidence: float
    min_expected_net_profit: float
    calendar: NseCalendar
    charges: ChargesModel

    @classmethod
    def from_config(
        cls, config: KitepilotConfig, calendar: NseCalendar, charges: ChargesModel
    ) -> AgentProposalRules:
        strategy = config.strategy
        max_ttl = timedelta(seconds=config.mcp.max_proposal_ttl_seconds)
        return cls(
            default_ttl=min(timedelta(seconds=strategy.proposal_ttl_seconds), max_ttl),
            max_ttl=max_ttl,
            equity_max_hold=timedelta(minutes=strategy.equity_max_hold_minutes),
            option_max_hold=timedelta(minutes=strategy.option_max_hold_minutes),
            max_price_drift_pct=config.risk.max_price_drift_pct,
            min_confidence=strategy.min_confidence,
            min_expected_net_profit=strategy.min_expected_net_profit,
            calendar=calendar,
            charges=charges,
        )


@dataclass(frozen=True, slots=True)
class PreparedProposal:
    """A checked proposal, what was adjusted to make it valid, and what the approver should
    know (the warnings, also appended to its rationale)."""

    proposal: Proposal
    adjustments: tuple[str, ...]
    warnings: tuple[str, ...]
    expectation: BracketExpectation


def prepare_agent_proposal(
    request: TradeRequest,
    instrument: Instrument,
    now: datetime,
    rules: AgentProposalRules,
    *,
    last_price: float | None = None,
) -> PreparedProposal:
    """The proposal ``request`` makes at ``now`` on ``instrument`` (ContractError if refused).
    ``last_price`` (when known) only feeds the drift warning."""
    now = require_aware(_OWNER, "now", now)
    _check_instrument(request, instrument)
    lots = integer(_OWNER, "lots", request.lots, minimum=1, subject=instrument.tradingsymbol)
    p_win = finite(_OWNER, "p_win", request.p_win)
    if not 0.0 < p_win < 1.0:
        raise ContractError(_OWNER, "p_win", p_win, "must be strictly between 0 and 1")
    rationale = _rationale(request.rationale)
    adjustments: list[str] = []
    tick = Decimal(str(instrument.tick_size))
    limit = _on_grid("limit_price", request.limit_price, tick, request.side, adjustments)
    stop = _on_grid("stop_loss", request.stop_loss, tick, None, adjustments)
    target = _on_grid("take_profit", request.take_profit, tick, None, adjustments)
    _check_bracket(request.side, limit, stop, target)
    ttl = _ttl(request.ttl_seconds, rules)
    option = instrument.instrument_type.is_option
    time_exit = _time_exit(request.hold_minutes, option, now, rules)
    quantity = lots * instrument.lot_size
    segment = charge_segment(instrument.exchange, instrument.tradingsymbol, Product.MIS)
    expected = bracket_expectation(
        rules.charges,
        segment,
        request.side,
        entry=limit,
        stop_loss=stop,
        take_profit=target,
        quantity=quantity,
        p_win=p_win,
        on=to_ist(now).date(),
    )
    warnings = _warnings(request.side, limit, p_win, expected, now, last_price, rules)
    notional = limit * quantity
    proposal = Proposal(
        proposal_id=agent_proposal_id(request, int(instrument.instrument_token), now),
        ts_event=now,
        ts_init=now,
        origin=ProposalOrigin.AGENT,
        strategy_id=AGENT_STRATEGY,
        instrument_token=InstrumentToken(int(instrument.instrument_token)),
        exchange=instrument.exchange,
        tradingsymbol=instrument.tradingsymbol,
        side=request.side,
        product=Product.MIS,
        lots=lots,
        lot_size=instrument.lot_size,
        tick_size=instrument.tick_size,
        limit_price=limit,
        stop_loss=stop,
        take_profit=target,
        time_exit=time_exit,
        expires_at=now + ttl,
        max_price_drift_pct=rules.max_price_drift_pct,
        p_win=p_win,
        expected_return=expected.expected_net_profit / notional * 100.0,
        expected_net_profit=expected.expected_net_profit,
        expected_charges=expected.expected_charges,
        model_version=AGENT_MODEL_VERSION,
        feature_version=AGENT_FEATURE_VERSION,
        rationale=rationale,
    )
    if warnings:
        stored = f"{rationale}\n{_WARNINGS_HEADER}{'; '.join(warnings)}"
        proposal = replace(proposal, rationale=stored)
    return PreparedProposal(proposal, tuple(adjustments), warnings, expected)


def submit_agent_proposal(
    store: SqlStore, audit: AuditTrail | None, prepared: PreparedProposal, *, actor: str
) -> bool:
    """Store the proposal (PROPOSED, in the approval queue) and, when it is new, audit it as
    ``actor``'s; False when that id was stored already (nothing written)."""
    non_empty(_OWNER, "actor", actor)
    proposal = prepared.proposal
    added = store.add(proposal)
    if added and audit is not None:
        audit.append(
            AuditKind.PROPOSAL,
            proposal.proposal_id.value,
            {"proposal": proposal, "origin": proposal.origin.value},
            actor=actor,
            instrument_token=int(proposal.instrument_token),
        )
    return added


def agent_proposal_id(request: TradeRequest, instrument_token: int, now: datetime) -> ProposalId:
    """``agent:<token>:<UTC minute>:<hash of the request>``: the same request in the same
    minute is the same proposal."""
    canonical = json.dumps(
        {
            "exchange": request.exchange.value,
            "symbol": request.tradingsymbol,
            "side": request.side.value,
            "lots": request.lots,
            "limit": repr(float(request.limit_price)),
            "stop": repr(float(request.stop_loss)),
            "target": repr(float(request.take_profit)),
            "p_win": repr(float(request.p_win)),
            "ttl": request.ttl_seconds,
            "hold": request.hold_minutes,
            "rationale": request.rationale,
        },
        sort_keys=True,
    )
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:12]
    minute = require_aware(_OWNER, "now", now).strftime("%Y%m%dT%H%MZ")
    return ProposalId(f"agent:{instrument_token}:{minute}:{digest}")


# -- checks ----------------------------------------------------------------------------------


def _check_instrument(request: TradeRequest, instrument: Instrument) -> None:
    symbol = instrument.tradingsymbol
    if not instrument.is_tradable:
        rule = "must be a tradable instrument (an index cannot be traded; trade its options)"
        raise ContractError(_OWNER, "tradingsymbol", symbol, rule)
    kind = instrument.instrument_type
    equity = instrument.exchange is Exchange.NSE and kind is InstrumentType.EQ
    option = instrument.exchange is Exchange.NFO and kind.is_option
    if not (equity or option):
        rule = "must be an NSE equity or an NFO option (kitepilot trades no futures)"
        raise ContractError(_OWNER, "tradingsymbol", f"{instrument.exchange}:{symbol}", rule)
    if option and request.side is not Side.BUY:
        rule = "must be BUY for an option (kitepilot trades long options only)"
        raise ContractError(_OWNER, "side", request.side.value, rule, symbol)


def _rationale(text: str) -> str:
    text = non_empty(_OWNER, "rationale", text).strip()
    if len(text) > MAX_RATIONALE_CHARS:
        rule = f"must be at most {MAX_RATIONALE_CHARS} characters"
        raise ContractError(_OWNER, "rationale", f"{len(text)} characters", rule)
    return text


def _on_grid(
    name: str, price: float, tick: Decimal, side: Side | None, adjustments: list[str]
) -> float:
    value = finite(_OWNER, name, price)
    if value <= 0:
        raise ContractError(_OWNER, name, price, "must be > 0")
    if side is None:
        moved, how = round_to_tick(value, tick, Rounding.NEAREST), "to the nearest tick"
    else:
        moved = round_for_side(value, tick, side)
        how = "down (a BUY never pays more)"
        if side is Side.SELL:
            how = "up (a SELL never sells lower)"
    if moved <= 0:
        raise ContractError(_OWNER, name, price, f"must be at least one tick ({tick})")
    rounded = float(moved)
    if rounded != value:
        adjustments.append(f"{name} {value:g} moved {how} onto the {tick} tick grid: {rounded:g}")
    return rounded


def _check_bracket(side: Side, limit: float, stop: float, target: float) -> None:
    if side is Side.BUY and not stop < limit < target:
        rule = f"must be below limit_price {limit:g} < take_profit {target:g} for a BUY"
        raise ContractError(_OWNER, "stop_loss", stop, rule)
    if side is Side.SELL and not target < limit < stop:
        rule = f"must be above limit_price {limit:g} > take_profit {target:g} for a SELL"
        raise ContractError(_OWNER, "stop_loss", stop, rule)


def _ttl(seconds: float | None, rules: AgentProposalRules) -> timedelta:
    if seconds is None:
        return rules.default_ttl
    ttl = timedelta(seconds=finite(_OWNER, "ttl_seconds", seconds))
    if not MIN_TTL <= ttl <= rules.max_ttl:
        low, high = MIN_TTL.total_seconds(), rules.max_ttl.total_seconds()
        raise ContractError(_OWNER, "ttl_seconds", seconds, f"must be within [{low:g}, {high:g}]")
    return ttl


def _time_exit(
    minutes: int | None, option: bool, now: datetime, rules: AgentProposalRules
) -> datetime:
    longest = rules.option_max_hold if option else rules.equity_max_hold
    hold = longest
    if minutes is not None:
        integer(_OWNER, "hold_minutes", minutes, minimum=1)
        hold = timedelta(minutes=minutes)
        if hold > longest:
            rule = f"must be <= {longest.total_seconds() / 60:g} (the strategy's longest hold)"
            raise ContractError(_OWNER, "hold_minutes", minutes, rule)
    exit_at = now + hold
    square_off = rules.calendar.mis_square_off(to_ist(now).date(), derivatives=option)
    if square_off is not None and now < square_off < exit_at:
        exit_at = square_off
    return exit_at


def _warnings(
    side: Side,
    limit: float,
    p_win: float,
    expected: BracketExpectation,
    now: datetime,
    last_price: float | None,
    rules: AgentProposalRules,
) -> tuple[str, ...]:
    found: list[str] = []
    if not rules.calendar.is_open(now):
        found.append(
            f"the NSE market is closed at {to_ist(now):%Y-%m-%d %H:%M} IST: the risk engine "
            "vetoes an approval outside the session"
        )
    if last_price is not None and last_price > 0:
        drift = abs(limit - last_price) / last_price * 100.0
        if drift > rules.max_price_drift_pct:
            found.append(
                f"limit {limit:g} is {drift:.2f}% from the last price {last_price:g}, beyond the "
                f"risk engine's {rules.max_price_drift_pct:g}% drift limit"
            )
    if p_win < rules.min_confidence:
        found.append(
            f"p_win {p_win:.2f} is below the strategies' min_confidence {rules.min_confidence:.2f}"
        )
    net = expected.expected_net_profit
    if net < rules.min_expected_net_profit:
        found.append(
            f"expected net profit after charges ₹{net:,.2f} is below "
            f"₹{rules.min_expected_net_profit:,.2f} ({side.value} {limit:g})"
        )
    return tuple(found)
