"""The pre-flight checks of ``kitepilot preflight``: each turns what the broker, the store, the
model registry and the lake said into one row ``(name, ok, detail)``.

These functions are pure: the caller (``orchestration/preflight.py``) asks the broker, the store,
MLflow and the lake, and hands the answers in; a check that could not be asked becomes a failed
row through :func:`not_checked`. Any failed row fails the whole pre-flight (exit code 1).

The orders check is reconciliation's comparison done read-only: it reports what
``execution.orders.reconcile`` would repair, and repairs nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

import requests
from kiteconnect.exceptions import KiteException

from data_contracts.config import KitepilotConfig, cross_field_problems
from data_contracts.enums import TradingMode
from data_contracts.errors import ContractError
from data_contracts.nse_calendar import NseCalendar
from data_contracts.ports import RegisteredModel
from data_contracts.timeutil import require_aware, to_ist
from data_contracts.trading import OrderEvent
from data_contracts.validation import finite, non_empty, non_negative, positive
from execution.console.words import rupees
from execution.kite.broker import BrokerError
from execution.orders.tags import is_our_tag
from execution.store.oms import KillSwitchState, OrderRecord

__all__ = [
    "BROKER",
    "BROKER_FAILURES",
    "CHAMPION",
    "CHAMPION_MAX_AGE",
    "DATA",
    "KILL_SWITCH",
    "MARGIN",
    "MODE",
    "ORDERS",
    "RISK_LIMITS",
    "Check",
    "PreflightReport",
    "broker_check",
    "champion_check",
    "data_freshness_check",
    "kill_switch_check",
    "margin_check",
    "mode_check",
    "not_checked",
    "orders_check",
    "previous_trading_session",
    "required_margin",
    "risk_limits_check",
]

MODE: Final = "mode"
BROKER: Final = "broker"
MARGIN: Final = "margin"
RISK_LIMITS: Final = "risk limits"
KILL_SWITCH: Final = "kill switch"
ORDERS: Final = "orders"
CHAMPION: Final = "model champion"
DATA: Final = "data"

CHAMPION_MAX_AGE: Final = timedelta(days=14)
"""A champion created longer ago than this fails the check (fixed here, not a config key)."""

BROKER_FAILURES: Final[tuple[type[Exception], ...]] = (
    BrokerError,
    KiteException,
    requests.RequestException,
    ContractError,
)
"""What asking the broker (or logging in to the paper exchange) may raise that means "the broker
could not be asked": the adapter's errors, ``kiteconnect``'s, the transport's, and the login's
``ContractError`` for an exchange that is not running."""

_SHOWN: Final = 5  # problems listed in one detail; the rest are counted
_CANDLES: Final = "candles_1m"


@dataclass(frozen=True, slots=True)
class Check:
    """One pre-flight check's outcome: its name, whether it passed, and what was found."""

    name: str
    ok: bool
    detail: str

    def __post_init__(self) -> None:
        non_empty("Check", "name", self.name)
        if not isinstance(self.ok, bool):
            raise ContractError("Check", "ok", self.ok, "must be a bool", self.name)


@dataclass(frozen=True, slots=True)
class PreflightReport:
    """Every check, in the order they were made; ``ok`` only when all passed."""

    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if not check.ok)


def not_checked(name: str, why: str) -> Check:
    """A check that could not be made: a failure (pre-flight cannot vouch for it)."""
    return Check(name, False, f"not checked: {why}")


def mode_check(config: KitepilotConfig, venue: str) -> Check:
    """States the trading mode and where orders go (always passes: it is information)."""
    if config.mode is TradingMode.LIVE:
        return Check(MODE, True, f"LIVE: real orders with real money at {venue}")
    return Check(MODE, True, f"PAPER: orders go to {venue}; no real money")


