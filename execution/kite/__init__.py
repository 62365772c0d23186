"""The Kite adapter: everything that talks to Zerodha Kite through ``kiteconnect``.

Only this package imports ``kiteconnect``; layers above catch the errors defined here
(:class:`KiteError` and its subclasses), never the client's own.
"""

from __future__ import annotations

from execution.kite.historical import (
    OPTION_CHAIN_SCHEMA,
    InstrumentsCache,
    KiteHistoricalSource,
    KiteInterval,
    KiteMarketClient,
    KiteSourceSettings,
    kite_client,
)
from execution.kite.rate_limit import TokenBucket
from execution.kite.retry import (
    KiteError,
    KiteRequestRejectedError,
    KiteSessionExpiredError,
    KiteUnavailableError,
    RetryPolicy,
)
from execution.kite.ticker import FeedStats, TickerFeed
from execution.kite.ticks import TickParser

__all__ = [
    "OPTION_CHAIN_SCHEMA",
    "FeedStats",
    "InstrumentsCache",
    "KiteError",
    "KiteHistoricalSource",
    "KiteInterval",
    "KiteMarketClient",
    "KiteRequestRejectedError",
    "KiteSessionExpiredError",
    "KiteSourceSettings",
    "KiteUnavailableError",
    "RetryPolicy",
    "TickParser",
    "TickerFeed",
    "TokenBucket",
    "kite_client",
]
