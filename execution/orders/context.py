"""What every part of the order management system shares: the stores, the broker, the market's
rules, the clock, the settings, and where audit entries and alerts go."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from data_contracts.charges import ChargesModel
from data_contracts.config import KitepilotConfig
from data_contracts.enums import AlertSeverity
from data_contracts.instruments import Instrument
from data_contracts.nse_calendar import NseCalendar
from data_contracts.ports import Broker, Clock
from execution.alerts import Alert
from execution.audit import AuditKind, AuditRecord
from execution.risk import RiskLimits
from execution.store.oms import OmsStore
from execution.store.sql import SqlStore

__all__ = ["AlertRaiser", "AuditTrail", "ExecutorSettings", "OmsContext"]


class AuditTrail(Protocol):
    def append(
        self,
        kind: AuditKind,
        subject: str,
        payload: Mapping[str, object],
        *,
        actor: str = "system",
        instrument_token: int | None = None,
    ) -> Any: ...

    def append_many(self, records: Sequence[AuditRecord]) -> Any: ...


class AlertRaiser(Protocol):
    def raise_alert(self, alert: Alert) -> Any: ...


@dataclass(frozen=True, slots=True)
class ExecutorSettings:
    """The executor's knobs (``execution``, ``loops`` and ``risk`` config sections)."""

    limits: RiskLimits
    exit_buffer_pct: float = 1.0
    max_send_attempts: int = 3
    retry_backoff_seconds: float = 0.25
    fill_timeout: timedelta = timedelta(seconds=60)
    poll_interval: timedelta = timedelta(seconds=5)
    reconcile_interval: timedelta = timedelta(seconds=60)
    rejection_burst: int = 3
    rejection_window: timedelta = timedelta(minutes=5)
    stale_feed: timedelta = timedelta(minutes=2)
    # An order claimed this long ago that the broker does not know was never placed.
    in_flight_grace: timedelta = timedelta(seconds=30)

    @classmethod
    def from_config(cls, config: KitepilotConfig) -> ExecutorSettings:
        execution, loops = config.execution, config.loops
        return cls(
            limits=RiskLimits.from_config(config),
            exit_buffer_pct=execution.exit_buffer_pct,
            max_send_attempts=execution.max_send_attempts,
            fill_timeout=timedelta(seconds=loops.order_fill_timeout_seconds),
            poll_interval=timedelta(seconds=loops.order_poll_seconds),
            reconcile_interval=timedelta(seconds=execution.reconcile_seconds),
            rejection_burst=execution.rejection_burst,
            rejection_window=timedelta(seconds=execution.rejection_window_seconds),
            stale_feed=timedelta(seconds=execution.stale_feed_kill_seconds),
        )


@dataclass(slots=True)
class OmsContext:
    """The collaborators of the executor, the kill switch and reconciliation."""

    store: SqlStore
    broker: Broker
    instruments: Mapping[int, Instrument]
    calendar: NseCalendar
    clock: Clock
    settings: ExecutorSettings
    charges: ChargesModel
    audit: AuditTrail | None = None
    alerter: AlertRaiser | None = None
    # When the broker session ends (Kite: 06:00 IST); after it the account is reduce-only.
    session_expires_at: datetime | None = None
    oms: OmsStore = field(init=False)

    def __post_init__(self) -> None:
        self.oms = OmsStore.of(self.store)

    def record(
        self,
        kind: AuditKind,
        subject: str,
        payload: Mapping[str, object],
        *,
        actor: str = "executor",
        instrument_token: int | None = None,
    ) -> None:
        if self.audit is not None:
            self.audit.append(
                kind, subject, payload, actor=actor, instrument_token=instrument_token
            )

    def alert(self, key: str, severity: AlertSeverity, title: str, body: str) -> None:
        """Raise an alert on the configured channels, and keep it in the audit log."""
        self.record(AuditKind.ALERT, key, {"severity": severity, "title": title, "body": body})
        if self.alerter is not None:
            self.alerter.raise_alert(Alert(key, severity, title, body, self.clock.now()))
