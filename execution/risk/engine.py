"""The risk engine: the one gate between an intent and the broker.

Pure functions over a frozen :class:`~execution.risk.state.AccountState`: no I/O and no clock (the
snapshot carries ``now``). Every check returns a :class:`CheckResult`, passed or not, in a fixed
order, so a stored :class:`RiskVerdict` shows everything that was considered; the verdict is
accepted exactly when every check passed. Limits are inclusive: a value equal to its limit passes.

* :func:`circuit_breaker` - the account-level checks (daily loss, drawdown, margin buffer, broker
  latency, exceptions per minute, market open, kill switch, broker session).
* :func:`check_entry` - every breaker plus the per-trade checks of one entry proposal.
* :func:`check_exit` - an exit reduces risk: the breakers are shown but waived (the "reduce-only"
  state); only the market being closed, a quantity beyond the open position, partial lots and an
  off-grid price veto it.

See ``docs/risk.md`` for each rule and its config key.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final

from data_contracts.enums import Product, Side
from data_contracts.errors import ContractError
from data_contracts.instruments import Instrument
from data_contracts.nse_calendar import NseCalendar
from data_contracts.pricegrid import is_on_grid, max_order_quantity
from data_contracts.timeutil import IST
from data_contracts.trading import Proposal
from data_contracts.validation import instance_of, integer, non_empty
from execution.risk.limits import RiskLimits
from execution.risk.state import AccountState

__all__ = [
    "REDUCE_ONLY_BREAKERS",
    "CheckResult",
    "RiskVerdict",
    "check_entry",
    "check_exit",
    "circuit_breaker",
]

REDUCE_ONLY_BREAKERS: Final = frozenset(
    {
        "daily_loss",
        "drawdown",
        "margin_buffer",
        "broker_latency",
        "exceptions_per_minute",
        "kill_switch",
        "session_valid",
    }
)
"""The account-level checks that stop entries but not exits: any of them failing puts the account
in the reduce-only state. ``market_open`` is not one: a closed market stops exits too."""

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One rule applied: a stable snake_case ``name``, whether it ``passed`` and a ``detail`` in
    words with the numbers (e.g. "daily loss ₹1,050 exceeds the limit ₹1,000")."""

    name: str
    passed: bool
    detail: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or _NAME.fullmatch(self.name) is None:
            raise ContractError("CheckResult", "name", self.name, "must be a snake_case id")
        instance_of("CheckResult", "passed", self.passed, bool, self.name)
        non_empty("CheckResult", "detail", self.detail, self.name)


@dataclass(frozen=True, slots=True)
class RiskVerdict:
    """The engine's answer for one intent: ``accepted`` exactly when every check passed.

    ``reduce_only`` is True when an account-level breaker in :data:`REDUCE_ONLY_BREAKERS` is
    tripped: entries stop, exits still go (the executor and the UI say why).
    """

    accepted: bool
    checks: tuple[CheckResult, ...]
    reduce_only: bool

    def __post_init__(self) -> None:
        owner = "RiskVerdict"
        instance_of(owner, "checks", self.checks, tuple)
        if not self.checks:
            raise ContractError(owner, "checks", self.checks, "must hold at least one check")
        for check in self.checks:
            instance_of(owner, "checks", check, CheckResult)
        names = [check.name for check in self.checks]
        if len(set(names)) != len(names):
            raise ContractError(owner, "checks", names, "must not repeat a check name")
        instance_of(owner, "reduce_only", self.reduce_only, bool)
        if self.accepted is not all(check.passed for check in self.checks):
            raise ContractError(
                owner, "accepted", self.accepted, "must be True exactly when every check passed"
            )

    @classmethod
    def of(cls, checks: Iterable[CheckResult], *, reduce_only: bool) -> RiskVerdict:
        found = tuple(checks)
        return cls(all(c.passed for c in found), found, reduce_only)

    @property
    def reasons(self) -> tuple[str, ...]:
        """The details of the failed checks, in check order (empty when accepted)."""
        return tuple(check.detail for check in self.checks if not check.passed)

    @property
    def failed(self) -> tuple[str, ...]:
        """The names of the failed checks, in check order."""
        return tuple(check.name for check in self.checks if not check.passed)

    def check(self, name: str) -> CheckResult:
        """The result of the check called ``name``; KeyError when it was not run."""
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(name)


