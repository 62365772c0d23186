"""Kite's login sessions: request tokens, the checksum exchange, access tokens and their expiry.

The flow (reference ``kite-connect.md`` §1.4): the login page redirects to the app with a
``request_token`` (valid five minutes, usable once); the app posts it with
``checksum = sha256(api_key + request_token + api_secret)`` to ``/session/token`` and gets an
``access_token``; every later request carries ``Authorization: token api_key:access_token``.
An access token dies at the first 06:00 IST after the login (Kite's regulatory expiry) or at
logout. The paper exchange has one user and no password: the login page logs that user in at once.

Tokens are random (:mod:`secrets`) and never logged or shown in an error message. Time comes from
the injected clock (the market clock in the paper exchange, so a replayed day is deterministic).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Final

from data_contracts.ports import Clock
from data_contracts.timeutil import IST, UTC, to_ist
from data_contracts.validation import non_empty
from execution.paper.types import KiteApiError
from execution.paper.wire import ist_text

__all__ = [
    "ACCESS_TOKEN_EXPIRY_IST",
    "REQUEST_TOKEN_TTL",
    "SessionManager",
    "UserProfile",
    "access_token_expiry",
]

REQUEST_TOKEN_TTL: Final = timedelta(minutes=5)
ACCESS_TOKEN_EXPIRY_IST: Final = time(6, 0)
_TOKEN_BYTES: Final = 24

_INVALID_CREDENTIALS: Final = "Invalid session credentials"
_INCORRECT_CREDENTIALS_MESSAGE: Final = "Incorrect `api_key` or `access_token`."
_EXPIRED_MESSAGE: Final = "Token is invalid or has expired."


def access_token_expiry(login: datetime) -> datetime:
    """The first 06:00 IST strictly after ``login`` (UTC): a 09:20 login expires at 06:00 the next
    day, a 02:00 login at 06:00 the same day."""
    local = to_ist(login)
    expiry = datetime.combine(local.date(), ACCESS_TOKEN_EXPIRY_IST, tzinfo=IST)
    if expiry <= local:
        expiry = datetime.combine(
            local.date() + timedelta(days=1), ACCESS_TOKEN_EXPIRY_IST, tzinfo=IST
        )
    return expiry.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class UserProfile:
    """The paper user as ``/user/profile`` and the session response describe it."""

    user_id: str
    user_name: str = "Paper Trader"
    user_shortname: str = "Paper"
    email: str = "paper@kitepilot.invalid"
    exchanges: tuple[str, ...] = ("NSE", "NFO", "BSE")
    products: tuple[str, ...] = ("CNC", "NRML", "MIS")
    order_types: tuple[str, ...] = ("MARKET", "LIMIT", "SL", "SL-M")

    def as_dict(self) -> dict[str, object]:
        """The keys of Kite's ``profile.json``."""
        return {
            "user_id": self.user_id,
            "user_type": "individual",
            "email": self.email,
            "user_name": self.user_name,
            "user_shortname": self.user_shortname,
            "broker": "ZERODHA",
            "exchanges": list(self.exchanges),
            "products": list(self.products),
            "order_types": list(self.order_types),
            "avatar_url": None,
            "meta": {"demat_consent": "physical"},
        }


@dataclass(frozen=True, slots=True)
class _RequestToken:
    issued: datetime


@dataclass(slots=True)
class _Session:
    login_time: datetime
    expires: datetime
    public_token: str
    alive: bool = True


def _same(given: object, expected: str) -> bool:
    """Constant-time comparison of a client-supplied text with a known one."""
    if not isinstance(given, str):
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _token_error(message: str) -> KiteApiError:
    return KiteApiError("TokenException", message, http_status=403)


