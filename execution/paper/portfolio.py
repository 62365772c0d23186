"""Positions, holdings and funds, computed from the trades (nothing here is stored).

Positions are per ``(instrument, product)``, Kite's way (reference §2.1): ``quantity`` is signed
(negative = net short), ``value = sell_value - buy_value``, ``pnl = value + quantity x
last_price``. ``net`` covers every trade still open: MIS and NRML from all days (an NRML position
carries over; ``overnight_quantity`` is what it held at the start of the day), CNC only today's
(yesterday's CNC buys are holdings, from the next day only; a sale of them today is a negative
CNC position, as on Kite). ``day`` covers today's trades only.

P&L uses average cost: the open quantity's ``average_price`` is the average buy price of a long
(average sell price of a short); ``realised = min(bought, sold) x (sell_price - buy_price)``;
``unrealised = quantity x (last_price - average_price)``; their sum is ``pnl``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from data_contracts.enums import Exchange, Product, Side
from data_contracts.instruments import Instrument
from execution.paper.accounts import TradeRecord, is_margin_position, ist_day, margin_rate
from execution.paper.matching import decimal_price
from execution.paper.orders import VenueRules, number
from execution.paper.types import Quote

__all__ = ["Funds", "PositionBook", "funds", "holdings_rows", "position_books", "position_rows"]

_ZERO = Decimal(0)
Key = tuple[int, Product]


@dataclass(slots=True)
class _Flow:
    quantity: int = 0
    value: Decimal = _ZERO

    def add(self, trade: TradeRecord) -> None:
        self.quantity += trade.quantity
        self.value += trade.value

    @property
    def price(self) -> Decimal:
        return self.value / self.quantity if self.quantity else _ZERO

    def __add__(self, other: _Flow) -> _Flow:
        return _Flow(self.quantity + other.quantity, self.value + other.value)


@dataclass(slots=True)
class PositionBook:
    """The trades of one ``(instrument, product)`` summed: before today and today, per side."""

    exchange: Exchange
    tradingsymbol: str
    instrument_token: int
    product: Product
    prior_buy: _Flow
    prior_sell: _Flow
    day_buy: _Flow
    day_sell: _Flow

    @property
    def carries(self) -> bool:
        """Whether earlier days' trades belong to today's net position (not for CNC)."""
        return self.product is not Product.CNC

    @property
    def overnight_quantity(self) -> int:
        return self.prior_buy.quantity - self.prior_sell.quantity if self.carries else 0

    @property
    def net_buy(self) -> _Flow:
        return self.prior_buy + self.day_buy if self.carries else self.day_buy

    @property
    def net_sell(self) -> _Flow:
        return self.prior_sell + self.day_sell if self.carries else self.day_sell

    @property
    def net_quantity(self) -> int:
        return self.net_buy.quantity - self.net_sell.quantity


def position_books(trades: Iterable[TradeRecord], today: date) -> dict[Key, PositionBook]:
    books: dict[Key, PositionBook] = {}
    for trade in trades:
        key = (trade.instrument_token, trade.product)
        book = books.get(key)
        if book is None:
            book = PositionBook(
                trade.exchange,
                trade.tradingsymbol,
                trade.instrument_token,
                trade.product,
                _Flow(),
                _Flow(),
                _Flow(),
                _Flow(),
            )
            books[key] = book
        day = ist_day(trade.fill_timestamp)
        if day < today:
            (book.prior_buy if trade.side is Side.BUY else book.prior_sell).add(trade)
        elif day == today:
            (book.day_buy if trade.side is Side.BUY else book.day_sell).add(trade)
    return books


@dataclass(frozen=True, slots=True)
class _Pnl:
    quantity: int
    average: Decimal
    realised: Decimal
    unrealised: Decimal


def _pnl(buy: _Flow, sell: _Flow, last: Decimal) -> _Pnl:
    quantity = buy.quantity - sell.quantity
    average = buy.price if quantity > 0 else sell.price if quantity < 0 else _ZERO
    realised = min(buy.quantity, sell.quantity) * (sell.price - buy.price)
    return _Pnl(quantity, average, realised, quantity * (last - average) if quantity else _ZERO)


def _row(
    book: PositionBook,
    buy: _Flow,
    sell: _Flow,
    overnight: int,
    quote: Quote | None,
) -> dict[str, Any]:
    close = decimal_price(quote.close) if quote is not None else _ZERO
    last_trade = (buy + sell).price
    last = decimal_price(quote.last_price) if quote is not None else last_trade
    pnl = _pnl(buy, sell, last)
    value = sell.value - buy.value
    # Mark-to-market since yesterday: the overnight quantity is valued at the previous close.
    buy_m2m = book.day_buy.value + max(overnight, 0) * close
    sell_m2m = book.day_sell.value + max(-overnight, 0) * close
    return {
        "tradingsymbol": book.tradingsymbol,
        "exchange": book.exchange.value,
        "instrument_token": book.instrument_token,
        "product": book.product.value,
        "quantity": pnl.quantity,
        "overnight_quantity": overnight,
        "multiplier": 1,
        "average_price": number(pnl.average),
        "close_price": number(close),
        "last_price": number(last),
        "value": number(value),
        "pnl": number(pnl.realised + pnl.unrealised),
        "m2m": number(sell_m2m - buy_m2m + pnl.quantity * last),
        "unrealised": number(pnl.unrealised),
        "realised": number(pnl.realised),
        "buy_quantity": buy.quantity,
        "buy_price": number(buy.price),
        "buy_value": number(buy.value),
        "buy_m2m": number(buy_m2m),
        "sell_quantity": sell.quantity,
        "sell_price": number(sell.price),
        "sell_value": number(sell.value),
        "sell_m2m": number(sell_m2m),
        "day_buy_quantity": book.day_buy.quantity,
        "day_buy_price": number(book.day_buy.price),
        "day_buy_value": number(book.day_buy.value),
        "day_sell_quantity": book.day_sell.quantity,
        "day_sell_price": number(book.day_sell.price),
        "day_sell_value": number(book.day_sell.value),
    }


def position_rows(
    books: Mapping[Key, PositionBook], quotes: Callable[[int], Quote | None]
) -> dict[str, list[dict[str, Any]]]:
    """Kite's ``{"net": [...], "day": [...]}``."""
    net: list[dict[str, Any]] = []
    day: list[dict[str, Any]] = []
    for book in books.values():
        quote = quotes(book.instrument_token)
        if book.net_buy.quantity or book.net_sell.quantity:
            net.append(_row(book, book.net_buy, book.net_sell, book.overnight_quantity, quote))
        if book.day_buy.quantity or book.day_sell.quantity:
            day.append(_row(book, book.day_buy, book.day_sell, 0, quote))
    return {"net": net, "day": day}


