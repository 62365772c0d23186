"""The Kite adapter: everything that talks to Zerodha Kite through ``kiteconnect``.

Only this package imports ``kiteconnect``; layers above catch the errors defined here
(:class:`KiteError` and its subclasses for market data, :class:`BrokerError` and its subclasses
for orders), never the client's own.
"""

from __future__ import annotations

from execution.kite.broker import (
    BrokerError,
    BrokerUnavailable,
    KiteBroker,
    OrderOutcomeUnknown,
    OrderRejected,
    SessionExpired,
    kite_broker,
)
from execution.kite.historical import (
    OPTION_CHAIN_SCHEMA,
    InstrumentsCache,
    KiteHistoricalSource,
    KiteInterval,
    KiteMarketClient,
    KiteSourceSettings,
    kite_client,
)
from execution.kite.login_flow import KITE_LOGIN_URL, callback_url, run_login
from execution.kite.order_updates import OrderUpdateFeed
from execution.kite.orders import parse_order, parse_position, parse_trade
from execution.kite.rate_limit import TokenBucket
from execution.kite.retry import (
    KiteError,
    KiteRequestRejectedError,
    KiteSessionExpiredError,
    KiteUnavailableError,
    RetryPolicy,
)
from execution.kite.session import (
    KiteSession,
    SessionFile,
    SessionStatus,
    check_with_broker,
    session_expires_at,
    session_status,
)
from execution.kite.ticker import FeedStats, TickerFeed
from execution.kite.ticks import TickParser

__all__ = [
    "KITE_LOGIN_URL",
    "OPTION_CHAIN_SCHEMA",
    "BrokerError",
    "BrokerUnavailable",
    "FeedStats",
    "InstrumentsCache",
    "KiteBroker",
    "KiteError",
    "KiteHistoricalSource",
    "KiteInterval",
    "KiteMarketClient",
    "KiteRequestRejectedError",
    "KiteSession",
    "KiteSessionExpiredError",
    "KiteSourceSettings",
    "KiteUnavailableError",
    "OrderOutcomeUnknown",
    "OrderRejected",
    "OrderUpdateFeed",
    "RetryPolicy",
    "SessionExpired",
    "SessionFile",
    "SessionStatus",
    "TickParser",
    "TickerFeed",
    "TokenBucket",
    "callback_url",
    "check_with_broker",
    "kite_broker",
    "kite_client",
    "parse_order",
    "parse_position",
    "parse_trade",
    "run_login",
    "session_expires_at",
    "session_status",
]