class SessionManager:
    """Sessions of the one paper user of ``api_key``. Not thread-safe: the exchange calls it from
    its event loop only."""

    def __init__(
        self,
        api_key: str,
        api_secret: str,
        user_id: str,
        clock: Clock,
        *,
        profile: UserProfile | None = None,
    ) -> None:
        self._api_key = non_empty("SessionManager", "api_key", api_key)
        self._api_secret = non_empty("SessionManager", "api_secret", api_secret)
        self._profile = profile or UserProfile(non_empty("SessionManager", "user_id", user_id))
        self._clock = clock
        self._request_tokens: dict[str, _RequestToken] = {}
        self._sessions: dict[str, _Session] = {}

    def __repr__(self) -> str:  # never show the secret or any token
        return f"SessionManager(api_key={self._api_key!r}, user_id={self.user_id!r})"

    @property
    def api_key(self) -> str:
        return self._api_key

    @property
    def user_id(self) -> str:
        return self._profile.user_id

    @property
    def profile(self) -> UserProfile:
        return self._profile

    # -- login ---------------------------------------------------------------------------------

    def login_redirect(self, api_key: str, redirect_params: Mapping[str, str] | None = None) -> str:
        """The login page's work: check the app and issue a one-time ``request_token``.
        ``redirect_params`` are echoed by the caller into the redirect URL (Kite does the same);
        they do not affect the token."""
        del redirect_params
        self._check_api_key(api_key)
        now = self._clock.now()
        self._forget_stale_request_tokens(now)
        token = secrets.token_urlsafe(_TOKEN_BYTES)
        self._request_tokens[token] = _RequestToken(now)
        return token

    def exchange(self, api_key: str, request_token: str, checksum: str) -> dict[str, object]:
        """``POST /session/token``: trade a fresh ``request_token`` with a valid checksum for a
        session; the dict has every key of Kite's ``generate_session.json``."""
        self._check_api_key(api_key)
        now = self._clock.now()
        issued = self._request_tokens.pop(request_token, None)
        expected = hashlib.sha256(
            (api_key + request_token + self._api_secret).encode("utf-8")
        ).hexdigest()
        if (
            issued is None
            or now - issued.issued > REQUEST_TOKEN_TTL
            or not _same(checksum, expected)
        ):
            raise _token_error(_INVALID_CREDENTIALS)
        access_token = secrets.token_urlsafe(_TOKEN_BYTES)
        public_token = secrets.token_urlsafe(_TOKEN_BYTES // 2)
        session = _Session(now, access_token_expiry(now), public_token)
        self._sessions[access_token] = session
        return self._profile.as_dict() | {
            "api_key": self._api_key,
            "access_token": access_token,
            "public_token": public_token,
            "enctoken": "",
            "refresh_token": "",
            "silo": "",
            "login_time": ist_text(now),
        }

    # -- requests ------------------------------------------------------------------------------

    def authenticate(self, header: str | None) -> str:
        """The user of an ``Authorization: token api_key:access_token`` header; a missing,
        malformed, unknown, expired or logged-out token is a 403 ``TokenException``."""
        if header is None:
            raise _token_error(_INCORRECT_CREDENTIALS_MESSAGE)
        scheme, _, credentials = header.partition(" ")
        api_key, _, access_token = credentials.strip().partition(":")
        if scheme.lower() != "token" or not api_key or not access_token:
            raise _token_error(_INCORRECT_CREDENTIALS_MESSAGE)
        return self.check(api_key, access_token)

    def check(self, api_key: str, access_token: str) -> str:
        """The user of an ``api_key``/``access_token`` pair (the ticker's query-string form)."""
        if not _same(api_key, self._api_key):
            raise _token_error(_INCORRECT_CREDENTIALS_MESSAGE)
        session = self._sessions.get(access_token)
        if session is None:
            raise _token_error(_INCORRECT_CREDENTIALS_MESSAGE)
        if not session.alive or self._clock.now() >= session.expires:
            raise _token_error(_EXPIRED_MESSAGE)
        return self.user_id

    def is_valid(self, api_key: str, access_token: str) -> bool:
        """:meth:`check` as a yes/no (for the ticker's handshake)."""
        try:
            self.check(api_key, access_token)
        except KiteApiError:
            return False
        return True

    def logout(self, api_key: str, access_token: str) -> bool:
        """``DELETE /session/token``: the token stops working at once. Logging out an unknown or
        already dead token is a ``TokenException`` (the session it names does not exist)."""
        self._check_api_key(api_key)
        session = self._sessions.get(access_token)
        if session is None or not session.alive:
            raise _token_error(_EXPIRED_MESSAGE)
        session.alive = False
        return True

    # -- internals -----------------------------------------------------------------------------

    def _check_api_key(self, api_key: str) -> None:
        if not _same(api_key, self._api_key):
            raise KiteApiError("InputException", "Invalid `api_key`.")

    def _forget_stale_request_tokens(self, now: datetime) -> None:
        stale = [t for t, r in self._request_tokens.items() if now - r.issued > REQUEST_TOKEN_TTL]
        for token in stale:
            del self._request_tokens[token]
