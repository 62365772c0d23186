"""The account of the paper exchange: trades, the cash ledger, charges and funds.

Every fill moves cash by its full value (BUY pays price x quantity, SELL receives it) and debits
the order's charges from the one charges model (:class:`~data_contracts.charges.ChargesModel`),
so ``cash - starting cash == sells - buys - charges`` always. Leverage is accounted on top of
that, not in the ledger: for *margin positions* (equity MIS, futures) the cash that went into the
open quantity is added back and only the margin is held (``docs/paper-exchange.md``).

Charges are per executed order, as Zerodha bills them: after each fill the order's charges are
recomputed from its cumulative turnover and the difference is debited, so an order filled in
three trades pays one brokerage. A delivery (CNC) sell also pays the DP charge once per scrip and
day.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from data_contracts.charges import ChargeBreakdown, ChargesModel
from data_contracts.enums import ChargeSegment, Exchange, Product, Side
from data_contracts.instruments import Instrument
from data_contracts.timeutil import IST
from execution.paper.orders import OrderRecord, VenueRules, ist_text, number

__all__ = [
    "Account",
    "LedgerEntry",
    "TradeRecord",
    "charge_segment",
    "is_margin_position",
    "kite_charges",
    "margin_rate",
]

_ZERO = Decimal(0)
_HUNDRED = Decimal(100)
_ITEMS = ("brokerage", "stt", "exchange_txn", "sebi", "stamp_duty", "gst", "dp")


def ist_day(ts: datetime) -> date:
    return ts.astimezone(IST).date()


def charge_segment(instrument: Instrument, product: Product) -> ChargeSegment:
    """How a trade is charged: options, futures, or equity delivery (CNC) / intraday (MIS)."""
    if instrument.is_option:
        return ChargeSegment.OPTIONS
    if instrument.is_future:
        return ChargeSegment.FUTURES
    return ChargeSegment.DELIVERY if product is Product.CNC else ChargeSegment.INTRADAY


def is_margin_position(instrument: Instrument, product: Product) -> bool:
    """Positions held on margin (the cash in them is added back, the margin held): equity MIS
    and futures. Options are paid in full (premium), CNC in full (delivery)."""
    return instrument.is_future or (not instrument.is_option and product is Product.MIS)


def margin_rate(instrument: Instrument, product: Product, rules: VenueRules) -> Decimal:
    """Funds needed per rupee of notional to open a position: premium and CNC in full, equity
    MIS 1/leverage, futures a flat ``futures_margin_pct``."""
    if instrument.is_future:
        return rules.futures_margin_pct / _HUNDRED
    if instrument.is_option or product is Product.CNC:
        return Decimal(1)
    return 1 / rules.mis_leverage


def kite_charges(charges: ChargeBreakdown) -> dict[str, Any]:
    """Kite's ``charges`` object (virtual contract note, order margins). The DP charge is not on
    a contract note (Zerodha debits it to the ledger), so ``total`` here excludes it."""
    gst = float(charges.gst)
    return {
        "transaction_tax": float(charges.stt),
        "transaction_tax_type": "stt",
        "exchange_turnover_charge": float(charges.exchange_txn),
        "sebi_turnover_charge": float(charges.sebi),
        "brokerage": float(charges.brokerage),
        "stamp_duty": float(charges.stamp_duty),
        "gst": {"igst": gst, "cgst": 0.0, "sgst": 0.0, "total": gst},
        "total": float(charges.total - charges.dp),
    }


def breakdown_json(charges: ChargeBreakdown) -> dict[str, str]:
    return {name: str(getattr(charges, name)) for name in _ITEMS}


def breakdown_from_json(data: Mapping[str, str]) -> ChargeBreakdown:
    return ChargeBreakdown(**{name: Decimal(data[name]) for name in _ITEMS})


@dataclass(frozen=True, slots=True)
class TradeRecord:
    """One fill."""

    trade_id: str
    order_id: str
    exchange_order_id: str | None
    exchange: Exchange
    tradingsymbol: str
    instrument_token: int
    product: Product
    side: Side
    price: Decimal
    quantity: int
    fill_timestamp: datetime
    order_timestamp: datetime

    @property
    def value(self) -> Decimal:
        return self.price * self.quantity

    def to_kite(self) -> dict[str, Any]:
        return {
            "trade_id": self.trade_id,
            "order_id": self.order_id,
            "exchange": self.exchange.value,
            "tradingsymbol": self.tradingsymbol,
            "instrument_token": self.instrument_token,
            "product": self.product.value,
            "average_price": number(self.price),
            "quantity": self.quantity,
            "exchange_order_id": self.exchange_order_id,
            "transaction_type": self.side.value,
            "fill_timestamp": ist_text(self.fill_timestamp),
            # Kite's trade book shows only the time of the order here.
            "order_timestamp": self.order_timestamp.astimezone(IST).strftime("%H:%M:%S"),
            "exchange_timestamp": ist_text(self.fill_timestamp),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "trade_id": self.trade_id,
            "order_id": self.order_id,
            "exchange_order_id": self.exchange_order_id,
            "exchange": self.exchange.value,
            "tradingsymbol": self.tradingsymbol,
            "instrument_token": self.instrument_token,
            "product": self.product.value,
            "side": self.side.value,
            "price": str(self.price),
            "quantity": self.quantity,
            "fill_timestamp": self.fill_timestamp.isoformat(),
            "order_timestamp": self.order_timestamp.isoformat(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TradeRecord:
        return cls(
            trade_id=data["trade_id"],
            order_id=data["order_id"],
            exchange_order_id=data["exchange_order_id"],
            exchange=Exchange(data["exchange"]),
            tradingsymbol=data["tradingsymbol"],
            instrument_token=data["instrument_token"],
            product=Product(data["product"]),
            side=Side(data["side"]),
            price=Decimal(data["price"]),
            quantity=data["quantity"],
            fill_timestamp=datetime.fromisoformat(data["fill_timestamp"]),
            order_timestamp=datetime.fromisoformat(data["order_timestamp"]),
        )


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One movement of cash: ``deposit`` (the starting cash), ``trade`` (signed trade value),
    ``charges`` (an order's charges so far minus what was already debited; ``detail`` holds the
    order's cumulative breakdown) or ``dp`` (one DP charge)."""

    ts: datetime
    kind: str
    amount: Decimal
    ref: str
    detail: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "ts": self.ts.isoformat(),
            "kind": self.kind,
            "amount": str(self.amount),
            "ref": self.ref,
            "detail": dict(self.detail),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LedgerEntry:
        return cls(
            ts=datetime.fromisoformat(data["ts"]),
            kind=data["kind"],
            amount=Decimal(data["amount"]),
            ref=data["ref"],
            detail=dict(data["detail"]),
        )


