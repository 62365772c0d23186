"""Composition of the executor from the config, and what the execution commands do:
``kitepilot execute | approve | reject | positions | orders | kill | rearm | audit verify``.

Decisions need only the store (the running executor acts on them); the kill switch and re-arm
need the broker too (cancel, flatten); ``execute`` runs the executor's loop with the broker's
WebSocket order updates.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from data_contracts.charges import ChargesModel
from data_contracts.clock import SystemClock
from data_contracts.config import KitepilotConfig
from data_contracts.enums import TradingMode
from data_contracts.errors import ContractError
from data_contracts.ids import ProposalId
from data_contracts.nse_calendar import NseCalendar
from data_contracts.ports import Clock
from execution.alerts import Alerter
from execution.audit import AuditLog, ChainReport, verify
from execution.kite.broker import kite_broker
from execution.kite.historical import KiteHistoricalSource, KiteSourceSettings, kite_client
from execution.kite.order_updates import OrderUpdateFeed
from execution.orders.context import ExecutorSettings, OmsContext
from execution.orders.desk import DecisionDesk
from execution.orders.executor import Executor
from execution.orders.service import ExecutionService
from execution.store import OmsStore, SqlStore, StoredVerdict
from orchestration.broker_login import BrokerLogin, broker_session

__all__ = [
    "Decided",
    "audit_directory",
    "build_executor",
    "decide",
    "market_clock",
    "run_executor",
    "verify_audit",
]


def audit_directory(config: KitepilotConfig) -> Path:
    return config.storage.var_dir / "audit"


def _audit(config: KitepilotConfig) -> AuditLog:
    """The audit log, stamped with the wall clock: it records when *we* wrote each entry (a
    replay's market time runs in the past and would break its day-by-day order)."""
    return AuditLog(audit_directory(config), SystemClock())


def market_clock(config: KitepilotConfig, login: BrokerLogin) -> Clock:
    """The market's clock for a process that trades at ``login``'s broker (DESIGN §5). Live: the
    system clock. Paper: the paper exchange's market time (``GET /_paper/clock`` with the admin
    token of the paper credentials), so against a replayed day the risk engine sees that day's
    time; raises :class:`ContractError` naming the URL when the exchange does not answer."""
    if config.mode is TradingMode.LIVE:
        return SystemClock()
    from execution.paper.exchange_clock import ExchangeClock
    from orchestration.paper_credentials import credentials

    root = login.endpoints.rest_root
    if root is None:  # a paper session always points at the local exchange
        rule = "must be the paper exchange's URL in paper mode"
        raise ContractError("BrokerEndpoints", "rest_root", root, rule)
    secret, _ = credentials(config)
    return ExchangeClock(root, secret.admin_token)


def build_executor(
    config: KitepilotConfig,
    login: BrokerLogin,
    *,
    clock: Clock | None = None,
) -> Executor:
    """The executor over the broker of ``login`` (the real ``kiteconnect`` client), on ``clock``
    (by default the market's: :func:`market_clock`)."""
    clock = clock or market_clock(config, login)
    session = login.endpoints
    calendar = NseCalendar.default(override=config.calendar.holidays_file)
    client = kite_client(session.api_key, session.access_token, root=session.rest_root)
    source = KiteHistoricalSource(
        client,
        clock,
        calendar=calendar,
        settings=KiteSourceSettings(cache_dir=config.storage.var_dir / "kite"),
    )
    instruments = {int(i.instrument_token): i for i in source.instruments(clock.now())}
    charges = ChargesModel.default()
    broker = kite_broker(
        session.api_key,
        session.access_token,
        clock=clock,
        root=session.rest_root,
        charges=charges,
        symbols={t: (i.exchange.value, i.tradingsymbol) for t, i in instruments.items()},
    )
    context = OmsContext(
        store=SqlStore.open(config.storage.database_url, background_checkpoints=True),
        broker=broker,
        instruments=instruments,
        calendar=calendar,
        clock=clock,
        settings=ExecutorSettings.from_config(config),
        charges=charges,
        audit=_audit(config),
        alerter=Alerter.from_config(config.alerts, clock),
        session_expires_at=login.expires_at,
    )
    return Executor(context)


@dataclass(frozen=True, slots=True)
class Decided:
    """A CLI decision and, when an executor acted on it in time, its risk verdict."""

    proposal_id: str
    approved: bool
    verdict: StoredVerdict | None


def decide(
    config: KitepilotConfig,
    proposal_id: str,
    *,
    approve: bool,
    decided_by: str,
    reason: str = "",
    wait_seconds: float = 0.0,
    sleep: Callable[[float], None] | None = None,
) -> Decided:
    """Record an approval or a rejection; for an approval, wait up to ``wait_seconds`` for the
    running executor's verdict."""
    clock = SystemClock()
    pid = ProposalId(proposal_id)
    with SqlStore.open(config.storage.database_url) as store:
        desk = DecisionDesk(store, clock, _audit(config))
        if approve:
            desk.approve(pid, decided_by, reason)
        else:
            desk.reject(pid, decided_by, reason)
        verdict = None
        waited, step = 0.0, 0.2
        oms = OmsStore.of(store)
        pause = sleep or threading.Event().wait
        while approve and verdict is None:
            found = oms.verdicts(proposal_id)
            verdict = found[-1] if found else None
            if verdict is not None or waited >= wait_seconds:
                break
            pause(step)
            waited += step
    return Decided(proposal_id, approve, verdict)


def verify_audit(config: KitepilotConfig) -> ChainReport:
    return verify(audit_directory(config))


def run_executor(config: KitepilotConfig, stop: threading.Event) -> ExecutionService:
    """``kitepilot execute``: reconcile, then the loop, with WebSocket order updates."""
    session = broker_session(config)
    executor = build_executor(config, session)
    service = ExecutionService(executor)
    endpoints = session.endpoints
    feed = OrderUpdateFeed(
        endpoints.api_key,
        endpoints.access_token,
        endpoints.ticker_root,
        executor.context.clock,
        executor.on_order_update,
    )
    feed.start()
    try:
        service.run(stop, interval=0.2)
    finally:
        feed.close()
        executor.context.store.close()
    return service
