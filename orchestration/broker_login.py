"""Whom the processes talk to at the broker, and as whom: the one place a session comes from.

Paper: a fresh session on the local paper exchange (its login page needs no password). Live: the
day's ``kitepilot login`` session from ``kite.session_file`` (mode 0600), with its 06:00 IST
expiry. The streaming worker, the executor, the dashboard's actions and preflight all use
:func:`broker_session`, so a live day needs one login and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from data_contracts.config import KitepilotConfig
from data_contracts.enums import TradingMode
from data_contracts.errors import ContractError
from execution.kite.login import paper_login
from execution.kite.session import SessionFile
from orchestration.broker_endpoints import BrokerEndpoints

__all__ = ["BrokerLogin", "broker_session", "paper_session"]


@dataclass(frozen=True, slots=True)
class BrokerLogin:
    """Where the broker is and the session's token, and when the session ends (if known)."""

    endpoints: BrokerEndpoints
    expires_at: datetime | None = None


def paper_session(config: KitepilotConfig) -> BrokerEndpoints:
    """A session on the local paper exchange (its login page needs no password)."""
    from orchestration.paper_credentials import (  # here: a live session needs no paper side
        credentials,
        paper_root,
    )

    paper = config.paper_exchange
    root = paper_root(config)
    secret, _ = credentials(config)
    return BrokerEndpoints(
        api_key=paper.api_key,
        access_token=paper_login(root, paper.api_key, secret.api_secret),
        rest_root=root,
        ticker_root=f"ws://{paper.host}:{paper.port}",
    )


def broker_session(config: KitepilotConfig) -> BrokerLogin:
    """Paper: a session on the local paper exchange; live: the day's `kitepilot login` session,
    with when it expires (06:00 IST)."""
    if config.mode is not TradingMode.LIVE:
        return BrokerLogin(paper_session(config))
    kite = config.kite
    stored = SessionFile(kite.session_file.expanduser()).load()
    if stored is None:
        rule = "must hold a session: run `kitepilot login`"
        raise ContractError("kite", "session_file", str(kite.session_file), rule)
    endpoints = BrokerEndpoints(
        api_key=stored.api_key, access_token=stored.access_token, rest_root=None, ticker_root=None
    )
    return BrokerLogin(endpoints, stored.expires_at)