# -- account level ------------------------------------------------------------------------------


def circuit_breaker(
    state: AccountState, limits: RiskLimits, calendar: NseCalendar
) -> tuple[CheckResult, ...]:
    """The account-level checks, in this order: daily loss, drawdown, margin buffer, broker
    latency, exceptions per minute, market open, kill switch, broker session."""
    return (
        _daily_loss(state, limits),
        _drawdown(state, limits),
        _margin_buffer(state, limits),
        _broker_latency(state, limits),
        _exceptions(state, limits),
        _market_open(state.now, calendar),
        _kill_switch(state),
        _session_valid(state),
    )


def _daily_loss(state: AccountState, limits: RiskLimits) -> CheckResult:
    loss = max(0.0, -state.day_pnl)
    parts = (
        f"(realised {_rupees(state.realised_pnl_today)} net of charges, "
        f"unrealised {_rupees(state.unrealised_pnl)})"
    )
    if loss <= limits.daily_loss_limit:
        detail = f"daily loss {_rupees(loss)} within the limit {_rupees(limits.daily_loss_limit)}"
        return CheckResult("daily_loss", True, f"{detail} {parts}")
    detail = f"daily loss {_rupees(loss)} exceeds the limit {_rupees(limits.daily_loss_limit)}"
    return CheckResult("daily_loss", False, f"{detail} {parts}")


def _drawdown(state: AccountState, limits: RiskLimits) -> CheckResult:
    peak = max(state.peak_equity, state.equity)  # the equity now is a peak if it is the highest
    drawdown = peak - state.equity
    pct = drawdown / limits.capital * 100
    detail = (
        f"drawdown {_rupees(drawdown)} from the equity peak {_rupees(peak)} is {_pct(pct)} of "
        f"capital {_rupees(limits.capital)}"
    )
    passed = pct <= limits.max_drawdown_pct
    verb = "within" if passed else "over"
    return CheckResult(
        "drawdown", passed, f"{detail}, {verb} the limit {_pct(limits.max_drawdown_pct)}"
    )


def _margin_buffer(state: AccountState, limits: RiskLimits) -> CheckResult:
    buffer = limits.capital * limits.margin_buffer_pct / 100
    where = f"the buffer {_rupees(buffer)} ({_pct(limits.margin_buffer_pct)} of capital)"
    if state.available_margin >= buffer:
        detail = f"available margin {_rupees(state.available_margin)} keeps {where}"
        return CheckResult("margin_buffer", True, detail)
    detail = f"available margin {_rupees(state.available_margin)} is below {where}"
    return CheckResult("margin_buffer", False, detail)


def _broker_latency(state: AccountState, limits: RiskLimits) -> CheckResult:
    limit = f"{limits.broker_api_p95_ms:,.0f} ms"
    p95 = state.broker_latency_p95_ms
    if p95 is None:
        return CheckResult(
            "broker_latency", True, f"no broker API latency measured yet (limit {limit})"
        )
    if p95 <= limits.broker_api_p95_ms:
        return CheckResult(
            "broker_latency", True, f"broker API p95 latency {p95:,.0f} ms within {limit}"
        )
    return CheckResult(
        "broker_latency", False, f"broker API p95 latency {p95:,.0f} ms exceeds {limit}"
    )


def _exceptions(state: AccountState, limits: RiskLimits) -> CheckResult:
    count, limit = state.exceptions_last_minute, limits.max_exceptions_per_minute
    passed = count <= limit
    verb = "within" if passed else "exceed"
    return CheckResult(
        "exceptions_per_minute",
        passed,
        f"{count} exception(s) in the last minute {verb} the limit {limit}",
    )


def _market_open(now: datetime, calendar: NseCalendar) -> CheckResult:
    if calendar.is_open(now):
        session = calendar.session(now)
        hours = f" ({_hhmm(session.open)}-{_hhmm(session.close)} IST)" if session else ""
        return CheckResult("market_open", True, f"market open at {_clock(now)} IST{hours}")
    return CheckResult("market_open", False, _why_closed(now, calendar))


