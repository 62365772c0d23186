"""Who is subscribed to what on the ticker, and what each connection is sent: pure state, no IO.

The WebSocket layer (:mod:`execution.paper.ws`) feeds it the clients' text messages and asks it
for one binary frame per connection per publish. Behaviour (reference ``kite-connect.md`` §3):

* messages are ``{"a": "subscribe"|"unsubscribe", "v": [token, ...]}`` and
  ``{"a": "mode", "v": [mode, [token, ...]]}``; a malformed message is answered with
  ``{"type": "error", "data": "..."}`` and changes nothing (the connection stays up);
* a subscribed token streams in ``quote`` mode until a ``mode`` message changes it; subscribing
  a token again resets it to ``quote``, which is what pykiteconnect assumes locally
  (``subscribed_tokens[token] = MODE_QUOTE``) so that server and client agree (Kite's own
  behaviour is not documented);
* ``mode`` applies to the listed tokens this connection is subscribed to and ignores the others;
* a connection holds at most ``max_tokens_per_connection`` tokens (Kite: 3,000); the tokens over
  the limit are refused with an error message, the rest are subscribed;
* a publish is conflated: when a batch holds several quotes of one instrument, only the latest
  is sent. Kite's ticker streams snapshots (volume and OHLC are cumulative), and conflating keeps
  a frame within the protocol's 65,535 packets.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Final

from data_contracts.errors import ContractError
from data_contracts.validation import integer
from execution.paper.ticker_codec import (
    MODES,
    TickerMode,
    encode_framed_packet,
    frame_of_framed_packets,
)
from execution.paper.types import Quote
from execution.paper.wire import dumps

__all__ = ["KITE_MAX_TOKENS_PER_CONNECTION", "TickerHub"]

KITE_MAX_TOKENS_PER_CONNECTION: Final = 3000
_MAX_PACKETS_PER_FRAME: Final = 0xFFFF
_MAX_TOKEN: Final = 0xFFFF_FFFF
_SHOWN_TOKENS: Final = 10  # how many refused tokens an error message lists


class _MessageError(Exception):
    """A client message the hub refuses; the text goes back to the client."""


class TickerHub:
    """Subscriptions of every ticker connection, keyed by a connection id the caller picks."""

    def __init__(self, max_tokens_per_connection: int = KITE_MAX_TOKENS_PER_CONNECTION) -> None:
        integer("TickerHub", "max_tokens_per_connection", max_tokens_per_connection, minimum=1)
        if max_tokens_per_connection > _MAX_PACKETS_PER_FRAME:
            raise ContractError(
                "TickerHub",
                "max_tokens_per_connection",
                max_tokens_per_connection,
                f"must be <= {_MAX_PACKETS_PER_FRAME} (packets a frame can count)",
            )
        self.max_tokens_per_connection = max_tokens_per_connection
        self._modes: dict[str, dict[int, TickerMode]] = {}  # conn -> token -> mode
        self._subscribers: dict[int, dict[str, TickerMode]] = {}  # token -> conn -> mode

    # -- connections -------------------------------------------------------------------------

    def connect(self, conn_id: str) -> None:
        if conn_id in self._modes:
            raise ContractError("TickerHub", "conn_id", conn_id, "is already connected")
        self._modes[conn_id] = {}

    def disconnect(self, conn_id: str) -> None:
        """Forget a connection and its subscriptions (a no-op for an unknown id)."""
        for token in self._modes.pop(conn_id, {}):
            self._drop(conn_id, token)

    @property
    def connections(self) -> tuple[str, ...]:
        return tuple(self._modes)

    def subscriptions(self, conn_id: str) -> dict[int, TickerMode]:
        """A copy of ``conn_id``'s subscriptions: token -> mode."""
        return dict(self._known(conn_id))

    def subscriber_count(self, instrument_token: int) -> int:
        return len(self._subscribers.get(instrument_token, ()))

    # -- client messages ---------------------------------------------------------------------

    def handle_text(self, conn_id: str, text: str) -> list[str]:
        """Apply one client text message; return the text messages to send back (errors)."""
        modes = self._known(conn_id)
        try:
            action, value = _parse(text)
            if action == "subscribe":
                return self._subscribe(conn_id, modes, _tokens(value))
            if action == "unsubscribe":
                for token in _tokens(value):
                    if modes.pop(token, None) is not None:
                        self._drop(conn_id, token)
                return []
            mode, tokens = _mode_value(value)
            for token in tokens:
                if token in modes:
                    modes[token] = mode
                    self._subscribers[token][conn_id] = mode
            return []
        except _MessageError as exc:
            return [self.error_text(str(exc))]

    def _subscribe(
        self, conn_id: str, modes: dict[int, TickerMode], tokens: list[int]
    ) -> list[str]:
        refused: list[int] = []
        for token in tokens:
            if token not in modes and len(modes) >= self.max_tokens_per_connection:
                refused.append(token)
                continue
            modes[token] = "quote"
            self._subscribers.setdefault(token, {})[conn_id] = "quote"
        if not refused:
            return []
        shown = ", ".join(str(t) for t in refused[:_SHOWN_TOKENS])
        more = f" and {len(refused) - _SHOWN_TOKENS} more" if len(refused) > _SHOWN_TOKENS else ""
        return [
            self.error_text(
                f"subscription limit: at most {self.max_tokens_per_connection} instruments a "
                f"connection; not subscribed: {shown}{more}"
            )
        ]

    # -- server messages ---------------------------------------------------------------------

    def frames_for(self, quotes: Iterable[Quote]) -> dict[str, bytes]:
        """One binary frame per connection subscribed to any of ``quotes``: a packet per
        subscribed instrument (its latest quote in the batch) in that connection's mode. Each
        quote is encoded at most once per mode, however many connections receive it."""
        latest = {quote.instrument_token: quote for quote in quotes}
        parts: defaultdict[str, list[bytes]] = defaultdict(list)
        for token, quote in latest.items():
            subscribers = self._subscribers.get(token)
            if not subscribers:
                continue
            encoded: dict[TickerMode, bytes] = {}
            for conn_id, mode in subscribers.items():
                packet = encoded.get(mode)
                if packet is None:
                    packet = encoded[mode] = encode_framed_packet(quote, mode)
                parts[conn_id].append(packet)
        return {conn_id: frame_of_framed_packets(packets) for conn_id, packets in parts.items()}

    @staticmethod
    def order_update_text(payload: Mapping[str, object]) -> str:
        """The text frame of an order update: ``{"type": "order", "data": payload}``.
        Datetimes are written as Kite writes them, ``YYYY-MM-DD HH:MM:SS`` in IST."""
        return dumps({"type": "order", "data": payload})

    @staticmethod
    def error_text(message: str) -> str:
        return dumps({"type": "error", "data": message})

    # -- internals ---------------------------------------------------------------------------

    def _known(self, conn_id: str) -> dict[int, TickerMode]:
        try:
            return self._modes[conn_id]
        except KeyError:
            raise ContractError("TickerHub", "conn_id", conn_id, "is not connected") from None

    def _drop(self, conn_id: str, token: int) -> None:
        subscribers = self._subscribers.get(token)
        if subscribers is not None:
            subscribers.pop(conn_id, None)
            if not subscribers:
                del self._subscribers[token]


