"""The risk checks of the paper exchange (Zerodha's RMS): a refused order ends REJECTED with a
``status_message``, in this order:

1. MIS after the auto square-off time (only orders that would open or add to a position);
2. the freeze quantity (an order at or above it is refused, the safe side of reference §1.10);
3. the price band (:func:`~execution.paper.matching.price_band`) for price and trigger;
4. stop orders: the limit on the right side of the trigger, the trigger not yet reached;
5. options may only be sold to close a long ("short options not supported in paper"); CNC may
   only sell what is held (holdings plus today's CNC buys, less working sells);
6. funds: the margin of the part that opens a position must fit the available funds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from data_contracts.enums import Exchange, OrderStatus, OrderType, Product, Side
from data_contracts.instruments import Instrument
from data_contracts.nse_calendar import NseCalendar
from data_contracts.timeutil import IST
from execution.paper.accounts import ist_day, margin_rate
from execution.paper.matching import Book, decimal_price, price_band
from execution.paper.orders import OrderRecord, VenueRules
from execution.paper.portfolio import PositionBook

__all__ = ["CIRCUIT_MESSAGE", "Rejection", "Rms", "RmsContext"]

CIRCUIT_MESSAGE = (
    "Price exceeds circuit limits for the instrument. Place an order within the daily range."
)
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class RmsContext:
    """The state a check sees: the time, the books, positions, other working orders, funds."""

    now: datetime
    books: Mapping[int, Book]
    positions: Mapping[tuple[int, Product], PositionBook]
    working: Sequence[OrderRecord]
    available: Decimal


@dataclass(frozen=True, slots=True)
class Rejection:
    message: str


class Rms:
    def __init__(self, calendar: NseCalendar, rules: VenueRules) -> None:
        self._calendar = calendar
        self._rules = rules

    def check(
        self, record: OrderRecord, instrument: Instrument, context: RmsContext
    ) -> Rejection | None:
        """The first rule ``record`` breaks, or None."""
        units = record.quantity - record.filled_quantity
        opening = units - closable(record, context.positions)
        for found in (
            self._mis_cutoff(record, instrument, context.now, opening),
            _freeze(record, instrument),
            self._band(record, instrument, context.books.get(record.instrument_token)),
            _stop(record, context.books.get(record.instrument_token)),
            _direction(record, instrument, context, units),
        ):
            if found is not None:
                return found
        required = self.margin_per_unit(record, instrument, context.positions) * units
        if required > context.available:
            return Rejection(
                f"Insufficient funds. Required margin is {required:.2f} but available margin is "
                f"{context.available:.2f}. Check the orderbook for open orders."
            )
        return None

    def margin_per_unit(
        self,
        record: OrderRecord,
        instrument: Instrument,
        positions: Mapping[tuple[int, Product], PositionBook],
    ) -> Decimal:
        """Funds blocked per pending unit: the margin of the opening part, spread over the
        order. An order that only closes a position blocks nothing."""
        units = record.quantity - record.filled_quantity
        opening = max(units - closable(record, positions), 0)
        if units <= 0 or opening == 0:
            return _ZERO
        price = record.price if record.price > 0 else record.trigger_price
        needed = price * opening * margin_rate(instrument, record.product, self._rules)
        return needed / units

    def _mis_cutoff(
        self, record: OrderRecord, instrument: Instrument, now: datetime, opening: int
    ) -> Rejection | None:
        if record.product is not Product.MIS or opening <= 0:
            return None
        derivatives = instrument.exchange is Exchange.NFO
        cutoff = self._calendar.mis_square_off(ist_day(now), derivatives=derivatives)
        if cutoff is None or now < cutoff:
            return None
        return Rejection(
            f"New MIS orders are blocked after the auto square-off time "
            f"({cutoff.astimezone(IST):%H:%M}). Use NRML or CNC instead."
        )

    def _band(
        self, record: OrderRecord, instrument: Instrument, book: Book | None
    ) -> Rejection | None:
        if book is None:
            return None
        low, high = price_band(instrument, book.quote, self._rules)
        for price in (record.price, record.trigger_price):
            if price > 0 and not low <= price <= high:
                return Rejection(CIRCUIT_MESSAGE)
        return None


def closable(record: OrderRecord, positions: Mapping[tuple[int, Product], PositionBook]) -> int:
    """How much of ``record`` closes the opposite position in the same instrument and product
    (for CNC sells: what is held)."""
    book = positions.get((record.instrument_token, record.product))
    if book is None:
        return 0
    if record.product is Product.CNC:
        held = (
            book.prior_buy.quantity
            - book.prior_sell.quantity
            + book.day_buy.quantity
            - book.day_sell.quantity
        )
        return max(held, 0) if record.side is Side.SELL else max(-held, 0)
    quantity = book.net_quantity
    return max(quantity, 0) if record.side is Side.SELL else max(-quantity, 0)


def _freeze(record: OrderRecord, instrument: Instrument) -> Rejection | None:
    freeze = instrument.freeze_quantity
    if freeze is None or record.quantity < freeze:
        return None
    return Rejection(
        f"Order quantity {record.quantity} is not below the freeze quantity {freeze} of "
        f"{instrument.tradingsymbol}. Place it as smaller orders (autoslice)."
    )


def _stop(record: OrderRecord, book: Book | None) -> Rejection | None:
    if record.order_type not in (OrderType.SL, OrderType.SL_M):
        return None
    buy = record.side is Side.BUY
    word = "buy" if buy else "sell"
    if record.order_type is OrderType.SL and (
        record.price < record.trigger_price if buy else record.price > record.trigger_price
    ):
        relation = "lower" if buy else "higher"
        return Rejection(
            f"Trigger price for stoploss {word} orders should be {relation} than or equal to "
            "the limit price."
        )
    if book is None or record.status is OrderStatus.OPEN:  # triggered already
        return None
    last = decimal_price(book.quote.last_price)
    if record.trigger_price <= last if buy else record.trigger_price >= last:
        relation = "higher" if buy else "lower"
        return Rejection(
            f"Trigger price for stoploss {word} orders should be {relation} than the last "
            f"traded price ({last})."
        )
    return None


def _direction(
    record: OrderRecord, instrument: Instrument, context: RmsContext, units: int
) -> Rejection | None:
    if record.side is not Side.SELL:
        return None
    if not (instrument.is_option or record.product is Product.CNC):
        return None
    selling = sum(
        r.remaining
        for r in context.working
        if r.order_id != record.order_id
        and r.instrument_token == record.instrument_token
        and r.product is record.product
        and r.side is Side.SELL
    )
    free = closable(record, context.positions) - selling
    if units <= free:
        return None
    if instrument.is_option:
        return Rejection(
            f"Short options not supported in paper: selling {units} {instrument.tradingsymbol} "
            f"would go short (long position free to sell: {max(free, 0)})."
        )
    return Rejection(
        f"Insufficient holdings to sell {units} {instrument.tradingsymbol} "
        f"(free to sell: {max(free, 0)})."
    )