def _why_closed(now: datetime, calendar: NseCalendar) -> str:
    day = now.astimezone(IST).date()
    session = calendar.session(day)
    if session is None:
        holidays = calendar.holidays(day, day)
        if holidays:
            return f"market closed: {day} is an NSE holiday ({holidays[0].description})"
        return f"market closed: no NSE session on {day} ({day:%A})"
    return (
        f"market closed at {_clock(now)} IST on {day} (continuous trading "
        f"{_hhmm(session.open)}-{_hhmm(session.close)} IST"
        f"{', with breaks' if session.breaks else ''})"
    )


def _kill_switch(state: AccountState) -> CheckResult:
    if state.kill_switch_engaged:
        return CheckResult("kill_switch", False, "kill switch engaged: no new entries")
    return CheckResult("kill_switch", True, "kill switch off")


def _session_valid(state: AccountState) -> CheckResult:
    if state.session_valid:
        return CheckResult("session_valid", True, "broker session valid")
    return CheckResult("session_valid", False, "broker session invalid: log in again")


def _reduce_only(breakers: Iterable[CheckResult]) -> bool:
    return any(not c.passed and c.name in REDUCE_ONLY_BREAKERS for c in breakers)


# -- entries ------------------------------------------------------------------------------------


def check_entry(
    proposal: Proposal,
    instrument: Instrument,
    state: AccountState,
    limits: RiskLimits,
    calendar: NseCalendar,
    *,
    freeze_quantity: int | None,
) -> RiskVerdict:
    """Every :func:`circuit_breaker` check, then the per-trade checks of ``proposal`` (an approved
    entry) against the current ``state``.

    ``freeze_quantity`` is the instrument's largest order quantity (None where no freeze applies,
    e.g. an equity); the entry is vetoed if it would need more than ``limits.max_order_slices``
    orders under it.
    """
    breakers = circuit_breaker(state, limits, calendar)
    quantity = proposal.quantity
    trade = (
        _instrument_match(proposal, instrument),
        _long_options_only(proposal, instrument),
        _proposal_ttl(proposal, state.now),
        _mis_cutoff(proposal.product, instrument, state.now, calendar),
        _per_trade_risk(proposal, limits),
        _symbol_exposure(proposal, instrument.underlying, state, limits),
        _total_exposure(proposal, state, limits),
        _concurrent_positions(proposal, state, limits),
        _opposite_position(proposal, state),
        _margin(proposal, instrument, state, limits),
        _whole_lots(quantity, instrument),
        _tick_grid(proposal.limit_price, instrument),
        _freeze(quantity, instrument, freeze_quantity, limits.max_order_slices),
        _price_drift(proposal, state, limits),
    )
    return RiskVerdict.of(breakers + trade, reduce_only=_reduce_only(breakers))


def _instrument_match(proposal: Proposal, instrument: Instrument) -> CheckResult:
    pairs = (
        ("instrument_token", proposal.instrument_token, instrument.instrument_token),
        ("exchange", proposal.exchange, instrument.exchange),
        ("tradingsymbol", proposal.tradingsymbol, instrument.tradingsymbol),
        ("lot_size", proposal.lot_size, instrument.lot_size),
        ("tick_size", proposal.tick_size, instrument.tick_size),
    )
    wrong = [
        f"{name} {mine} vs the instrument's {theirs}"
        for name, mine, theirs in pairs
        if mine != theirs
    ]
    if not instrument.is_tradable:
        wrong.append(f"{instrument.tradingsymbol} is an index, not tradable")
    if wrong:
        return CheckResult(
            "instrument_match", False, "proposal does not match the instrument: " + "; ".join(wrong)
        )
    return CheckResult(
        "instrument_match",
        True,
        f"proposal matches {instrument.tradingsymbol} (token {instrument.instrument_token}, "
        f"lot {instrument.lot_size}, tick {instrument.tick_size:g})",
    )


def _long_options_only(proposal: Proposal, instrument: Instrument) -> CheckResult:
    if instrument.is_option and proposal.side is Side.SELL:
        return CheckResult(
            "long_options_only",
            False,
            f"selling {instrument.tradingsymbol} to open is a short option: only long options "
            "are traded",
        )
    return CheckResult("long_options_only", True, f"{proposal.side.value} to open is allowed")