class Account:
    """Trades, the cash ledger and per-order charges of one user (not thread-safe: the venue's
    lock guards it)."""

    def __init__(self, charges: ChargesModel) -> None:
        self._charges = charges
        self.trades: list[TradeRecord] = []
        self.ledger: list[LedgerEntry] = []
        self.cash = _ZERO
        self.order_charges: dict[str, ChargeBreakdown] = {}
        self._dp_days: set[str] = set()

    def restore(self, trades: Iterable[TradeRecord], ledger: Iterable[LedgerEntry]) -> None:
        for trade in trades:
            self.trades.append(trade)
        for entry in ledger:
            self._post(entry)

    def deposit(self, amount: Decimal, ts: datetime) -> LedgerEntry:
        entry = LedgerEntry(ts, "deposit", amount, "opening")
        self._post(entry)
        return entry

    def record_fill(
        self,
        order: OrderRecord,
        instrument: Instrument,
        trade: TradeRecord,
    ) -> list[LedgerEntry]:
        """Book ``trade`` (a fill of ``order``, which already carries the fill in its
        ``filled_value``): the trade's cash, the order's extra charges, a DP charge."""
        self.trades.append(trade)
        ts = trade.fill_timestamp
        signed = trade.value if trade.side is Side.SELL else -trade.value
        entries = [LedgerEntry(ts, "trade", signed, trade.trade_id)]
        segment = charge_segment(instrument, order.product)
        # Every item depends only on turnover, so one "unit" at the order's turnover prices the
        # whole order exactly (leg(p, q) == leg(p * q, 1)).
        cumulative = self._charges.leg(segment, order.side, order.filled_value, 1, ist_day(ts))
        before = self.order_charges.get(order.order_id, ChargeBreakdown())
        extra = cumulative.total - before.total
        if extra:
            entries.append(
                LedgerEntry(ts, "charges", -extra, order.order_id, breakdown_json(cumulative))
            )
        if segment is ChargeSegment.DELIVERY and trade.side is Side.SELL:
            key = f"{trade.instrument_token}:{ist_day(ts).isoformat()}"
            if key not in self._dp_days:
                dp = self._charges.dp_charge(ist_day(ts)).total
                entries.append(LedgerEntry(ts, "dp", -dp, key))
        for entry in entries:
            self._post(entry)
        return entries

    def _post(self, entry: LedgerEntry) -> None:
        self.ledger.append(entry)
        self.cash += entry.amount
        if entry.kind == "charges":
            self.order_charges[entry.ref] = breakdown_from_json(entry.detail)
        elif entry.kind == "dp":
            self._dp_days.add(entry.ref)

    def cash_before(self, day: date) -> Decimal:
        """The cash at the start of ``day`` (IST)."""
        return sum((e.amount for e in self.ledger if ist_day(e.ts) < day), _ZERO)

    def opening_balance(self, day: date) -> Decimal:
        """Kite's ``opening_balance`` for ``day``: the cash at its start plus the day's deposits
        (the paper account is funded when the exchange first starts, which may be that day)."""
        return self.cash_before(day) + sum(
            (e.amount for e in self.ledger if e.kind == "deposit" and ist_day(e.ts) == day), _ZERO
        )

    def charges_debited(self) -> Decimal:
        return -sum((e.amount for e in self.ledger if e.kind in ("charges", "dp")), _ZERO)
