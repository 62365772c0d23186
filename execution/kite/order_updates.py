"""The broker's order updates over the WebSocket: a real ``kiteconnect.KiteTicker`` subscribed to no
instrument, whose ``on_order_update`` payloads (the postback object, reference ``kite-connect.md``
§1.9) become :class:`~data_contracts.trading.OrderEvent`\\ s once, here, and go to a callback.

Paper and live are the same code: ``root`` is ``ws://127.0.0.1:PORT`` for the paper exchange and
None for Kite. The reactor rules of :mod:`execution.kite.ticker` apply: Twisted's reactor runs once
per process in a daemon thread and is never stopped; a dropped connection is retried by the
client's own reconnecting factory (the first retry about a second later), and :meth:`close` stops
the retries before closing. The callback runs on the reactor's thread and must be quick; it is
the caller's job to hand the event over to its own thread (a queue).

Updates of orders without a valid tag (placed by hand or by another app) are counted and
dropped: they are not ours. An update that is tagged but cannot be converted is logged with the
reason and counted; it is never passed on half-read (polling the order book is the fallback).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, Final, TypedDict, cast

from twisted.internet import reactor
from twisted.internet.threads import blockingCallFromThread
from twisted.python import threadable

from data_contracts.errors import ContractError
from data_contracts.ports import Clock
from data_contracts.trading import OrderEvent
from data_contracts.validation import non_empty
from execution.kite.orders import client_tag_of, parse_order
from execution.kite.ticker import RECONNECT_MAX_TRIES, reconnecting_ticker

__all__ = ["OrderUpdateFeed", "OrderUpdateStats"]

log = logging.getLogger(__name__)

_OWNER: Final = "OrderUpdateFeed"
_in_reactor_thread = cast(Callable[[], bool], threadable.isInIOThread)


class OrderUpdateStats(TypedDict):
    """A snapshot of the feed's counters (see :attr:`OrderUpdateFeed.stats`)."""

    updates: int  # converted and passed to the callback
    foreign: int  # no valid tag: not ours, dropped
    invalid: int  # tagged but not convertible: logged, dropped
    callback_errors: int  # the callback raised (logged)
    connects: int
    reconnects: int


class OrderUpdateFeed:
    """Calls ``on_update`` with each of our orders' updates as an :class:`OrderEvent`
    (``ts_init`` from ``clock``)."""

    def __init__(
        self,
        api_key: str,
        access_token: str,
        root: str | None,
        clock: Clock,
        on_update: Callable[[OrderEvent], None],
    ) -> None:
        self._api_key = non_empty(_OWNER, "api_key", api_key)
        self._access_token = non_empty(_OWNER, "access_token", access_token)
        if root is not None:
            non_empty(_OWNER, "root", root)
        self._root = root
        self._clock = clock
        self._on_update = on_update
        self._lock = threading.Lock()
        self._ticker: Any = None  # the KiteTicker once started (kiteconnect ships no types)
        self._closed = False
        self._connected = False
        self._connects = 0
        self._updates = 0
        self._foreign = 0
        self._invalid = 0
        self._callback_errors = 0

    # -- any thread ----------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True between a connect and the next close of the socket; False once closed."""
        with self._lock:
            return self._connected and not self._closed

    @property
    def reconnects(self) -> int:
        """Successful connects after the first."""
        with self._lock:
            return max(self._connects - 1, 0)

    @property
    def stats(self) -> OrderUpdateStats:
        with self._lock:
            return OrderUpdateStats(
                updates=self._updates,
                foreign=self._foreign,
                invalid=self._invalid,
                callback_errors=self._callback_errors,
                connects=self._connects,
                reconnects=max(self._connects - 1, 0),
            )

    def start(self) -> None:
        """Connect in the background (the reactor's thread) and return at once. Call once."""
        with self._lock:
            if self._ticker is not None or self._closed:
                raise ContractError(_OWNER, "start", None, "may be called once, before close()")
            ticker = reconnecting_ticker(self._api_key, self._access_token, self._root)
            ticker.on_connect = self._on_connect
            ticker.on_close = self._on_close
            ticker.on_order_update = self._on_order_update
            ticker.on_noreconnect = self._on_noreconnect
            self._ticker = ticker
        if not reactor.running or _in_reactor_thread():
            ticker.connect(threaded=True)  # starts the reactor in its daemon thread if needed
        else:  # connectWS is not thread-safe: run it on the reactor's thread
            blockingCallFromThread(reactor, ticker.connect, threaded=True)

    def close(self) -> None:
        """Stop reconnecting and close the socket (the reactor keeps running). Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            ticker = self._ticker
        if ticker is None or not reactor.running:
            return
        if _in_reactor_thread():
            _close_ticker(ticker)
        else:
            blockingCallFromThread(reactor, _close_ticker, ticker)

    # -- the reactor's thread ------------------------------------------------------------------

    def _on_connect(self, _ws: Any, _response: object) -> None:
        with self._lock:
            self._connected = True
            self._connects += 1
            connects = self._connects
        log.info("order updates: connected (%d)", connects)

    def _on_close(self, _ws: Any, code: object, reason: object) -> None:
        with self._lock:
            self._connected = False
        log.info("order updates: connection closed (%s %s)", code, reason)

    def _on_noreconnect(self, _ws: Any) -> None:
        log.error("order updates: gave up reconnecting after %d tries", RECONNECT_MAX_TRIES)

    def _on_order_update(self, _ws: Any, data: object) -> None:
        event = self._convert(data)
        if event is None:
            return
        try:
            self._on_update(event)
        except Exception:  # the thread boundary: nothing above us could handle it
            with self._lock:
                self._callback_errors += 1
            log.exception("order updates: the callback failed on %s", event.client_tag)

    def _convert(self, data: object) -> OrderEvent | None:
        if not isinstance(data, Mapping) or client_tag_of(data) is None:
            with self._lock:
                self._foreign += 1
            return None
        try:
            event = parse_order(data, self._clock.now())
        except ContractError as error:
            with self._lock:
                self._invalid += 1
            log.error("order updates: update of order %s refused: %s", data.get("order_id"), error)
            return None
        with self._lock:
            self._updates += 1
        return event


def _close_ticker(ticker: Any) -> None:
    ticker.stop_retry()
    if ticker.is_connected():
        ticker.close(1000, "closed by client")
