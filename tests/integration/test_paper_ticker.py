"""The ticker endpoint over real sockets: aiohttp clients for the server's own rules, then the REAL
``kiteconnect.KiteTicker`` for subscribe/mode/ticks, order updates, heartbeats and reconnects.

Twisted's reactor cannot be restarted in a process, so every ``KiteTicker`` test lives in this
module and shares one client (module fixture); nothing here calls ``KiteTicker.stop()``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from execution.paper.ticker_codec import HEARTBEAT, TickerMode, encode_packet, split_frame
from execution.paper.ticker_hub import TickerHub
from execution.paper.types import DepthLevel, KiteApiError, Quote
from execution.paper.ws import SentFrame, TickerBroadcaster, ticker_handler

API_KEY = "kitepilot_paper"
TOKEN = "paper-access-token"  # noqa: S105  # a made-up test session, not a secret
USER = "PAPER1"
INFY = 408065
T0 = datetime(2026, 8, 18, 4, 0, 5, tzinfo=UTC)
WAIT = 15.0  # generous upper bound for anything to happen; never a timing assertion

R = TypeVar("R")


def authenticate(api_key: str, access_token: str) -> str | None:
    if api_key == API_KEY and access_token == TOKEN:
        return USER
    if access_token == "expired":  # noqa: S105  # a test value, not a secret
        raise KiteApiError("TokenException", "Token is invalid or has expired.", 403)
    return None


def quote(last_price: float = 1573.7, token: int = INFY) -> Quote:
    return Quote(
        instrument_token=token,
        ts_event=T0,
        last_price=last_price,
        last_quantity=7,
        last_trade_time=T0,
        average_price=1570.37,
        volume=1192471,
        buy_quantity=256443,
        sell_quantity=363009,
        open=1569.15,
        high=1575.0,
        low=1561.05,
        close=1567.8,
        oi=0,
        bids=(DepthLevel(1573.4, 5, 1), DepthLevel(1573.0, 140, 2)),
        asks=(DepthLevel(1573.7, 172, 3),),
    )


@dataclass
class ScriptedFaults:
    """Hand-written fault hooks: drop the next N publishes' connections, stall for S seconds."""

    drops: int = 0
    stall: float = 0.0

    def drop_ws(self) -> bool:
        if self.drops > 0:
            self.drops -= 1
            return True
        return False

    def stall_ws_seconds(self) -> float:
        stall, self.stall = self.stall, 0.0
        return stall


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


# -- the server's own rules, with aiohttp's client -------------------------------------------


@asynccontextmanager
async def serving(broadcaster: TickerBroadcaster) -> AsyncIterator[TestServer]:
    app = web.Application()
    app.router.add_get("/", broadcaster.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield server
    finally:
        await broadcaster.close()
        await server.close()


def run(coro: Coroutine[Any, Any, R]) -> R:
    return asyncio.run(coro)


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("", 403, "Incorrect `api_key` or `access_token`."),
        (f"?api_key={API_KEY}&access_token=wrong", 403, "Incorrect `api_key` or `access_token`."),
        (f"?api_key={API_KEY}&access_token=expired", 403, "Token is invalid or has expired."),
    ],
)
def test_ticker_handler_bad_credentials_refused_before_upgrade(
    query: str, status: int, message: str
) -> None:
    async def scenario() -> tuple[int, dict[str, Any], int]:
        broadcaster = ticker_handler(TickerHub(), authenticate)
        async with serving(broadcaster) as server, aiohttp.ClientSession() as session:
            try:
                await session.ws_connect(server.make_url("/" + query))
            except aiohttp.WSServerHandshakeError as exc:
                refused = exc.status
            else:
                pytest.fail("the upgrade was accepted")
            async with session.get(server.make_url("/" + query)) as response:
                return refused, await response.json(), len(broadcaster.connection_ids)

    refused, body, connections = run(scenario())

    assert refused == status
    assert body == {"status": "error", "message": message, "error_type": "TokenException"}
    assert connections == 0


