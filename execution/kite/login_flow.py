"""``kitepilot login``'s browser flow: a one-shot HTTP server on 127.0.0.1 catches Kite's redirect
and trades its request token for the day's session.

1. A random ``state`` nonce goes into the login URL as ``redirect_params=state%3D<nonce>``; Kite
   (and the paper exchange) echo it into the redirect, so a callback that does not carry it did
   not come from this login and is refused (400) and ignored.
2. The browser is sent to ``<login_url>?v=3&api_key=...&redirect_params=...``; after the user
   logs in, it is redirected to ``http://127.0.0.1:<port>/callback?request_token=...&status=success
   &state=<nonce>``. That URL is the app's redirect URL in the Kite developer console.
3. The request token is exchanged (``POST /session/token``, checksum inside ``kiteconnect``); the
   browser gets a short page that never shows a token, and the server stops.

The server answers only ``/callback`` (anything else is a 404) and logs nothing: the request line
holds the request token.
"""

from __future__ import annotations

import errno
import hmac
import queue
import secrets
import threading
from collections.abc import Callable
from datetime import time
from html import escape
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Final
from urllib.parse import parse_qs, urlencode, urlsplit

import kiteconnect.exceptions as kite_errors
import requests

from data_contracts.errors import ContractError
from data_contracts.ports import Clock
from data_contracts.validation import integer, non_empty, positive
from execution.kite.login import generate_session
from execution.kite.retry import KiteRequestRejectedError, KiteUnavailableError
from execution.kite.session import KiteSession, session_expires_at

__all__ = [
    "CALLBACK_HOST",
    "CALLBACK_PATH",
    "DEFAULT_SESSION_EXPIRY",
    "KITE_LOGIN_URL",
    "callback_url",
    "login_url_with_state",
    "run_login",
]

KITE_LOGIN_URL: Final = "https://kite.zerodha.com/connect/login"
CALLBACK_HOST: Final = "127.0.0.1"
CALLBACK_PATH: Final = "/callback"
DEFAULT_SESSION_EXPIRY: Final = time(6, 0)
_STATE_BYTES: Final = 16
_POLL_SECONDS: Final = 0.05
_MAX_PORT: Final = 65535


def callback_url(port: int) -> str:
    """The redirect URL to register for the Kite app: ``http://127.0.0.1:<port>/callback``."""
    return f"http://{CALLBACK_HOST}:{port}{CALLBACK_PATH}"


def login_url_with_state(login_url: str, api_key: str, state: str) -> str:
    """``<login_url>?v=3&api_key=...&redirect_params=state%3D<state>``."""
    redirect_params = urlencode({"state": state})
    query = urlencode({"v": "3", "api_key": api_key, "redirect_params": redirect_params})
    return f"{login_url}?{query}"


class _CallbackServer(HTTPServer):
    """The one-shot server: ``state`` to match, ``complete`` to turn a request token into a
    session, and ``results`` where the session (or the exchange's error) lands."""

    def __init__(self, port: int, state: str, complete: Callable[[str], KiteSession]) -> None:
        super().__init__((CALLBACK_HOST, port), _CallbackHandler)
        self.state = state
        self.complete = complete
        self.results: queue.Queue[KiteSession | Exception] = queue.Queue()
        self.finished = False


def _first(query: dict[str, list[str]], key: str) -> str:
    values = query.get(key)
    return values[0] if values else ""


