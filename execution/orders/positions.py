"""Positions and P&L from fills: the book the risk engine, the CLI and the dashboard read.

A position is the fold of its fills (``Position.apply``: average price, realised P&L, charges),
plus any adjustment reconciliation recorded for quantities the broker holds that our fills do not
explain. P&L is split by symbol and IST day; unrealised P&L needs a mark price per instrument.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date

from data_contracts.enums import Product
from data_contracts.ids import InstrumentToken
from data_contracts.timeutil import to_ist
from data_contracts.trading import Fill, Position
from execution.store.oms import PositionAdjustment

__all__ = ["PnlLine", "PositionKey", "book_positions", "pnl_by_symbol_day"]

PositionKey = tuple[int, Product]


def book_positions(
    fills: Iterable[Fill],
    adjustments: Sequence[PositionAdjustment] = (),
    symbols: Mapping[int, str] | None = None,
) -> dict[PositionKey, Position]:
    """Every (instrument, product) position the fills and adjustments make, flat ones included."""
    book: dict[PositionKey, Position] = {}
    for adjustment in adjustments:
        key = (adjustment.instrument_token, adjustment.product)
        current = book.get(key) or Position(
            InstrumentToken(adjustment.instrument_token),
            adjustment.tradingsymbol,
            adjustment.product,
        )
        book[key] = replace(
            current,
            quantity=current.quantity + adjustment.quantity,
            average_price=adjustment.average_price
            if adjustment.quantity
            else current.average_price,
        )
    for fill in sorted(fills, key=lambda f: (f.ts_event, f.trade_id.value)):
        key = (fill.instrument_token, fill.product)
        if key not in book:
            symbol = (symbols or {}).get(fill.instrument_token, str(fill.instrument_token))
            book[key] = Position(fill.instrument_token, symbol, fill.product)
        book[key] = book[key].apply(fill)
    return book


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
    P&L at ``marks`` on the last day only."""
    by_day: dict[date, list[Fill]] = {}
    for fill in sorted(fills, key=lambda f: (f.ts_event, f.trade_id.value)):
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