def _parse(text: str) -> tuple[str, object]:
    try:
        message = json.loads(text)
    except ValueError:
        raise _MessageError(f"invalid message: not JSON: {text[:100]!r}") from None
    if not isinstance(message, dict) or "a" not in message or "v" not in message:
        raise _MessageError(
            f'invalid message: expected {{"a": action, "v": value}}, got {text[:100]!r}'
        )
    action = message["a"]
    if action not in ("subscribe", "unsubscribe", "mode"):
        raise _MessageError(
            f"invalid message: unknown action {action!r}; expected subscribe, unsubscribe or mode"
        )
    return action, message["v"]


def _tokens(value: object) -> list[int]:
    if not isinstance(value, list):
        raise _MessageError(f"invalid message: expected a list of instrument tokens, got {value!r}")
    bad = [
        t for t in value if isinstance(t, bool) or not isinstance(t, int) or not 0 < t <= _MAX_TOKEN
    ]
    if bad:
        raise _MessageError(
            f"invalid instrument tokens {bad[:_SHOWN_TOKENS]!r}: "
            f"expected integers in [1, {_MAX_TOKEN}]"
        )
    return value


def _mode_value(value: object) -> tuple[TickerMode, list[int]]:
    if not isinstance(value, list) or len(value) != 2:
        raise _MessageError(f"invalid mode message: expected [mode, [token, ...]], got {value!r}")
    mode, tokens = value
    for known in MODES:
        if mode == known:
            return known, _tokens(tokens)
    raise _MessageError(f"invalid mode {mode!r}: expected one of {', '.join(MODES)}")
