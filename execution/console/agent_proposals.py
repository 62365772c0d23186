"""Proposals from an agent (an LLM client of the MCP server, or ``kitepilot analyze --propose``):
validated, priced with the one charges model and written to the same store and audit log as the
strategies' proposals, so they wait in the same approval queue and face the same risk engine.

Writing a proposal is all an agent can do. Nothing here decides, sends or changes anything else:
a person still approves (``DecisionDesk``) and the executor's risk engine still re-checks against
the account at that moment.

What can be proposed (each refusal is a ContractError naming the argument, the rule and the value):

- an NSE equity, BUY or SELL intraday (MIS), or BUY for delivery (CNC; a delivery SELL would sell
  holdings, which is an exit, not a proposal);
- a long NFO option (CE or PE): BUY only, intraday (MIS) or carried overnight (NRML) up to the
  strategy's pre-expiry exit; kitepilot trades no futures and sells no options to open. A contract
  is named by its tradingsymbol or found by :func:`option_contract` (underlying, expiry, strike,
  type).

Rules:

- ``lots`` is a whole number >= 1; the quantity is lots x the contract's lot size (an NSE equity
  lot is one share);
- prices are positive and moved onto the instrument's tick grid: the limit the way that never
  overpays (BUY down, SELL up), stop and target to the nearest tick; every move is reported. An
  option's prices are premiums (below its strike: a level of the underlying is refused); its stop
  and target default to the long-options strategy's exits, ``-strategy.option_stop_loss_pct`` and
  ``+strategy.option_take_profit_pct`` of the limit premium, rounded away from it (as
  ``models.strategies.options`` does);
- the stop is on the losing side of the limit and the target on the winning side;
- ``p_win`` (the agent's probability of reaching the target first) is strictly between 0 and 1;
- the TTL is within [10 s, ``mcp.max_proposal_ttl_seconds``] (default
  ``strategy.proposal_ttl_seconds``);
- the time exit: MIS within the strategy's longest hold (equity or option; default that hold), cut
  at the day's MIS square-off; NRML up to the pre-expiry exit (the F&O square-off time
  ``strategy.option_exit_days_before_expiry`` sessions before expiry; default that exit), refused
  once it has passed; CNC within :data:`MAX_DELIVERY_HOLD` (default that);
- the rationale is non-empty text of at most 2,000 characters.

What only warns (the warnings are appended to the stored rationale, so the approver sees them):
the market is closed now, an MIS entry after the day's MIS square-off cut, an MIS option within
the strategy's no-entry days before expiry, the limit further from the last price than the risk
engine's drift limit, ``p_win`` below ``strategy.min_confidence``, the expected net profit after
charges below ``strategy.min_expected_net_profit``, the risk to the stop above
``risk.per_trade_risk``.

The expected charges and net profit are :func:`models.expectation.bracket_expectation` over the
charge segment the product and contract make (``execution.kite.orders.charge_segment``: OPTIONS,
INTRADAY or DELIVERY): the formula the live strategy uses.

The id is stable: the same request in the same minute is the same proposal (stored once).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Final

from data_contracts.charges import ChargesModel
from data_contracts.config import KitepilotConfig
from data_contracts.enums import (
    ChargeSegment,
    Exchange,
    InstrumentType,
    Product,
    ProposalOrigin,
    Side,
)
from data_contracts.errors import ContractError
from data_contracts.ids import InstrumentToken, ProposalId, StrategyId
from data_contracts.instruments import INDEX_UNDERLYINGS, Instrument
from data_contracts.nse_calendar import MIS_LEAD_DERIVATIVES, NseCalendar
from data_contracts.pricegrid import Rounding, round_for_side, round_to_tick
from data_contracts.timeutil import IST, require_aware, to_ist
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
    "MAX_DELIVERY_HOLD",
    "MAX_RATIONALE_CHARS",
    "AgentProposalRules",
    "PreparedProposal",
    "TradeRequest",
    "agent_proposal_id",
    "option_contract",
    "pre_expiry_exit",
    "prepare_agent_proposal",
    "submit_agent_proposal",
]

AGENT_STRATEGY: Final = StrategyId("mcp-agent")
AGENT_MODEL_VERSION: Final = "agent"  # no model scored it: the approver sees "model agent"
AGENT_FEATURE_VERSION: Final = "none"
MAX_RATIONALE_CHARS: Final = 2000
MIN_TTL: Final = timedelta(seconds=10)
# A delivery (CNC) proposal's longest hold: kitepilot's exits are a swing trader's, not an
# investor's. The exit monitor acts on the first candle at or after the time exit.
MAX_DELIVERY_HOLD: Final = timedelta(days=30)
_OWNER: Final = "propose_trade"
_WARNINGS_HEADER: Final = "kitepilot checks: "
_EQUITY_PRODUCTS: Final = (Product.MIS, Product.CNC)
_OPTION_PRODUCTS: Final = (Product.MIS, Product.NRML)
_EXPIRY_CLOSE: Final = time(15, 30)  # IST, when no session is known for an expiry day
_INDEX_NAMES: Final = {index: name for name, index in INDEX_UNDERLYINGS.items()}


@dataclass(frozen=True, slots=True)
class TradeRequest:
    """What an agent asks for, as it asked (prices not yet on the grid). An option's
    ``stop_loss`` and ``take_profit`` may be None (the strategy's premium exits); an equity's
    may not."""

    exchange: Exchange
    tradingsymbol: str
    side: Side
    lots: int
    limit_price: float
    stop_loss: float | None
    take_profit: float | None
    p_win: float
    rationale: str
    ttl_seconds: float | None = None
    hold_minutes: int | None = None
    product: Product = Product.MIS


@dataclass(frozen=True, slots=True)
class AgentProposalRules:
    """The bounds and thresholds agent proposals are checked against (from the config; the
    defaults after ``charges`` are the shipped config's)."""

    default_ttl: timedelta
    max_ttl: timedelta
    equity_max_hold: timedelta
    option_max_hold: timedelta
    max_price_drift_pct: float
    min_confidence: float
    min_expected_net_profit: float
    calendar: NseCalendar
    charges: ChargesModel
    option_take_profit_pct: float = 50.0
    option_stop_loss_pct: float = 40.0
    option_exit_days_before_expiry: int = 1
    max_delivery_hold: timedelta = MAX_DELIVERY_HOLD
    per_trade_risk: float | None = None  # None: no warning

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
            option_take_profit_pct=strategy.option_take_profit_pct,
            option_stop_loss_pct=strategy.option_stop_loss_pct,
            option_exit_days_before_expiry=strategy.option_exit_days_before_expiry,
            per_trade_risk=config.risk.per_trade_risk,
        )


@dataclass(frozen=True, slots=True)
class PreparedProposal:
    """A checked proposal, what was adjusted (or filled in) to make it valid, and what the
    approver should know (the warnings, also appended to its rationale)."""

    proposal: Proposal
    adjustments: tuple[str, ...]
    warnings: tuple[str, ...]
    expectation: BracketExpectation
    segment: ChargeSegment


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
    day = to_ist(now).date()
    option = _check_instrument(request, instrument, day)
    lots = integer(_OWNER, "lots", request.lots, minimum=1, subject=instrument.tradingsymbol)
    p_win = finite(_OWNER, "p_win", request.p_win)
    if not 0.0 < p_win < 1.0:
        raise ContractError(_OWNER, "p_win", p_win, "must be strictly between 0 and 1")
    rationale = _rationale(request.rationale)
    adjustments: list[str] = []
    tick = Decimal(str(instrument.tick_size))
    limit = _on_grid("limit_price", request.limit_price, tick, request.side, adjustments)
    stop, target = _stop_and_target(request, option, limit, tick, rules, adjustments)
    if option:
        _check_premiums(instrument, limit_price=limit, stop_loss=stop, take_profit=target)
    _check_bracket(request.side, limit, stop, target)
    ttl = _ttl(request.ttl_seconds, rules)
    time_exit = _time_exit(request, instrument, now, rules, adjustments)
    segment = charge_segment(instrument.exchange, instrument.tradingsymbol, request.product)
    expected = bracket_expectation(
        rules.charges,
        segment,
        request.side,
        entry=limit,
        stop_loss=stop,
        take_profit=target,
        quantity=lots * instrument.lot_size,
        p_win=p_win,
        on=day,
    )
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
        product=request.product,
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
        expected_return=expected.expected_net_profit / (limit * lots * instrument.lot_size) * 100,
        expected_net_profit=expected.expected_net_profit,
        expected_charges=expected.expected_charges,
        model_version=AGENT_MODEL_VERSION,
        feature_version=AGENT_FEATURE_VERSION,
        rationale=rationale,
    )
    warnings = (
        *_session_warnings(proposal, instrument, now, rules),
        *_trade_warnings(proposal, expected, last_price, rules),
    )
    if warnings:
        stored = f"{rationale}\n{_WARNINGS_HEADER}{'; '.join(warnings)}"
        proposal = replace(proposal, rationale=stored)
    return PreparedProposal(proposal, tuple(adjustments), warnings, expected, segment)


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

    def price(value: float | None) -> str | None:
        return None if value is None else repr(float(value))

    canonical = json.dumps(
        {
            "exchange": request.exchange.value,
            "symbol": request.tradingsymbol,
            "side": request.side.value,
            "product": request.product.value,
            "lots": request.lots,
            "limit": price(request.limit_price),
            "stop": price(request.stop_loss),
            "target": price(request.take_profit),
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


def option_contract(
    known: Iterable[Instrument],
    underlying: str,
    expiry: date,
    strike: float,
    option_type: str,
) -> Instrument:
    """The NFO option of ``underlying`` (``NIFTY``, ``NIFTY 50``, ``NSE:INFY``...) expiring
    ``expiry`` at ``strike`` of ``option_type`` (CE or PE) in ``known`` (an instruments dump).
    A ContractError names the argument that matches nothing and lists what is listed."""
    kind = _option_type(option_type)
    wanted = finite(_OWNER, "strike", strike)
    if wanted <= 0:
        raise ContractError(_OWNER, "strike", strike, "must be > 0")
    name = underlying.strip().upper().rpartition(":")[2].strip()
    name = _INDEX_NAMES.get(name, name)
    contracts = [
        i
        for i in known
        if i.exchange is Exchange.NFO and i.instrument_type.is_option and i.name.upper() == name
    ]
    if not contracts:
        rule = (
            "must name an underlying with listed NFO options (NIFTY, BANKNIFTY, or a stock with "
            "F&O) when expiry, strike and option_type are given"
        )
        raise ContractError(_OWNER, "symbol", underlying, rule)
    expiries = sorted({i.expiry for i in contracts if i.expiry is not None})
    of_expiry = [i for i in contracts if i.expiry == expiry and i.instrument_type is kind]
    if not of_expiry:
        listed = ", ".join(d.isoformat() for d in expiries[:8])
        rule = f"must be a listed expiry of {name} {kind.value} options: {listed}"
        raise ContractError(_OWNER, "expiry", expiry.isoformat(), rule)
    for contract in of_expiry:
        if contract.strike is not None and abs(contract.strike - wanted) < 1e-6:
            return contract
    strikes = sorted({i.strike for i in of_expiry if i.strike is not None})
    nearest = sorted(sorted(strikes, key=lambda k: abs(k - wanted))[:5])
    rule = (
        f"must be a listed strike of {name} {expiry.isoformat()} {kind.value}; nearest: "
        f"{', '.join(f'{k:g}' for k in nearest)}"
    )
    raise ContractError(_OWNER, "strike", strike, rule)


def pre_expiry_exit(instrument: Instrument, calendar: NseCalendar, days_before: int) -> datetime:
    """When a long option carried overnight (NRML) must be out: the F&O square-off time of the
    session ``days_before`` sessions before its expiry (no exercise STT, no expiry-day gamma),
    as the long-options strategy exits."""
    expiry = instrument.expiry
    if expiry is None:
        raise ContractError(_OWNER, "tradingsymbol", instrument.tradingsymbol, "has no expiry")
    day = expiry
    for _ in range(days_before):
        day = calendar.previous_session(day).date
    session = calendar.session(day)
    if session is None:
        close = datetime.combine(day, _EXPIRY_CLOSE, tzinfo=IST)
        return close - MIS_LEAD_DERIVATIVES
    return session.close - MIS_LEAD_DERIVATIVES


# -- checks ----------------------------------------------------------------------------------


def _check_instrument(request: TradeRequest, instrument: Instrument, day: date) -> bool:
    """Whether ``instrument`` is an option (else an NSE equity); refuses anything else, a side
    or product the instrument cannot take, and an expired contract."""
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
    product = request.product
    if option:
        if request.side is not Side.BUY:
            rule = "must be BUY for an option (kitepilot trades long options only: no option sale)"
            raise ContractError(_OWNER, "side", request.side.value, rule, symbol)
        if product not in _OPTION_PRODUCTS:
            rule = "must be MIS (intraday) or NRML (overnight) for an NFO option"
            raise ContractError(_OWNER, "product", product.value, rule, symbol)
        if instrument.expiry is not None and instrument.expiry < day:
            rule = f"must not have expired (expired {instrument.expiry.isoformat()})"
            raise ContractError(_OWNER, "tradingsymbol", symbol, rule)
        return True
    if product not in _EQUITY_PRODUCTS:
        rule = "must be MIS (intraday) or CNC (delivery) for an NSE equity (NRML is for F&O)"
        raise ContractError(_OWNER, "product", product.value, rule, symbol)
    if product is Product.CNC and request.side is not Side.BUY:
        rule = (
            "must be BUY for CNC (delivery): kitepilot proposes no delivery sale (selling "
            "holdings is an exit); use MIS to sell intraday"
        )
        raise ContractError(_OWNER, "side", request.side.value, rule, symbol)
    return False


def _option_type(value: str) -> InstrumentType:
    text = value.strip().upper() if isinstance(value, str) else ""
    if text not in (InstrumentType.CE.value, InstrumentType.PE.value):
        raise ContractError(_OWNER, "option_type", value, "must be CE (call) or PE (put)")
    return InstrumentType(text)


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


def _stop_and_target(
    request: TradeRequest,
    option: bool,
    limit: float,
    tick: Decimal,
    rules: AgentProposalRules,
    adjustments: list[str],
) -> tuple[float, float]:
    """The stop and target on the grid: as given, or (an option's, when not given) the
    long-options strategy's exits on the premium."""
    prices: list[float] = []
    for name, given, pct, up in (
        ("stop_loss", request.stop_loss, rules.option_stop_loss_pct, False),
        ("take_profit", request.take_profit, rules.option_take_profit_pct, True),
    ):
        if given is not None:
            prices.append(_on_grid(name, given, tick, None, adjustments))
        elif option:
            prices.append(_premium_exit(name, limit, pct, up, tick, adjustments))
        else:
            rule = "is required for an NSE equity (only an option's defaults to the premium exits)"
            raise ContractError(_OWNER, name, None, rule)
    return prices[0], prices[1]


def _premium_exit(
    name: str, premium: float, pct: float, up: bool, tick: Decimal, adjustments: list[str]
) -> float:
    """``premium`` +/- ``pct`` %, rounded away from the premium onto the grid (never tighter)."""
    change = Decimal(str(pct)) / 100
    raw = Decimal(str(premium)) * (1 + change if up else 1 - change)
    moved = round_to_tick(raw, tick, Rounding.UP if up else Rounding.DOWN)
    if moved <= 0:
        rule = f"must be given: -{pct:g}% of the {premium:g} premium is below one tick ({tick})"
        raise ContractError(_OWNER, name, None, rule)
    price = float(moved)
    sign, key = ("+", "take_profit") if up else ("-", "stop_loss")
    adjustments.append(
        f"{name} not given: {sign}{pct:g}% of the {premium:g} premium "
        f"(strategy.option_{key}_pct), {price:g} on the {tick} tick grid"
    )
    return price


def _check_premiums(instrument: Instrument, **prices: float) -> None:
    """An option's prices are premiums: a put is never worth its strike, and a call near its
    strike's value would need the underlying at twice the strike. Such a price is a level of
    the underlying given by mistake."""
    strike = instrument.strike
    if strike is None:
        return
    for name, price in prices.items():
        if price >= strike:
            rule = (
                f"must be a premium (the option's own price), below its {strike:g} strike; "
                "a level of the underlying is not a premium"
            )
            raise ContractError(_OWNER, name, price, rule, instrument.tradingsymbol)


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


def _hold(minutes: int | None, longest: timedelta, what: str) -> timedelta:
    if minutes is None:
        return longest
    integer(_OWNER, "hold_minutes", minutes, minimum=1)
    if timedelta(minutes=minutes) > longest:
        rule = f"must be <= {longest.total_seconds() / 60:g} ({what})"
        raise ContractError(_OWNER, "hold_minutes", minutes, rule)
    return timedelta(minutes=minutes)


def _time_exit(
    request: TradeRequest,
    instrument: Instrument,
    now: datetime,
    rules: AgentProposalRules,
    adjustments: list[str],
) -> datetime:
    option = instrument.instrument_type.is_option
    if request.product is Product.CNC:
        return now + _hold(request.hold_minutes, rules.max_delivery_hold, "the longest CNC hold")
    if request.product is Product.NRML:
        return _nrml_exit(request.hold_minutes, instrument, now, rules, adjustments)
    longest = rules.option_max_hold if option else rules.equity_max_hold
    exit_at = now + _hold(request.hold_minutes, longest, "the strategy's longest intraday hold")
    square_off = rules.calendar.mis_square_off(to_ist(now).date(), derivatives=option)
    if square_off is not None and now < square_off < exit_at:
        adjustments.append(f"time exit cut at the MIS square-off {to_ist(square_off):%H:%M} IST")
        exit_at = square_off
    return exit_at


def _nrml_exit(
    minutes: int | None,
    instrument: Instrument,
    now: datetime,
    rules: AgentProposalRules,
    adjustments: list[str],
) -> datetime:
    days = rules.option_exit_days_before_expiry
    deadline = pre_expiry_exit(instrument, rules.calendar, days)
    if now >= deadline:
        expiry = instrument.expiry.isoformat() if instrument.expiry else "?"
        rule = (
            f"cannot carry {instrument.tradingsymbol} (expiry {expiry}) overnight: its pre-expiry "
            f"exit ({days} session(s) before expiry, strategy.option_exit_days_before_expiry) "
            f"was {to_ist(deadline):%Y-%m-%d %H:%M} IST; use MIS or a later expiry"
        )
        raise ContractError(_OWNER, "product", Product.NRML.value, rule)
    if minutes is None:
        return deadline
    integer(_OWNER, "hold_minutes", minutes, minimum=1)
    exit_at = now + timedelta(minutes=minutes)
    if exit_at > deadline:
        adjustments.append(
            f"time exit cut at the pre-expiry exit {to_ist(deadline):%Y-%m-%d %H:%M} IST"
        )
        return deadline
    return exit_at


# -- warnings ----------------------------------------------------------------------------------


def _session_warnings(
    proposal: Proposal, instrument: Instrument, now: datetime, rules: AgentProposalRules
) -> tuple[str, ...]:
    found: list[str] = []
    calendar = rules.calendar
    day = to_ist(now).date()
    option = instrument.instrument_type.is_option
    if not calendar.is_open(now):
        found.append(
            f"the NSE market is closed at {to_ist(now):%Y-%m-%d %H:%M} IST: the risk engine "
            "vetoes an approval outside the session"
        )
    elif proposal.product is Product.MIS:
        cut = calendar.mis_square_off(day, derivatives=option)
        if cut is None or now >= cut:
            when = "today" if cut is None else f"at {to_ist(cut):%H:%M} IST"
            found.append(
                f"MIS entries stop {when} (the MIS square-off): the risk engine vetoes this "
                "MIS entry"
            )
    if option and proposal.product is Product.MIS:
        days = rules.option_exit_days_before_expiry
        last_day = to_ist(pre_expiry_exit(instrument, calendar, days)).date()
        if day > last_day and instrument.expiry is not None:
            found.append(
                f"{instrument.tradingsymbol} expires {instrument.expiry.isoformat()}: the "
                f"long-options strategy enters no contract within {days} session(s) of its "
                "expiry (expiry-day gamma)"
            )
    return tuple(found)


def _trade_warnings(
    proposal: Proposal,
    expected: BracketExpectation,
    last_price: float | None,
    rules: AgentProposalRules,
) -> tuple[str, ...]:
    found: list[str] = []
    limit = proposal.limit_price
    if last_price is not None and last_price > 0:
        drift = abs(limit - last_price) / last_price * 100.0
        if drift > rules.max_price_drift_pct:
            found.append(
                f"limit {limit:g} is {drift:.2f}% from the last price {last_price:g}, beyond the "
                f"risk engine's {rules.max_price_drift_pct:g}% drift limit"
            )
    if proposal.p_win < rules.min_confidence:
        found.append(
            f"p_win {proposal.p_win:.2f} is below the strategies' min_confidence "
            f"{rules.min_confidence:.2f}"
        )
    net = expected.expected_net_profit
    if net < rules.min_expected_net_profit:
        found.append(
            f"expected net profit after charges ₹{net:,.2f} is below "
            f"₹{rules.min_expected_net_profit:,.2f} ({proposal.side.value} {limit:g})"
        )
    if rules.per_trade_risk is not None and proposal.risk_amount > rules.per_trade_risk:
        found.append(
            f"risk to the stop ₹{proposal.risk_amount:,.2f} ({proposal.quantity} x "
            f"|{limit:g} - {proposal.stop_loss:g}|) exceeds risk.per_trade_risk "
            f"₹{rules.per_trade_risk:,.2f}: the risk engine vetoes it (fewer lots or a nearer stop)"
        )
    return tuple(found)
