"""The live tick feed: a real ``kiteconnect.KiteTicker`` whose ticks become ``Tick``s (or dead
letters) once, at the boundary, and wait in a thread-safe queue for the consumer to drain.

Paper and live are the same code: ``root`` is ``ws://127.0.0.1:PORT`` for the paper exchange and
None (Kite's ``wss://ws.kite.trade``) for live; only it and the credentials differ.

Facts relied on (reference ``kite-connect.md`` §3.5 and ``kiteconnect/ticker.py``):

- ``KiteTicker.connect(threaded=True)`` runs Twisted's reactor in a daemon thread, once per
  process; a reactor cannot be restarted, so nothing here calls ``KiteTicker.stop()`` (which is
  ``reactor.stop()``). A second feed in the same process connects from the running reactor.
- Auto-reconnect is Twisted's ``ReconnectingClientFactory``: a lost connection (clean or not) is
  retried after about a second (Twisted 26: ``initialDelay``, jittered; older Twisted ~2.7 s),
  each further failed attempt e times later, up to ``reconnect_max_delay``. ``KiteTicker.close()``
  calls ``stopTrying()`` first, so it ends reconnecting; ``_close()`` only sends a close frame,
  which needs the peer's closing handshake. A silent (stalled) connection is therefore cut with
  the protocol's ``dropConnection(abort=True)`` — what the client's own pong check does — and
  the factory reconnects.
- Callbacks run on the reactor thread; ``on_connect`` runs on every (re)connect, before the
  client's own resubscribe on open (so a reconnect subscribes twice: idempotent at Kite).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any, Final, TypedDict, cast

from kiteconnect import KiteTicker
from twisted.internet import reactor
from twisted.internet.threads import blockingCallFromThread
from twisted.python import threadable

from data_contracts.errors import ContractError
from data_contracts.feed import DeadLetter
from data_contracts.market import Tick
from data_contracts.ports import Clock
from data_contracts.timeutil import require_aware
from data_contracts.validation import integer, non_empty, positive
from execution.kite.ticks import TickParser

__all__ = [
    "MAX_TOKENS_PER_CONNECTION",
    "RECONNECT_MAX_TRIES",
    "TICKER_MODES",
    "FeedStats",
    "TickerFeed",
    "reconnecting_ticker",
]

log = logging.getLogger(__name__)


class _NormalClosure(logging.Filter):
    """``kiteconnect`` logs every closed connection at ERROR, a normal closure (code 1000: we or
    the server ended the session) included; that one is not an error and must not alarm a user."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Connection closed: 1000 ")


logging.getLogger("kiteconnect.ticker").addFilter(_NormalClosure())

_OWNER: Final = "TickerFeed"
TICKER_MODES: Final = frozenset({"ltp", "quote", "full"})
# Kite: at most 3,000 instruments on one WebSocket connection (reference §3.1).
MAX_TOKENS_PER_CONNECTION: Final = 3000
# The client's bounds (reference §3.5): at most 300 tries; the delay grows to at most this many
# seconds. 300 tries at 30 s cover two and a half hours of outage.
RECONNECT_MAX_TRIES: Final = 300  # the client's maximum (reference §3.5)
_RECONNECT_MAX_DELAY: Final = 30


def reconnecting_ticker(api_key: str, access_token: str, root: str | None) -> Any:
    """A ``KiteTicker`` that reconnects on its own (backing off up to 30 s, 300 tries, the
    client's maximum); ``root`` points it at the paper exchange."""
    return KiteTicker(
        api_key,
        access_token,
        root=root,
        reconnect=True,
        reconnect_max_tries=RECONNECT_MAX_TRIES,
        reconnect_max_delay=_RECONNECT_MAX_DELAY,
    )


# True on the reactor's thread (Twisted's function is untyped).
_in_reactor_thread = cast(Callable[[], bool], threadable.isInIOThread)


class FeedStats(TypedDict):
    """A snapshot of a feed's counters (see :attr:`TickerFeed.stats`)."""

    ticks: int
    dead_letters: int
    connects: int
    reconnects: int
    disconnects: int
    reconnect_attempts: int
    watchdog_reconnects: int
    pending: int
    last_tick_at: datetime | None
    gave_up: bool


