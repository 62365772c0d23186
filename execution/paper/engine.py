"""The paper venue's engine: its state and the order flow behind :class:`PaperVenue`.

:class:`VenueEngine` holds the books, the order histories, the account and the store, and takes
orders through Kite's statuses (received, validation, RMS, open, fills, cancel) and the MIS
square-off. It never locks: :class:`~execution.paper.venue.PaperVenue` (its public face) runs
every call under one lock and writes what a call produced in one transaction.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from data_contracts.charges import ChargeBreakdown, ChargesModel
from data_contracts.enums import Exchange, OrderStatus, OrderType, Product, Side, Validity
from data_contracts.instruments import Instrument
from data_contracts.nse_calendar import NseCalendar
from data_contracts.ports import Clock
from execution.paper.accounts import (
    Account,
    LedgerEntry,
    TradeRecord,
    charge_segment,
    ist_day,
)
from execution.paper.matching import (
    Book,
    Fill,
    decimal_price,
    match_book,
    protection_price,
    trade_through,
)
from execution.paper.orders import (
    REGULAR,
    OrderRecord,
    PlaceRequest,
    VenueRules,
    input_error,
    ttl_expiry,
)
from execution.paper.portfolio import (
    PositionBook,
    funds,
    position_books,
)
from execution.paper.rms import Rms, RmsContext
from execution.paper.statements import (
    OrderLine,
    parse_order_line,
    segment_margins,
)
from execution.paper.store import VenueStore
from execution.paper.types import Quote

__all__ = ["VenueEngine", "VenueFaults"]


_ZERO = Decimal(0)
_ORDER_BASE = 10**18  # 19-digit order ids, like Kite's since 2025
_EXCHANGE_BASE = 10**15
_TRADE_BASE = 10**7
SQUARE_OFF = "autosquareoff"
WORKING = (OrderStatus.OPEN, OrderStatus.TRIGGER_PENDING)

Listener = Callable[[dict[str, Any]], None]


class _Reason(Protocol):
    @property
    def message(self) -> str: ...


class VenueFaults(Protocol):
    """The fault injector's venue-side decisions (``execution.paper.faults.FaultInjector``)."""

    def reject_order(self) -> _Reason | None: ...
    def partial_fill(self) -> float | None: ...


@dataclass(slots=True)
class Operation:
    """What one public call wrote and must report."""

    states: list[dict[str, Any]] = field(default_factory=list)
    trades: list[dict[str, Any]] = field(default_factory=list)
    ledger: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


