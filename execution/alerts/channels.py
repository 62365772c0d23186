"""Alerts and the channels that deliver them: Telegram, Slack and e-mail.

A channel sends one alert or raises :class:`AlertDeliveryError`. Its secrets (the bot token, the
webhook URL, the SMTP password) stay inside it: they are held as ``SecretStr``, left out of every
``repr``, scrubbed from every error message, and the transport's own exception is not chained onto
the error (its message or traceback could carry the URL with the token in it).
"""

from __future__ import annotations

import http.client
import json
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Final, Protocol
from urllib.parse import urlsplit

from pydantic import SecretStr

from data_contracts.enums import AlertSeverity
from data_contracts.errors import ContractError
from data_contracts.timeutil import IST, require_aware
from data_contracts.validation import instance_of, integer, non_empty, positive

__all__ = [
    "TELEGRAM_TEXT_LIMIT",
    "Alert",
    "AlertDeliveryError",
    "Channel",
    "EmailChannel",
    "SlackChannel",
    "TelegramChannel",
    "alert_text",
]

TELEGRAM_TEXT_LIMIT: Final = 4096
"""Telegram's longest message text (characters); longer alert text is cut to fit."""

_HIDDEN: Final = "***"
_MAX_ANSWER: Final = 64 * 1024  # bytes of a receiver's answer read for the error message
_QUOTED: Final = 200  # characters of a receiver's answer quoted in an error


class AlertDeliveryError(RuntimeError):
    """A channel could not deliver an alert. The message names the channel and the reason and
    never holds a secret."""


@dataclass(frozen=True, slots=True)
class Alert:
    """Something a person must know now.

    ``key`` says what it is about (``"kill_switch"``, ``"stuck_order:TAG"``): repeats of a key are
    suppressed for a while. ``title`` is one line; ``body`` may be empty. ``ts`` is stored in UTC.
    """

    key: str
    severity: AlertSeverity
    title: str
    body: str
    ts: datetime

    def __post_init__(self) -> None:
        non_empty("Alert", "key", self.key)
        instance_of("Alert", "severity", self.severity, AlertSeverity, self.key)
        non_empty("Alert", "title", self.title, self.key)
        if "\n" in self.title or "\r" in self.title:
            raise ContractError("Alert", "title", self.title, "must be one line", self.key)
        instance_of("Alert", "body", self.body, str, self.key)
        object.__setattr__(self, "ts", require_aware("Alert", "ts", self.ts))


def alert_text(alert: Alert) -> str:
    """The alert as plain text: ``CRITICAL: title``, the body, and the time in IST."""
    when = alert.ts.astimezone(IST).strftime("%Y-%m-%d %H:%M:%S IST")
    parts = [f"{alert.severity.value.upper()}: {alert.title}"]
    if alert.body:
        parts.append(alert.body)
    parts.append(when)
    return "\n".join(parts)


class Channel(Protocol):
    """Delivers alerts somewhere a person will see them."""

    @property
    def name(self) -> str:
        """Unique among an alerter's channels (``"telegram"``, ``"slack"``, ``"email"``)."""
        ...

    def send(self, alert: Alert) -> None:
        """Deliver ``alert`` or raise :class:`AlertDeliveryError`."""
        ...


def _scrub(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret (longest first) replaced by ``***``."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, _HIDDEN)
    return text


def _quote(answer: bytes) -> str:
    text = answer.decode("utf-8", errors="replace").strip()
    return text if len(text) <= _QUOTED else text[:_QUOTED] + "…"


def _post_json(url: str, document: Mapping[str, object], timeout: float) -> tuple[int, bytes]:
    """POST ``document`` as JSON to ``url``; the status and (up to 64 KiB of) the answer.

    ``timeout`` bounds the connect and each read. Raises what ``http.client`` raises.
    """
    parts = urlsplit(url)
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(
            parts.hostname or "", parts.port, timeout=timeout, context=ssl.create_default_context()
        )
    elif parts.scheme == "http":
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    else:
        raise ValueError(f"unsupported URL scheme {parts.scheme!r} (http or https)")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    body = json.dumps(document, ensure_ascii=False).encode("utf-8")
    try:
        connection.request(
            "POST",
            target,
            body=body,
            headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "kitepilot"},
        )
        response = connection.getresponse()
        return response.status, response.read(_MAX_ANSWER)
    finally:
        connection.close()


def _deliver_json(
    channel: str,
    url: str,
    document: Mapping[str, object],
    timeout: float,
    secrets: Sequence[str],
) -> tuple[int, bytes]:
    """:func:`_post_json`, with every transport failure as a scrubbed AlertDeliveryError."""
    try:
        return _post_json(url, document, timeout)
    except TimeoutError:
        raise AlertDeliveryError(f"{channel}: no answer within {timeout:g} s") from None
    except (OSError, http.client.HTTPException, ValueError) as error:
        reason = _scrub(f"{type(error).__name__}: {error}", secrets)
        raise AlertDeliveryError(f"{channel}: {reason}") from None


