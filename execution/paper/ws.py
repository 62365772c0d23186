"""The ticker's WebSocket endpoint (aiohttp): authentication, per-connection writers, heartbeats,
fan-out of quotes and order updates, and the ticker's fault hooks.

Wiring (the server does it)::

    broadcaster = ticker_handler(hub, authenticate, faults)
    app.router.add_get("/", broadcaster.handle)  # ws://host:port/?api_key=..&access_token=..
    await broadcaster.publish(quotes)      # from the market loop
    await broadcaster.publish_order_update(user_id, payload)
    await broadcaster.close()              # on shutdown

Each connection has one writer task fed by a bounded queue, so sends on a socket never
interleave and a publish never waits for a slow client. A client whose queue is full is dropped
(its socket aborted; pykiteconnect reconnects and resubscribes), as a real feed drops a consumer
that falls behind rather than buffering without bound. When nothing was sent for
``heartbeat_seconds`` the writer sends the 1-byte heartbeat (Kite: "every couple of seconds";
the JS client gives up after 5 s of silence).

Faults are asked once per connection per publish: ``drop_ws()`` aborts the socket (no close
handshake), ``stall_ws_seconds()`` > 0 makes the connection silent for that long: nothing is sent,
not even heartbeats, and what would have been sent meanwhile is discarded.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol

from aiohttp import WSMsgType, web

from data_contracts.validation import integer, positive
from execution.paper.ticker_codec import HEARTBEAT
from execution.paper.ticker_hub import TickerHub
from execution.paper.types import KiteApiError, Quote
from execution.paper.wire import error

__all__ = [
    "NO_FAULTS",
    "Authenticate",
    "NoWsFaults",
    "SentFrame",
    "TickerBroadcaster",
    "WsFaults",
    "ticker_handler",
]

log = logging.getLogger(__name__)

Authenticate = Callable[[str, str], str | None]
"""``(api_key, access_token) -> user_id``, or None when the pair is not a valid session. It may
also raise :class:`KiteApiError` (its status and message are returned to the client)."""

DEFAULT_HEARTBEAT_SECONDS: Final = 1.0
DEFAULT_MAX_QUEUED_FRAMES: Final = 256


class WsFaults(Protocol):
    """The fault decisions the ticker asks for (the server's fault injector implements them)."""

    def drop_ws(self) -> bool:
        """Drop this connection now (abort the socket)?"""
        ...

    def stall_ws_seconds(self) -> float:
        """Go silent on this connection for this many seconds (0 for no stall)."""
        ...


class NoWsFaults:
    """No faults: never drop, never stall."""

    def drop_ws(self) -> bool:
        return False

    def stall_ws_seconds(self) -> float:
        return 0.0


NO_FAULTS: Final = NoWsFaults()


@dataclass(frozen=True, slots=True)
class SentFrame:
    """One frame written to a client, for observers (tests, metrics): ``at`` is when the writer
    started sending it (the broadcaster's monotonic clock, seconds); ``size`` is in bytes."""

    conn_id: str
    user_id: str
    kind: Literal["heartbeat", "ticks", "text"]
    size: int
    at: float


@dataclass(eq=False, slots=True)
class _Connection:
    conn_id: str
    user_id: str
    request: web.Request
    ws: web.WebSocketResponse
    queue: asyncio.Queue[bytes | str]
    silent_until: float = 0.0
    writer: asyncio.Task[None] | None = field(default=None)

    def abort(self) -> None:
        transport = self.request.transport
        if transport is not None:
            transport.abort()


class TickerBroadcaster:
    """The ticker endpoint: :meth:`handle` is the aiohttp handler of ``GET /``, and the
    ``publish`` methods send to the connections it holds.

    ``authenticate`` checks the query's ``api_key`` and ``access_token`` before the upgrade: an
    invalid pair gets HTTP 403 with Kite's error envelope (``TokenException``), and the socket is
    never opened. Extra query parameters are ignored. Everything runs on the server's event loop.
    """

    def __init__(
        self,
        hub: TickerHub,
        authenticate: Authenticate,
        faults: WsFaults = NO_FAULTS,
        *,
        heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS,
        max_queued_frames: int = DEFAULT_MAX_QUEUED_FRAMES,
        observer: Callable[[SentFrame], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.hub = hub
        self._authenticate = authenticate
        self._faults = faults
        self.heartbeat_seconds = positive(
            "TickerBroadcaster", "heartbeat_seconds", heartbeat_seconds
        )
        self._max_queued = integer(
            "TickerBroadcaster", "max_queued_frames", max_queued_frames, minimum=1
        )
        self._observer = observer
        self._monotonic = monotonic
        self._ids = itertools.count(1)
        self._connections: dict[str, _Connection] = {}

    @property
    def connection_ids(self) -> tuple[str, ...]:
        return tuple(self._connections)

    def user_of(self, conn_id: str) -> str | None:
        connection = self._connections.get(conn_id)
        return None if connection is None else connection.user_id

    # -- the handler ---------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Serve one ticker connection until it closes."""
        user_id = self._user(request)
        if isinstance(user_id, web.Response):
            return user_id
        ws = web.WebSocketResponse(autoping=True)
        if not ws.can_prepare(request).ok:
            return error(
                KiteApiError("InputException", "Expected a WebSocket upgrade request.", 400)
            )
        await ws.prepare(request)
        conn_id = f"ws-{next(self._ids)}"
        connection = _Connection(
            conn_id, user_id, request, ws, asyncio.Queue(maxsize=self._max_queued)
        )
        self.hub.connect(conn_id)
        self._connections[conn_id] = connection
        connection.writer = asyncio.create_task(self._write(connection), name=f"ticker-{conn_id}")
        log.info("ticker connection %s opened for %s", conn_id, user_id)
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    for reply in self.hub.handle_text(conn_id, message.data):
                        self._enqueue(connection, reply)
                elif message.type == WSMsgType.ERROR:
                    break
        finally:
            self._forget(connection)
            connection.writer.cancel()
            (outcome,) = await asyncio.gather(connection.writer, return_exceptions=True)
            if isinstance(outcome, Exception):
                log.error("ticker writer of %s failed: %r", conn_id, outcome)
            log.info("ticker connection %s closed (code %s)", conn_id, ws.close_code)
        return ws

    def _user(self, request: web.Request) -> str | web.Response:
        api_key = request.query.get("api_key", "")
        access_token = request.query.get("access_token", "")
        invalid = KiteApiError(
            "TokenException", "Incorrect `api_key` or `access_token`.", http_status=403
        )
        if not api_key or not access_token:
            return error(invalid)
        try:
            user_id = self._authenticate(api_key, access_token)
        except KiteApiError as exc:
            return error(exc)
        return error(invalid) if user_id is None else user_id

    # -- publishing ----------------------------------------------------------------------------

    async def publish(self, quotes: Iterable[Quote]) -> None:
        """Send each subscribed connection one frame with its instruments' latest quotes."""
        frames = self.hub.frames_for(quotes)
        for conn_id, frame in frames.items():
            connection = self._connections.get(conn_id)
            if connection is not None and self._apply_faults(connection):
                self._enqueue(connection, frame)

    async def publish_order_update(self, user_id: str, payload: Mapping[str, object]) -> None:
        """Send an order update (``{"type": "order", "data": payload}``) to ``user_id``'s
        connections."""
        text = self.hub.order_update_text(payload)
        for connection in list(self._connections.values()):
            if connection.user_id == user_id:
                self._enqueue(connection, text)

    async def close(self) -> None:
        """Close every connection (server shutdown); clients see a normal close and reconnect."""
        for connection in list(self._connections.values()):
            await connection.ws.close(code=1001, message=b"server shutting down")

    def _apply_faults(self, connection: _Connection) -> bool:
        """Ask the fault hooks about this connection; False when it was dropped."""
        if self._faults.drop_ws():
            log.warning("fault: dropping ticker connection %s", connection.conn_id)
            self._drop(connection)
            return False
        stall = self._faults.stall_ws_seconds()
        if stall > 0:
            log.warning(
                "fault: stalling ticker connection %s for %.1f s", connection.conn_id, stall
            )
            connection.silent_until = max(connection.silent_until, self._monotonic() + stall)
        return True

    def _enqueue(self, connection: _Connection, item: bytes | str) -> None:
        if connection.conn_id not in self._connections:
            return
        try:
            connection.queue.put_nowait(item)
        except asyncio.QueueFull:
            log.warning(
                "ticker connection %s fell %d frames behind; dropping it",
                connection.conn_id,
                self._max_queued,
            )
            self._drop(connection)

    def _drop(self, connection: _Connection) -> None:
        self._forget(connection)
        connection.abort()

    def _forget(self, connection: _Connection) -> None:
        if self._connections.pop(connection.conn_id, None) is not None:
            self.hub.disconnect(connection.conn_id)

    # -- the writer ----------------------------------------------------------------------------

    async def _write(self, connection: _Connection) -> None:
        """Send queued frames in order; a heartbeat after ``heartbeat_seconds`` without a send."""
        ws = connection.ws
        while not ws.closed:
            silent_for = connection.silent_until - self._monotonic()
            if silent_for > 0:
                await asyncio.sleep(silent_for)
                _discard(connection.queue)
                continue
            try:
                item = await asyncio.wait_for(connection.queue.get(), self.heartbeat_seconds)
            except TimeoutError:
                item = HEARTBEAT
            now = self._monotonic()
            if connection.silent_until > now:
                continue  # a stall began while waiting: this item is lost with the rest
            try:
                if isinstance(item, str):
                    await ws.send_str(item)
                else:
                    await ws.send_bytes(item)
            except ConnectionError:
                self._drop(connection)
                return
            self._observe(connection, item, now)

    def _observe(self, connection: _Connection, item: bytes | str, at: float) -> None:
        if self._observer is None:
            return
        kind: Literal["heartbeat", "ticks", "text"]
        if isinstance(item, str):
            kind = "text"
        else:
            kind = "heartbeat" if item is HEARTBEAT else "ticks"
        self._observer(SentFrame(connection.conn_id, connection.user_id, kind, len(item), at))


def ticker_handler(
    hub: TickerHub,
    authenticate: Authenticate,
    faults: WsFaults = NO_FAULTS,
    *,
    heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS,
    max_queued_frames: int = DEFAULT_MAX_QUEUED_FRAMES,
    observer: Callable[[SentFrame], None] | None = None,
) -> TickerBroadcaster:
    """The ticker endpoint for ``hub``: route ``GET /`` to the returned broadcaster's
    :meth:`~TickerBroadcaster.handle` and publish through it."""
    return TickerBroadcaster(
        hub,
        authenticate,
        faults,
        heartbeat_seconds=heartbeat_seconds,
        max_queued_frames=max_queued_frames,
        observer=observer,
    )


def _discard(queue: asyncio.Queue[bytes | str]) -> None:
    while True:
        try:
            queue.get_nowait()
        except asyncio.QueueEmpty:
            return