def holdings_rows(
    books: Mapping[Key, PositionBook], quotes: Callable[[int], Quote | None], today: date
) -> list[dict[str, Any]]:
    """Kite's holdings: the CNC shares carried into today (earlier days' CNC buys less earlier
    days' CNC sells) as ``quantity``, ``realised_quantity`` and ``opening_quantity``; today's
    sales of them (what today's sells exceed today's buys by) as ``used_quantity``.

    Today's CNC buys are not holdings: Kite shows them in the positions on the day of purchase
    and in the holdings from the next trading day (Kite user manual, "Portfolio"); they are here
    from the next day. There they are delivered at once: ``t1_quantity`` is 0 (Kite shows the
    previous session's buys as T1 until the depository delivers them; the venue does not
    model settlement, and ``quantity`` — T1 plus realised — is the same either way)."""
    rows: list[dict[str, Any]] = []
    for book in books.values():
        if book.product is not Product.CNC:
            continue
        carried = book.prior_buy.quantity - book.prior_sell.quantity
        if carried <= 0:
            continue
        used = min(max(book.day_sell.quantity - book.day_buy.quantity, 0), carried)
        average = book.prior_buy.price
        quote = quotes(book.instrument_token)
        last = decimal_price(quote.last_price) if quote is not None else average
        close = decimal_price(quote.close) if quote is not None else _ZERO
        change = last - close if close else _ZERO
        rows.append(
            {
                "tradingsymbol": book.tradingsymbol,
                "exchange": book.exchange.value,
                "instrument_token": book.instrument_token,
                "isin": "",
                "product": "CNC",
                "price": 0,
                "quantity": carried,
                "used_quantity": used,
                "t1_quantity": 0,
                "realised_quantity": carried,
                "authorised_quantity": 0,
                "authorised_date": f"{today.isoformat()} 00:00:00",
                "authorisation": {},
                "opening_quantity": carried,
                "short_quantity": 0,
                "collateral_quantity": 0,
                "collateral_type": "",
                "discrepancy": False,
                "average_price": number(average),
                "last_price": number(last),
                "close_price": number(close),
                "pnl": number((carried - used) * (last - average)),
                "day_change": number(change),
                "day_change_percentage": float(change / close * 100) if close else 0.0,
                "mtf": {
                    "quantity": 0,
                    "used_quantity": 0,
                    "average_price": 0,
                    "value": 0,
                    "initial_margin": 0,
                },
            }
        )
    return rows


@dataclass(frozen=True, slots=True)
class Funds:
    """What the open positions do to the funds: ``add_back`` (cash that went into margin
    positions, returned), ``span`` (futures margin held), ``exposure`` (equity MIS margin held),
    ``m2m_loss`` (unrealised losses of margin positions, <= 0), ``option_premium`` (today's net
    premium paid), ``delivery`` (today's net CNC buy value)."""

    add_back: Decimal
    span: Decimal
    exposure: Decimal
    m2m_loss: Decimal
    option_premium: Decimal
    delivery: Decimal

    @property
    def adjustment(self) -> Decimal:
        """Added to cash to give the funds available before open orders."""
        return self.add_back - self.span - self.exposure + self.m2m_loss


def funds(
    books: Mapping[Key, PositionBook],
    instruments: Callable[[Exchange, str], Instrument | None],
    quotes: Callable[[int], Quote | None],
    rules: VenueRules,
) -> Funds:
    add_back = span = exposure = unrealised = premium = delivery = _ZERO
    for book in books.values():
        instrument = instruments(book.exchange, book.tradingsymbol)
        if instrument is None:
            continue
        if instrument.is_option:
            premium += book.day_buy.value - book.day_sell.value
        elif book.product is Product.CNC:
            delivery += book.day_buy.value - book.day_sell.value
        if not is_margin_position(instrument, book.product) or not book.net_quantity:
            continue
        quote = quotes(book.instrument_token)
        pnl = _pnl(book.net_buy, book.net_sell, _ZERO)
        last = decimal_price(quote.last_price) if quote is not None else pnl.average
        basis = pnl.quantity * pnl.average
        held = abs(basis) * margin_rate(instrument, book.product, rules)
        add_back += basis
        if instrument.is_future:
            span += held
        else:
            exposure += held
        unrealised += pnl.quantity * (last - pnl.average)
    return Funds(add_back, span, exposure, min(unrealised, _ZERO), premium, delivery)