class _CallbackHandler(BaseHTTPRequestHandler):
    server: _CallbackServer

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path != CALLBACK_PATH:
            self._page(HTTPStatus.NOT_FOUND, "Not found", "This server only takes Kite's login.")
            return
        query = parse_qs(url.query)
        if not hmac.compare_digest(_first(query, "state"), self.server.state):
            self._page(
                HTTPStatus.BAD_REQUEST,
                "Not this login",
                "This redirect does not belong to the running `kitepilot login`.",
            )
            return
        request_token = _first(query, "request_token")
        if self.server.finished or _first(query, "status") != "success" or not request_token:
            self._page(
                HTTPStatus.BAD_REQUEST,
                "Login not completed",
                "Kite did not report a successful login. Try again from the login page.",
            )
            return
        self.server.finished = True
        result: KiteSession | Exception
        try:
            result = self.server.complete(request_token)
        except Exception as error:  # handed to run_login, which raises it
            result = error
        try:
            if isinstance(result, KiteSession):
                self._page(
                    HTTPStatus.OK,
                    "Logged in",
                    f"kitepilot is logged in as {result.user_id}. You can close this tab.",
                )
            else:
                self._page(
                    HTTPStatus.BAD_GATEWAY,
                    "Login failed",
                    "The request token could not be exchanged. See the terminal.",
                )
        finally:
            self.server.results.put(result)

    def _page(self, status: HTTPStatus, title: str, text: str) -> None:
        body = (
            f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"</head><body><h1>{escape(title)}</h1><p>{escape(text)}</p></body></html>"
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Referrer-Policy", "no-referrer")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Silent: the request line carries the request token."""


def _exchange(
    *,
    api_key: str,
    api_secret: str,
    kite_root: str | None,
    clock: Clock,
    expiry: time,
) -> Callable[[str], KiteSession]:
    def complete(request_token: str) -> KiteSession:
        login_time = clock.now()
        try:
            response = generate_session(api_key, api_secret, request_token, root=kite_root)
        except kite_errors.TokenException as error:
            raise ContractError(
                "kite",
                "api_secret",
                "<not shown>",
                f"was refused with the request token ({error}): check that it is the app's "
                "secret, then log in again (a request token works once, for five minutes)",
            ) from None
        except kite_errors.KiteException as error:
            raise KiteRequestRejectedError(f"Kite refused the login: {error}", error.code) from None
        except requests.RequestException as error:
            raise KiteUnavailableError(f"Kite's session endpoint is unreachable: {error}") from None
        return KiteSession(
            api_key=api_key,
            user_id=str(response.get("user_id", "")),
            access_token=str(response.get("access_token", "")),
            login_time=login_time,
            expires_at=session_expires_at(login_time, expiry),
        )

    return complete


def _listen(port: int, state: str, complete: Callable[[str], KiteSession]) -> _CallbackServer:
    try:
        return _CallbackServer(port, state, complete)
    except OSError as error:
        if error.errno not in (errno.EADDRINUSE, errno.EACCES):
            raise
        raise ContractError(
            "kite",
            "login_callback_port",
            port,
            f"must be free on {CALLBACK_HOST} ({error.strerror}): stop the program using it, or "
            "set kite.login_callback_port to a free port and register the matching redirect "
            f"URL http://{CALLBACK_HOST}:<port>{CALLBACK_PATH} for the Kite app",
        ) from None


def run_login(
    *,
    api_key: str,
    api_secret: str,
    login_url: str,
    kite_root: str | None,
    callback_port: int,
    open_url: Callable[[str], object],
    clock: Clock,
    timeout_seconds: float = 300.0,
    expiry: time = DEFAULT_SESSION_EXPIRY,
) -> KiteSession:
    """Log in through the browser and return the day's session (not saved: the caller does).

    ``login_url`` is Kite's (:data:`KITE_LOGIN_URL`) or the paper exchange's ``/connect/login``;
    ``kite_root`` the API root for the token exchange (None: Kite's). ``open_url`` sends the
    user there (``webbrowser.open``; tests follow the URL with ``requests``). The session's
    ``login_time`` is ``clock``'s time when the redirect arrives, and it expires at the next
    ``expiry`` (IST). No successful redirect within ``timeout_seconds`` is a ContractError
    saying what to check."""
    non_empty("run_login", "api_key", api_key)
    if not api_secret:
        raise ContractError("kite", "api_secret", None, "is required to log in")
    integer("run_login", "callback_port", callback_port, minimum=1)
    if callback_port > _MAX_PORT:
        raise ContractError("run_login", "callback_port", callback_port, f"must be <= {_MAX_PORT}")
    positive("run_login", "timeout_seconds", timeout_seconds)
    state = secrets.token_urlsafe(_STATE_BYTES)
    complete = _exchange(
        api_key=api_key, api_secret=api_secret, kite_root=kite_root, clock=clock, expiry=expiry
    )
    server = _listen(callback_port, state, complete)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": _POLL_SECONDS},
        name="kite-login-callback",
        daemon=True,
    )
    thread.start()
    try:
        open_url(login_url_with_state(login_url, api_key, state))
        try:
            result = server.results.get(timeout=timeout_seconds)
        except queue.Empty:
            raise ContractError(
                "kite",
                "login_callback_port",
                callback_port,
                f"received no successful login redirect within {timeout_seconds:g} s: finish the "
                "login in the browser, and check that the app's redirect URL (Kite developer "
                f"console) is exactly {callback_url(callback_port)}",
            ) from None
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    if isinstance(result, Exception):
        raise result
    return result
