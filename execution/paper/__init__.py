"""The paper exchange: a local Kite Connect-compatible venue (REST + WebSocket ticker on one port)
that the real ``kiteconnect`` clients talk to unchanged, only ``root`` differs.

Start one with :func:`build_exchange` over a :class:`MarketReplay` (see :func:`open_market`) and
``await exchange.start()``, or :func:`run_in_thread` in tests; ``kitepilot paper-exchange`` does it
from the configuration. The names below are loaded on first use, so importing a small module of
this package (``execution.paper.types``) does not import the whole exchange.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from execution.paper.app import (
        ExchangeSettings,
        PaperExchange,
        RunningExchange,
        build_exchange,
        open_market,
        run_in_thread,
    )
    from execution.paper.faults import FaultInjector, FaultPlan
    from execution.paper.limits import RateLimiter, RouteClass
    from execution.paper.market import MarketReplay
    from execution.paper.replay_clock import ReplayClock
    from execution.paper.rest import build_rest_app
    from execution.paper.session import SessionManager
    from execution.paper.store import VenueStore
    from execution.paper.types import DepthLevel, KiteApiError, Quote
    from execution.paper.venue import PaperVenue, VenueRules

__all__ = [
    "DepthLevel",
    "ExchangeSettings",
    "FaultInjector",
    "FaultPlan",
    "KiteApiError",
    "MarketReplay",
    "PaperExchange",
    "PaperVenue",
    "Quote",
    "RateLimiter",
    "ReplayClock",
    "RouteClass",
    "RunningExchange",
    "SessionManager",
    "VenueRules",
    "VenueStore",
    "build_exchange",
    "build_rest_app",
    "open_market",
    "run_in_thread",
]

_HOME = {
    "ExchangeSettings": "app",
    "PaperExchange": "app",
    "RunningExchange": "app",
    "build_exchange": "app",
    "open_market": "app",
    "run_in_thread": "app",
    "FaultInjector": "faults",
    "FaultPlan": "faults",
    "RateLimiter": "limits",
    "RouteClass": "limits",
    "MarketReplay": "market",
    "ReplayClock": "replay_clock",
    "build_rest_app": "rest",
    "SessionManager": "session",
    "VenueStore": "store",
    "DepthLevel": "types",
    "KiteApiError": "types",
    "Quote": "types",
    "PaperVenue": "venue",
    "VenueRules": "venue",
}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
