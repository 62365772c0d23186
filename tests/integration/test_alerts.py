"""Alerts through real transports: Telegram and Slack against a local HTTP receiver on 127.0.0.1
that answers like them (or fails, or hangs), e-mail against a real SMTP server (aiosmtpd) on
127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SmtpServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from pydantic import SecretStr

from data_contracts.clock import ManualClock
from data_contracts.config import AlertsConfig
from data_contracts.enums import AlertSeverity
from data_contracts.errors import ContractError
from execution.alerts import (
    BELOW_MINIMUM_SEVERITY,
    RATE_LIMITED,
    REPEATED,
    TELEGRAM_TEXT_LIMIT,
    Alert,
    AlertDeliveryError,
    Alerter,
    Channel,
    EmailChannel,
    SlackChannel,
    TelegramChannel,
)

# 09:30 IST on Thursday 2 January 2025.
START = datetime(2025, 1, 2, 4, 0, tzinfo=UTC)
BOT_TOKEN = "123456789:AAE-planted-bot-credential"  # noqa: S105 - planted for the tests
SLACK_PATH = "/services/T0PLANTED/B0PLANTED/planted-webhook-credential"
SMTP_USER = "alerts"
SMTP_PASSWORD = "planted-smtp-credential"  # noqa: S105 - planted for the tests
TIMEOUT = 2.0
HANG_TIMEOUT = 0.3


def _alert(**overrides: Any) -> Alert:
    values: dict[str, Any] = {
        "key": "kill_switch",
        "severity": AlertSeverity.CRITICAL,
        "title": "Kill switch engaged",
        "body": "Daily loss ₹5,200 beyond the ₹5,000 limit.",
        "ts": START,
    }
    return Alert(**(values | overrides))


def _assert_no_secret(text: str) -> None:
    for secret in (BOT_TOKEN, SLACK_PATH, SMTP_PASSWORD, "planted"):
        assert secret not in text


# --- a local Telegram / Slack receiver --------------------------------------------------------


@dataclass(frozen=True)
class _Request:
    path: str
    content_type: str
    body: dict[str, Any]


@dataclass
class _HttpReceiver:
    """Records POSTs; answers like Telegram (paths under /bot) or Slack (the rest), per
    ``behaviour[channel]``: ok, error (500), refuse (Telegram ok=false / Slack 403), echo (404
    quoting the request path, secret and all), hang (no answer until released)."""

    port: int = 0
    requests: list[_Request] = field(default_factory=list)
    behaviour: dict[str, str] = field(default_factory=lambda: {"telegram": "ok", "slack": "ok"})
    release: threading.Event = field(default_factory=threading.Event)

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def webhook(self) -> SecretStr:
        return SecretStr(self.root + SLACK_PATH)

    def answer(self, path: str) -> tuple[int, bytes]:
        channel = "telegram" if path.startswith("/bot") else "slack"
        behaviour = self.behaviour[channel]
        if behaviour == "hang":
            self.release.wait(10)
        if behaviour in ("ok", "hang"):
            if channel == "telegram":
                return 200, json.dumps({"ok": True, "result": {"message_id": 7}}).encode()
            return 200, b"ok"
        if behaviour == "error":
            return 500, b"Internal Server Error"
        if behaviour == "refuse":
            if channel == "telegram":
                return (
                    400,
                    b'{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}',
                )
            return 403, b"invalid_token"
        return 404, f"no route for {path}".encode()


def _handler_for(receiver: _HttpReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            receiver.requests.append(
                _Request(self.path, self.headers.get("Content-Type", ""), body)
            )
            status, answer = receiver.answer(self.path)
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@pytest.fixture
def receiver() -> Iterator[_HttpReceiver]:
    state = _HttpReceiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(state))
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


# --- a real SMTP server -----------------------------------------------------------------------


@dataclass
class _Mailbox:
    received: list[tuple[str, list[str], Message]] = field(default_factory=list)

    async def handle_DATA(self, server: SmtpServer, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.received.append(
            (str(envelope.mail_from), list(envelope.rcpt_tos), message_from_bytes(content))
        )
        return "250 Message accepted for delivery"


class _LoopbackSmtp(Controller):
    """aiosmtpd's controller bound to port 0: the real port is read back once it listens."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def _authenticate(
    server: SmtpServer, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == SMTP_USER.encode()
        and auth_data.password == SMTP_PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


@dataclass
class _Smtp:
    mailbox: _Mailbox
    port: int


