"""Kite's funds and charges statements of the paper venue: ``/user/margins``,
``/margins/orders`` and ``/charges/orders`` rows, from numbers the venue computes.

Order margins price each order on its own (existing positions are not considered, as in Kite's
``/margins/orders``): option BUY needs the premium (``option_premium``), futures a flat share of
the notional (``span``), equity the notional over the leverage (``var``; CNC leverage 1, MIS 5).
Selling options is not supported in paper, so an option SELL needs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from data_contracts.charges import ChargeBreakdown
from data_contracts.enums import Product, Side
from data_contracts.instruments import Instrument
from execution.paper.accounts import kite_charges, margin_rate
from execution.paper.orders import REGULAR, VenueRules, input_error, number

__all__ = [
    "OrderLine",
    "contract_note_row",
    "order_margin_row",
    "parse_order_line",
    "segment_margins",
]

_ZERO = Decimal(0)
_UTILISED = (
    "debits",
    "exposure",
    "m2m_realised",
    "m2m_unrealised",
    "option_premium",
    "payout",
    "span",
    "holding_sales",
    "turnover",
    "liquid_collateral",
    "stock_collateral",
    "delivery",
)


@dataclass(frozen=True, slots=True)
class OrderLine:
    """One order of a ``/margins/orders`` or ``/charges/orders`` body, typed. ``price`` is 0
    when the body gave none (the venue then uses the last price)."""

    instrument: Instrument
    side: Side
    product: Product
    quantity: int
    price: Decimal


def parse_order_line(
    item: Mapping[str, Any],
    instruments: Mapping[tuple[str, str], Instrument],
    price_key: str,
) -> OrderLine:
    """Read one order of a JSON body (values may be numbers or strings); bad ones raise
    ``InputException``."""
    key = (str(item.get("exchange", "")), str(item.get("tradingsymbol", "")))
    instrument = instruments.get(key)
    if instrument is None:
        raise input_error(f"Invalid `tradingsymbol`: {key[0]}:{key[1]}.")
    try:
        side = Side(str(item["transaction_type"]))
        product = Product(str(item["product"]))
        quantity = int(str(item["quantity"]))
        price = Decimal(str(item.get(price_key) or item.get("price") or 0))
    except (KeyError, ValueError, ArithmeticError) as exc:
        raise input_error(f"Invalid order in the list: {exc!r}.") from None
    return OrderLine(instrument, side, product, quantity, price)


def order_margin_row(
    line: OrderLine, charges: ChargeBreakdown, rules: VenueRules
) -> dict[str, Any]:
    """One element of Kite's ``/margins/orders`` answer."""
    instrument = line.instrument
    rate = margin_rate(instrument, line.product, rules)
    needed = line.price * line.quantity * rate
    premium = needed if instrument.is_option and line.side is Side.BUY else _ZERO
    span = needed if instrument.is_future else _ZERO
    var = needed if not instrument.instrument_type.is_derivative else _ZERO
    leverage = 1 / rate if var else Decimal(1)
    return {
        "type": "equity",
        "tradingsymbol": instrument.tradingsymbol,
        "exchange": instrument.exchange.value,
        "span": float(span),
        "exposure": 0.0,
        "option_premium": float(premium),
        "additional": 0.0,
        "bo": 0.0,
        "cash": 0.0,
        "var": float(var),
        "pnl": {"realised": 0.0, "unrealised": 0.0},
        "leverage": number(leverage),
        "charges": kite_charges(charges),
        "total": float(premium + span + var),
    }


def contract_note_row(
    line: OrderLine, item: Mapping[str, Any], charges: ChargeBreakdown
) -> dict[str, Any]:
    """One element of Kite's ``/charges/orders`` (virtual contract note) answer."""
    return {
        "transaction_type": line.side.value,
        "tradingsymbol": line.instrument.tradingsymbol,
        "exchange": line.instrument.exchange.value,
        "variety": str(item.get("variety", REGULAR)),
        "product": line.product.value,
        "order_type": str(item.get("order_type", "LIMIT")),
        "quantity": line.quantity,
        "price": number(line.price),
        "charges": kite_charges(charges),
    }


def segment_margins(
    enabled: bool, opening: Decimal, net: Decimal, utilised: Mapping[str, Decimal]
) -> dict[str, Any]:
    """One segment of ``/user/margins``: ``available.cash`` is the opening balance, ``net`` the
    funds available now, and ``utilised.debits = cash - net`` (so ``net = cash - debits``)."""
    used = {name: float(utilised.get(name, _ZERO)) for name in _UTILISED}
    used["debits"] = float(opening - net)
    return {
        "enabled": enabled,
        "net": float(net),
        "available": {
            "adhoc_margin": 0.0,
            "cash": float(opening),
            "opening_balance": float(opening),
            "live_balance": float(net),
            "collateral": 0.0,
            "intraday_payin": 0.0,
        },
        "utilised": used,
    }
