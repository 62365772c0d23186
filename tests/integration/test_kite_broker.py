"""``KiteBroker`` and ``OrderUpdateFeed`` end to end: the real ``kiteconnect`` client and ticker
against the paper exchange in a thread, with faults scheduled at exact request counts.

The market stands still (speed 0) unless a test moves it, so a marketable LIMIT fills on arrival
against the current book and nothing else happens behind the test's back. Twisted's reactor runs
once per process: feeds are closed, never stopped (see ``execution/kite/ticker.py``).
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests

from data_contracts.charges import ChargesModel
from data_contracts.clock import SystemClock
from data_contracts.enums import Exchange, OrderStatus, OrderType, Product, Side
from data_contracts.errors import ContractError
from data_contracts.ids import ClientTag, OrderId
from data_contracts.pricegrid import round_for_side
from data_contracts.trading import OrderEvent, OrderIntent
from execution.kite.broker import (
    BrokerUnavailable,
    KiteBroker,
    OrderOutcomeUnknown,
    SessionExpired,
    kite_broker,
)
from execution.kite.login import paper_login
from execution.kite.order_updates import OrderUpdateFeed
from execution.paper.app import (
    ExchangeSettings,
    RunningExchange,
    build_exchange,
    open_market,
    run_in_thread,
)
from execution.paper.rest import ADMIN_HEADER
from tests.factories import order_intent

DAY = date(2026, 8, 18)  # a trading Tuesday
API_KEY = "kitepilot_paper"
API_SECRET = "broker-secret"  # noqa: S105 - a test fixture, not a secret
ADMIN = "broker-admin"
INFY = 408065
TIMEOUT = 0.5  # the client's HTTP timeout; the "timeout" fault holds the answer longer
WAIT = 15.0  # generous upper bound for anything to happen; never a timing assertion


class SteppingClock:
    """The exchange's rate-limit clock: one second per reading, so no test trips a limit."""

    def __init__(self) -> None:
        self._now = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        self._now += timedelta(seconds=1.01)
        return self._now