def test_ticker_handler_plain_get_with_valid_credentials_is_bad_request() -> None:
    async def scenario() -> tuple[int, dict[str, Any]]:
        async with (
            serving(ticker_handler(TickerHub(), authenticate)) as server,
            aiohttp.ClientSession() as session,
            session.get(server.make_url(f"/?api_key={API_KEY}&access_token={TOKEN}")) as response,
        ):
            return response.status, await response.json()

    status, body = run(scenario())

    assert status == 400
    assert body["error_type"] == "InputException"


def test_ticker_handler_extra_params_ignored_and_bad_message_answered_with_error() -> None:
    async def scenario() -> tuple[dict[str, Any], dict[int, TickerMode]]:
        hub = TickerHub()
        url = f"/?api_key={API_KEY}&access_token={TOKEN}&uid=1723456789000"
        async with (
            serving(ticker_handler(hub, authenticate)) as server,
            aiohttp.ClientSession() as session,
            session.ws_connect(server.make_url(url)) as ws,
        ):
            await ws.send_str("{not json")
            reply = await ws.receive_json(timeout=WAIT)
            await ws.send_str(json.dumps({"a": "subscribe", "v": [INFY]}))
            await ws.send_str(json.dumps({"a": "mode", "v": ["full", [INFY]]}))
            await ws.send_str("{}")  # a round trip: the two messages above are applied
            await ws.receive_json(timeout=WAIT)
            (conn_id,) = hub.connections
            return reply, hub.subscriptions(conn_id)

    reply, subscriptions = run(scenario())

    assert reply["type"] == "error"
    assert "not JSON" in reply["data"]
    assert subscriptions == {INFY: "full"}


async def _receive_non_heartbeat(ws: aiohttp.ClientWebSocketResponse) -> aiohttp.WSMessage:
    while True:
        message = await ws.receive(timeout=WAIT)
        if message.type != aiohttp.WSMsgType.BINARY or message.data != HEARTBEAT:
            return message


def test_broadcaster_stall_sends_nothing_for_the_stall_then_resumes() -> None:
    faults = ScriptedFaults()
    sent: list[SentFrame] = []
    stall = 0.5

    async def scenario() -> tuple[list[bytes], float]:
        hub = TickerHub()
        broadcaster = ticker_handler(
            hub, authenticate, faults, heartbeat_seconds=0.05, observer=sent.append
        )
        async with (
            serving(broadcaster) as server,
            aiohttp.ClientSession() as session,
            session.ws_connect(server.make_url(f"/?api_key={API_KEY}&access_token={TOKEN}")) as ws,
        ):
            await ws.send_str(json.dumps({"a": "subscribe", "v": [INFY]}))
            await ws.send_str("{}")
            await _receive_non_heartbeat(ws)  # the error reply: subscribed
            faults.stall = stall
            started = time.monotonic()
            await broadcaster.publish([quote(1573.7)])  # lost in the stall
            while time.monotonic() - started < stall:
                await asyncio.sleep(0.05)
            await broadcaster.publish([quote(1574.0)])
            message = await _receive_non_heartbeat(ws)
            return split_frame(message.data), started

    packets, started = run(scenario())

    assert packets == [encode_packet(quote(1574.0), "quote")]
    before = [f.at for f in sent if f.at < started]
    after = [f.at for f in sent if f.at >= started]
    assert before
    assert after
    assert after[0] - started >= stall  # nothing, not even a heartbeat, during the stall


def test_broadcaster_client_too_far_behind_is_dropped() -> None:
    async def scenario() -> tuple[aiohttp.WSMsgType, tuple[str, ...]]:
        hub = TickerHub()
        broadcaster = ticker_handler(hub, authenticate, max_queued_frames=2)
        async with (
            serving(broadcaster) as server,
            aiohttp.ClientSession() as session,
            session.ws_connect(server.make_url(f"/?api_key={API_KEY}&access_token={TOKEN}")) as ws,
        ):
            await ws.send_str(json.dumps({"a": "subscribe", "v": [INFY]}))
            await ws.send_str("{}")
            await _receive_non_heartbeat(ws)
            for price in (1573.0, 1573.05, 1573.1, 1573.15):  # no await in between: no sends
                await broadcaster.publish([quote(price)])
            while True:
                message = await ws.receive(timeout=WAIT)
                if message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    return message.type, broadcaster.connection_ids

    _, connections = run(scenario())

    assert connections == ()