class TickerFeed:
    """Subscribes ``tokens`` in ``mode`` on a ``KiteTicker`` and queues what arrives.

    ``drain`` hands the consumer the queued ``Tick``s and ``DeadLetter``s in arrival order.
    ``watchdog(now)``, called periodically by the consumer, cuts a connection on which no tick of
    any ``liquid_tokens`` (default: all ``tokens``) arrived for ``silence_seconds`` (a feed that
    went quiet without closing) so that auto-reconnect opens a fresh one. Times (``ts_init``,
    the silence) come from ``clock``.
    """

    def __init__(
        self,
        *,
        api_key: str,
        access_token: str,
        root: str | None,
        tokens: Sequence[int],
        parser: TickParser,
        clock: Clock,
        mode: str = "full",
        silence_seconds: float = 10.0,
        liquid_tokens: Collection[int] | None = None,
    ) -> None:
        self._api_key = non_empty(_OWNER, "api_key", api_key)
        self._access_token = non_empty(_OWNER, "access_token", access_token)
        if root is not None:
            non_empty(_OWNER, "root", root)
        self._root = root
        self._tokens = _tokens(tokens, parser)
        if mode not in TICKER_MODES:
            raise ContractError(_OWNER, "mode", mode, f"must be one of {sorted(TICKER_MODES)}")
        self._mode = mode
        self._silence = positive(_OWNER, "silence_seconds", silence_seconds)
        liquid = frozenset(self._tokens if liquid_tokens is None else liquid_tokens)
        if not liquid or not liquid <= set(self._tokens):
            raise ContractError(
                _OWNER,
                "liquid_tokens",
                sorted(liquid),
                "must be a non-empty subset of tokens (a token never subscribed never ticks)",
            )
        self._liquid = liquid
        self._parser = parser
        self._clock = clock

        self._lock = threading.Lock()
        self._items: deque[Tick | DeadLetter] = deque()
        self._ticker: Any = None  # the KiteTicker, once started (kiteconnect ships no types)
        self._closed = False
        self._connected = False
        self._connected_at: datetime | None = None
        self._last_liquid_at: datetime | None = None
        self._last_kick_at: datetime | None = None
        self._last_tick_at: datetime | None = None
        self._ticks = 0
        self._dead_letters = 0
        self._connects = 0
        self._disconnects = 0
        self._reconnect_attempts = 0
        self._watchdog_reconnects = 0
        self._gave_up = False

    # -- the consumer's side (any thread) -------------------------------------------------------

    @property
    def tokens(self) -> tuple[int, ...]:
        return self._tokens

    @property
    def connected(self) -> bool:
        """True between a connect and the next close of the socket."""
        with self._lock:
            return self._connected

    @property
    def stats(self) -> FeedStats:
        """Counters: ``ticks`` and ``dead_letters`` converted; ``connects`` (successful),
        ``reconnects`` (connects after the first), ``disconnects``, ``reconnect_attempts``
        (the client's failed retries), ``watchdog_reconnects``; ``pending`` (queued, not
        drained); ``last_tick_at`` (clock time of the last ``Tick``); ``gave_up`` (the client
        exhausted its retries)."""
        with self._lock:
            return FeedStats(
                ticks=self._ticks,
                dead_letters=self._dead_letters,
                connects=self._connects,
                reconnects=max(self._connects - 1, 0),
                disconnects=self._disconnects,
                reconnect_attempts=self._reconnect_attempts,
                watchdog_reconnects=self._watchdog_reconnects,
                pending=len(self._items),
                last_tick_at=self._last_tick_at,
                gave_up=self._gave_up,
            )

    def drain(self, max_items: int = 10_000) -> list[Tick | DeadLetter]:
        """Up to ``max_items`` queued items, oldest first; never blocks (empty when none)."""
        integer(_OWNER, "max_items", max_items, minimum=1)
        with self._lock:
            items = self._items
            count = min(max_items, len(items))
            return [items.popleft() for _ in range(count)]

    def start(self) -> None:
        """Connect in the background (the reactor's thread) and return at once; subscription
        happens on connect. Call once."""
        with self._lock:
            if self._ticker is not None or self._closed:
                raise ContractError(_OWNER, "start", None, "may be called once, before close()")
            ticker = reconnecting_ticker(self._api_key, self._access_token, self._root)
            ticker.on_connect = self._on_connect
            ticker.on_ticks = self._on_ticks
            ticker.on_close = self._on_close
            ticker.on_reconnect = self._on_reconnect
            ticker.on_noreconnect = self._on_noreconnect
            self._ticker = ticker
        if not reactor.running:
            ticker.connect(threaded=True)  # starts the reactor in its daemon thread
        elif _in_reactor_thread():
            ticker.connect(threaded=True)
        else:  # connectWS is not thread-safe: run it on the reactor's thread
            blockingCallFromThread(reactor, ticker.connect, threaded=True)

    def watchdog(self, now: datetime) -> bool:
        """Force a reconnect if no liquid tick arrived for ``silence_seconds`` while connected
        (counted from the connect, the last liquid tick or the last forced reconnect, whichever
        is latest); True when it did."""
        now = require_aware(_OWNER, "now", now)
        with self._lock:
            if self._closed or not self._connected or self._connected_at is None:
                return False
            since = self._connected_at
            for mark in (self._last_liquid_at, self._last_kick_at):
                if mark is not None and mark > since:
                    since = mark
            silent = (now - since).total_seconds()
            if silent < self._silence:
                return False
            self._last_kick_at = now
            self._watchdog_reconnects += 1
        log.warning(
            "ticker feed: no tick of %d liquid instruments for %.1f s; reconnecting",
            len(self._liquid),
            silent,
        )
        reactor.callFromThread(self._drop_connection)
        return True

    def close(self) -> None:
        """Stop reconnecting and close the socket; the reactor keeps running (it cannot be
        restarted). Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            ticker = self._ticker
        if ticker is None or not reactor.running:
            return
        if _in_reactor_thread():
            self._close_ticker(ticker)
        else:
            blockingCallFromThread(reactor, self._close_ticker, ticker)

    # -- the reactor's thread -------------------------------------------------------------------

    def _on_connect(self, ws: Any, _response: object) -> None:
        tokens = list(self._tokens)
        ws.subscribe(tokens)
        ws.set_mode(self._mode, tokens)
        now = self._clock.now()
        with self._lock:
            self._connected = True
            self._connected_at = now
            self._connects += 1
            connects = self._connects
        log.info(
            "ticker feed: connected (%d), subscribed %d in %s", connects, len(tokens), self._mode
        )

    def _on_ticks(self, _ws: Any, ticks: list[dict[str, object]]) -> None:
        now = self._clock.now()
        parse = self._parser.parse
        liquid = self._liquid
        items = [parse(raw, now) for raw in ticks]
        converted = 0
        heard_liquid = False
        for item in items:
            if type(item) is Tick:
                converted += 1
                if not heard_liquid and item.instrument_token in liquid:
                    heard_liquid = True
        with self._lock:
            self._items.extend(items)
            self._ticks += converted
            self._dead_letters += len(items) - converted
            if converted:
                self._last_tick_at = now
            if heard_liquid:
                self._last_liquid_at = now

    def _on_close(self, _ws: Any, code: object, reason: object) -> None:
        with self._lock:
            was_connected = self._connected
            self._connected = False
            if was_connected:
                self._disconnects += 1
        log.info("ticker feed: connection closed (%s %s)", code, reason)

    def _on_reconnect(self, _ws: Any, attempt: int) -> None:
        with self._lock:
            self._reconnect_attempts += 1
        log.warning("ticker feed: reconnect attempt %s failed; retrying", attempt)

    def _on_noreconnect(self, _ws: Any) -> None:
        with self._lock:
            self._gave_up = True
        log.error("ticker feed: gave up reconnecting after %d tries", RECONNECT_MAX_TRIES)

    def _drop_connection(self) -> None:
        with self._lock:
            ticker = None if self._closed else self._ticker
        protocol = None if ticker is None else ticker.ws
        if protocol is not None:
            protocol.dropConnection(abort=True)

    @staticmethod
    def _close_ticker(ticker: Any) -> None:
        ticker.stop_retry()
        if ticker.is_connected():
            ticker.close(1000, "closed by client")


def _tokens(tokens: Sequence[int], parser: TickParser) -> tuple[int, ...]:
    if isinstance(tokens, str | bytes) or not tokens:
        raise ContractError(_OWNER, "tokens", tokens, "must be a non-empty sequence of tokens")
    for token in tokens:
        integer(_OWNER, "tokens", token, minimum=1)
    unique = tuple(dict.fromkeys(tokens))
    if len(unique) > MAX_TOKENS_PER_CONNECTION:
        raise ContractError(
            _OWNER,
            "tokens",
            len(unique),
            f"must be at most {MAX_TOKENS_PER_CONNECTION} per connection (Kite's limit)",
        )
    unknown = sorted(set(unique) - parser.known_tokens)
    if unknown:
        raise ContractError(
            _OWNER,
            "tokens",
            unknown[:10],
            "must all be known to the parser (their ticks would all be dead letters)",
        )
    return unique