@pytest.fixture
def smtp() -> Iterator[_Smtp]:
    mailbox = _Mailbox()
    controller = _LoopbackSmtp(
        mailbox,
        hostname="127.0.0.1",
        port=0,
        auth_require_tls=False,
        authenticator=_authenticate,
    )
    controller.start()
    yield _Smtp(mailbox, controller.port)
    controller.stop()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) but never says anything."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    yield listener.getsockname()[1]
    listener.close()


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on (bound, read, released)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    port: int = probe.getsockname()[1]
    probe.close()
    return port


def _telegram(receiver: _HttpReceiver, timeout: float = TIMEOUT) -> TelegramChannel:
    return TelegramChannel(receiver.root, SecretStr(BOT_TOKEN), "-100200300", timeout)


def _email(port: int, **overrides: Any) -> EmailChannel:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "sender": "kitepilot@example.test",
        "recipients": ("trader@example.test", "ops@example.test"),
        "timeout": TIMEOUT,
    }
    return EmailChannel(**(values | overrides))


# --- channels: what goes over the wire --------------------------------------------------------

_TEXT = (
    "CRITICAL: Kill switch engaged\nDaily loss ₹5,200 beyond the ₹5,000 limit.\n"
    "2025-01-02 09:30:00 IST"
)


def test_telegram_channel_posts_chat_id_and_text_to_send_message(
    receiver: _HttpReceiver,
) -> None:
    _telegram(receiver).send(_alert())

    assert receiver.requests == [
        _Request(
            f"/bot{BOT_TOKEN}/sendMessage",
            "application/json; charset=utf-8",
            {"chat_id": "-100200300", "text": _TEXT},
        )
    ]


def test_telegram_channel_cuts_long_text_to_telegrams_limit(receiver: _HttpReceiver) -> None:
    _telegram(receiver).send(_alert(body="x" * 10_000))

    text = receiver.requests[0].body["text"]
    assert (len(text), text[-1]) == (TELEGRAM_TEXT_LIMIT, "…")


def test_slack_channel_posts_text_to_the_webhook(receiver: _HttpReceiver) -> None:
    SlackChannel(receiver.webhook, TIMEOUT).send(_alert(severity=AlertSeverity.WARNING))

    assert receiver.requests == [
        _Request(
            SLACK_PATH,
            "application/json; charset=utf-8",
            {"text": _TEXT.replace("CRITICAL", "WARNING")},
        )
    ]


def test_email_channel_sends_subject_sender_recipients_and_body(smtp: _Smtp) -> None:
    _email(smtp.port).send(_alert())

    [(mail_from, recipients, message)] = smtp.mailbox.received
    assert (mail_from, recipients) == (
        "kitepilot@example.test",
        ["trader@example.test", "ops@example.test"],
    )
    assert message["Subject"] == "[kitepilot CRITICAL] Kill switch engaged"
    assert message["To"] == "trader@example.test, ops@example.test"
    assert message["Date"] == "Thu, 02 Jan 2025 04:00:00 +0000"
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    assert payload.decode("utf-8").replace("\r\n", "\n").strip() == _TEXT


def test_email_channel_logs_in_with_its_username_and_password(smtp: _Smtp) -> None:
    channel = _email(smtp.port, username=SMTP_USER, password=SecretStr(SMTP_PASSWORD))

    channel.send(_alert())

    assert len(smtp.mailbox.received) == 1


def test_email_channel_wrong_password_fails_without_showing_it(smtp: _Smtp) -> None:
    wrong = SMTP_PASSWORD + "-wrong"
    channel = _email(smtp.port, username=SMTP_USER, password=SecretStr(wrong))

    with pytest.raises(AlertDeliveryError, match="SMTPAuthenticationError") as raised:
        channel.send(_alert())

    _assert_no_secret(str(raised.value))
    assert smtp.mailbox.received == []


