"""A hand-written in-memory broker behind the ``Broker`` port, for the executor's unit tests.

It keeps orders by tag and fills by trade id like Kite does, and can be told, send by send, to
misbehave the ways a real broker does: accept and lose the answer, answer nothing and do
nothing, refuse as busy, reject. Integration tests use the real paper exchange instead.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from data_contracts.enums import OrderStatus, Product
from data_contracts.ids import ClientTag, OrderId, TradeId
from data_contracts.ports import Clock
from data_contracts.trading import Fill, OrderEvent, OrderIntent, Position
from execution.kite.broker import (
    BrokerUnavailable,
    OrderOutcomeUnknown,
    OrderRejected,
    SessionExpired,
)

# What the next place_order does (consumed one per call; empty: accept normally).
LOSE_ANSWER = "lose_answer"  # accepted, then the response is lost (OrderOutcomeUnknown)
DROP = "drop"  # nothing done, and no answer (OrderOutcomeUnknown)
BUSY = "busy"  # 429: nothing done (BrokerUnavailable)
REJECT = "reject"  # refused (OrderRejected)
EXPIRED = "expired"  # token gone (SessionExpired)


@dataclass
class FakeBroker:
    clock: Clock
    margin: float = 1_000_000.0
    prices: dict[int, float] = field(default_factory=dict)
    script: deque[str] = field(default_factory=deque)
    lookups_fail: bool = False
    session_ok: bool = True
    placed: list[OrderIntent] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    price_reads: int = 0  # quote calls: Kite allows one a second
    _orders: dict[str, OrderEvent] = field(default_factory=dict)
    _intents: dict[str, OrderIntent] = field(default_factory=dict)
    _fills: list[Fill] = field(default_factory=list)
    _extra_positions: list[Position] = field(default_factory=list)
    # The dashboard's browser test drives one broker from two threads (its executor and the
    # screen's): every method holds this lock, as a real broker serialises its own book.
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # -- the port ------------------------------------------------------------------------

    def _place_order_unlocked(self, intent: OrderIntent) -> OrderId:
        action = self.script.popleft() if self.script else None
        if action == BUSY:
            raise BrokerUnavailable("HTTP 429 Too many requests", 429)
        if action == REJECT:
            raise OrderRejected("Insufficient funds", 400)
        if action == EXPIRED:
            raise SessionExpired("Incorrect api_key or access_token", 403)
        if action == DROP:
            raise OrderOutcomeUnknown("read timed out")
        order_id = OrderId(f"{len(self._orders) + 1:08d}")
        self.placed.append(intent)
        self._intents[intent.client_tag.value] = intent
        self._orders[intent.client_tag.value] = self._event(intent, order_id, OrderStatus.OPEN)
        if action == LOSE_ANSWER:
            raise OrderOutcomeUnknown("connection closed after the request was sent")
        return order_id

    def _cancel_order_unlocked(self, order_id: OrderId) -> None:
        for tag, event in self._orders.items():
            if event.order_id == order_id and not event.is_final:
                self._orders[tag] = replace(event, status=OrderStatus.CANCELLED)
                self.cancelled.append(tag)

    def _order_by_tag_unlocked(self, tag: ClientTag) -> OrderEvent | None:
        if self.lookups_fail:
            raise BrokerUnavailable("connection refused")
        return self._orders.get(tag.value)

    def _orders_unlocked(self) -> Sequence[OrderEvent]:
        if self.lookups_fail:
            raise BrokerUnavailable("connection refused")
        return list(self._orders.values())

    def _order_history_unlocked(self, order_id: OrderId) -> Sequence[OrderEvent]:
        return [e for e in self._orders.values() if e.order_id == order_id]

    def _fills_unlocked(self) -> Sequence[Fill]:
        if self.lookups_fail:
            raise BrokerUnavailable("connection refused")
        return list(self._fills)

    def _positions_unlocked(self) -> Sequence[Position]:
        book: dict[tuple[int, Product], Position] = {}
        for position in self._extra_positions:
            book[(position.instrument_token, position.product)] = position
        for fill in self._fills:
            key = (fill.instrument_token, fill.product)
            symbol = (
                self._intents[fill.client_tag.value].tradingsymbol
                if fill.client_tag and fill.client_tag.value in self._intents
                else str(fill.instrument_token)
            )
            book.setdefault(key, Position(fill.instrument_token, symbol, fill.product))
            book[key] = book[key].apply(replace(fill, charges=0.0))
        return [p for p in book.values() if not p.is_flat]

    def available_margin(self) -> float:
        return self.margin

    def last_prices(self, tokens: Iterable[int]) -> Mapping[int, float]:
        self.price_reads += 1
        return {t: self.prices[t] for t in tokens if t in self.prices}

    def profile_ok(self) -> bool:
        return self.session_ok

    def latency_p95_ms(self) -> float | None:
        return 12.0

    # -- driving it ----------------------------------------------------------------------

    def _fill_unlocked(
        self, tag: str, quantity: int | None = None, price: float | None = None
    ) -> Fill:
        """Execute (part of) the order with ``tag`` at ``price`` (default: its limit)."""
        intent, event = self._intents[tag], self._orders[tag]
        quantity = quantity or intent.quantity - event.filled_quantity
        price = price or float(intent.price or 0.0)
        done = event.filled_quantity + quantity
        average = (event.average_price * event.filled_quantity + price * quantity) / done
        status = OrderStatus.COMPLETE if done == intent.quantity else OrderStatus.OPEN
        self._orders[tag] = replace(
            event,
            status=status,
            filled_quantity=done,
            average_price=average,
            ts_event=self.clock.now(),
        )
        fill = Fill(
            trade_id=TradeId(f"T{len(self._fills) + 1}"),
            order_id=event.order_id or OrderId("0"),
            client_tag=intent.client_tag,
            instrument_token=intent.instrument_token,
            side=intent.side,
            product=intent.product,
            quantity=quantity,
            price=price,
            ts_event=self.clock.now(),
            ts_init=self.clock.now(),
        )
        self._fills.append(fill)
        return fill

    def _add_outside_trade_unlocked(self, fill: Fill) -> None:
        """A trade the user made in the Kite app (no tag of ours)."""
        self._fills.append(fill)

    def _add_carried_position_unlocked(self, position: Position) -> None:
        self._extra_positions.append(position)

    def _order_unlocked(self, tag: str) -> OrderEvent:
        return self._orders[tag]

    def _event(self, intent: OrderIntent, order_id: OrderId, status: OrderStatus) -> OrderEvent:
        now: datetime = self.clock.now()
        return OrderEvent(
            client_tag=intent.client_tag,
            order_id=order_id,
            status=status,
            ts_event=now,
            ts_init=now,
            quantity=intent.quantity,
        )

    # -- the locked surface ----------------------------------------------------------------

    def place_order(self, intent: OrderIntent) -> OrderId:
        with self._lock:
            return self._place_order_unlocked(intent)

    def cancel_order(self, order_id: OrderId) -> None:
        with self._lock:
            return self._cancel_order_unlocked(order_id)

    def order_by_tag(self, tag: ClientTag) -> OrderEvent | None:
        with self._lock:
            return self._order_by_tag_unlocked(tag)

    def orders(self) -> Sequence[OrderEvent]:
        with self._lock:
            return self._orders_unlocked()

    def order_history(self, order_id: OrderId) -> Sequence[OrderEvent]:
        with self._lock:
            return self._order_history_unlocked(order_id)

    def fills(self) -> Sequence[Fill]:
        with self._lock:
            return self._fills_unlocked()

    def positions(self) -> Sequence[Position]:
        with self._lock:
            return self._positions_unlocked()

    def fill(self, tag: str, quantity: int | None = None, price: float | None = None) -> Fill:
        with self._lock:
            return self._fill_unlocked(tag, quantity, price)

    def add_outside_trade(self, fill: Fill) -> None:
        with self._lock:
            return self._add_outside_trade_unlocked(fill)

    def add_carried_position(self, position: Position) -> None:
        with self._lock:
            return self._add_carried_position_unlocked(position)

    def order(self, tag: str) -> OrderEvent:
        with self._lock:
            return self._order_unlocked(tag)
