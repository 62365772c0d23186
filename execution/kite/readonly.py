"""A read-only view of a Kite (or paper exchange) session: quotes, last prices, margins,
positions, holdings, the order and trade books, the instruments dump and option chains.

This is what the MCP tool server (``agents``) gets instead of a broker: it has no method that
places, modifies or cancels an order, and the ``KiteConnect`` it wraps is private to it. Every
request is a GET of Kite's read routes. Failures leave as the broker's errors, classified as
reads (:func:`execution.kite.broker.classify_error`): :class:`SessionExpired` (log in again),
:class:`BrokerUnavailable` (nothing was done; try later) or :class:`BrokerError` (Kite refused
the request, e.g. an unknown instrument); the instruments dump and option chains come through
:class:`KiteHistoricalSource` and raise its ``KiteError`` family instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any, Final, Protocol, TypeVar, cast

import kiteconnect.exceptions as kex
import polars as pl
import requests

from data_contracts.enums import Exchange
from data_contracts.errors import ContractError
from data_contracts.instruments import Instrument
from data_contracts.ports import Clock
from data_contracts.validation import non_empty
from execution.kite.broker import DEFAULT_TIMEOUT_SECONDS, Request, classify_error
from execution.kite.historical import KiteHistoricalSource, KiteSourceSettings, kite_client
from execution.kite.rate_limit import TokenBucket

__all__ = ["MAX_QUOTE_KEYS", "QUOTE_RATE", "KiteReadClient", "KiteReadOnly"]

MAX_QUOTE_KEYS: Final = 500  # Kite's limit of instruments per /quote request
QUOTE_RATE: Final = 0.9  # Kite allows one quote request a second; 10 % margin for jitter
RATE_LIMITED_RETRIES: Final = 2
_TOO_MANY_REQUESTS: Final = 429
_T = TypeVar("_T")
# What a profile may show: who and where, never contact details.
_PROFILE_FIELDS: Final = ("user_id", "user_name", "user_type", "broker", "exchanges", "products")


class KiteReadClient(Protocol):
    """The read routes of ``kiteconnect.KiteConnect`` this view uses (the real client has them)."""

    access_token: str | None

    def quote(self, *instruments: str) -> dict[str, dict[str, Any]]: ...

    def ltp(self, *instruments: str) -> dict[str, dict[str, Any]]: ...

    def margins(self, segment: str | None = ...) -> dict[str, Any]: ...

    def positions(self) -> dict[str, list[dict[str, Any]]]: ...

    def holdings(self) -> list[dict[str, Any]]: ...

    def orders(self) -> list[dict[str, Any]]: ...

    def trades(self) -> list[dict[str, Any]]: ...

    def profile(self) -> dict[str, Any]: ...


class KiteReadOnly:
    """Read-only Kite requests over ``client``; ``source`` serves the instruments dump and option
    chains over the same session. Build it with :meth:`connect`."""

    def __init__(
        self,
        client: KiteReadClient,
        source: KiteHistoricalSource,
        clock: Clock,
        *,
        quote_rate: float = QUOTE_RATE,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._sleep = sleep
        self._source = source
        self._clock = clock
        # Kite allows one quote-route request a second (quote, ltp, ohlc): every one of ours,
        # and the option chains' through the source, waits its turn here.
        self._quotes = TokenBucket(quote_rate)

    def __repr__(self) -> str:
        return "KiteReadOnly()"  # nothing about the session: its token stays out of logs

    @classmethod
    def connect(
        cls,
        api_key: str,
        access_token: str,
        *,
        root: str | None,
        clock: Clock,
        settings: KiteSourceSettings | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> KiteReadOnly:
        """A view over a new ``KiteConnect`` for the session (``root``: the paper exchange's
        ``http://host:port``, None for Kite)."""
        client = kite_client(api_key, access_token, root=root, timeout=timeout)
        source = KiteHistoricalSource(client, clock, settings=settings)
        # The same KiteConnect; this protocol names its read routes.
        return cls(cast(KiteReadClient, client), source, clock)

    # -- market data ---------------------------------------------------------------------------

    def quote(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Full quotes (``EXCHANGE:TRADINGSYMBOL`` keys, at most :data:`MAX_QUOTE_KEYS`):
        last price, OHLC, volume, OI, the top five depth levels, Kite's timestamps (naive IST)."""
        wanted = _keys(keys)
        self._quotes.acquire()
        return self._call("quote", lambda: self._client.quote(*wanted))

    def ltp(self, keys: Sequence[str]) -> dict[str, float]:
        """Last traded prices by key; keys Kite has no price for are absent."""
        wanted = _keys(keys)
        self._quotes.acquire()
        answer = self._call("ltp", lambda: self._client.ltp(*wanted))
        prices: dict[str, float] = {}
        for key, row in answer.items():
            price = row.get("last_price") if isinstance(row, Mapping) else None
            if isinstance(price, int | float) and not isinstance(price, bool) and price > 0:
                prices[key] = float(price)
        return prices

    def instruments(self) -> tuple[Instrument, ...]:
        """Today's instruments dump (NSE and NFO), downloaded at most once a day."""
        return tuple(self._source.instruments(self._clock.now()))

    def option_chain(self, underlying: str, expiry: date) -> pl.DataFrame:
        """Today's chain of ``underlying``'s NFO options expiring ``expiry`` with live quotes
        (``OPTION_CHAIN_SCHEMA``)."""
        self._quotes.acquire()
        try:
            return self._source.option_chain(underlying, expiry, exchange=Exchange.NFO)
        finally:
            self._quotes.acquire()  # the slot the chain's own quote request used

    # -- the account ---------------------------------------------------------------------------

    def margins(self) -> dict[str, Any]:
        """Kite's margins of every segment (``equity``, ``commodity``)."""
        return self._call("margins", lambda: self._client.margins())

    def positions(self) -> dict[str, list[dict[str, Any]]]:
        """Kite's ``net`` and ``day`` positions."""
        return self._call("positions", self._client.positions)

    def holdings(self) -> list[dict[str, Any]]:
        return self._call("holdings", self._client.holdings)

    def orders(self) -> list[dict[str, Any]]:
        """Today's order book: every order, ours (tagged) or not, latest state each."""
        return self._call("orders", self._client.orders)

    def trades(self) -> list[dict[str, Any]]:
        """Today's executions."""
        return self._call("trades", self._client.trades)

    def profile(self) -> dict[str, Any]:
        """Who the session belongs to (user id, name, broker, exchanges, products)."""
        answer = self._call("profile", self._client.profile)
        return {name: answer[name] for name in _PROFILE_FIELDS if name in answer}

    # -- internals -----------------------------------------------------------------------------

    def _call(self, what: str, call: Callable[[], _T]) -> _T:
        """One read; a 429 (the broker's per-second limit: nothing was done) is retried after a
        second, at most :data:`RATE_LIMITED_RETRIES` times, as Kite asks."""
        for attempt in range(RATE_LIMITED_RETRIES + 1):
            try:
                return call()
            except (kex.KiteException, requests.RequestException) as error:
                secrets = [self._client.access_token or ""]
                failure = classify_error(error, Request.READ, what, secrets=secrets)
                if failure.code != _TOO_MANY_REQUESTS or attempt == RATE_LIMITED_RETRIES:
                    raise failure from error
            self._sleep(1.0)
        raise AssertionError("unreachable: the loop returns or raises")


def _keys(keys: Sequence[str]) -> list[str]:
    wanted = list(dict.fromkeys(keys))
    for key in wanted:
        non_empty("KiteReadOnly", "keys", key)
    if not wanted or len(wanted) > MAX_QUOTE_KEYS:
        rule = f"must name 1 to {MAX_QUOTE_KEYS} instruments"
        raise ContractError("KiteReadOnly", "keys", len(wanted), rule)
    return wanted