def _proposal_ttl(proposal: Proposal, now: datetime) -> CheckResult:
    left = (proposal.expires_at - now).total_seconds()
    if proposal.is_expired(now):
        return CheckResult(
            "proposal_ttl",
            False,
            f"proposal expired at {_clock(proposal.expires_at)} IST "
            f"({-left:,.1f} s before now {_clock(now)} IST)",
        )
    return CheckResult(
        "proposal_ttl",
        True,
        f"proposal valid until {_clock(proposal.expires_at)} IST ({left:,.1f} s left)",
    )


def _mis_cutoff(
    product: Product, instrument: Instrument, now: datetime, calendar: NseCalendar
) -> CheckResult:
    if product is not Product.MIS:
        return CheckResult("mis_cutoff", True, f"{product.value}: no MIS square-off cut")
    kind = "F&O" if instrument.instrument_type.is_derivative else "equity"
    cut = calendar.mis_square_off(now, derivatives=instrument.instrument_type.is_derivative)
    if cut is None:
        day = now.astimezone(IST).date()
        return CheckResult("mis_cutoff", False, f"no MIS entries on {day}: no session allows MIS")
    if now < cut:
        return CheckResult(
            "mis_cutoff", True, f"MIS {kind} entry before the square-off cut {_hhmm(cut)} IST"
        )
    return CheckResult(
        "mis_cutoff",
        False,
        f"MIS {kind} entries stop at the square-off cut {_hhmm(cut)} IST; now {_clock(now)} IST",
    )


def _per_trade_risk(proposal: Proposal, limits: RiskLimits) -> CheckResult:
    risk, limit = proposal.risk_amount, limits.per_trade_risk
    how = f"({proposal.quantity} x |{proposal.limit_price:g} - {proposal.stop_loss:g}| to the stop)"
    if risk <= limit:
        detail = f"risk {_rupees(risk)} {how} within the per-trade limit {_rupees(limit)}"
        return CheckResult("per_trade_risk", True, detail)
    detail = f"risk {_rupees(risk)} {how} exceeds the per-trade limit {_rupees(limit)}"
    return CheckResult("per_trade_risk", False, detail)


def _symbol_exposure(
    proposal: Proposal, underlying: str, state: AccountState, limits: RiskLimits
) -> CheckResult:
    """The limit is per underlying: every strike and expiry of NIFTY options adds to NIFTY's."""
    held = sum(
        e.notional
        for e in state.exposures
        if e.underlying_name == underlying or e.instrument_token == proposal.instrument_token
    )
    after, limit = held + proposal.notional, limits.max_symbol_exposure
    detail = (
        f"{underlying} exposure {_rupees(held)} held or pending + "
        f"{_rupees(proposal.notional)} = {_rupees(after)}"
    )
    if after <= limit:
        return CheckResult("symbol_exposure", True, f"{detail} within the limit {_rupees(limit)}")
    return CheckResult("symbol_exposure", False, f"{detail} exceeds the limit {_rupees(limit)}")


def _total_exposure(proposal: Proposal, state: AccountState, limits: RiskLimits) -> CheckResult:
    held = sum(e.notional for e in state.exposures)
    after, limit = held + proposal.notional, limits.max_total_exposure
    detail = (
        f"total exposure {_rupees(held)} held or pending + {_rupees(proposal.notional)} = "
        f"{_rupees(after)}"
    )
    if after <= limit:
        return CheckResult("total_exposure", True, f"{detail} within the limit {_rupees(limit)}")
    return CheckResult("total_exposure", False, f"{detail} exceeds the limit {_rupees(limit)}")


def _concurrent_positions(
    proposal: Proposal, state: AccountState, limits: RiskLimits
) -> CheckResult:
    tokens = {e.instrument_token for e in state.exposures}
    new = proposal.instrument_token not in tokens
    count, limit = len(tokens | {proposal.instrument_token}), limits.max_concurrent_positions
    detail = (
        f"{count} instrument(s) open or pending with {proposal.tradingsymbol}"
        f"{' (new)' if new else ' (already held)'}"
    )
    if count <= limit:
        return CheckResult("concurrent_positions", True, f"{detail}, within the limit {limit}")
    return CheckResult("concurrent_positions", False, f"{detail} exceed the limit {limit}")


