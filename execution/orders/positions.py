"""Positions and P&L from fills: the book the risk engine, the CLI and the dashboard read.

A position is the fold of its fills (``Position.apply``: average price, realised P&L, charges),
plus any adjustment reconciliation recorded for quantities the broker holds that our fills do not
explain. P&L is split by symbol and IST day; unrealised P&L needs a mark price per instrument.

Delivery (CNC) trades that carry no kitepilot tag — the account holder's own, in the Kite app —
are stored (reconciliation reports them) but are not kitepilot's position: the account's own
investments are never managed, exited or flattened by it (docs/execution.md, "Delivery
overnight"). MIS and NRML trades made by hand are part of the book, as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

from data_contracts.enums import Product
from data_contracts.ids import InstrumentToken
from data_contracts.timeutil import to_ist
from data_contracts.trading import Fill, Position
from execution.store.oms import PositionAdjustment

__all__ = ["PnlLine", "PositionKey", "book_positions", "is_ours", "pnl_by_symbol_day"]

PositionKey = tuple[int, Product]


def book_positions(
    fills: Iterable[Fill],
    adjustments: Sequence[PositionAdjustment] = (),
    symbols: Mapping[int, str] | None = None,
) -> dict[PositionKey, Position]:
    """Every (instrument, product) position the fills and adjustments make, flat ones included.

    Fills and adjustments are applied in time order (at one instant, fills first: reconciliation
    records an adjustment after the fills it has seen). An adjustment changes the quantity only;
    a position it leaves open is priced at its own average price, else the position's, else the
    nearest price the key's fills and adjustments carry, so a book always reads."""
    events: list[tuple[tuple[datetime, int, str, int], Fill | PositionAdjustment]] = [
        ((fill.ts_event, 0, fill.trade_id.value, 0), fill) for fill in fills if is_ours(fill)
    ]
    events += [((a.ts_event, 1, "", i), a) for i, a in enumerate(adjustments)]
    events.sort(key=lambda event: event[0])
    fallback = _first_prices(event for _, event in events)
    book: dict[PositionKey, Position] = {}
    last_price: dict[PositionKey, float] = {}
    for _, event in events:
        key = (event.instrument_token, event.product)
        if isinstance(event, Fill):
            if key not in book:
                symbol = (symbols or {}).get(event.instrument_token, str(event.instrument_token))
                book[key] = Position(event.instrument_token, symbol, event.product)
            book[key] = book[key].apply(event)
            last_price[key] = event.price
            continue
        current = book.get(key) or Position(
            InstrumentToken(event.instrument_token), event.tradingsymbol, event.product
        )
        quantity = current.quantity + event.quantity
        candidates = (
            event.average_price,
            current.average_price,
            last_price.get(key, 0.0),
            fallback.get(key, 0.0),
        )
        average = 0.0 if quantity == 0 else next((p for p in candidates if p > 0), 0.0)
        book[key] = replace(current, quantity=quantity, average_price=average)
        if event.average_price > 0:
            last_price[key] = event.average_price
    return book


def is_ours(fill: Fill) -> bool:
    """Whether ``fill`` belongs to kitepilot's book: any fill of an order of ours, and any
    intraday or F&O fill; not a delivery (CNC) fill made without a kitepilot tag."""
    return fill.client_tag is not None or fill.product is not Product.CNC


def _first_prices(events: Iterable[Fill | PositionAdjustment]) -> dict[PositionKey, float]:
    """The first positive price each key's fills and adjustments carry (the last resort for an
    adjustment recorded without one)."""
    prices: dict[PositionKey, float] = {}
    for event in events:
        price = event.price if isinstance(event, Fill) else event.average_price
        if price > 0:
            prices.setdefault((event.instrument_token, event.product), price)
    return prices


@dataclass(frozen=True, slots=True)
class PnlLine:
    """One symbol's day: what it made after charges, closed and still open."""

    day: date
    instrument_token: int
    tradingsymbol: str
    product: Product
    quantity: int
    average_price: float
    realised: float
    unrealised: float
    charges: float

    @property
    def net(self) -> float:
        return self.realised + self.unrealised - self.charges


def pnl_by_symbol_day(
    fills: Iterable[Fill],
    marks: Mapping[int, float],
    symbols: Mapping[int, str] | None = None,
) -> list[PnlLine]:
    """P&L per IST day and position that traded or was open that day: each day's fills folded on
    the position carried into it (its quantity and average, none of its earlier P&L); unrealised
    P&L at ``marks`` on the last day only. The account holder's own delivery trades are left
    out (:func:`is_ours`)."""
    by_day: dict[date, list[Fill]] = {}
    ours = (fill for fill in fills if is_ours(fill))
    for fill in sorted(ours, key=lambda f: (f.ts_event, f.trade_id.value)):
        by_day.setdefault(to_ist(fill.ts_event).date(), []).append(fill)
    lines: list[PnlLine] = []
    carried: dict[PositionKey, Position] = {}
    days = sorted(by_day)
    for day in days:
        book = {key: _carry(p) for key, p in carried.items() if not p.is_flat}
        for fill in by_day[day]:
            key = (fill.instrument_token, fill.product)
            if key not in book:
                symbol = (symbols or {}).get(fill.instrument_token, str(fill.instrument_token))
                book[key] = Position(fill.instrument_token, symbol, fill.product)
            book[key] = book[key].apply(fill)
        for (token, product), position in sorted(book.items(), key=lambda item: item[0][0]):
            mark = marks.get(token) if day == days[-1] else None
            lines.append(
                PnlLine(
                    day=day,
                    instrument_token=token,
                    tradingsymbol=position.tradingsymbol,
                    product=product,
                    quantity=position.quantity,
                    average_price=position.average_price,
                    realised=position.realised_pnl,
                    unrealised=position.unrealised_pnl(mark) if mark else 0.0,
                    charges=position.charges,
                )
            )
        carried = book
    return lines


def _carry(position: Position) -> Position:
    """The position at the start of the next day: its quantity and price, no day P&L."""
    return replace(position, realised_pnl=0.0, charges=0.0, fill_ids=frozenset())
