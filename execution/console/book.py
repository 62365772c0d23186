"""Positions and P&L for one IST day, the intraday equity curve, and the orders-and-fills blotter.

P&L has one definition: ``execution.orders.positions`` (the fold of the stored fills). The day's
rows are :func:`~execution.orders.positions.pnl_by_symbol_day`'s lines for ``day`` (fills up to
the end of that day, open positions marked to ``marks``); a position carried into the day that
did not trade in it gets a row with its quantity and unrealised P&L only. Reconciliation's
adjustments (quantities the broker holds that our fills do not explain) count towards those
carried positions, as they do in ``AccountBook``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Final

from data_contracts.timeutil import IST, UTC
from data_contracts.trading import Fill, Position
from data_contracts.validation import positive
from execution.orders.positions import PositionKey, book_positions, pnl_by_symbol_day
from execution.store.oms import OmsStore, OrderRecord, StoredFill
from execution.store.sql import SqlStore

__all__ = ["IN_FLIGHT", "BlotterRow", "BookView", "PositionRow", "book_view"]

IN_FLIGHT: Final = "IN FLIGHT"
"""The blotter status of an order claimed and sent with no answer yet (reconciliation decides)."""
_SESSION_OPEN: Final = time(9, 15)


@dataclass(frozen=True, slots=True)
class PositionRow:
    """One (instrument, product) that traded on the day or was open in it.

    ``realised`` is gross of charges; ``net = realised + unrealised - charges``. ``mark`` is the
    price the open quantity is valued at (None: no mark given, so ``unrealised`` is 0).
    """

    instrument_token: int
    tradingsymbol: str
    product: str
    quantity: int
    average_price: float
    mark: float | None
    unrealised: float
    realised: float
    charges: float
    net: float


@dataclass(frozen=True, slots=True)
class BlotterRow:
    """An order we claimed (``kind`` "order") or an execution (``kind`` "fill").

    Slippage is in rupees against the order's reference price, positive = worse (the executor's
    figure, stored with each fill); an order's is the sum of its fills' (None before any), so do
    not add the two kinds together.
    """

    time: datetime
    client_tag: str
    purpose: str
    tradingsymbol: str
    side: str
    quantity: int
    price: float | None
    status: str
    filled: int
    average_price: float
    slippage: float | None
    kind: str


@dataclass(frozen=True, slots=True)
class BookView:
    positions: tuple[PositionRow, ...]
    realised: float
    unrealised: float
    charges: float
    net: float
    equity_curve: tuple[tuple[datetime, float], ...]
    blotter: tuple[BlotterRow, ...]


def book_view(
    store: SqlStore, day: date, *, capital: float, marks: Mapping[int, float]
) -> BookView:
    """The book of the IST ``day``: positions and P&L after charges (open ones marked to
    ``marks``, instrument token → price), totals, the equity curve and the blotter (newest
    first)."""
    positive("book_view", "capital", capital)
    oms = OmsStore.of(store)
    start = datetime.combine(day, time(0), tzinfo=IST)
    end = start + timedelta(days=1)
    stored = [s for s in oms.fills() if s.fill.ts_event < end]
    orders = oms.orders()
    symbols = _symbols(orders, oms)
    before = [s.fill for s in stored if s.fill.ts_event < start]
    today = [s.fill for s in stored if s.fill.ts_event >= start]
    adjustments = [a for a in oms.adjustments() if a.ts_event < end]
    rows = _rows(day, [s.fill for s in stored], marks, symbols)
    shown = {(row.instrument_token, row.product) for row in rows}
    for (token, product), position in book_positions(
        [s.fill for s in stored], adjustments, symbols
    ).items():
        if not position.is_flat and (token, product.value) not in shown:
            rows.append(_carried(position, marks.get(token)))
    rows.sort(key=lambda r: (r.tradingsymbol, r.product))
    carried = {
        key: replace(p, realised_pnl=0.0, charges=0.0, fill_ids=frozenset())
        for key, p in book_positions(before, adjustments, symbols).items()
        if not p.is_flat
    }
    realised = sum(r.realised for r in rows)
    unrealised = sum(r.unrealised for r in rows)
    charges = sum(r.charges for r in rows)
    return BookView(
        positions=tuple(rows),
        realised=realised,
        unrealised=unrealised,
        charges=charges,
        net=realised + unrealised - charges,
        equity_curve=_equity_curve(day, capital, carried, today, symbols),
        blotter=_blotter(start, end, orders, stored, symbols),
    )


def _symbols(orders: Sequence[OrderRecord], oms: OmsStore) -> dict[int, str]:
    symbols = {a.instrument_token: a.tradingsymbol for a in oms.adjustments()}
    symbols.update({int(o.intent.instrument_token): o.intent.tradingsymbol for o in orders})
    return symbols


def _rows(
    day: date, fills: list[Fill], marks: Mapping[int, float], symbols: Mapping[int, str]
) -> list[PositionRow]:
    rows = []
    for line in pnl_by_symbol_day(fills, marks, symbols):
        if line.day != day:
            continue
        mark = marks.get(line.instrument_token) if line.quantity else None
        rows.append(
            PositionRow(
                instrument_token=line.instrument_token,
                tradingsymbol=line.tradingsymbol,
                product=line.product.value,
                quantity=line.quantity,
                average_price=line.average_price,
                mark=mark,
                unrealised=line.unrealised,
                realised=line.realised,
                charges=line.charges,
                net=line.net,
            )
        )
    return rows


def _carried(position: Position, mark: float | None) -> PositionRow:
    unrealised = position.unrealised_pnl(mark) if mark else 0.0
    return PositionRow(
        instrument_token=int(position.instrument_token),
        tradingsymbol=position.tradingsymbol,
        product=position.product.value,
        quantity=position.quantity,
        average_price=position.average_price,
        mark=mark,
        unrealised=unrealised,
        realised=0.0,
        charges=0.0,
        net=unrealised,
    )


def _equity_curve(
    day: date,
    capital: float,
    carried: dict[PositionKey, Position],
    fills: Iterable[Fill],
    symbols: Mapping[int, str],
) -> tuple[tuple[datetime, float], ...]:
    """Capital at the open, then capital plus the day's net P&L after each fill: realised minus
    charges, plus the open quantity valued at each instrument's latest fill price (a position
    carried in and not traded yet is valued at its average, i.e. 0)."""
    book = dict(carried)
    last: dict[int, float] = {}
    curve = [(datetime.combine(day, _SESSION_OPEN, tzinfo=IST).astimezone(UTC), capital)]
    for fill in sorted(fills, key=lambda f: (f.ts_event, f.trade_id.value)):
        key = (fill.instrument_token, fill.product)
        if key not in book:
            symbol = symbols.get(fill.instrument_token, str(fill.instrument_token))
            book[key] = Position(fill.instrument_token, symbol, fill.product)
        book[key] = book[key].apply(fill)
        last[fill.instrument_token] = fill.price
        net = sum(
            p.realised_pnl
            - p.charges
            + p.quantity * (last.get(token, p.average_price) - p.average_price)
            for (token, _), p in book.items()
        )
        curve.append((fill.ts_event, capital + net))
    return tuple(curve)


def _blotter(
    start: datetime,
    end: datetime,
    orders: Sequence[OrderRecord],
    stored: Sequence[StoredFill],
    symbols: Mapping[int, str],
) -> tuple[BlotterRow, ...]:
    by_tag = {o.client_tag.value: o for o in orders}
    slippage: dict[str, float] = {}
    rows = []
    for s in stored:
        fill = s.fill
        tag = "" if fill.client_tag is None else fill.client_tag.value
        if s.slippage is not None and tag:
            slippage[tag] = slippage.get(tag, 0.0) + s.slippage
        if fill.ts_event < start:
            continue
        order = by_tag.get(tag)
        rows.append(
            BlotterRow(
                time=fill.ts_event,
                client_tag=tag,
                purpose="outside" if order is None else order.purpose.value,
                tradingsymbol=symbols.get(fill.instrument_token, str(fill.instrument_token)),
                side=fill.side.value,
                quantity=fill.quantity,
                price=fill.price,
                status="FILLED",
                filled=fill.quantity,
                average_price=fill.price,
                slippage=s.slippage,
                kind="fill",
            )
        )
    for order in orders:
        if not start <= order.created_at < end:
            continue
        intent, latest = order.intent, order.latest
        rows.append(
            BlotterRow(
                time=order.created_at,
                client_tag=intent.client_tag.value,
                purpose=order.purpose.value,
                tradingsymbol=intent.tradingsymbol,
                side=intent.side.value,
                quantity=intent.quantity,
                price=intent.price,
                status=IN_FLIGHT if latest is None else latest.status.value,
                filled=0 if latest is None else latest.filled_quantity,
                average_price=0.0 if latest is None else latest.average_price,
                slippage=slippage.get(intent.client_tag.value),
                kind="order",
            )
        )
    rows.sort(key=lambda r: (r.time, r.kind == "fill", r.client_tag), reverse=True)
    return tuple(rows)
