"""Alerts to a person: Telegram, Slack and e-mail channels behind one :class:`Alerter` that applies
the severity floor, repeat suppression and rate limit (docs/alerts.md).

``Alerter.from_config(config.alerts, clock).raise_alert(Alert(...))`` never raises for a channel's
failure; the :class:`AlertOutcome` says which channels took it, which failed and why.
"""

from execution.alerts.alerter import (
    BELOW_MINIMUM_SEVERITY,
    RATE_LIMITED,
    REPEATED,
    Alerter,
    AlertOutcome,
    FailureHook,
)
from execution.alerts.channels import (
    TELEGRAM_TEXT_LIMIT,
    Alert,
    AlertDeliveryError,
    Channel,
    EmailChannel,
    SlackChannel,
    TelegramChannel,
    alert_text,
)

__all__ = [
    "BELOW_MINIMUM_SEVERITY",
    "RATE_LIMITED",
    "REPEATED",
    "TELEGRAM_TEXT_LIMIT",
    "Alert",
    "AlertDeliveryError",
    "AlertOutcome",
    "Alerter",
    "Channel",
    "EmailChannel",
    "FailureHook",
    "SlackChannel",
    "TelegramChannel",
    "alert_text",
]
