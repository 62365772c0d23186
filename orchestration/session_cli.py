"""``kitepilot login``: the browser login to Kite (live mode) or to the local paper exchange (paper
mode), saving the day's session to ``kite.session_file``; and ``session_info`` for preflight and
the dashboard.

Both modes run the same flow (``execution.kite.login_flow.run_login``); only the login page, the
API root and the app's credentials differ, and all three come from the configuration.
"""

from __future__ import annotations

import socket
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final
from urllib.parse import urlsplit

from rich.console import Console

from data_contracts.clock import SystemClock
from data_contracts.config import ConfigError, ConfigProblem, KitepilotConfig
from data_contracts.enums import TradingMode
from data_contracts.errors import ContractError
from data_contracts.ports import Clock
from data_contracts.timeutil import to_ist
from execution.kite import (
    KITE_LOGIN_URL,
    KiteSession,
    SessionFile,
    SessionStatus,
    callback_url,
    run_login,
    session_status,
)
from orchestration.paper_credentials import credentials

__all__ = ["LoginTarget", "login", "login_target", "session_info"]

_LOOPBACK_NAMES: Final = frozenset({"127.0.0.1", "localhost"})
_REACH_SECONDS: Final = 2.0


@dataclass(frozen=True, slots=True)
class LoginTarget:
    """Where ``kitepilot login`` logs in: the app, its login page and API root (None: Kite's)."""

    api_key: str
    api_secret: str = field(repr=False)
    login_url: str
    kite_root: str | None
    where: str


def login_target(config: KitepilotConfig) -> LoginTarget:
    """Live mode: Kite with ``kite.api_key``/``kite.api_secret`` (a ConfigError names whichever is
    missing). Paper mode: the paper exchange's login page with its credentials, whose
    ``paper_exchange.redirect_url`` must be this login's callback URL."""
    kite = config.kite
    if config.mode is TradingMode.LIVE:
        key = kite.api_key.get_secret_value().strip() if kite.api_key else ""
        secret = kite.api_secret.get_secret_value().strip() if kite.api_secret else ""
        missing = [
            ConfigProblem(
                f"kite.{name}",
                f"is required to log in to Kite (set KITEPILOT_KITE__{name.upper()} in .env or "
                "the environment)",
                None,
            )
            for name, value in (("api_key", key), ("api_secret", secret))
            if not value
        ]
        if missing:
            raise ConfigError(missing)
        return LoginTarget(key, secret, KITE_LOGIN_URL, kite.root, "Kite (live)")
    paper = config.paper_exchange
    expected = callback_url(kite.login_callback_port)
    redirect = urlsplit(paper.redirect_url)
    if (
        redirect.scheme != "http"
        or redirect.hostname not in _LOOPBACK_NAMES
        or redirect.port != kite.login_callback_port
        or redirect.path != "/callback"
    ):
        raise ConfigError(
            [
                ConfigProblem(
                    "paper_exchange.redirect_url",
                    f"must be {expected} (kite.login_callback_port) for `kitepilot login` "
                    "to receive the paper exchange's redirect (set "
                    "KITEPILOT_PAPER_EXCHANGE__REDIRECT_URL and restart the paper exchange)",
                    paper.redirect_url,
                )
            ]
        )
    root = f"http://{paper.host}:{paper.port}"
    secret_of_app, _ = credentials(config)
    return LoginTarget(
        paper.api_key,
        secret_of_app.api_secret,
        f"{root}/connect/login",
        root,
        f"the paper exchange at {root}",
    )


def _require_paper_exchange(config: KitepilotConfig) -> None:
    paper = config.paper_exchange
    try:
        with socket.create_connection((paper.host, paper.port), timeout=_REACH_SECONDS):
            pass
    except OSError:
        raise ContractError(
            "paper_exchange",
            "port",
            paper.port,
            f"must have a running paper exchange on {paper.host} (start `kitepilot "
            "paper-exchange` first)",
        ) from None


def login(
    config: KitepilotConfig,
    *,
    open_url: Callable[[str], object] = webbrowser.open,
    console: Console | None = None,
    clock: Clock | None = None,
    timeout_seconds: float = 300.0,
) -> KiteSession:
    """Log in through the browser, save the session to ``kite.session_file`` (mode 0600) and
    print who logged in and until when (IST). The token is never printed."""
    out = console or Console()
    target = login_target(config)
    if config.mode is not TradingMode.LIVE:
        _require_paper_exchange(config)
    port = config.kite.login_callback_port
    out.print(
        f"Logging in to {target.where}. Your browser opens the login page; it redirects to "
        f"{callback_url(port)} (waiting up to {timeout_seconds:g} s).",
        highlight=False,
        soft_wrap=True,
    )

    def open_or_show(url: str) -> None:
        # webbrowser.open answers False when no browser could be started (a headless box).
        if open_url(url) is False:
            out.print(
                f"No browser could be opened: open this URL yourself:\n{url}",
                highlight=False,
                soft_wrap=True,
            )

    session = run_login(
        api_key=target.api_key,
        api_secret=target.api_secret,
        login_url=target.login_url,
        kite_root=target.kite_root,
        callback_port=port,
        open_url=open_or_show,
        clock=clock or SystemClock(),
        timeout_seconds=timeout_seconds,
        expiry=config.kite.session_expiry,
    )
    file = SessionFile(config.kite.session_file)
    file.save(session)
    out.print(
        f"Logged in as {session.user_id} at {to_ist(session.login_time):%Y-%m-%d %H:%M} IST; "
        f"the session expires at {to_ist(session.expires_at):%Y-%m-%d %H:%M} IST. "
        f"Saved to {file.path}.",
        highlight=False,
        soft_wrap=True,
    )
    return session


def _expected_api_key(config: KitepilotConfig) -> str | None:
    if config.mode is TradingMode.LIVE:
        key = config.kite.api_key
        return key.get_secret_value().strip() if key else None
    return config.paper_exchange.api_key


def session_info(config: KitepilotConfig, now: datetime) -> SessionStatus:
    """The saved session's status at ``now``. An unreadable file (loose permissions, corrupt) or
    a session of another app than this mode's is invalid, with the reason."""
    try:
        session = SessionFile(config.kite.session_file).load()
    except ContractError as error:
        return SessionStatus(False, str(error), None, 0.0)
    status = session_status(session, now)
    expected = _expected_api_key(config)
    if session is not None and expected is not None and session.api_key != expected:
        return SessionStatus(
            False,
            f"the saved session belongs to another app than {config.mode.value} mode's "
            "(a different api_key); run `kitepilot login`",
            session.expires_at,
            0.0,
        )
    return status