def _opposite_position(proposal: Proposal, state: AccountState) -> CheckResult:
    """No entry against a position or pending entry held the other way in the same instrument:
    the broker nets them into one position, and each trade's exit, sized to its trade, would then
    be vetoed against the net position (neither trade could exit)."""
    sign = proposal.side.sign
    against = [
        (kind, e)
        for kind, exposures in (
            ("position", state.positions),
            ("pending entry", state.pending_entries),
        )
        for e in exposures
        if e.instrument_token == proposal.instrument_token and e.quantity * sign < 0
    ]
    if not against:
        return CheckResult(
            "opposite_position",
            True,
            f"no position or pending entry in {proposal.tradingsymbol} against a "
            f"{proposal.side.value}",
        )
    held = ", ".join(
        f"{kind} {'long' if e.quantity > 0 else 'short'} {abs(e.quantity)}" for kind, e in against
    )
    return CheckResult(
        "opposite_position",
        False,
        f"{proposal.side.value} {proposal.tradingsymbol} opposes the {held} held or pending: "
        "the broker would net them and neither trade could exit",
    )


def _margin(
    proposal: Proposal, instrument: Instrument, state: AccountState, limits: RiskLimits
) -> CheckResult:
    leveraged = proposal.product is Product.MIS and not instrument.instrument_type.is_derivative
    required = proposal.notional / limits.intraday_leverage if leveraged else proposal.notional
    basis = (
        f"notional {_rupees(proposal.notional)} / MIS leverage {limits.intraday_leverage:g}"
        if leveraged
        else f"the full {'premium' if instrument.is_option else 'notional'}"
    )
    usable = state.available_margin * (1 - limits.margin_buffer_pct / 100)
    detail = (
        f"margin required {_rupees(required)} ({basis}) against {_rupees(usable)} usable "
        f"(available {_rupees(state.available_margin)} less the "
        f"{_pct(limits.margin_buffer_pct)} buffer)"
    )
    return CheckResult("margin", required <= usable, detail)


# -- shared by entries and exits ----------------------------------------------------------------


def _whole_lots(quantity: int, instrument: Instrument) -> CheckResult:
    lot = instrument.lot_size
    if lot < 1:
        return CheckResult(
            "whole_lots", False, f"{instrument.tradingsymbol} has no lot size ({lot})"
        )
    if quantity >= lot and quantity % lot == 0:
        return CheckResult(
            "whole_lots", True, f"quantity {quantity} is {quantity // lot} lot(s) of {lot}"
        )
    return CheckResult(
        "whole_lots", False, f"quantity {quantity} is not a whole number (>= 1) of lots of {lot}"
    )


def _tick_grid(price: float | None, instrument: Instrument) -> CheckResult:
    tick = instrument.tick_size
    if price is None:
        return CheckResult("tick_grid", True, "no limit price (market order): nothing to check")
    if tick <= 0:
        return CheckResult(
            "tick_grid", False, f"{instrument.tradingsymbol} has no tick size ({tick:g})"
        )
    if not math.isfinite(price) or price <= 0:
        return CheckResult("tick_grid", False, f"price {price} must be a positive number")
    if is_on_grid(price, tick):
        return CheckResult("tick_grid", True, f"price {price:g} is on the {tick:g} tick grid")
    return CheckResult("tick_grid", False, f"price {price:g} is off the {tick:g} tick grid")