# --- channels: failures -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "behaviour", "reason"),
    [
        ("telegram", "error", "telegram: answered HTTP 500: Internal Server Error"),
        ("telegram", "refuse", "telegram: answered HTTP 400: Bad Request: chat not found"),
        ("telegram", "echo", "telegram: answered HTTP 404: no route for /bot***/sendMessage"),
        ("slack", "error", "slack: answered HTTP 500: Internal Server Error"),
        ("slack", "refuse", "slack: answered HTTP 403: invalid_token"),
        ("slack", "echo", "slack: answered HTTP 404: no route for ***"),
        ("telegram", "hang", f"telegram: no answer within {HANG_TIMEOUT:g} s"),
        ("slack", "hang", f"slack: no answer within {HANG_TIMEOUT:g} s"),
    ],
)
def test_http_channel_failure_is_a_delivery_error_without_secrets(
    receiver: _HttpReceiver, channel: str, behaviour: str, reason: str
) -> None:
    receiver.behaviour[channel] = behaviour
    sender: Channel = (
        _telegram(receiver, HANG_TIMEOUT)
        if channel == "telegram"
        else SlackChannel(receiver.webhook, HANG_TIMEOUT)
    )

    with pytest.raises(AlertDeliveryError) as raised:
        sender.send(_alert())

    assert str(raised.value) == reason
    assert raised.value.__cause__ is None
    _assert_no_secret(repr(raised.value))


@pytest.mark.parametrize("channel", ["telegram", "slack", "email"])
def test_channel_to_a_closed_port_fails_without_secrets(closed_port: int, channel: str) -> None:
    root = f"http://127.0.0.1:{closed_port}"
    sender: Channel = {
        "telegram": lambda: TelegramChannel(root, SecretStr(BOT_TOKEN), "1", TIMEOUT),
        "slack": lambda: SlackChannel(SecretStr(root + SLACK_PATH), TIMEOUT),
        "email": lambda: _email(closed_port, username=SMTP_USER, password=SecretStr(SMTP_PASSWORD)),
    }[channel]()

    with pytest.raises(AlertDeliveryError, match=f"^{channel}: ConnectionRefusedError") as raised:
        sender.send(_alert())

    _assert_no_secret(str(raised.value))


def test_email_channel_to_a_silent_server_times_out(silent_port: int) -> None:
    with pytest.raises(AlertDeliveryError, match=r"^email: no answer within 0.3 s$"):
        _email(silent_port, timeout=HANG_TIMEOUT).send(_alert())


def test_channel_reprs_hold_no_secret(receiver: _HttpReceiver) -> None:
    channels = [
        _telegram(receiver),
        SlackChannel(receiver.webhook, TIMEOUT),
        _email(25, username=SMTP_USER, password=SecretStr(SMTP_PASSWORD)),
    ]

    for channel in channels:
        _assert_no_secret(repr(channel))
        _assert_no_secret(repr(vars(channel)) if hasattr(channel, "__dict__") else "")


@pytest.mark.parametrize(
    "overrides",
    [
        {"title": "two\nlines"},
        {"key": " "},
        {"ts": datetime(2025, 1, 2, 9, 30)},  # noqa: DTZ001 - the naive time under test
        {"severity": "critical"},
    ],
)
def test_alert_invalid_field_is_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ContractError):
        _alert(**overrides)


# --- the alerter's rules ----------------------------------------------------------------------


@dataclass
class _Recorder:
    """A channel that keeps what it is sent (or fails with ``error``)."""

    name: str = "recorder"
    sent: list[Alert] = field(default_factory=list)
    error: Exception | None = None

    def send(self, alert: Alert) -> None:
        if self.error is not None:
            raise self.error
        self.sent.append(alert)


def _alerter(
    channels: list[Channel], clock: ManualClock, **overrides: Any
) -> tuple[Alerter, list[tuple[Alert, str, str]]]:
    failures: list[tuple[Alert, str, str]] = []
    values: dict[str, Any] = {
        "min_severity": AlertSeverity.WARNING,
        "repeat_seconds": 300.0,
        "max_per_minute": 20,
        "clock": clock,
        "on_failure": lambda alert, name, reason: failures.append((alert, name, reason)),
    }
    return Alerter(channels, **(values | overrides)), failures


def test_alerter_alert_below_the_severity_floor_is_suppressed(receiver: _HttpReceiver) -> None:
    alerter, _ = _alerter([_telegram(receiver)], ManualClock(START))

    outcome = alerter.raise_alert(_alert(severity=AlertSeverity.INFO))

    assert (outcome.suppressed, outcome.sent, receiver.requests) == (
        BELOW_MINIMUM_SEVERITY,
        (),
        [],
    )