class Paper:
    """A running exchange, a broker logged in to it, and the admin levers."""

    def __init__(self, running: RunningExchange) -> None:
        self.running = running
        self.access_token = paper_login(running.url, API_KEY, API_SECRET)
        self.broker = self.broker_with(TIMEOUT)
        self.admin("PUT", "/_paper/clock", {"jump_to": f"{DAY} 09:30:00"})

    def broker_with(self, timeout: float) -> KiteBroker:
        return kite_broker(
            API_KEY,
            self.access_token,
            clock=SystemClock(),
            root=self.running.url,
            timeout=timeout,
            charges=ChargesModel.default(),
            symbols={INFY: ("NSE", "INFY")},
        )

    def admin(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = requests.request(
            method,
            self.running.url + path,
            json=body,
            headers={ADMIN_HEADER: ADMIN},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return dict(response.json()["data"])

    def fault(self, nth: int, fault: str, **extra: Any) -> None:
        entry = {"route": "order_place", "nth": nth, "fault": fault} | extra
        self.admin("PUT", "/_paper/faults", {"schedule": [entry]})

    def buy_infy(self, tag: str, quantity: int = 3) -> OrderIntent:
        """A marketable LIMIT BUY of INFY (1 % through the last price): fills on arrival."""
        last = self.broker.last_prices([INFY])[INFY]
        price = round_for_side(Decimal(str(last)) * Decimal("1.01"), Decimal("0.05"), Side.BUY)
        return order_intent(
            client_tag=ClientTag(tag),
            instrument_token=INFY,
            exchange=Exchange.NSE,
            tradingsymbol="INFY",
            quantity=quantity,
            lot_size=1,
            order_type=OrderType.LIMIT,
            product=Product.MIS,
            price=float(price),
        )

    def tagged(self, tag: str) -> list[OrderEvent]:
        return [e for e in self.broker.orders() if e.client_tag == ClientTag(tag)]


@pytest.fixture
def paper() -> Iterator[Paper]:
    market = open_market("sim", DAY, seed=11, tokens=[INFY])
    exchange = build_exchange(
        market,
        ExchangeSettings(API_KEY, API_SECRET, admin_token=ADMIN, step_seconds=0.02),
        database="sqlite://",
        starting_cash=1_000_000,
        speed=0,
        limiter_clock=SteppingClock(),
    )
    with run_in_thread(exchange) as running:
        yield Paper(running)


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


# --- the happy path -----------------------------------------------------------------------------


def test_broker_limit_order_fills_and_fills_positions_and_tag_agree(paper: Paper) -> None:
    intent = paper.buy_infy("happy1", quantity=3)

    order_id = paper.broker.place_order(intent)
    found = paper.broker.order_by_tag(ClientTag("happy1"))
    fills = paper.broker.fills()
    positions = paper.broker.positions()

    assert found is not None
    assert (found.order_id, found.status, found.filled_quantity) == (
        order_id,
        OrderStatus.COMPLETE,
        3,
    )
    ours = [f for f in fills if f.order_id == order_id]
    assert sum(f.quantity for f in ours) == 3
    assert {f.client_tag for f in ours} == {ClientTag("happy1")}
    assert intent.price is not None
    assert all(f.charges > 0 and f.price <= intent.price for f in ours)
    (infy,) = [p for p in positions if p.instrument_token == INFY]
    assert (infy.product, infy.quantity) == (Product.MIS, 3)
    paid = sum(f.price * f.quantity for f in ours) / 3
    assert infy.average_price == pytest.approx(paid, abs=0.01)
    assert [s.status for s in paper.broker.order_history(order_id)][-1] is OrderStatus.COMPLETE


def test_broker_reads_margin_prices_session_and_latency_from_the_paper_exchange(
    paper: Paper,
) -> None:
    margin = paper.broker.available_margin()
    prices = paper.broker.last_prices([INFY])
    ok = paper.broker.profile_ok()

    assert 0 < margin <= 1_000_000
    assert prices[INFY] > 0
    assert ok is True
    p95 = paper.broker.latency_p95_ms()
    assert p95 is not None
    assert p95 > 0


def test_broker_after_logout_session_is_expired(paper: Paper) -> None:
    requests.delete(
        paper.running.url + "/session/token",
        params={"api_key": API_KEY, "access_token": paper.access_token},
        headers={"X-Kite-Version": "3"},
        timeout=10,
    )

    assert paper.broker.profile_ok() is False
    with pytest.raises(SessionExpired):
        paper.broker.orders()


# --- faults on placement ------------------------------------------------------------------------


def test_broker_lost_response_is_unknown_and_the_tag_finds_exactly_one_order(paper: Paper) -> None:
    intent = paper.buy_infy("lost1")
    paper.fault(1, "lost_response")

    with pytest.raises(OrderOutcomeUnknown, match="look the order up by its tag"):
        paper.broker.place_order(intent)

    assert [e.status for e in paper.tagged("lost1")] == [OrderStatus.COMPLETE]
    assert paper.broker.order_by_tag(ClientTag("lost1")) is not None


def test_broker_timeout_after_acceptance_is_unknown_and_the_tag_finds_exactly_one_order(
    paper: Paper,
) -> None:
    intent = paper.buy_infy("timeout1")
    paper.fault(1, "timeout", seconds=TIMEOUT * 3)

    with pytest.raises(OrderOutcomeUnknown) as caught:
        paper.broker.place_order(intent)

    assert isinstance(caught.value.__cause__, requests.Timeout)
    assert len(paper.tagged("timeout1")) == 1


@pytest.mark.parametrize(
    ("fault", "raised"),
    [
        ("http_429", BrokerUnavailable),  # definite: retry later is safe
        ("http_503", OrderOutcomeUnknown),  # conservative: the lookup shows nothing was placed
        ("http_500", OrderOutcomeUnknown),
        ("http_502", OrderOutcomeUnknown),
    ],
)
def test_broker_error_fault_on_place_is_classified_and_no_order_exists(
    paper: Paper, fault: str, raised: type[Exception]
) -> None:
    intent = paper.buy_infy(f"err{fault[-3:]}")
    paper.fault(1, fault)

    with pytest.raises(raised):
        paper.broker.place_order(intent)

    assert paper.broker.order_by_tag(intent.client_tag) is None


def test_broker_injected_reject_ends_rejected_with_the_reason(paper: Paper) -> None:
    intent = paper.buy_infy("reject1")
    paper.fault(1, "reject", reason="margin")

    order_id = paper.broker.place_order(intent)

    found = paper.broker.order_by_tag(ClientTag("reject1"))
    assert found is not None
    assert (found.order_id, found.status, found.filled_quantity) == (
        order_id,
        OrderStatus.REJECTED,
        0,
    )
    assert "Insufficient funds" in found.status_message
    assert not [f for f in paper.broker.fills() if f.order_id == order_id]


def test_broker_partial_fill_shows_the_partial_fill_and_the_order_still_working(
    paper: Paper,
) -> None:
    intent = paper.buy_infy("partial1", quantity=10)
    paper.fault(1, "partial_fill")

    order_id = paper.broker.place_order(intent)

    found = paper.broker.order_by_tag(ClientTag("partial1"))
    fills = [f for f in paper.broker.fills() if f.order_id == order_id]
    assert found is not None
    assert (found.status, found.filled_quantity, found.pending_quantity) == (
        OrderStatus.OPEN,
        5,
        5,
    )
    assert sum(f.quantity for f in fills) == 5
    (infy,) = [p for p in paper.broker.positions() if p.instrument_token == INFY]
    assert infy.quantity == 5
    paper.broker.cancel_order(order_id)
    cancelled = paper.broker.order_by_tag(ClientTag("partial1"))
    assert cancelled is not None
    assert (cancelled.status, cancelled.filled_quantity) == (OrderStatus.CANCELLED, 5)


# --- order updates over the WebSocket ---------------------------------------------------------


def _statuses(updates: queue.Queue[OrderEvent], order_id: OrderId) -> list[OrderStatus]:
    seen: list[OrderStatus] = []
    deadline = time.monotonic() + WAIT
    while not seen or not seen[-1].is_final:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            pytest.fail(f"no final update of {order_id} (saw {seen})")
        event = updates.get(timeout=remaining)
        if event.order_id == order_id:
            seen.append(event.status)
    return seen


def _drop_ticker_connections(paper: Paper) -> None:
    """What the ``ws_drop`` fault does (abort the socket, no close handshake), done to every
    ticker connection: the fault only hits connections that are sent quotes, and the order
    feed subscribes to none."""
    broadcaster = paper.running.exchange.ticker

    async def drop() -> None:
        for conn_id in broadcaster.connection_ids:
            broadcaster._drop(broadcaster._connections[conn_id])

    paper.running.call(drop())


def test_order_update_feed_gets_open_then_complete_and_keeps_receiving_after_a_drop(
    paper: Paper,
) -> None:
    updates: queue.Queue[OrderEvent] = queue.Queue()
    feed = OrderUpdateFeed(
        API_KEY, paper.access_token, paper.running.ticker_url, SystemClock(), updates.put
    )
    feed.start()
    try:
        wait_until(lambda: feed.connected, "the feed to connect")
        first = paper.broker.place_order(paper.buy_infy("wsfeed1"))
        before = _statuses(updates, first)

        _drop_ticker_connections(paper)
        wait_until(lambda: feed.reconnects >= 1 and feed.connected, "the feed to reconnect")
        second = paper.broker.place_order(paper.buy_infy("wsfeed2"))
        after = _statuses(updates, second)
    finally:
        feed.close()

    assert OrderStatus.OPEN in before
    assert before.index(OrderStatus.OPEN) < before.index(OrderStatus.COMPLETE)
    assert before[-1] is OrderStatus.COMPLETE
    assert after[-1] is OrderStatus.COMPLETE
    assert feed.stats["updates"] == len(before) + len(after)
    assert feed.stats["invalid"] == 0
    assert not feed.connected


def test_order_update_feed_rejected_order_arrives_final_with_the_reason(paper: Paper) -> None:
    updates: queue.Queue[OrderEvent] = queue.Queue()
    feed = OrderUpdateFeed(
        API_KEY, paper.access_token, paper.running.ticker_url, SystemClock(), updates.put
    )
    feed.start()
    try:
        wait_until(lambda: feed.connected, "the feed to connect")
        paper.fault(1, "reject", reason="margin")
        order_id = paper.broker.place_order(paper.buy_infy("wsreject1"))
        statuses = _statuses(updates, order_id)
    finally:
        feed.close()

    assert statuses[-1] is OrderStatus.REJECTED
    assert OrderStatus.COMPLETE not in statuses


def test_order_update_feed_start_twice_is_refused() -> None:
    feed = OrderUpdateFeed(API_KEY, "token", "ws://127.0.0.1:9", SystemClock(), lambda _e: None)
    feed.close()

    with pytest.raises(ContractError, match="once"):
        feed.start()
