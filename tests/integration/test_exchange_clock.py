"""``ExchangeClock`` against a real paper exchange over HTTP: it reads the market time, carries it
forward at the reported speed between reads, never goes back, and survives a failed read.

The exchange's replay clock and the ``ExchangeClock`` share one wall counter the test moves, so
market times are exact."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import requests

from data_contracts.errors import ContractError
from data_contracts.timeutil import IST, UTC
from execution.paper.app import (
    ExchangeSettings,
    RunningExchange,
    build_exchange,
    open_market,
    run_in_thread,
)
from execution.paper.exchange_clock import ExchangeClock
from execution.paper.rest import ADMIN_HEADER

DAY = date(2026, 8, 18)
START = datetime(2026, 8, 18, 10, 0, tzinfo=IST).astimezone(UTC)
ADMIN = "clock-admin"
NEVER = 1e9  # a refresh interval no test reaches: the clock reads only when it is built


class Wall:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.seconds = 1_000.0

    def __call__(self) -> float:
        return self.seconds


@dataclass
class Exchange:
    running: RunningExchange
    wall: Wall

    @property
    def url(self) -> str:
        return self.running.url

    def speed(self, speed: float) -> None:
        answer = requests.put(
            f"{self.url}/_paper/clock",
            json={"speed": speed},
            headers={ADMIN_HEADER: ADMIN},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text

    def clock(self, refresh: float) -> ExchangeClock:
        return ExchangeClock(self.url, ADMIN, refresh=refresh, wall=self.wall)


@pytest.fixture
def exchange() -> Iterator[Exchange]:
    wall = Wall()
    paper = build_exchange(
        open_market("sim", DAY, seed=7, tokens=[408065]),
        ExchangeSettings("kitepilot_paper", "secret", admin_token=ADMIN),
        database="sqlite://",
        starting_cash=100_000,
        speed=60,  # a market minute per wall second
        start=START,
        wall=wall,
    )
    with run_in_thread(paper) as running:
        yield Exchange(running, wall)


def test_reads_the_market_time_and_carries_it_forward_at_the_reported_speed(
    exchange: Exchange,
) -> None:
    clock = exchange.clock(refresh=NEVER)
    first = clock.now()
    exchange.speed(0)  # the exchange pauses; this clock does not read again
    exchange.wall.seconds += 10

    assert first == START
    assert clock.speed == 60
    assert clock.now() == START + timedelta(minutes=10)


def test_reads_again_after_the_refresh_interval(exchange: Exchange) -> None:
    clock = exchange.clock(refresh=1.0)
    exchange.wall.seconds += 5
    exchange.speed(0)  # paused at START + 5 min
    exchange.wall.seconds += 5  # the exchange stays there

    assert clock.now() == START + timedelta(minutes=5)
    assert clock.speed == 0
    exchange.wall.seconds += 30
    assert clock.now() == START + timedelta(minutes=5)


def test_never_goes_back_when_the_exchange_is_behind_what_it_handed_out(
    exchange: Exchange,
) -> None:
    clock = exchange.clock(refresh=5.0)
    exchange.wall.seconds += 2
    exchange.speed(0)  # the exchange pauses at START + 2 min
    exchange.wall.seconds += 2
    ahead = clock.now()  # no read yet: carried forward to START + 4 min
    exchange.wall.seconds += 2
    held = clock.now()  # read: the exchange says START + 2 min, paused
    exchange.speed(60)  # resumes from START + 2 min
    exchange.wall.seconds += 6
    caught_up = clock.now()  # read: START + 8 min

    assert ahead == START + timedelta(minutes=4)
    assert held == ahead
    assert caught_up == START + timedelta(minutes=8)


def test_a_failed_read_keeps_carrying_forward(exchange: Exchange) -> None:
    clock = exchange.clock(refresh=1.0)
    exchange.running.stop()
    exchange.wall.seconds += 3

    assert clock.now() == START + timedelta(minutes=3)


def test_an_exchange_that_does_not_answer_is_named_by_its_url(exchange: Exchange) -> None:
    port = urlsplit(exchange.url).port

    with pytest.raises(ContractError, match=rf"HTTP 403.*127\.0\.0\.1:{port}/_paper/clock"):
        ExchangeClock(exchange.url, "not-the-admin-token", wall=exchange.wall)
    exchange.running.stop()
    with pytest.raises(ContractError, match=rf"ConnectionError.*127\.0\.0\.1:{port}/_paper/clock"):
        ExchangeClock(exchange.url, ADMIN, wall=exchange.wall)
