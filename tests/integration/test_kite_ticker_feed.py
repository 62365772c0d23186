"""``TickerFeed`` end to end: a real ``kiteconnect.KiteTicker`` against the paper exchange running
in a thread, logged in through the exchange's session flow. Ticks of the subscribed instruments
arrive as ``Tick``s with UTC event times; a stalled socket is cut by the watchdog and a dropped
one is reopened by the client's auto-reconnect, and ticks resume on the new connection.

Twisted's reactor runs once per process: feeds are closed (``TickerFeed.close``), never stopped,
and a later feed connects from the running reactor. Market time is stepped by the admin clock
endpoint (speed 0), so what is published, and when, is the test's choice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from kiteconnect import KiteConnect

from data_contracts.clock import SystemClock
from data_contracts.feed import DeadLetter
from data_contracts.market import Tick
from data_contracts.timeutil import IST, UTC
from execution.kite.ticker import TickerFeed
from execution.kite.ticks import TickParser
from execution.paper.app import (
    ExchangeSettings,
    RunningExchange,
    build_exchange,
    open_market,
    run_in_thread,
)
from execution.paper.rest import ADMIN_HEADER

pytestmark = pytest.mark.slow

DAY = date(2026, 8, 18)  # a trading Tuesday
API_KEY = "kitepilot_paper"
API_SECRET = "feed-secret"  # noqa: S105  # a test fixture, not a secret
ADMIN = "feed-admin"
INFY, NIFTY = 408065, 256265
SESSION_OPEN = datetime(2026, 8, 18, 9, 15, tzinfo=IST)
WAIT = 20.0  # generous upper bound for anything to happen; never a timing assertion
POLL = 0.05  # wall seconds between polls (each moves the market 5 s: ~1.5 h of market in WAIT)


class Paper:
    """A running paper exchange, a session on it, and the admin levers: market time, faults."""

    def __init__(self, running: RunningExchange) -> None:
        self.running = running
        self.url = running.url
        self.market = datetime(2026, 8, 18, 9, 30, tzinfo=IST)
        self.access_token = self._login()
        self._admin("/_paper/clock", {"jump_to": self.market.strftime("%Y-%m-%d %H:%M:%S")})

    def _login(self) -> str:
        response = requests.get(
            f"{self.url}/connect/login",
            params={"api_key": API_KEY, "v": "3"},
            allow_redirects=False,
            timeout=5,
        )
        request_token = parse_qs(urlsplit(response.headers["Location"]).query)["request_token"][0]
        session = KiteConnect(API_KEY, root=self.url).generate_session(
            request_token, api_secret=API_SECRET
        )
        return str(session["access_token"])

    def _admin(self, path: str, body: dict[str, Any]) -> None:
        response = requests.put(
            self.url + path, json=body, headers={ADMIN_HEADER: ADMIN}, timeout=10
        )
        assert response.status_code == 200, response.text

    def advance(self, seconds: float = 5.0) -> None:
        """Move market time on; the exchange publishes each instrument's latest quote."""
        self.market += timedelta(seconds=seconds)
        self._admin("/_paper/clock", {"jump_to": self.market.strftime("%Y-%m-%d %H:%M:%S")})

    def faults(self, plan: dict[str, Any]) -> None:
        self._admin("/_paper/faults", plan)

    def ticker_connections(self) -> int:
        async def count() -> int:
            return len(self.running.exchange.ticker.connection_ids)

        return self.running.call(count())


@pytest.fixture
def paper() -> Iterator[Paper]:
    market = open_market("sim", DAY, seed=7, tokens=[INFY, NIFTY])
    exchange = build_exchange(
        market,
        ExchangeSettings(
            API_KEY, API_SECRET, admin_token=ADMIN, step_seconds=0.05, heartbeat_seconds=0.5
        ),
        database="sqlite://",
        starting_cash=1_000_000,
        speed=0,
    )
    with run_in_thread(exchange) as running:
        yield Paper(running)


@pytest.fixture
def start_feed(paper: Paper) -> Iterator[Callable[..., TickerFeed]]:
    feeds: list[TickerFeed] = []

    def start(**overrides: Any) -> TickerFeed:
        values: dict[str, Any] = {
            "api_key": API_KEY,
            "access_token": paper.access_token,
            "root": paper.running.ticker_url,
            "tokens": [INFY, NIFTY],
            "parser": TickParser([INFY, NIFTY], source="paper"),
            "clock": SystemClock(),
        }
        feed = TickerFeed(**(values | overrides))
        feeds.append(feed)
        feed.start()
        return feed

    yield start
    for feed in feeds:
        feed.close()