class VenueEngine:
    """State and order flow of the paper venue (no locking: see :class:`PaperVenue`)."""

    def __init__(
        self,
        *,
        instruments: Sequence[Instrument],
        charges: ChargesModel,
        calendar: NseCalendar,
        clock: Clock,
        store: VenueStore,
        starting_cash: float,
        user_id: str = "PAPER1",
        rules: VenueRules = VenueRules(),  # noqa: B008  # frozen, so one shared default is safe
        api_secret: str = "",
        app_id: int = 0,
        faults: VenueFaults | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self._instruments = {(i.exchange.value, i.tradingsymbol): i for i in instruments}
        self._by_token: dict[int, Instrument] = {
            i.instrument_token: i for i in instruments if i.is_tradable
        }
        self._charges = charges
        self._calendar = calendar
        self._clock = clock
        self._store = store
        self._rules = rules
        self.user_id = user_id
        self._api_secret = api_secret
        self._app_id = app_id
        self._faults = faults
        self._rms = Rms(calendar, rules)
        self._books: dict[int, Book] = {}
        self._history: dict[str, list[OrderRecord]] = {}
        self._working: dict[int, dict[str, None]] = {}  # token -> ordered set of order ids
        self._account = Account(charges)
        self._listeners: list[Listener] = []
        self._op = Operation()
        self._positions_cache: tuple[date, int, dict[Any, PositionBook]] | None = None
        self._restore(Decimal(str(starting_cash)))

    # --- lifecycle -----------------------------------------------------------------------------

    def _restore(self, starting_cash: Decimal) -> None:
        stored = self._store.load()
        for state in stored.order_states:
            self._remember(OrderRecord.from_json(state))
        self._account.restore(
            (TradeRecord.from_json(t) for t in stored.trades),
            (LedgerEntry.from_json(e) for e in stored.ledger),
        )
        self._order_seq = len(self._history)
        self._trade_seq = len(self._account.trades)
        if not stored.ledger:
            entry = self._account.deposit(starting_cash, self._clock.now())
            self._store.append(ledger=[entry.to_json()])

    # --- internals: order flow -----------------------------------------------------------------

    def _new_record(self, request: PlaceRequest, now: datetime) -> OrderRecord:
        self._order_seq += 1
        instrument = request.instrument
        return OrderRecord(
            order_id=str(_ORDER_BASE + self._order_seq),
            exchange_order_id=None,
            placed_by=self.user_id,
            status=OrderStatus.PUT_ORDER_REQ_RECEIVED,
            status_message=None,
            order_timestamp=now,
            exchange_timestamp=None,
            exchange_update_timestamp=None,
            variety=REGULAR,
            exchange=instrument.exchange,
            tradingsymbol=instrument.tradingsymbol,
            instrument_token=instrument.instrument_token,
            order_type=request.order_type,
            transaction_type=request.side,
            validity=request.validity,
            validity_ttl=request.validity_ttl,
            product=request.product,
            quantity=request.quantity,
            disclosed_quantity=request.disclosed_quantity,
            price=request.price,
            trigger_price=request.trigger_price,
            filled_quantity=0,
            cancelled_quantity=0,
            market_protection=request.market_protection,
            tag=request.tag,
            tags=(request.tag,) if request.tag else (),
            modified=False,
            modifications=0,
            filled_value=_ZERO,
            margin_per_unit=_ZERO,
            expires_at=ttl_expiry(now, request.validity, request.validity_ttl),
        )

    def _submit(
        self, record: OrderRecord, instrument: Instrument, now: datetime, *, rms: bool = True
    ) -> str:
        """Take a new order through Kite's statuses: received, validation, (REJECTED |
        OPEN PENDING, OPEN or TRIGGER PENDING), then match it."""
        record = self._append(record)
        record = self._append(replace(record, status=OrderStatus.VALIDATION_PENDING))
        priced = self._price_market(record, instrument)
        problem = None
        if priced.price <= 0 and priced.order_type is OrderType.LIMIT:
            problem = "No market data for the instrument to price a market order."
        elif rms:
            found = self._rms.check(priced, instrument, self._context())
            problem = None if found is None else found.message
            if problem is None and self._faults is not None:
                injected = self._faults.reject_order()
                problem = None if injected is None else injected.message
        if problem is not None:
            self._append(
                replace(
                    record,
                    status=OrderStatus.REJECTED,
                    status_message=problem,
                    exchange_update_timestamp=now,
                )
            )
            return record.order_id
        record = replace(priced, margin_per_unit=self._margin_per_unit(priced))
        record = self._append(replace(record, status=OrderStatus.OPEN_PENDING))
        stop = record.order_type in (OrderType.SL, OrderType.SL_M)
        record = self._append(
            replace(
                record,
                status=OrderStatus.TRIGGER_PENDING if stop else OrderStatus.OPEN,
                exchange_order_id=str(_EXCHANGE_BASE + int(record.order_id) - _ORDER_BASE),
                exchange_timestamp=now,
                exchange_update_timestamp=now,
            )
        )
        if not stop:
            self._work(record, now, True)
        return record.order_id

    def _price_market(self, record: OrderRecord, instrument: Instrument) -> OrderRecord:
        """A MARKET order becomes a LIMIT at its protection price (Kite tags it ``mktp``)."""
        if record.order_type is not OrderType.MARKET:
            return record
        book = self._books.get(record.instrument_token)
        if book is None:
            return replace(record, order_type=OrderType.LIMIT, price=_ZERO)
        percent = self._protection(record)
        touch = book.quote.best_ask if record.side is Side.BUY else book.quote.best_bid
        reference = decimal_price(touch if touch is not None else book.quote.last_price)
        price = protection_price(record.side, reference, percent, instrument.tick_size)
        tags = (*record.tags, "mktp", f"mktp:{percent:.2f}")
        return replace(record, order_type=OrderType.LIMIT, price=price, tags=tags)

    def _protection(self, record: OrderRecord) -> Decimal:
        if record.market_protection < 0:
            return self._rules.auto_protection_pct
        return record.market_protection

    def _trigger(self, record: OrderRecord, last: Decimal, now: datetime) -> OrderRecord:
        price = record.price
        if record.order_type is OrderType.SL_M:
            tick = self._instrument_of(record).tick_size
            price = protection_price(record.side, last, self._protection(record), tick)
        return self._append(
            replace(record, status=OrderStatus.OPEN, price=price, exchange_update_timestamp=now)
        )

    def _work(self, record: OrderRecord, now: datetime, arriving: bool) -> OrderRecord:
        """Fill an OPEN order against its book; IOC cancels what is left."""
        book = self._books.get(record.instrument_token)
        if book is not None and record.status is OrderStatus.OPEN:
            lot = self._instrument_of(record).lot_size
            fills = match_book(record.side, record.price, record.remaining, lot, book)
            if not fills and not arriving:
                fills = trade_through(record.side, record.price, record.remaining, lot, book)
            if fills and self._faults is not None:
                fills = _cut(fills, self._faults.partial_fill(), lot)
            for price, quantity in fills:
                record = self._fill(record, price, quantity, now)
        if record.validity is Validity.IOC and not record.is_final:
            record = self._cancel(record, now)
        return record

    def _fill(
        self, record: OrderRecord, price: Decimal, quantity: int, now: datetime
    ) -> OrderRecord:
        filled = record.filled_quantity + quantity
        record = replace(
            record,
            filled_quantity=filled,
            filled_value=record.filled_value + price * quantity,
            status=OrderStatus.COMPLETE if filled == record.quantity else OrderStatus.OPEN,
            exchange_update_timestamp=now,
        )
        self._trade_seq += 1
        trade = TradeRecord(
            trade_id=str(_TRADE_BASE + self._trade_seq),
            order_id=record.order_id,
            exchange_order_id=record.exchange_order_id,
            exchange=record.exchange,
            tradingsymbol=record.tradingsymbol,
            instrument_token=record.instrument_token,
            product=record.product,
            side=record.side,
            price=price,
            quantity=quantity,
            fill_timestamp=now,
            order_timestamp=record.order_timestamp,
        )
        entries = self._account.record_fill(record, self._instrument_of(record), trade)
        self._op.trades.append(trade.to_json())
        self._op.ledger.extend(entry.to_json() for entry in entries)
        return self._append(record)

    def _cancel(self, record: OrderRecord, now: datetime) -> OrderRecord:
        return self._append(
            replace(
                record,
                status=OrderStatus.CANCELLED,
                cancelled_quantity=record.quantity - record.filled_quantity,
                exchange_update_timestamp=now,
            )
        )

    def _square_off(self, now: datetime) -> None:
        today = ist_day(now)
        session = self._calendar.session(today)
        if session is None or now >= session.close:
            return
        for derivatives in (False, True):
            cutoff = self._calendar.mis_square_off(today, derivatives=derivatives)
            if cutoff is None or now < cutoff:
                continue
            in_class = [
                r
                for r in self._working_records()
                if r.product is Product.MIS and (r.exchange is Exchange.NFO) == derivatives
            ]
            for record in in_class:
                if record.internal_tag != SQUARE_OFF:
                    self._cancel(record, now)
            squaring = {r.instrument_token for r in in_class if r.internal_tag == SQUARE_OFF}
            for book in list(self._positions().values()):
                instrument = self._by_token.get(book.instrument_token)
                quantity = book.net_quantity
                if (
                    instrument is None
                    or book.product is not Product.MIS
                    or (instrument.exchange is Exchange.NFO) != derivatives
                    or quantity == 0
                    or book.instrument_token in squaring
                    or book.instrument_token not in self._books
                ):
                    continue
                self._submit(
                    self._square_off_record(instrument, quantity, now), instrument, now, rms=False
                )

    def _square_off_record(
        self, instrument: Instrument, quantity: int, now: datetime
    ) -> OrderRecord:
        request = PlaceRequest(
            instrument=instrument,
            side=Side.SELL if quantity > 0 else Side.BUY,
            quantity=abs(quantity),
            product=Product.MIS,
            order_type=OrderType.MARKET,
            validity=Validity.DAY,
            validity_ttl=0,
            price=_ZERO,
            trigger_price=_ZERO,
            disclosed_quantity=0,
            market_protection=Decimal(-1),
            tag=None,
        )
        record = self._new_record(request, now)
        return replace(record, tags=(SQUARE_OFF,), internal_tag=SQUARE_OFF)

    # --- internals: state ----------------------------------------------------------------------

    def _append(self, record: OrderRecord) -> OrderRecord:
        self._remember(record)
        self._op.states.append(record.to_json())
        self._op.events.append(self._payload(record))
        return record

    def _remember(self, record: OrderRecord) -> None:
        self._history.setdefault(record.order_id, []).append(record)
        working = self._working.setdefault(record.instrument_token, {})
        if record.is_final:
            working.pop(record.order_id, None)
        else:
            working[record.order_id] = None

    def _payload(self, record: OrderRecord) -> dict[str, Any]:
        data = record.to_kite()
        text = f"{record.order_id}{data['order_timestamp']}{self._api_secret}"
        return data | {
            "user_id": self.user_id,
            "unfilled_quantity": record.remaining,
            "app_id": self._app_id,
            "checksum": hashlib.sha256(text.encode()).hexdigest(),
        }

    def _latest(self, order_id: str) -> OrderRecord:
        states = self._history.get(order_id)
        if not states:
            raise input_error(f"Couldn't find that `order_id` ({order_id}).")
        return states[-1]

    def _working_records(self) -> list[OrderRecord]:
        records = [self._latest(oid) for ids in self._working.values() for oid in ids]
        return sorted(records, key=lambda r: int(r.order_id))

    def _instrument_of(self, record: OrderRecord) -> Instrument:
        return self._instruments[(record.exchange.value, record.tradingsymbol)]

    def _quote(self, token: int) -> Quote | None:
        book = self._books.get(token)
        return None if book is None else book.quote

    def _today(self) -> date:
        return ist_day(self._clock.now())

    def _check_market_hours(self, now: datetime) -> None:
        if not self._rules.enforce_market_hours:
            return
        session = self._calendar.session(ist_day(now))
        if session is None or not session.pre_open_start <= now < session.close:
            raise input_error(
                "Markets are closed right now. Use GTT for placing long standing orders instead."
            )

    def _positions(self) -> dict[Any, PositionBook]:
        today, count = self._today(), len(self._account.trades)
        cached = self._positions_cache
        if cached is None or cached[0] != today or cached[1] != count:
            cached = (today, count, position_books(self._account.trades, today))
            self._positions_cache = cached
        return cached[2]

    def _margin_per_unit(self, record: OrderRecord) -> Decimal:
        """The funds an accepted order blocks per pending unit."""
        return self._rms.margin_per_unit(record, self._instrument_of(record), self._positions())

    def _context(self, exclude: str | None = None) -> RmsContext:
        return RmsContext(
            now=self._clock.now(),
            books=self._books,
            positions=self._positions(),
            working=[r for r in self._working_records() if r.order_id != exclude],
            available=self._available(exclude),
        )

    def _available(self, exclude: str | None = None) -> Decimal:
        adjust = funds(self._positions(), self._find, self._quote, self._rules).adjustment
        blocked = sum(
            (
                r.margin_per_unit * r.remaining
                for r in self._working_records()
                if r.order_id != exclude
            ),
            _ZERO,
        )
        return self._account.cash + adjust - blocked

    def _find(self, exchange: Exchange, symbol: str) -> Instrument | None:
        return self._instruments.get((exchange.value, symbol))

    def _equity_margins(self) -> dict[str, Any]:
        state = funds(self._positions(), self._find, self._quote, self._rules)
        opening = self._account.opening_balance(self._today())
        net = self._available()
        utilised = {
            "exposure": state.exposure,
            "span": state.span,
            "option_premium": state.option_premium,
            "delivery": state.delivery,
            "m2m_unrealised": -state.m2m_loss,
        }
        return segment_margins(True, opening, net, utilised)

    # --- internals: margins and charges of described orders ------------------------------------

    def _line(self, item: Mapping[str, Any], price_key: str) -> OrderLine:
        line = parse_order_line(item, self._instruments, price_key)
        if line.price > 0:
            return line
        book = self._books.get(line.instrument.instrument_token)
        return replace(line, price=decimal_price(book.quote.last_price) if book else _ZERO)

    def _leg(self, line: OrderLine) -> ChargeBreakdown:
        if line.price <= 0 or line.quantity <= 0:
            return ChargeBreakdown()
        segment = charge_segment(line.instrument, line.product)
        return self._charges.leg(segment, line.side, line.price * line.quantity, 1, self._today())


def _cut(fills: list[Fill], fraction: float | None, lot: int) -> list[Fill]:
    """The first ``fraction`` of ``fills`` (whole lots), for an injected partial fill."""
    if fraction is None:
        return fills
    keep = int(sum(q for _, q in fills) * fraction) // lot * lot
    cut: list[Fill] = []
    for price, quantity in fills:
        take = min(quantity, keep)
        if take <= 0:
            break
        cut.append((price, take))
        keep -= take
    return cut