def test_alerter_same_key_within_repeat_seconds_is_suppressed_then_sent_again(
    receiver: _HttpReceiver,
) -> None:
    clock = ManualClock(START)
    alerter, _ = _alerter([_telegram(receiver)], clock)
    warning = _alert(key="stale_feed", severity=AlertSeverity.WARNING, title="Feed stale")

    first = alerter.raise_alert(warning)
    clock.advance(timedelta(seconds=299))
    repeat = alerter.raise_alert(warning)
    clock.advance(timedelta(seconds=1))
    later = alerter.raise_alert(warning)

    assert [first.sent, repeat.sent, later.sent] == [("telegram",), (), ("telegram",)]
    assert repeat.suppressed == REPEATED
    assert len(receiver.requests) == 2


@pytest.mark.parametrize(
    ("first", "second", "goes"),
    [
        ((AlertSeverity.CRITICAL, "Kill switch engaged"), (AlertSeverity.CRITICAL, "New"), True),
        ((AlertSeverity.CRITICAL, "Kill switch engaged"), (AlertSeverity.WARNING, "New"), False),
        (
            (AlertSeverity.CRITICAL, "Kill switch engaged"),
            (AlertSeverity.CRITICAL, "Kill switch engaged"),
            False,
        ),
        ((AlertSeverity.WARNING, "Feed stale"), (AlertSeverity.CRITICAL, "Feed stale"), True),
    ],
)
def test_alerter_within_repeat_seconds_only_new_critical_news_goes(
    first: tuple[AlertSeverity, str], second: tuple[AlertSeverity, str], goes: bool
) -> None:
    clock = ManualClock(START)
    recorder = _Recorder()
    alerter, _ = _alerter([recorder], clock)
    alerter.raise_alert(_alert(severity=first[0], title=first[1]))
    clock.advance(timedelta(seconds=10))

    outcome = alerter.raise_alert(_alert(severity=second[0], title=second[1]))

    assert (outcome.sent == ("recorder",), len(recorder.sent)) == (goes, 2 if goes else 1)


def test_alerter_more_than_max_per_minute_is_rate_limited_except_critical() -> None:
    clock = ManualClock(START)
    recorder = _Recorder()
    alerter, _ = _alerter([recorder], clock, max_per_minute=3)
    warnings = [_alert(key=f"stuck_order:TAG{n}", severity=AlertSeverity.WARNING) for n in range(5)]

    outcomes = [alerter.raise_alert(alert) for alert in warnings[:4]]
    critical = alerter.raise_alert(_alert(key="kill_switch"))
    clock.advance(timedelta(seconds=59))
    still_limited = alerter.raise_alert(warnings[4])
    clock.advance(timedelta(seconds=1))
    freed = alerter.raise_alert(warnings[4])

    assert [o.suppressed for o in outcomes] == [None, None, None, RATE_LIMITED]
    assert (critical.sent, still_limited.suppressed, freed.sent) == (
        ("recorder",),
        RATE_LIMITED,
        ("recorder",),
    )
    assert [alert.key for alert in recorder.sent] == [
        "stuck_order:TAG0",
        "stuck_order:TAG1",
        "stuck_order:TAG2",
        "kill_switch",
        "stuck_order:TAG4",
    ]


def test_alerter_failing_channel_does_not_stop_the_others(
    receiver: _HttpReceiver, smtp: _Smtp
) -> None:
    receiver.behaviour["telegram"] = "echo"
    channels: list[Channel] = [
        _telegram(receiver),
        SlackChannel(receiver.webhook, TIMEOUT),
        _email(smtp.port),
    ]
    alerter, failures = _alerter(channels, ManualClock(START))
    alert = _alert()

    outcome = alerter.raise_alert(alert)

    assert (outcome.sent, list(outcome.failed), outcome.suppressed) == (
        ("slack", "email"),
        ["telegram"],
        None,
    )
    assert failures == [(alert, "telegram", outcome.failed["telegram"])]
    _assert_no_secret(outcome.failed["telegram"])
    assert len(smtp.mailbox.received) == 1
    assert [request.path for request in receiver.requests] == [
        f"/bot{BOT_TOKEN}/sendMessage",
        SLACK_PATH,
    ]


def test_alerter_hanging_channel_times_out_and_the_others_still_send(
    receiver: _HttpReceiver, smtp: _Smtp
) -> None:
    receiver.behaviour["telegram"] = "hang"
    alerter, failures = _alerter(
        [_telegram(receiver, HANG_TIMEOUT), _email(smtp.port)], ManualClock(START)
    )

    outcome = alerter.raise_alert(_alert())

    assert outcome.sent == ("email",)
    assert outcome.failed == {"telegram": f"telegram: no answer within {HANG_TIMEOUT:g} s"}
    assert len(failures) == 1


