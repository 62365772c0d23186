"""Matching against the latest quote: pure functions over one instrument's book.

The paper exchange has no order book of its own participants: it matches our orders against the
market's book (the quote's five levels a side). :class:`Book` is the latest quote plus how much of
each level our orders have already taken, so two orders cannot both fill against the same
quantity; a new quote replaces the book and its takings.

* A marketable order walks the opposite side level by level, best first, up to its limit; each
  level gives at most its quantity (rounded down to whole lots). What is left stays working.
* A resting limit also fills when the last trade goes *through* its price (a trade at a worse
  price means the market passed it): at the limit price, at most the last trade's quantity.
* SL/SL-M trigger when the last price reaches the trigger (BUY: at or above; SELL: at or below).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from data_contracts.enums import Side
from data_contracts.instruments import Instrument
from data_contracts.pricegrid import round_for_side
from execution.paper.orders import VenueRules
from execution.paper.types import Quote

__all__ = [
    "Book",
    "Fill",
    "decimal_price",
    "match_book",
    "price_band",
    "protection_price",
    "trade_through",
    "triggered",
]

_HUNDRED = Decimal(100)

Fill = tuple[Decimal, int]  # (price, quantity)


def decimal_price(value: float) -> Decimal:
    """A quote's float price as the Decimal it was written as (shortest repr)."""
    return Decimal(str(value))


@dataclass(slots=True)
class Book:
    """The latest quote of one instrument and the quantity our fills took from it."""

    quote: Quote
    taken: dict[tuple[Side, Decimal], int] = field(default_factory=dict)
    last_taken: int = 0


def match_book(
    side: Side, limit: Decimal | None, quantity: int, lot: int, book: Book
) -> list[Fill]:
    """Fill up to ``quantity`` (whole lots of ``lot``) against the opposite side of ``book``,
    best level first, never beyond ``limit`` (None: no limit). Records what it took."""
    levels = book.quote.asks if side is Side.BUY else book.quote.bids
    fills: list[Fill] = []
    remaining = quantity
    for level in levels:
        price = decimal_price(level.price)
        if limit is not None and (price > limit if side is Side.BUY else price < limit):
            break
        key = (side, price)
        available = level.quantity - book.taken.get(key, 0)
        take = min(remaining, available) // lot * lot
        if take <= 0:
            continue
        book.taken[key] = book.taken.get(key, 0) + take
        fills.append((price, take))
        remaining -= take
        if remaining == 0:
            break
    return fills


def trade_through(side: Side, limit: Decimal, quantity: int, lot: int, book: Book) -> list[Fill]:
    """A resting limit the last trade went through fills at its limit, at most the last trade's
    quantity (less what other orders took from that trade)."""
    last = decimal_price(book.quote.last_price)
    if not (last < limit if side is Side.BUY else last > limit):
        return []
    take = min(quantity, book.quote.last_quantity - book.last_taken) // lot * lot
    if take <= 0:
        return []
    book.last_taken += take
    return [(limit, take)]


def triggered(side: Side, trigger: Decimal, last_price: Decimal) -> bool:
    """Whether a stop order's trigger is reached: BUY at or above, SELL at or below."""
    return last_price >= trigger if side is Side.BUY else last_price <= trigger


def protection_price(side: Side, reference: Decimal, percent: Decimal, tick: float) -> Decimal:
    """The limit a protected market order becomes: ``percent`` beyond ``reference``, on the tick
    grid on the side that never exceeds the protection (BUY down, SELL up), at least one tick."""
    factor = 1 + percent / _HUNDRED if side is Side.BUY else 1 - percent / _HUNDRED
    price = round_for_side(reference * factor, tick, side)
    return max(price, Decimal(str(tick)))


def price_band(instrument: Instrument, quote: Quote, rules: VenueRules) -> tuple[Decimal, Decimal]:
    """The prices an order may carry: equities and futures within ``circuit_pct`` of the previous
    close (the last price when the close is unknown); options within NSE's limit price protection
    around the last price (``option_band_pct`` above ``option_band_threshold``, else
    ``option_band_abs`` rupees). The lower bound is at least one tick."""
    tick = Decimal(str(instrument.tick_size))
    if instrument.is_option:
        reference = decimal_price(quote.last_price)
        if reference > rules.option_band_threshold:
            width = reference * rules.option_band_pct / _HUNDRED
        else:
            width = rules.option_band_abs
    else:
        reference = decimal_price(quote.close if quote.close > 0 else quote.last_price)
        width = reference * rules.circuit_pct / _HUNDRED
    return max(reference - width, tick), reference + width