class TelegramChannel:
    """Telegram's Bot API: ``POST {api_root}/bot{token}/sendMessage {"chat_id", "text"}``; Telegram
    answers ``{"ok": true, ...}``."""

    name: Final = "telegram"

    def __init__(self, api_root: str, bot_token: SecretStr, chat_id: str, timeout: float) -> None:
        instance_of("TelegramChannel", "bot_token", bot_token, SecretStr)
        if not bot_token.get_secret_value().strip():
            raise ContractError("TelegramChannel", "bot_token", "", "must be a non-empty secret")
        self._api_root = non_empty("TelegramChannel", "api_root", api_root).rstrip("/")
        self._token = bot_token
        self._chat_id = non_empty("TelegramChannel", "chat_id", chat_id)
        self._timeout = positive("TelegramChannel", "timeout", timeout)

    def __repr__(self) -> str:
        return f"TelegramChannel(api_root={self._api_root!r}, chat_id={self._chat_id!r})"

    def send(self, alert: Alert) -> None:
        token = self._token.get_secret_value()
        text = alert_text(alert)
        if len(text) > TELEGRAM_TEXT_LIMIT:
            text = text[: TELEGRAM_TEXT_LIMIT - 1] + "…"
        url = f"{self._api_root}/bot{token}/sendMessage"
        status, answer = _deliver_json(
            self.name, url, {"chat_id": self._chat_id, "text": text}, self._timeout, [url, token]
        )
        try:
            document = json.loads(answer)
        except ValueError:
            document = None
        if status == http.HTTPStatus.OK and isinstance(document, dict) and document.get("ok"):
            return
        described = (
            document.get("description")
            if isinstance(document, dict) and document.get("description")
            else _quote(answer)
        )
        raise AlertDeliveryError(
            _scrub(f"telegram: answered HTTP {status}: {described}", [url, token])
        )


class SlackChannel:
    """A Slack incoming webhook: ``POST {webhook_url} {"text"}``; Slack answers 200 ``ok``.

    The whole webhook URL is the secret (its path authorises posting)."""

    name: Final = "slack"

    def __init__(self, webhook_url: SecretStr, timeout: float) -> None:
        instance_of("SlackChannel", "webhook_url", webhook_url, SecretStr)
        if urlsplit(webhook_url.get_secret_value()).scheme not in ("http", "https"):
            raise ContractError("SlackChannel", "webhook_url", _HIDDEN, "must be an http(s) URL")
        self._webhook = webhook_url
        self._timeout = positive("SlackChannel", "timeout", timeout)

    def __repr__(self) -> str:
        host = urlsplit(self._webhook.get_secret_value()).hostname
        return f"SlackChannel(webhook={host!r}/{_HIDDEN})"

    def send(self, alert: Alert) -> None:
        url = self._webhook.get_secret_value()
        parts = urlsplit(url)
        secrets = [url, parts.path, parts.query]
        status, answer = _deliver_json(
            self.name, url, {"text": alert_text(alert)}, self._timeout, secrets
        )
        if status == http.HTTPStatus.OK and answer.strip() == b"ok":
            return
        raise AlertDeliveryError(
            _scrub(f"slack: answered HTTP {status}: {_quote(answer)}", secrets)
        )


class EmailChannel:
    """E-mail through an SMTP server (``smtplib``), optionally STARTTLS and login.

    Subject ``[kitepilot CRITICAL] title``; the body is :func:`alert_text`."""

    name: Final = "email"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        recipients: Sequence[str],
        *,
        starttls: bool = False,
        username: str | None = None,
        password: SecretStr | None = None,
        timeout: float,
    ) -> None:
        self._host = non_empty("EmailChannel", "host", host)
        self._port = integer("EmailChannel", "port", port, minimum=1)
        self._sender = non_empty("EmailChannel", "sender", sender)
        if isinstance(recipients, str) or not recipients:
            raise ContractError(
                "EmailChannel", "recipients", recipients, "must be a non-empty list of addresses"
            )
        self._recipients = tuple(
            non_empty("EmailChannel", "recipients", address) for address in recipients
        )
        self._starttls = starttls
        if username is not None and password is None:
            raise ContractError("EmailChannel", "password", None, "is required with a username")
        self._username = username
        self._password = password
        self._timeout = positive("EmailChannel", "timeout", timeout)

    def __repr__(self) -> str:
        return (
            f"EmailChannel(host={self._host!r}, port={self._port}, sender={self._sender!r}, "
            f"recipients={self._recipients!r})"
        )

    def message(self, alert: Alert) -> EmailMessage:
        """The e-mail :meth:`send` sends for ``alert``."""
        message = EmailMessage()
        message["Subject"] = f"[kitepilot {alert.severity.value.upper()}] {alert.title}"
        message["From"] = self._sender
        message["To"] = ", ".join(self._recipients)
        message["Date"] = format_datetime(alert.ts)
        message.set_content(alert_text(alert))
        return message

    def send(self, alert: Alert) -> None:
        message = self.message(alert)
        secrets = [self._password.get_secret_value()] if self._password else []
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
                if self._starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self._username is not None and self._password is not None:
                    smtp.login(self._username, self._password.get_secret_value())
                refused = smtp.send_message(
                    message, from_addr=self._sender, to_addrs=list(self._recipients)
                )
        except (smtplib.SMTPException, OSError, ValueError) as error:
            # smtplib reports a read that timed out as SMTPServerDisconnected, raised from it.
            if isinstance(error, TimeoutError) or isinstance(error.__context__, TimeoutError):
                timed_out = f"email: no answer within {self._timeout:g} s"
                raise AlertDeliveryError(timed_out) from None
            reason = _scrub(f"{type(error).__name__}: {error}", secrets)
            raise AlertDeliveryError(f"email: {reason}") from None
        if refused:
            raise AlertDeliveryError(
                f"email: the server refused {len(refused)} of {len(self._recipients)} "
                f"recipients: {', '.join(sorted(refused))}"
            )