def wait_until(condition: Callable[[], bool], what: str, step: Callable[[], None]) -> None:
    """Poll ``condition``, calling ``step`` (e.g. moving the market) between polls."""
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        step()
        time.sleep(POLL)


def collect(
    feed: TickerFeed, paper: Paper, enough: Callable[[list[Tick | DeadLetter]], bool], what: str
) -> list[Tick | DeadLetter]:
    """Drain the feed while moving the market on, until ``enough`` of what arrived."""
    items: list[Tick | DeadLetter] = []

    def step() -> None:
        paper.advance()
        items.extend(feed.drain())

    wait_until(lambda: enough(items), what, step)
    return items


def tokens_of(items: list[Tick | DeadLetter]) -> set[int | None]:
    return {item.instrument_token for item in items if isinstance(item, Tick)}


def test_ticker_feed_paper_ticks_become_utc_ticks_of_the_subscribed_tokens(
    paper: Paper, start_feed: Callable[..., TickerFeed]
) -> None:
    feed = start_feed()

    items = collect(feed, paper, lambda got: tokens_of(got) == {INFY, NIFTY}, "INFY and NIFTY")

    ticks = [item for item in items if isinstance(item, Tick)]
    assert ticks == items  # nothing refused
    assert all(t.ts_event.tzinfo is UTC for t in ticks)
    assert all(SESSION_OPEN <= t.ts_event <= paper.market for t in ticks)  # IST → UTC, once
    index = next(t for t in ticks if t.instrument_token == NIFTY)
    stock = next(t for t in ticks if t.instrument_token == INFY)
    assert (index.bid, index.ask, index.volume) == (None, None, 0)
    assert stock.bid is not None
    assert stock.ask is not None
    assert stock.volume > 0
    stats = feed.stats
    assert (stats["connects"], stats["dead_letters"]) == (1, 0)
    assert stats["ticks"] >= len(ticks)  # more may have arrived since the last drain


def test_ticker_feed_stalled_socket_is_cut_by_the_watchdog_and_ticks_resume(
    paper: Paper, start_feed: Callable[..., TickerFeed]
) -> None:
    clock = SystemClock()
    feed = start_feed(clock=clock, silence_seconds=1.0, liquid_tokens=[INFY])
    collect(feed, paper, lambda got: INFY in tokens_of(got), "a first INFY tick")

    paper.faults({"ws": {"stall": 1.0, "stall_seconds": 120}})  # every publish: go silent
    wait_until(
        lambda: feed.watchdog(clock.now()), "the watchdog to cut the silent socket", paper.advance
    )
    paper.faults({})
    wait_until(lambda: feed.stats["connects"] == 2, "the reconnect", paper.advance)
    feed.drain()
    resumed = collect(feed, paper, lambda got: INFY in tokens_of(got), "INFY ticks again")

    assert INFY in tokens_of(resumed)
    stats = feed.stats
    assert (stats["watchdog_reconnects"], stats["reconnects"], stats["disconnects"]) == (1, 1, 1)
    assert feed.connected


def test_ticker_feed_dropped_socket_reconnects_resubscribes_and_ticks_resume(
    paper: Paper, start_feed: Callable[..., TickerFeed]
) -> None:
    feed = start_feed()
    collect(feed, paper, lambda got: INFY in tokens_of(got), "a first INFY tick")

    paper.faults({"schedule": [{"route": "ws", "nth": 1, "fault": "ws_drop"}]})
    wait_until(lambda: feed.stats["reconnects"] == 1, "the client's auto-reconnect", paper.advance)
    feed.drain()
    resumed = collect(feed, paper, lambda got: tokens_of(got) == {INFY, NIFTY}, "ticks again")

    assert tokens_of(resumed) == {INFY, NIFTY}
    stats = feed.stats
    assert (stats["watchdog_reconnects"], stats["disconnects"]) == (0, 1)

    feed.close()

    wait_until(
        lambda: not feed.connected and paper.ticker_connections() == 0,
        "the socket to close",
        paper.advance,
    )
