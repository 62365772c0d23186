"""Kite's login flow, the part that needs ``kiteconnect``: a request token (from the redirect
after the user logs in) exchanged for an access token with the app's checksum.

The paper exchange serves the same flow with a login page that needs no password, so
:func:`paper_login` can open a session unattended.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

import requests
from kiteconnect import KiteConnect

from data_contracts.errors import ContractError

__all__ = [
    "exchange_request_token",
    "generate_session",
    "paper_login",
    "request_token_from_redirect",
]

_TIMEOUT: Final = 10.0


def request_token_from_redirect(url: str) -> str:
    """The ``request_token`` query parameter of Kite's redirect URL."""
    tokens = parse_qs(urlsplit(url).query).get("request_token")
    if not tokens or not tokens[0]:
        raise ContractError("kite_login", "redirect", url, "must carry a request_token")
    return tokens[0]


def generate_session(
    api_key: str, api_secret: str, request_token: str, *, root: str | None = None
) -> dict[str, Any]:
    """Kite's session response for ``request_token`` (``POST /session/token`` with the checksum
    ``sha256(api_key + request_token + api_secret)``, computed by ``kiteconnect``): ``user_id``,
    ``access_token``, ``login_time`` (naive IST, as the client parses it) and the profile keys.
    A refused token or checksum raises ``kiteconnect.exceptions.TokenException``."""
    client = KiteConnect(api_key, root=root) if root else KiteConnect(api_key)
    return dict(client.generate_session(request_token, api_secret=api_secret))


def exchange_request_token(
    api_key: str, api_secret: str, request_token: str, *, root: str | None = None
) -> str:
    """The access token for ``request_token`` (``POST /session/token`` with the checksum)."""
    session = generate_session(api_key, api_secret, request_token, root=root)
    return str(session["access_token"])


def paper_login(root: str, api_key: str, api_secret: str) -> str:
    """Log in to the paper exchange at ``root`` and return an access token."""
    try:
        response = requests.get(
            f"{root}/connect/login",
            params={"api_key": api_key, "v": "3"},
            allow_redirects=False,
            timeout=_TIMEOUT,
        )
    except requests.ConnectionError as exc:
        raise ContractError(
            "paper_exchange",
            "url",
            root,
            "must have a running paper exchange (start `kitepilot paper-exchange`)",
        ) from exc
    request_token = request_token_from_redirect(response.headers.get("Location", ""))
    return exchange_request_token(api_key, api_secret, request_token, root=root)