def _freeze(
    quantity: int, instrument: Instrument, freeze_quantity: int | None, max_slices: int | None
) -> CheckResult:
    """At most ``max_slices`` orders under the freeze quantity (None: any number, for exits)."""
    if freeze_quantity is None:
        return CheckResult(
            "freeze_quantity", True, f"no freeze quantity applies to {instrument.tradingsymbol}"
        )
    integer("RiskEngine", "freeze_quantity", freeze_quantity, minimum=1)
    lot = max(instrument.lot_size, 1)
    if freeze_quantity <= lot:
        return CheckResult(
            "freeze_quantity",
            False,
            f"freeze quantity {freeze_quantity} leaves no order size for lots of {lot}",
        )
    per_order = max_order_quantity(lot, freeze_quantity)
    slices = max(0, -(-quantity // per_order))
    detail = (
        f"quantity {quantity} goes out in {slices} order(s) of at most {per_order} "
        f"(freeze quantity {freeze_quantity})"
    )
    if max_slices is None or slices <= max_slices:
        limit = "" if max_slices is None else f", within the limit of {max_slices}"
        return CheckResult("freeze_quantity", True, detail + limit)
    return CheckResult("freeze_quantity", False, f"{detail}, over the limit of {max_slices}")


def _price_drift(proposal: Proposal, state: AccountState, limits: RiskLimits) -> CheckResult:
    last = state.last_prices.get(proposal.instrument_token)
    if last is None:
        return CheckResult("price_drift", False, f"no current price for {proposal.tradingsymbol}")
    drift = abs(last - proposal.limit_price) / proposal.limit_price * 100
    allowed = min(proposal.max_price_drift_pct, limits.max_price_drift_pct)
    detail = f"last price {last:g} is {_pct(drift)} from the limit {proposal.limit_price:g}"
    if drift <= allowed:
        return CheckResult("price_drift", True, f"{detail}, within {_pct(allowed)}")
    return CheckResult("price_drift", False, f"{detail}, over the allowed {_pct(allowed)}")


# -- exits --------------------------------------------------------------------------------------


def check_exit(
    *,
    instrument: Instrument,
    side: Side,
    quantity: int,
    price: float | None,
    position_quantity: int,
    state: AccountState,
    calendar: NseCalendar,
    freeze_quantity: int | None,
    limits: RiskLimits | None = None,
) -> RiskVerdict:
    """An exit order (automatic, manual "exit now" or a kill-switch flatten) of ``quantity`` on
    ``side`` against the open ``position_quantity`` (signed: a SELL closes a long).

    The account-level breakers do not veto an exit (it reduces risk); with ``limits`` they are
    listed as waived and set ``reduce_only``; without, only the kill switch and the broker session
    (which need no limits) are. Vetoed when the market is closed, the quantity is not within the
    open position, not whole lots, or ``price`` (None for a market order) is off the tick grid.
    Exits are never capped by a number of freeze slices.
    """
    instance_of("check_exit", "side", side, Side)
    integer("check_exit", "quantity", quantity)
    integer("check_exit", "position_quantity", position_quantity)
    if limits is not None:
        breakers = circuit_breaker(state, limits, calendar)
        account = tuple(c for c in breakers if c.name != "market_open")
    else:
        account = (_kill_switch(state), _session_valid(state))
    waived = tuple(_waived(c) for c in account)
    checks = (
        *waived,
        _market_open(state.now, calendar),
        _position_cover(side, quantity, position_quantity, instrument),
        _whole_lots(quantity, instrument),
        _tick_grid(price, instrument),
        _freeze(quantity, instrument, freeze_quantity, None),
    )
    return RiskVerdict.of(checks, reduce_only=_reduce_only(account))


def _waived(check: CheckResult) -> CheckResult:
    if check.passed:
        return check
    return replace(check, passed=True, detail=f"{check.detail} (waived: an exit reduces risk)")


def _position_cover(
    side: Side, quantity: int, position_quantity: int, instrument: Instrument
) -> CheckResult:
    closable = max(0, -side.sign * position_quantity)  # a SELL closes a long, a BUY a short
    held = (
        "flat"
        if position_quantity == 0
        else f"{'long' if position_quantity > 0 else 'short'} {abs(position_quantity)}"
    )
    detail = f"{side.value} {quantity} {instrument.tradingsymbol} against a position {held}"
    if 0 < quantity <= closable:
        return CheckResult("position_cover", True, f"{detail}: closes at most what is open")
    if quantity <= 0:
        return CheckResult("position_cover", False, f"{detail}: the quantity must be positive")
    return CheckResult("position_cover", False, f"{detail}: exceeds the {closable} it can close")


# -- formatting ---------------------------------------------------------------------------------


def _rupees(amount: float) -> str:
    sign = "-" if amount < 0 else ""
    value = abs(amount)
    body = f"{value:,.0f}" if value == round(value) else f"{value:,.2f}"
    return f"{sign}₹{body}"


def _pct(value: float) -> str:
    return f"{value:.2f}%"


def _clock(ts: datetime) -> str:
    return ts.astimezone(IST).strftime("%H:%M:%S")


def _hhmm(ts: datetime) -> str:
    return ts.astimezone(IST).strftime("%H:%M")