def test_alerter_channel_raising_anything_never_raises_out() -> None:
    broken = _Recorder(name="broken", error=RuntimeError(f"boom {BOT_TOKEN}"))
    working = _Recorder(name="working")
    alerter, failures = _alerter([broken, working], ManualClock(START))

    outcome = alerter.raise_alert(_alert())

    assert outcome.sent == ("working",)
    assert outcome.failed == {"broken": "broken: unexpected RuntimeError"}
    assert [name for _, name, _ in failures] == ["broken"]


def test_alerter_alert_no_channel_took_is_not_counted_as_sent() -> None:
    flaky = _Recorder(error=AlertDeliveryError("recorder: down"))
    alerter, _ = _alerter([flaky], ManualClock(START))
    alerter.raise_alert(_alert())
    flaky.error = None

    retry = alerter.raise_alert(_alert())

    assert (retry.sent, retry.suppressed) == (("recorder",), None)


def test_alerter_failure_hook_that_raises_does_not_raise_out() -> None:
    def hook(alert: Alert, channel: str, reason: str) -> None:
        raise RuntimeError("hook broke")

    flaky = _Recorder(error=AlertDeliveryError("recorder: down"))
    alerter, _ = _alerter([flaky], ManualClock(START), on_failure=hook)

    outcome = alerter.raise_alert(_alert())

    assert outcome.failed == {"recorder": "recorder: down"}


def test_alerter_same_key_from_many_threads_is_sent_once() -> None:
    recorder = _Recorder()
    alerter, _ = _alerter([recorder], ManualClock(START))
    barrier = threading.Barrier(8)
    outcomes = []

    def raise_one() -> None:
        barrier.wait()
        outcomes.append(alerter.raise_alert(_alert(severity=AlertSeverity.WARNING)))

    threads = [threading.Thread(target=raise_one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert len(recorder.sent) == 1
    assert sorted(str(o.suppressed) for o in outcomes) == ["None"] + [REPEATED] * 7


def test_alerter_duplicate_channel_names_are_refused() -> None:
    with pytest.raises(ContractError, match="unique names"):
        _alerter([_Recorder(), _Recorder()], ManualClock(START))


# --- from the configuration -------------------------------------------------------------------


def _config(receiver: _HttpReceiver, smtp_port: int, **enabled: bool) -> AlertsConfig:
    return AlertsConfig.model_validate(
        {
            "min_severity": "warning",
            "repeat_seconds": 300,
            "max_per_minute": 20,
            "timeout_seconds": TIMEOUT,
            "telegram": {
                "enabled": enabled.get("telegram", True),
                "api_root": receiver.root,
                "chat_id": "-100200300",
                "bot_token": BOT_TOKEN,
            },
            "slack": {
                "enabled": enabled.get("slack", True),
                "webhook_url": receiver.webhook.get_secret_value(),
            },
            "email": {
                "enabled": enabled.get("email", True),
                "host": "127.0.0.1",
                "port": smtp_port,
                "starttls": False,
                "sender": "kitepilot@example.test",
                "recipients": ["trader@example.test"],
                "username": SMTP_USER,
                "password": SMTP_PASSWORD,
            },
        }
    )


def test_alerter_from_config_sends_through_every_enabled_channel(
    receiver: _HttpReceiver, smtp: _Smtp
) -> None:
    alerter = Alerter.from_config(_config(receiver, smtp.port), ManualClock(START))

    outcome = alerter.raise_alert(_alert())

    assert outcome.sent == ("telegram", "slack", "email")
    assert [request.path for request in receiver.requests] == [
        f"/bot{BOT_TOKEN}/sendMessage",
        SLACK_PATH,
    ]
    assert [recipients for _, recipients, _ in smtp.mailbox.received] == [["trader@example.test"]]
    _assert_no_secret(repr(alerter))


def test_alerter_from_config_leaves_disabled_channels_out(receiver: _HttpReceiver) -> None:
    config = _config(receiver, 25, telegram=False, email=False)

    alerter = Alerter.from_config(config, ManualClock(START))

    assert alerter.channels == ("slack",)


def test_alerter_from_config_enabled_channel_without_its_secret_is_refused(
    receiver: _HttpReceiver,
) -> None:
    config = _config(receiver, 25, slack=False, email=False)
    broken = config.model_copy(
        update={"telegram": config.telegram.model_copy(update={"bot_token": None})}
    )

    with pytest.raises(ContractError, match="bot_token"):
        Alerter.from_config(broken, ManualClock(START))
