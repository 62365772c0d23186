"""The paper exchange proper: orders, matching and the account of one user, behind one lock.

:class:`PaperVenue` takes Kite's order forms (``place``/``modify``/``cancel``), matches working
orders against the latest quote of each instrument (``on_quote``), runs the clock-driven events
(``on_time``: TTL expiry, MIS auto square-off, end of session) and answers Kite's read endpoints
with JSON-ready dicts whose times are IST ``"YYYY-MM-DD HH:MM:SS"`` strings. Every state change
is appended to the :class:`~execution.paper.store.VenueStore` in one transaction per call and
reported to the listeners (a postback-shaped payload) after the lock is released.

It is synchronous and does no IO except through the store; the server calls it from the asyncio
loop, tests from threads. Rules and simplifications: ``docs/paper-exchange.md``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from data_contracts.enums import OrderStatus, OrderType
from execution.paper.accounts import (
    ist_day,
)
from execution.paper.engine import (
    WORKING,
    Listener,
    Operation,
    VenueEngine,
    VenueFaults,
)
from execution.paper.matching import (
    Book,
    decimal_price,
    triggered,
)
from execution.paper.orders import (
    VenueRules,
    check_order_fields,
    check_variety,
    input_error,
    parse_modify,
    parse_place,
)
from execution.paper.portfolio import (
    holdings_rows,
    position_rows,
)
from execution.paper.statements import (
    contract_note_row,
    order_margin_row,
    segment_margins,
)
from execution.paper.types import Quote

__all__ = ["PaperVenue", "VenueFaults", "VenueRules"]


class PaperVenue(VenueEngine):
    """A Kite-compatible exchange for one user (see the module doc). Construct with
    ``PaperVenue(instruments=..., charges=..., calendar=..., clock=..., store=...,
    starting_cash=..., user_id="PAPER1", rules=VenueRules(), api_secret="", app_id=0,
    faults=None)``; it restores orders, trades and cash from ``store``."""

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener`` with a postback-shaped payload on every order state change."""
        with self._lock:
            self._listeners.append(listener)

    @contextmanager
    def _operation(self) -> Iterator[None]:
        with self._lock:
            self._op = op = Operation()
            try:
                yield
            finally:
                self._store.append(order_states=op.states, trades=op.trades, ledger=op.ledger)
            listeners = list(self._listeners)
        for payload in op.events:
            for listener in listeners:
                listener(payload)

    # --- orders --------------------------------------------------------------------------------

    def place(self, variety: str, params: Mapping[str, str]) -> str:
        """Place a ``regular`` order from Kite's form; returns the order id. Bad input raises
        ``InputException``; RMS refusals give a REJECTED order (with ``status_message``)."""
        with self._operation():
            request = parse_place(variety, params, self._instruments)
            now = self._clock.now()
            self._check_market_hours(now)
            return self._submit(self._new_record(request, now), request.instrument, now)

    def modify(self, variety: str, order_id: str, params: Mapping[str, str]) -> str:
        with self._operation():
            change = parse_modify(variety, params)
            record = self._latest(order_id)
            if record.status not in WORKING:
                raise input_error(f"Order cannot be modified as it is {record.status.value}.")
            if record.modifications >= self._rules.max_modifications:
                raise input_error(
                    "Maximum allowed order modifications exceeded "
                    f"({self._rules.max_modifications}); cancel and place a new order."
                )
            now = self._clock.now()
            instrument = self._instrument_of(record)
            updated = replace(
                record,
                quantity=change.quantity if change.quantity is not None else record.quantity,
                price=change.price if change.price is not None else record.price,
                trigger_price=(
                    change.trigger_price
                    if change.trigger_price is not None
                    else record.trigger_price
                ),
                order_type=change.order_type or record.order_type,
                validity=change.validity or record.validity,
                disclosed_quantity=(
                    change.disclosed_quantity
                    if change.disclosed_quantity is not None
                    else record.disclosed_quantity
                ),
                market_protection=(
                    change.market_protection
                    if change.market_protection is not None
                    else record.market_protection
                ),
            )
            if updated.quantity < record.filled_quantity:
                raise input_error(
                    f"Invalid `quantity`: {updated.quantity} is below the filled quantity "
                    f"{record.filled_quantity}."
                )
            check_order_fields(
                instrument,
                order_type=updated.order_type,
                validity=updated.validity,
                validity_ttl=updated.validity_ttl,
                quantity=updated.quantity,
                price=updated.price,
                trigger_price=updated.trigger_price,
                market_protection=updated.market_protection,
            )
            updated = self._price_market(updated, instrument)
            problem = self._rms.check(updated, instrument, self._context(exclude=order_id))
            if problem is not None:
                raise input_error(problem.message)
            updated = replace(updated, margin_per_unit=self._margin_per_unit(updated))
            self._append(replace(record, status=OrderStatus.MODIFY_VALIDATION_PENDING))
            self._append(replace(record, status=OrderStatus.MODIFY_PENDING))
            self._append(
                replace(
                    updated,
                    status=OrderStatus.MODIFIED,
                    modified=True,
                    modifications=record.modifications + 1,
                    exchange_update_timestamp=now,
                )
            )
            current = self._latest(order_id)
            stop = updated.order_type in (OrderType.SL, OrderType.SL_M)
            pending = stop and record.status is OrderStatus.TRIGGER_PENDING
            if current.quantity == current.filled_quantity:
                self._append(replace(current, status=OrderStatus.COMPLETE))
            elif pending:
                self._append(replace(current, status=OrderStatus.TRIGGER_PENDING))
            else:
                self._work(self._append(replace(current, status=OrderStatus.OPEN)), now, True)
            return order_id

    def cancel(self, variety: str, order_id: str) -> str:
        with self._operation():
            check_variety(variety)
            record = self._latest(order_id)
            if record.is_final:
                raise input_error(f"Order cannot be cancelled as it is {record.status.value}.")
            self._cancel(record, self._clock.now())
            return order_id

    # --- market and time -----------------------------------------------------------------------

    def on_quote(self, quote: Quote) -> None:
        """The latest market state of one instrument: trigger stops, fill what it crosses."""
        with self._operation():
            book = Book(quote)
            self._books[quote.instrument_token] = book
            now = self._clock.now()
            last = decimal_price(quote.last_price)
            for order_id in list(self._working.get(quote.instrument_token, {})):
                record = self._latest(order_id)
                if record.status is OrderStatus.TRIGGER_PENDING:
                    if triggered(record.side, record.trigger_price, last):
                        self._work(self._trigger(record, last, now), now, True)
                elif record.status is OrderStatus.OPEN:
                    self._work(record, now, False)

    def on_time(self, now: datetime) -> None:
        """Clock events up to ``now``: TTL expiry, MIS square-off (15:20 equity, 15:25 F&O from
        the calendar), and the end of the session (working orders are cancelled)."""
        with self._operation():
            for record in self._working_records():
                if record.expires_at is not None and now >= record.expires_at:
                    self._cancel(record, now)
            self._square_off(now)
            for record in self._working_records():
                session = self._calendar.session(ist_day(record.order_timestamp))
                if session is None or now >= session.close:
                    self._cancel(record, now)

    def last_quote(self, token: int) -> Quote | None:
        with self._lock:
            return self._quote(token)

    # --- reads ---------------------------------------------------------------------------------

    def orders(self) -> list[dict[str, Any]]:
        """Today's orders (IST day of the clock), latest state each, in placement order."""
        with self._lock:
            today = self._today()
            return [
                states[-1].to_kite()
                for states in self._history.values()
                if ist_day(states[-1].order_timestamp) == today
            ]

    def order_history(self, order_id: str) -> list[dict[str, Any]]:
        with self._lock:
            self._latest(order_id)
            return [state.to_kite() for state in self._history[order_id]]

    def trades(self) -> list[dict[str, Any]]:
        with self._lock:
            today = self._today()
            return [t.to_kite() for t in self._account.trades if ist_day(t.fill_timestamp) == today]

    def order_trades(self, order_id: str) -> list[dict[str, Any]]:
        with self._lock:
            self._latest(order_id)
            return [t.to_kite() for t in self._account.trades if t.order_id == order_id]

    def positions(self) -> dict[str, list[dict[str, Any]]]:
        with self._lock:
            return position_rows(self._positions(), self._quote)

    def holdings(self) -> list[dict[str, Any]]:
        with self._lock:
            return holdings_rows(self._positions(), self._quote, self._today())

    def margins(self, segment: str | None = None) -> dict[str, Any]:
        """Kite's ``/user/margins`` (``{"equity": ..., "commodity": ...}``) or one segment."""
        with self._lock:
            equity = self._equity_margins()
            commodity = segment_margins(False, Decimal(0), Decimal(0), {})
            if segment is None:
                return {"equity": equity, "commodity": commodity}
            if segment == "equity":
                return equity
            if segment == "commodity":
                return commodity
            raise input_error(f"Invalid `segment`: {segment!r} (expected equity or commodity).")

    def cash(self) -> Decimal:
        """The cash ledger's balance (starting cash + sells - buys - charges), exact."""
        with self._lock:
            return self._account.cash

    def charges_debited(self) -> Decimal:
        with self._lock:
            return self._account.charges_debited()

    def order_margins(self, orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Kite's ``POST /margins/orders``: margin and charges of each order on its own."""
        with self._lock:
            rows = []
            for item in orders:
                line = self._line(item, "price")
                rows.append(order_margin_row(line, self._leg(line), self._rules))
            return rows

    def contract_note(self, orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Kite's ``POST /charges/orders``: for an order of ours that filled, the charges that
        were debited; otherwise the charges model's price of the described order today."""
        with self._lock:
            notes = []
            for item in orders:
                line = self._line(item, "average_price")
                stored = self._account.order_charges.get(str(item.get("order_id", "")))
                notes.append(contract_note_row(line, item, stored or self._leg(line)))
            return notes