def broker_check(
    venue: str,
    *,
    saved_session: str | None = None,
    saved_valid: bool = True,
    accepted: bool | None = None,
    error: str | None = None,
) -> Check:
    """Whether the broker at ``venue`` answered and accepts our session.

    ``error``: why it could not be asked (unreachable, login refused); ``saved_session`` and
    ``saved_valid``: the saved ``kitepilot login`` session's status (live mode; None in paper
    mode, where the session is opened afresh); ``accepted``: the broker's answer to the session
    (``GET /user/profile``), None when it was not asked."""
    if error is not None:
        return Check(BROKER, False, f"{venue} could not be asked: {error}")
    if not saved_valid:
        return Check(BROKER, False, saved_session or "no valid saved session")
    if accepted is None:
        return Check(BROKER, False, f"{venue} was not asked whether the session is valid")
    if not accepted:
        return Check(
            BROKER,
            False,
            f"{venue} refused the access token (expired, logged out or logged in elsewhere); "
            "run `kitepilot login`",
        )
    session = f"; {saved_session}" if saved_session else ""
    return Check(BROKER, True, f"{venue} answered and accepts the session{session}")


def required_margin(capital: float, margin_buffer_pct: float) -> float:
    """The margin the broker must show: ``capital`` less the ``margin_buffer_pct`` kept unused."""
    positive("required_margin", "capital", capital)
    non_negative("required_margin", "margin_buffer_pct", margin_buffer_pct)
    return capital * (1.0 - margin_buffer_pct / 100.0)


def margin_check(available: float, capital: float, margin_buffer_pct: float) -> Check:
    """The broker's available margin against capital x (1 - margin buffer %)."""
    finite("margin_check", "available", available)
    needed = required_margin(capital, margin_buffer_pct)
    rule = (
        f"capital {rupees(capital)} less the {margin_buffer_pct:g}% margin buffer = "
        f"{rupees(needed)}"
    )
    if available >= needed:
        return Check(MARGIN, True, f"available {rupees(available)} >= {rule}")
    return Check(
        MARGIN,
        False,
        f"available {rupees(available)} < {rule}: add funds or lower `capital`",
    )


def risk_limits_check(config: KitepilotConfig) -> Check:
    """The risk limits, shown; sane when the config's cross-field rules hold."""
    risk = config.risk
    shown = (
        f"capital {rupees(config.capital)}; daily loss limit {rupees(risk.daily_loss_limit)}; "
        f"per trade {rupees(risk.per_trade_risk)}; at most {risk.max_concurrent_positions} "
        f"positions; max drawdown {risk.max_drawdown_pct:g}%; margin buffer "
        f"{risk.margin_buffer_pct:g}%; exposure {rupees(risk.max_symbol_exposure)} per "
        f"underlying, {rupees(risk.max_total_exposure)} in total; price drift "
        f"{risk.max_price_drift_pct:g}%; {risk.max_exceptions_per_minute} exceptions/min"
    )
    problems = cross_field_problems(config)
    if problems:
        return Check(RISK_LIMITS, False, "; ".join(str(p) for p in problems) + f" ({shown})")
    return Check(RISK_LIMITS, True, shown)


def kill_switch_check(state: KillSwitchState) -> Check:
    """Armed passes; engaged fails, saying who engaged it, when and why."""
    if not state.engaged:
        return Check(KILL_SWITCH, True, "armed (not engaged)")
    when = "" if state.ts_event is None else f" at {to_ist(state.ts_event):%Y-%m-%d %H:%M} IST"
    return Check(
        KILL_SWITCH,
        False,
        f"ENGAGED by {state.actor or 'unknown'}{when}: {state.reason or 'no reason given'}; "
        "re-arm with `kitepilot rearm` once the cause is dealt with",
    )