def test_publish_order_update_reaches_only_that_users_connections() -> None:
    users = {"token-a": "USER_A", "token-b": "USER_B"}

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        broadcaster = ticker_handler(TickerHub(), lambda _key, token: users.get(token))
        async with serving(broadcaster) as server, aiohttp.ClientSession() as session:
            a = await session.ws_connect(server.make_url("/?api_key=k&access_token=token-a"))
            b = await session.ws_connect(server.make_url("/?api_key=k&access_token=token-b"))
            while len(broadcaster.connection_ids) < 2:
                await asyncio.sleep(0.01)
            await broadcaster.publish_order_update("USER_A", {"order_id": "1", "status": "OPEN"})
            await broadcaster.publish_order_update("USER_B", {"order_id": "2", "status": "OPEN"})
            got_a = json.loads((await _receive_non_heartbeat(a)).data)
            got_b = json.loads((await _receive_non_heartbeat(b)).data)
            await a.close()
            await b.close()
            return got_a, got_b

    got_a, got_b = run(scenario())

    assert got_a == {"type": "order", "data": {"order_id": "1", "status": "OPEN"}}
    assert got_b == {"type": "order", "data": {"order_id": "2", "status": "OPEN"}}


# -- the real KiteTicker against a server running in a thread --------------------------------


class ServerThread:
    """An aiohttp app with the ticker at ``/``, its event loop in a daemon thread."""

    def __init__(self, heartbeat_seconds: float) -> None:
        self.hub = TickerHub()
        self.faults = ScriptedFaults()
        self.refusals = 0  # refuse this many next handshakes (as a server that is down would)
        self.sent: list[SentFrame] = []
        self.broadcaster = ticker_handler(
            self.hub,
            self._authenticate,
            self.faults,
            heartbeat_seconds=heartbeat_seconds,
            observer=self.sent.append,
        )
        self.loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self.port = 0
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.run(self._start())

    def _authenticate(self, api_key: str, access_token: str) -> str | None:
        if self.refusals > 0:
            self.refusals -= 1
            return None
        return authenticate(api_key, access_token)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/", self.broadcaster.handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def run(self, coro: Coroutine[Any, Any, R]) -> R:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(WAIT)

    def call(self, fn: Callable[[], R]) -> R:
        """Run ``fn`` on the server's loop (the hub is only touched from there)."""

        async def wrapped() -> R:
            return fn()

        return self.run(wrapped())

    def stop(self) -> None:
        if self._runner is not None:
            self.run(self.broadcaster.close())
            self.run(self._runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)

    def subscriptions(self) -> dict[str, dict[int, str]]:
        return self.call(lambda: {c: dict(self.hub.subscriptions(c)) for c in self.hub.connections})


@dataclass
class ClientLog:
    """What the KiteTicker callbacks saw (they run on the reactor thread)."""

    ticks: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)
    orders: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)
    heartbeats: int = 0
    connects: int = 0
    reconnects: list[int] = field(default_factory=list)


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    server = ServerThread(heartbeat_seconds=0.2)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def kite(server: ServerThread) -> Iterator[ClientLog]:
    from kiteconnect import KiteTicker
    from twisted.internet import reactor, threads

    log = ClientLog()
    ticker = KiteTicker(API_KEY, TOKEN, root=f"ws://127.0.0.1:{server.port}", reconnect_max_delay=5)

    def on_connect(ws: KiteTicker, _response: object) -> None:
        log.connects += 1
        if log.connects == 1:  # later connects: the client resubscribes by itself
            ws.subscribe([INFY])
            ws.set_mode(ws.MODE_FULL, [INFY])

    def on_message(_ws: KiteTicker, payload: bytes, is_binary: bool) -> None:
        if is_binary and payload == HEARTBEAT:
            log.heartbeats += 1

    def on_ticks(_ws: KiteTicker, ticks: list[dict[str, Any]]) -> None:
        for tick in ticks:
            log.ticks.put(tick)

    ticker.on_connect = on_connect
    ticker.on_ticks = on_ticks
    ticker.on_message = on_message
    ticker.on_order_update = lambda _ws, data: log.orders.put(data)
    ticker.on_reconnect = lambda _ws, attempt: log.reconnects.append(attempt)
    if reactor.running:  # another module started it: connect from the reactor's thread
        threads.blockingCallFromThread(reactor, ticker.connect, threaded=True)
    else:
        ticker.connect(threaded=True)
    wait_until(lambda: {INFY: "full"} in server.subscriptions().values(), "subscribe + full mode")
    yield log
    reactor.callFromThread(ticker.close)


