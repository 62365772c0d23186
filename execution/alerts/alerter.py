"""The alerter: decides whether an alert goes out, then sends it to every channel.

Rules, in order (``docs/alerts.md``):

1. below ``min_severity`` → suppressed (``"below minimum severity"``);
2. the same key sent less than ``repeat_seconds`` ago → suppressed, unless the alert is CRITICAL and
   either its title is new for that key or the key's earlier alerts were not CRITICAL;
3. ``max_per_minute`` alerts already sent in the last 60 s → suppressed (``"rate limited"``),
   unless CRITICAL.

What goes out is sent to every channel in turn; a failing channel is recorded (and passed to
``on_failure``) and never stops the others nor raises out of :meth:`Alerter.raise_alert`. When every
channel fails, the key is not marked as sent, so the next raise tries again. Time comes from the
injected clock only. Thread-safe: the decision and its bookkeeping happen under one lock; the sends
happen outside it, so a slow channel does not hold up another thread's decision.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

from data_contracts.config import AlertsConfig
from data_contracts.enums import AlertSeverity
from data_contracts.errors import ContractError
from data_contracts.timeutil import require_aware
from data_contracts.validation import instance_of, integer, non_negative
from execution.alerts.channels import (
    Alert,
    AlertDeliveryError,
    Channel,
    EmailChannel,
    SlackChannel,
    TelegramChannel,
)

if TYPE_CHECKING:
    from data_contracts.ports import Clock  # the Protocol; its module loads polars

__all__ = [
    "BELOW_MINIMUM_SEVERITY",
    "RATE_LIMITED",
    "REPEATED",
    "AlertOutcome",
    "Alerter",
    "FailureHook",
]

_log = logging.getLogger(__name__)

BELOW_MINIMUM_SEVERITY: Final = "below minimum severity"
REPEATED: Final = "repeated within repeat_seconds"
RATE_LIMITED: Final = "rate limited"

_RATE_WINDOW: Final = timedelta(seconds=60)

FailureHook = Callable[[Alert, str, str], None]
"""Called as ``on_failure(alert, channel_name, reason)`` for each channel that failed."""


@dataclass(frozen=True, slots=True)
class AlertOutcome:
    """What became of one alert: the channels that took it, those that failed (name → reason,
    secrets scrubbed), or why it was not sent at all."""

    sent: tuple[str, ...] = ()
    failed: Mapping[str, str] = field(default_factory=dict)
    suppressed: str | None = None


@dataclass(frozen=True, slots=True)
class _KeyState:
    sent_at: datetime
    titles: frozenset[str]
    severity: AlertSeverity


class Alerter:
    """Sends alerts to its channels under the severity floor, repeat suppression and rate limit."""

    def __init__(
        self,
        channels: Sequence[Channel],
        *,
        min_severity: AlertSeverity,
        repeat_seconds: float,
        max_per_minute: int,
        clock: Clock,
        on_failure: FailureHook | None = None,
    ) -> None:
        names = [channel.name for channel in channels]
        if len(set(names)) != len(names):
            raise ContractError("Alerter", "channels", names, "must have unique names")
        instance_of("Alerter", "min_severity", min_severity, AlertSeverity)
        self._channels = tuple(channels)
        self._min_severity = min_severity
        self._repeat = timedelta(seconds=non_negative("Alerter", "repeat_seconds", repeat_seconds))
        self._max_per_minute = integer("Alerter", "max_per_minute", max_per_minute, minimum=1)
        self._clock = clock
        self._on_failure = on_failure
        self._lock = threading.Lock()
        self._by_key: dict[str, _KeyState] = {}
        self._recent: deque[datetime] = deque()

    @classmethod
    def from_config(
        cls, config: AlertsConfig, clock: Clock, *, on_failure: FailureHook | None = None
    ) -> Alerter:
        """An alerter with the enabled channels of ``config.alerts``.

        An enabled channel without its address or secret is a :class:`ContractError` (the
        config's own cross-field check reports the same at load time)."""
        return cls(
            _channels_from_config(config),
            min_severity=config.min_severity,
            repeat_seconds=config.repeat_seconds,
            max_per_minute=config.max_per_minute,
            clock=clock,
            on_failure=on_failure,
        )

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(channel.name for channel in self._channels)

    def __repr__(self) -> str:
        return f"Alerter(channels={self.channels!r}, min_severity={self._min_severity.value!r})"

    def raise_alert(self, alert: Alert) -> AlertOutcome:
        """Send ``alert`` to every channel unless a rule suppresses it; never raises for a
        channel's failure."""
        instance_of("Alerter", "alert", alert, Alert)
        now = require_aware("Alerter", "clock.now()", self._clock.now())
        with self._lock:
            reason = self._suppression(alert, now)
            if reason is not None:
                _log.debug("alert %s suppressed: %s", alert.key, reason)
                return AlertOutcome(suppressed=reason)
            previous = self._by_key.get(alert.key)
            marked = self._mark_sent(alert, now, previous)
        sent, failed = self._send(alert)
        if failed and not sent:
            with self._lock:
                # Nobody got it: forget it was sent, so the next raise of this key tries again.
                if self._by_key.get(alert.key) is marked:
                    if previous is None:
                        del self._by_key[alert.key]
                    else:
                        self._by_key[alert.key] = previous
        for name, why in failed.items():
            self._report_failure(alert, name, why)
        return AlertOutcome(sent=sent, failed=failed)

    def _suppression(self, alert: Alert, now: datetime) -> str | None:
        if alert.severity.rank < self._min_severity.rank:
            return BELOW_MINIMUM_SEVERITY
        critical = alert.severity is AlertSeverity.CRITICAL
        state = self._by_key.get(alert.key)
        if state is not None and now - state.sent_at < self._repeat:
            news = alert.title not in state.titles or state.severity is not AlertSeverity.CRITICAL
            if not (critical and news):
                return REPEATED
        while self._recent and self._recent[0] <= now - _RATE_WINDOW:
            self._recent.popleft()
        if len(self._recent) >= self._max_per_minute and not critical:
            return RATE_LIMITED
        return None

    def _mark_sent(self, alert: Alert, now: datetime, previous: _KeyState | None) -> _KeyState:
        within = previous is not None and now - previous.sent_at < self._repeat
        if previous is not None and within:
            state = _KeyState(
                sent_at=now,
                titles=previous.titles | {alert.title},
                severity=max(previous.severity, alert.severity, key=lambda s: s.rank),
            )
        else:
            state = _KeyState(sent_at=now, titles=frozenset({alert.title}), severity=alert.severity)
        self._by_key[alert.key] = state
        self._recent.append(now)
        return state

    def _send(self, alert: Alert) -> tuple[tuple[str, ...], dict[str, str]]:
        sent: list[str] = []
        failed: dict[str, str] = {}
        for channel in self._channels:
            try:
                channel.send(alert)
            except AlertDeliveryError as error:
                failed[channel.name] = str(error)
            except Exception as error:
                # A channel's own bug must not stop the others; it is logged with its traceback.
                _log.exception("alert channel %s failed unexpectedly", channel.name)
                failed[channel.name] = f"{channel.name}: unexpected {type(error).__name__}"
            else:
                sent.append(channel.name)
        if sent:
            _log.info("alert %s (%s) sent to %s", alert.key, alert.severity.value, sent)
        return tuple(sent), failed

    def _report_failure(self, alert: Alert, channel: str, reason: str) -> None:
        _log.warning("alert %s not delivered by %s: %s", alert.key, channel, reason)
        if self._on_failure is None:
            return
        try:
            self._on_failure(alert, channel, reason)
        except Exception:
            _log.exception("the alert failure hook failed for %s on %s", alert.key, channel)


def _channels_from_config(config: AlertsConfig) -> list[Channel]:
    channels: list[Channel] = []
    timeout = config.timeout_seconds
    telegram, slack, email = config.telegram, config.slack, config.email
    if telegram.enabled:
        if telegram.bot_token is None or not telegram.chat_id:
            raise ContractError(
                "AlertsConfig",
                "telegram",
                "<not shown>",
                "needs chat_id and bot_token when enabled",
            )
        channels.append(
            TelegramChannel(telegram.api_root, telegram.bot_token, telegram.chat_id, timeout)
        )
    if slack.enabled:
        if slack.webhook_url is None:
            raise ContractError(
                "AlertsConfig", "slack.webhook_url", None, "is required when slack is enabled"
            )
        channels.append(SlackChannel(slack.webhook_url, timeout))
    if email.enabled:
        channels.append(
            EmailChannel(
                email.host,
                email.port,
                email.sender,
                email.recipients,
                starttls=email.starttls,
                username=email.username,
                password=email.password,
                timeout=timeout,
            )
        )
    return channels
