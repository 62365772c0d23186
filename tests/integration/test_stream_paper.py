"""The streaming worker against the paper exchange through the real ``kiteconnect`` clients:
instruments and warm-up history over REST (``KiteConnect``), ticks over the WebSocket
(``KiteTicker``), the champion from a real MLflow store, proposals into the real SQLite store —
the paper path a user runs with ``kitepilot paper-exchange`` + ``kitepilot stream --paper``.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from bytewax.testing import run_main

from data_contracts.enums import Side
from data_contracts.feed import DeadLetter
from data_contracts.ids import InstrumentToken
from data_contracts.nse_calendar import NseCalendar
from data_contracts.timeutil import IST
from data_contracts.trading import Proposal
from execution.kite.login import paper_login
from execution.paper.app import (
    HISTORY_SESSIONS,
    ExchangeSettings,
    build_exchange,
    open_market,
    run_in_thread,
)
from execution.simulator.config import SimulatorConfig
from execution.simulator.source import SimulatedMarket
from execution.store import SqlStore
from models.live import OPTIONS_STRATEGY, ScoredPoint
from orchestration.broker_endpoints import BrokerEndpoints
from orchestration.stream_setup import FeedKind, StreamSpec, build_stream
from tests.stream_world import REPLAY_DAY, World, session_base, stream_world

pytestmark = pytest.mark.slow

API_KEY = "kitepilot_paper"
API_SECRET = "stream-secret"  # noqa: S105  # a test fixture, not a secret
WAIT = 120.0  # generous bound for the flow to score bars; never a timing assertion
SPEED = 240.0  # market seconds per wall second: four market minutes a second


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return stream_world(session_base(tmp_path_factory))


def test_flow_on_the_paper_exchange_scores_live_bars_with_the_real_kiteticker(
    world: World, tmp_path: Path
) -> None:
    tokens = world.equities()
    market = open_market("lake", REPLAY_DAY, seed=7, lake_root=world.root / "lake", tokens=tokens)
    exchange = build_exchange(
        market,
        ExchangeSettings(API_KEY, API_SECRET, heartbeat_seconds=0.5),
        database="sqlite://",
        starting_cash=1_000_000,
        speed=SPEED,
    )
    scored: list[ScoredPoint] = []
    refused: list[DeadLetter] = []

    def observe(batch: list[Any]) -> None:
        scored.extend(i for i in batch if isinstance(i, ScoredPoint))
        refused.extend(i for i in batch if isinstance(i, DeadLetter))

    with run_in_thread(exchange) as running:
        stop = threading.Event()
        spec = StreamSpec(
            config=world.config(tmp_path / "kitepilot.db"),
            feed=FeedKind.KITE,
            tokens=tuple(tokens),
            session=BrokerEndpoints(
                api_key=API_KEY,
                access_token=paper_login(running.url, API_KEY, API_SECRET),
                rest_root=running.url,
                ticker_root=running.ticker_url,
            ),
            stop=stop,
        )
        flow = build_stream(spec, observer=observe)
        worker = threading.Thread(
            target=run_main, args=(flow,), kwargs={"epoch_interval": timedelta(seconds=1)}
        )
        worker.start()
        deadline = time.monotonic() + WAIT
        while len({p.ts_event for p in scored}) < 10 and time.monotonic() < deadline:
            time.sleep(0.2)
        stop.set()
        worker.join(timeout=30)

    assert not worker.is_alive()
    assert len({p.ts_event for p in scored}) >= 10, "the flow should score ten minutes of bars"
    assert {p.instrument_token for p in scored} <= set(tokens)
    assert {p.model_version for p in scored} == {world.v1}
    days = {p.ts_event.astimezone(IST).date() for p in scored}
    assert days == {REPLAY_DAY}  # market time is the exchange's, not the wall clock's
    assert refused == []
    with SqlStore.open(f"sqlite:///{tmp_path / 'kitepilot.db'}") as store:
        workers = store.latest_metrics()
    assert sum(m.get("ticks", 0) for m in workers.values()) > 100


NIFTY = 256265


def test_flow_on_a_simulated_paper_session_proposes_a_long_nifty_option(
    world: World, tmp_path: Path
) -> None:
    # The simulator's session: NIFTY and its options near the money tick (the lake holds no
    # option ticks); far strikes and the stocks are left out to keep the exchange light.
    calendar = NseCalendar.default()
    simulated = SimulatedMarket(
        SimulatorConfig.ending(REPLAY_DAY, HISTORY_SESSIONS, 7, calendar), calendar
    )
    opening = calendar.session(REPLAY_DAY).open
    before = simulated.candles(
        InstrumentToken(NIFTY), opening - timedelta(days=5), opening, timedelta(minutes=1)
    )
    spot = float(before["close"][-1])
    near = [
        int(i.instrument_token)
        for i in simulated.instruments(REPLAY_DAY)
        if i.is_option and i.strike is not None and abs(i.strike / spot - 1) <= 0.03
    ]
    market = open_market("sim", REPLAY_DAY, seed=7, tokens=[NIFTY, *near])
    exchange = build_exchange(
        market,
        ExchangeSettings(API_KEY, API_SECRET, heartbeat_seconds=0.5),
        database="sqlite://",
        starting_cash=1_000_000,
        # A market minute a second: ~200 instruments' quotes and the flow share this process's
        # GIL, and a loaded CI machine must not starve the exchange's loop.
        speed=60.0,
    )
    proposals: list[Proposal] = []

    def observe(batch: list[Any]) -> None:
        proposals.extend(i for i in batch if isinstance(i, Proposal))

    with run_in_thread(exchange) as running:
        stop = threading.Event()
        spec = StreamSpec(
            # Room for one NIFTY lot: 65 x premium x 40 % stop is more than the default ₹500.
            config=world.config(
                tmp_path / "kitepilot.db",
                CAPITAL="1000000",
                RISK__PER_TRADE_RISK="5000",
                RISK__DAILY_LOSS_LIMIT="10000",
                # On a loaded machine a quiet second is not a dead feed.
                LOOPS__FEED_SILENCE_SECONDS="60",
            ),
            feed=FeedKind.KITE,
            tokens=(NIFTY,),
            session=BrokerEndpoints(
                api_key=API_KEY,
                access_token=paper_login(running.url, API_KEY, API_SECRET),
                rest_root=running.url,
                ticker_root=running.ticker_url,
            ),
            stop=stop,
        )
        worker = threading.Thread(
            target=run_main,
            args=(build_stream(spec, observer=observe),),
            kwargs={"epoch_interval": timedelta(seconds=1)},
        )
        worker.start()
        deadline = time.monotonic() + 2 * WAIT
        while not proposals and time.monotonic() < deadline:
            time.sleep(0.2)
        stop.set()
        worker.join(timeout=30)

    assert proposals, "a NIFTY bar should clear the test model's bar and buy an option"
    first = proposals[0]
    assert first.strategy_id == OPTIONS_STRATEGY
    assert first.tradingsymbol.startswith("NIFTY")
    assert first.tradingsymbol[-2:] in ("CE", "PE")
    assert first.side is Side.BUY
    assert first.lots >= 1
    assert first.lot_size == 65
    assert first.stop_loss < first.limit_price < first.take_profit
    assert len(proposals) == 1  # the 48 h F&O cool-down holds off the next one