def orders_check(
    ours: Sequence[OrderRecord],
    broker: Sequence[OrderEvent],
    now: datetime,
    in_flight_grace: timedelta,
) -> Check:
    """Our stored orders against the broker's order book (today's orders carrying a tag).

    - an order we think open (or in flight) must be open at the broker — unknown to it (once
      claimed longer ago than ``in_flight_grace``) or final there is a stuck order;
    - an order we think final and the broker knows must be final there, in the same state;
    - an order at the broker with a kitepilot tag must be one of ours.

    Orders we think final that the broker does not list (earlier days) are fine."""
    now = require_aware("orders_check", "now", now)
    theirs = {event.client_tag.value: event for event in broker}
    problems: list[str] = []
    working = 0
    for record in ours:
        tag = record.client_tag.value
        here = "in flight" if record.latest is None else record.latest.status.value
        what = f"{tag} ({record.intent.tradingsymbol})"
        event = theirs.get(tag)
        if not record.is_final:
            working += 1
            if event is None:
                if now - record.created_at >= in_flight_grace:
                    problems.append(f"{what}: {here} here, unknown to the broker")
            elif event.is_final:
                problems.append(f"{what}: {here} here, {event.status.value} at the broker")
        elif (
            event is not None
            and record.latest is not None
            and event.status is not record.latest.status
        ):
            problems.append(f"{what}: {here} here, {event.status.value} at the broker")
    known = {record.client_tag.value for record in ours}
    problems += [
        f"{tag}: {event.status.value} at the broker, never claimed here"
        for tag, event in theirs.items()
        if is_our_tag(tag) and tag not in known
    ]
    if problems:
        return Check(
            ORDERS,
            False,
            f"{len(problems)} mismatched: {_listed(problems)}; `kitepilot execute` reconciles "
            "them at start-up (see docs/OPERATIONS.md)",
        )
    return Check(
        ORDERS,
        True,
        f"{len(ours)} orders here agree with the broker's {len(broker)} ({working} open)",
    )


def _listed(items: Iterable[str]) -> str:
    shown = list(items)
    head = "; ".join(shown[:_SHOWN])
    return head if len(shown) <= _SHOWN else f"{head}; and {len(shown) - _SHOWN} more"


def champion_check(
    model_name: str,
    champion: RegisteredModel | None,
    created_at: datetime | None,
    now: datetime,
    *,
    max_age: timedelta = CHAMPION_MAX_AGE,
) -> Check:
    """A ``champion`` exists and its version was created within ``max_age`` of ``now``."""
    now = require_aware("champion_check", "now", now)
    limit = f"{max_age.total_seconds() / 86400:g} days"
    if champion is None:
        return Check(
            CHAMPION,
            False,
            f"no `champion` alias on {model_name!r} in the MLflow registry; run `kitepilot "
            "train` (or `kitepilot demo`)",
        )
    name = f"{champion.name} v{champion.version} (features {champion.feature_version})"
    if created_at is None:
        return Check(CHAMPION, False, f"{name}: its creation time is unknown")
    created = require_aware("champion_check", "created_at", created_at)
    age = now - created
    days = max(age.total_seconds(), 0.0) / 86400
    shown = f"{name} created {to_ist(created):%Y-%m-%d %H:%M} IST, {days:.1f} days ago"
    if age > max_age:
        return Check(
            CHAMPION,
            False,
            f"{shown}: older than {limit}; retrain with `kitepilot train`",
        )
    return Check(CHAMPION, True, f"{shown} (limit {limit})")


def previous_trading_session(calendar: NseCalendar, today: date) -> date:
    """The last trading day before ``today`` (a Muhurat-only session is not one)."""
    session = calendar.previous_session(today)
    while not session.is_trading_day:
        session = calendar.previous_session(session.date)
    return session.date


def data_freshness_check(latest: date | None, today: date, calendar: NseCalendar) -> Check:
    """The lake's latest ``candles_1m`` day must be the previous trading session or later."""
    wanted = previous_trading_session(calendar, today)
    if latest is None:
        return Check(
            DATA,
            False,
            f"the lake has no {_CANDLES}; wanted {wanted} or later (`kitepilot data "
            "simulate` / `data import`)",
        )
    if latest < wanted:
        return Check(
            DATA,
            False,
            f"{_CANDLES} ends {latest}, before the previous session {wanted}; load the "
            "missing days",
        )
    return Check(DATA, True, f"{_CANDLES} up to {latest} (previous session {wanted})")
