"""Benchmark: the paper exchange under load (issue #5 acceptance).

Two cases, both over real sockets on 127.0.0.1::

    python -m bench.paper_exchange [orders|ticker|all]
    KITEPILOT_BENCH_ORDER_SECONDS=30 KITEPILOT_BENCH_TICKER_SECONDS=20 \
    KITEPILOT_BENCH_TICKER_INSTRUMENTS=3000 python -m bench.paper_exchange

1. **Orders.** The whole simulated market (every instrument of the simulator's universe) replayed
   at real speed from the session open, an exchange started with ``run_in_thread`` over a SQLite
   *file* in a temporary directory, the real ``kiteconnect.KiteConnect`` logged in through the
   real login flow (``/connect/login`` redirect, then ``generate_session`` with the checksum).
   It places LIMIT BUY MIS orders (quantity 1, 5 % below the last price, so they rest: every one
   must be OPEN at the end) at 10 a second for ``ORDER_SECONDS``, rotating over the NSE stocks,
   and times each ``place_order`` round trip (client call to order id, ``perf_counter``). Pacing
   is a client-side sliding window that cannot trip the server's: order ``i`` leaves no earlier
   than its slot ``t0 + i/10`` and no earlier than 1 s + 1 ms after the *answer* to order
   ``i - 10`` arrived (the server counted ``i - 10`` before answering it), so the rate is just
   under 10/s. A 429 or any other refusal makes the run invalid (exit code 1). The client and the
   exchange share one process (``run_in_thread``), so they also share the GIL.
2. **Ticker fan-out.** ``TICKER_INSTRUMENTS`` synthetic NFO instruments (full mode: 184-byte
   packets with five levels a side), one quote per instrument per second for ``TICKER_SECONDS``,
   published through the real :class:`~execution.paper.ws.TickerBroadcaster` (an aiohttp server
   on its own event loop in a thread) to the real ``kiteconnect.KiteTicker`` in a separate
   process (spawned; it subscribes and sets full mode itself and decodes every frame with its
   own parser). Reported: the time of ``publish`` per one-second batch (conflation, encoding and
   queueing; the send happens on the connection's writer task), the lag from the start of a
   batch's publish to the client's ``on_message`` (frame received) and ``on_ticks`` (frame
   decoded), both on ``CLOCK_MONOTONIC``, which Linux shares between processes, and whether the
   client kept up: frames received == frames sent, every frame complete, no drop or reconnect.

Method and results: docs/PERFORMANCE.md.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import multiprocessing
import os
import platform
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import parse_qs, urlsplit

import numpy as np
import requests
from aiohttp import web
from kiteconnect import KiteConnect

from execution.paper.app import ExchangeSettings, build_exchange, open_market, run_in_thread
from execution.paper.ticker_hub import TickerHub
from execution.paper.types import DepthLevel, Quote
from execution.paper.ws import SentFrame, ticker_handler

DAY: Final = date(2026, 8, 18)  # a trading Tuesday
SEED: Final = 7
API_KEY: Final = "kitepilot_paper"
ORDER_RATE: Final = 10  # orders a second (Kite's per-second limit)
ORDER_SECONDS: Final = 30
ORDER_TARGET_P99_MS: Final = 20.0
LIMIT_BELOW: Final = 0.95  # resting BUY limit at 95 % of the last price (the band is +-10 %)
TICKER_INSTRUMENTS: Final = 3000
TICKER_SECONDS: Final = 20
TICKER_TOKEN: Final = "bench-access-token"  # noqa: S105 - the bench's made-up session
TICKER_USER: Final = "BENCH1"
TICKER_T0: Final = datetime(2026, 8, 18, 4, 30, tzinfo=UTC)  # 10:00 IST
WAIT: Final = 60.0

_R = TypeVar("_R")


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value is None else int(value)


def _ms(seconds: Sequence[float] | np.ndarray) -> np.ndarray:
    return np.asarray(seconds, dtype=np.float64) * 1000.0


def _percentiles(values_ms: np.ndarray) -> str:
    p50, p95, p99 = np.percentile(values_ms, [50, 95, 99])
    return f"p50 {p50:.2f}  p95 {p95:.2f}  p99 {p99:.2f}  max {values_ms.max():.2f} ms"


# -- case 1: order acknowledgements ------------------------------------------------------------


@dataclass
class OrdersResult:
    latencies: np.ndarray  # seconds, one per place_order, in order
    span: float  # wall seconds from the first send to the last send
    statuses: dict[str, int]
    failures: list[str]
    instruments: int
    quotes_per_second: float

    @property
    def p99_ms(self) -> float:
        return float(np.percentile(_ms(self.latencies), 99)) if self.latencies.size else np.inf

    @property
    def valid(self) -> bool:
        return not self.failures and self.statuses == {"OPEN": int(self.latencies.size)}


def _login(kite: KiteConnect, url: str, api_secret: str) -> None:
    """Kite's login flow: the login URL redirects with a request token, exchanged for a session
    (``generate_session`` signs it with the api secret)."""
    response = requests.get(
        f"{url}/connect/login",
        params={"api_key": API_KEY, "v": "3"},
        allow_redirects=False,
        timeout=10,
    )
    response.raise_for_status()
    token = parse_qs(urlsplit(response.headers["Location"]).query)["request_token"][0]
    kite.generate_session(token, api_secret=api_secret)


def _tick(price: float) -> float:
    return round(round(price / 0.05) * 0.05, 2)


def run_orders(seconds: int) -> OrdersResult:
    count = seconds * ORDER_RATE
    started = time.perf_counter()
    market = open_market("sim", DAY, seed=SEED)
    print(f"orders: simulated market built in {time.perf_counter() - started:.1f} s")
    stocks = [
        i.tradingsymbol for i in market.instruments if i.exchange == "NSE" and i.segment == "NSE"
    ]
    api_secret = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="kitepilot-bench-") as tmp:
        database = f"sqlite:///{Path(tmp) / 'paper_exchange.db'}"
        exchange = build_exchange(
            market,
            ExchangeSettings(API_KEY, api_secret),
            database=database,
            starting_cash=10_000_000,
            speed=1.0,
        )
        released = [0]
        step = exchange.step

        async def counting_step() -> int:  # the market loop calls self.step(): count releases
            n = await step()
            released[0] += n
            return n

        exchange.step = counting_step  # type: ignore[method-assign]
        with run_in_thread(exchange) as running:
            kite = KiteConnect(API_KEY, root=running.url)
            _login(kite, running.url, api_secret)
            keys = [f"NSE:{s}" for s in stocks]
            limits: dict[str, float] = {}
            for _ in range(20):  # quote route: 1 request/s; wait until every stock has traded
                time.sleep(1.1)
                limits = {
                    key.removeprefix("NSE:"): _tick(quote["last_price"] * LIMIT_BELOW)
                    for key, quote in kite.ltp(*keys).items()
                }
                if len(limits) == len(stocks):
                    break
            stocks = [s for s in stocks if s in limits]
            time.sleep(1.1)  # the ltp calls must not share a second with the orders
            released_before = released[0]
            latencies = np.zeros(count)
            answered = np.zeros(count)
            sent_at = np.zeros(count)
            failures: list[str] = []
            t0 = time.perf_counter()
            for i in range(count):
                not_before = t0 + i / ORDER_RATE
                if i >= ORDER_RATE:
                    not_before = max(not_before, answered[i - ORDER_RATE] + 1.001)
                delay = not_before - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                symbol = stocks[i % len(stocks)]
                sent = sent_at[i] = time.perf_counter()
                try:
                    kite.place_order(
                        variety="regular",
                        exchange="NSE",
                        tradingsymbol=symbol,
                        transaction_type="BUY",
                        quantity=1,
                        product="MIS",
                        order_type="LIMIT",
                        price=limits[symbol],
                    )
                except Exception as failure:  # every refusal is reported, none is retried
                    failures.append(f"order {i}: {type(failure).__name__}: {failure}")
                answered[i] = time.perf_counter()
                latencies[i] = answered[i] - sent
            span = float(sent_at[-1] - sent_at[0])  # count - 1 intervals between sends
            quotes = released[0] - released_before
            statuses: dict[str, int] = {}
            for order in kite.orders():
                statuses[order["status"]] = statuses.get(order["status"], 0) + 1
    return OrdersResult(latencies, span, statuses, failures, len(market.instruments), quotes / span)


# -- case 2: ticker fan-out --------------------------------------------------------------------


def _tokens(n: int) -> list[int]:
    """NFO (segment 2) instrument tokens, as Kite builds them: exchange token << 8 | segment."""
    return [((60_000 + i) << 8) | 2 for i in range(n)]


def _batch(tokens: Sequence[int], second: int) -> list[Quote]:
    """One quote per instrument; ``last_quantity`` carries the batch number (1-based) so the
    client can tell which publish a frame belongs to."""
    ts = TICKER_T0 + timedelta(seconds=second)
    quotes = []
    for n, token in enumerate(tokens):
        last = 100.0 + (n % 400) * 0.5 + (second % 7) * 0.05
        bids = tuple(
            DepthLevel(round(last - 0.05 * (k + 1), 2), 75 * (k + 1), k + 1) for k in range(5)
        )
        asks = tuple(
            DepthLevel(round(last + 0.05 * (k + 1), 2), 75 * (k + 2), k + 2) for k in range(5)
        )
        quotes.append(
            Quote(
                instrument_token=token,
                ts_event=ts,
                last_price=last,
                last_quantity=second + 1,
                last_trade_time=ts,
                average_price=last - 0.5,
                volume=1_000_000 + 750 * second,
                buy_quantity=75 * 15,
                sell_quantity=75 * 20,
                open=last - 1.0,
                high=last + 2.0,
                low=last - 3.0,
                close=last - 0.75,
                oi=500_000 + n,
                oi_day_high=510_000 + n,
                oi_day_low=490_000 + n,
                bids=bids,
                asks=asks,
            )
        )
    return quotes


class _TickerServer:
    """The real ticker endpoint on an aiohttp server, its event loop in a daemon thread."""

    def __init__(self) -> None:
        self.hub = TickerHub()
        self.sent: list[SentFrame] = []
        self.broadcaster = ticker_handler(
            self.hub, self._authenticate, heartbeat_seconds=1.0, observer=self.sent.append
        )
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self._runner: web.AppRunner | None = None
        self.port = self.run(self._start())

    @staticmethod
    def _authenticate(api_key: str, access_token: str) -> str | None:
        return TICKER_USER if (api_key, access_token) == (API_KEY, TICKER_TOKEN) else None

    async def _start(self) -> int:
        app = web.Application()
        app.router.add_get("/", self.broadcaster.handle)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        return int(self._runner.addresses[0][1])

    def run(self, work: Coroutine[Any, Any, _R], timeout: float = WAIT) -> _R:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    def full_subscriptions(self) -> int:
        async def count() -> int:
            return sum(
                1
                for conn in self.hub.connections
                for mode in self.hub.subscriptions(conn).values()
                if mode == "full"
            )

        return self.run(count())

    def stop(self) -> None:
        if self._runner is not None:
            self.run(self.broadcaster.close())
            self.run(self._runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)


def _ticker_client(port: int, tokens: list[int], pipe: Connection) -> None:
    """The client process: the real KiteTicker, full mode on ``tokens``; every binary frame is
    recorded as (received, decoded, packets, batch numbers seen). Runs until told the count of
    frames that were sent, then reports."""
    from kiteconnect import KiteTicker

    frames: list[tuple[float, float, int, int, int]] = []
    events: dict[str, int] = {"connects": 0, "closes": 0, "errors": 0, "reconnects": 0}
    received_at = [0.0]
    ticker = KiteTicker(API_KEY, TICKER_TOKEN, root=f"ws://127.0.0.1:{port}")

    def on_connect(ws: Any, _response: object) -> None:
        events["connects"] += 1
        if events["connects"] == 1:
            ws.subscribe(tokens)
            ws.set_mode(ws.MODE_FULL, tokens)

    def on_message(_ws: Any, payload: bytes, is_binary: bool) -> None:
        if is_binary and len(payload) > 4:
            received_at[0] = time.monotonic()

    def on_ticks(_ws: Any, ticks: list[dict[str, Any]]) -> None:
        decoded = time.monotonic()
        batches = {tick["last_traded_quantity"] for tick in ticks}
        full = sum(1 for tick in ticks if tick["mode"] == "full" and len(tick["depth"]["buy"]))
        frames.append((received_at[0], decoded, full, min(batches), max(batches)))

    def count(name: str) -> Any:
        def callback(*_args: object) -> None:
            events[name] += 1

        return callback

    ticker.on_connect = on_connect
    ticker.on_message = on_message
    ticker.on_ticks = on_ticks
    ticker.on_close = count("closes")
    ticker.on_error = count("errors")
    ticker.on_reconnect = count("reconnects")
    ticker.connect(threaded=True)
    expected = int(pipe.recv())
    deadline = time.monotonic() + 30
    while len(frames) < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # anything beyond the expected count shows up too
    pipe.send({"frames": list(frames), "events": dict(events)})
    pipe.close()
    os._exit(0)  # the reactor thread is not restartable or stoppable cleanly from here


@dataclass
class TickerResult:
    instruments: int
    publish: np.ndarray  # seconds per batch
    frames_sent: int
    frames: list[tuple[float, float, int, int, int]]
    publish_started: list[float]
    events: dict[str, int]
    still_connected: bool
    frame_bytes: int
    writer_wait: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def received_lag(self) -> np.ndarray:
        return np.array([r - self.publish_started[lo - 1] for r, _, _, lo, _ in self.frames])

    @property
    def decoded_lag(self) -> np.ndarray:
        return np.array([d - self.publish_started[lo - 1] for _, d, _, lo, _ in self.frames])

    @property
    def complete(self) -> bool:
        return all(n == self.instruments and lo == hi for _, _, n, lo, hi in self.frames)

    @property
    def kept_up(self) -> bool:
        return (
            len(self.frames) == self.frames_sent == self.publish.size
            and self.complete
            and self.still_connected
            and self.events.get("reconnects", 0) == 0
            and self.events.get("closes", 0) == 0
        )


def run_ticker(instruments: int, seconds: int) -> TickerResult:
    tokens = _tokens(instruments)
    started = time.perf_counter()
    batches = [_batch(tokens, s) for s in range(seconds)]
    print(
        f"ticker: {seconds} batches x {instruments:,} quotes built in "
        f"{time.perf_counter() - started:.1f} s (not timed)"
    )
    server = _TickerServer()
    context = multiprocessing.get_context("spawn")
    parent_end, child_end = context.Pipe()
    client = context.Process(
        target=_ticker_client, args=(server.port, tokens, child_end), daemon=True
    )
    client.start()
    try:
        deadline = time.monotonic() + WAIT
        while server.full_subscriptions() < instruments:
            if time.monotonic() > deadline or not client.is_alive():
                raise SystemExit("ticker client never subscribed")
            time.sleep(0.1)
        publish_started: list[float] = []
        publish = np.zeros(seconds)

        async def publish_all() -> None:
            first = time.monotonic() + 0.5
            for second, quotes in enumerate(batches):
                await asyncio.sleep(max(0.0, first + second - time.monotonic()))
                begun = time.monotonic()
                await server.broadcaster.publish(quotes)
                publish[second] = time.monotonic() - begun
                publish_started.append(begun)

        server.run(publish_all(), timeout=seconds + WAIT)
        time.sleep(2.0)  # let the writer and the client finish the last frame
        ticks = [f for f in server.sent if f.kind == "ticks"]
        parent_end.send(len(ticks))
        if not parent_end.poll(WAIT):
            raise SystemExit("ticker client did not report")
        report = parent_end.recv()
        still_connected = len(server.broadcaster.connection_ids) == 1
    finally:
        client.join(timeout=10)
        server.stop()
    writer_wait = np.array(
        [f.at - publish_started[k] for k, f in enumerate(ticks) if k < len(publish_started)]
    )
    return TickerResult(
        instruments=instruments,
        publish=publish,
        frames_sent=len(ticks),
        frames=[tuple(f) for f in report["frames"]],
        publish_started=publish_started,
        events=report["events"],
        still_connected=still_connected,
        frame_bytes=ticks[0].size if ticks else 0,
        writer_wait=writer_wait,
    )


# -- the report --------------------------------------------------------------------------------


def main(args: Sequence[str] = ()) -> int:
    which = args[0] if args else "all"
    print(
        f"paper exchange bench — Python {platform.python_version()}, {os.cpu_count()} cores, "
        f"{dt.date.today()}"  # noqa: DTZ011 - a report label, not core logic
    )
    invalid = False
    if which in ("all", "orders"):
        seconds = _env_int("KITEPILOT_BENCH_ORDER_SECONDS", ORDER_SECONDS)
        orders = run_orders(seconds)
        n = orders.latencies.size
        print(
            f"orders: {n} LIMIT BUY MIS (resting) in {orders.span:.1f} s = "
            f"{(n - 1) / orders.span:.2f}/s; market: {orders.instruments} instruments replayed "
            f"at x1, {orders.quotes_per_second:.0f} quote updates/s; "
            f"final statuses {orders.statuses}"
        )
        print(f"orders: place_order round trip {_percentiles(_ms(orders.latencies))}")
        first = 1000 * float(orders.latencies[0])
        print(f"orders: first order {first:.2f} ms; refusals {len(orders.failures)}")
        for failure in orders.failures[:5]:
            print("  ", failure)
        met = orders.p99_ms <= ORDER_TARGET_P99_MS
        print(
            f"orders: p99 {orders.p99_ms:.2f} ms — target <= {ORDER_TARGET_P99_MS:.0f} ms "
            f"{'met' if met else 'MISSED'}"
        )
        if not orders.valid:
            print("orders: INVALID run (refused, or not every order resting)")
            invalid = True
    if which in ("all", "ticker"):
        instruments = _env_int("KITEPILOT_BENCH_TICKER_INSTRUMENTS", TICKER_INSTRUMENTS)
        seconds = _env_int("KITEPILOT_BENCH_TICKER_SECONDS", TICKER_SECONDS)
        ticker = run_ticker(instruments, seconds)
        print(
            f"ticker: {instruments:,} instruments full mode, {seconds} one-second batches, "
            f"frame {ticker.frame_bytes:,} bytes"
        )
        print(f"ticker: publish per batch {_percentiles(_ms(ticker.publish))}")
        if ticker.writer_wait.size:
            print(f"ticker: publish start -> writer sends {_percentiles(_ms(ticker.writer_wait))}")
        if ticker.frames:
            print(f"ticker: lag to client received {_percentiles(_ms(ticker.received_lag))}")
            print(f"ticker: lag to client decoded  {_percentiles(_ms(ticker.decoded_lag))}")
        print(
            f"ticker: frames sent {ticker.frames_sent}, received {len(ticker.frames)}, "
            f"all complete {ticker.complete}, still connected {ticker.still_connected}, "
            f"client events {ticker.events} — kept up: {'yes' if ticker.kept_up else 'NO'}"
        )
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