def drain(q: queue.Queue[dict[str, Any]]) -> None:
    while not q.empty():
        q.get_nowait()


def test_kite_ticker_full_mode_receives_decoded_quote(
    server: ServerThread, kite: ClientLog
) -> None:
    drain(kite.ticks)

    server.run(server.broadcaster.publish([quote(1573.7)]))
    tick = kite.ticks.get(timeout=WAIT)

    assert tick["mode"] == "full"
    assert (tick["instrument_token"], tick["last_price"], tick["last_traded_quantity"]) == (
        INFY,
        1573.7,
        7,
    )
    assert tick["ohlc"] == {"open": 1569.15, "high": 1575.0, "low": 1561.05, "close": 1567.8}
    assert tick["exchange_timestamp"].timestamp() == T0.timestamp()
    assert tick["depth"]["buy"][:2] == [
        {"quantity": 5, "price": 1573.4, "orders": 1},
        {"quantity": 140, "price": 1573.0, "orders": 2},
    ]
    assert tick["depth"]["sell"][0] == {"quantity": 172, "price": 1573.7, "orders": 3}


def test_kite_ticker_order_update_arrives_via_on_order_update(
    server: ServerThread, kite: ClientLog
) -> None:
    drain(kite.orders)
    other = {"order_id": "2", "status": "OPEN"}
    ours = {"order_id": "1953341975595868160", "status": "COMPLETE", "filled_quantity": 65}

    server.run(server.broadcaster.publish_order_update("SOMEONE_ELSE", other))
    server.run(server.broadcaster.publish_order_update(USER, ours))

    assert kite.orders.get(timeout=WAIT) == ours


def test_kite_ticker_idle_connection_gets_heartbeats_at_most_2s_apart(
    server: ServerThread, kite: ClientLog
) -> None:
    (conn_id,) = server.call(lambda: server.broadcaster.connection_ids)
    mark = len(server.sent)
    received = kite.heartbeats

    wait_until(lambda: sum(f.kind == "heartbeat" for f in server.sent[mark:]) >= 5, "heartbeats")
    wait_until(lambda: kite.heartbeats >= received + 5, "heartbeats at the client")

    sends = [f for f in server.sent[mark:] if f.conn_id == conn_id]
    gaps = [b.at - a.at for a, b in itertools.pairwise(sends)]
    assert all(f.kind == "heartbeat" and f.size == 1 for f in sends)
    assert max(gaps) <= 2.0  # Kite's bound; the server is configured for 0.2 s


def test_kite_ticker_server_drop_reconnects_and_resubscribes(
    server: ServerThread, kite: ClientLog
) -> None:
    # pykiteconnect calls on_reconnect for retries after a failed attempt, so the first
    # reconnection attempt is refused (403), as if the server were still coming back.
    (old,) = server.call(lambda: server.broadcaster.connection_ids)
    server.refusals = 1
    server.faults.drops = 1

    server.run(server.broadcaster.publish([quote(1573.7)]))
    wait_until(lambda: kite.reconnects == [1], "on_reconnect after the refused attempt")
    wait_until(
        lambda: any(c != old and s == {INFY: "full"} for c, s in server.subscriptions().items()),
        "the client's resubscribe on a new connection",
    )
    drain(kite.ticks)
    server.run(server.broadcaster.publish([quote(1580.5)]))

    assert kite.ticks.get(timeout=WAIT)["last_price"] == 1580.5
    assert kite.connects == 2  # on_connect subscribed once; the resubscribe was the client's own
    assert old not in server.call(lambda: server.broadcaster.connection_ids)
