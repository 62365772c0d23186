"""Kite's order, trade and position dicts as domain objects, converted once, at the boundary.

The rows are what ``kiteconnect`` returns (``orders()``, ``order_history()``, ``trades()``,
``positions()["net"]``) or what arrives as an order update on the WebSocket / a postback (the same
order object plus ``user_id``, ``checksum``...). Timestamps are Kite's IST wall time, naive
``datetime``s when the client parsed them (19-character strings) and strings otherwise; both
become aware UTC here (:func:`~execution.kite.historical.kite_time_to_utc`).

Facts relied on (reference ``kite-connect.md`` §1.7-§1.9): the order statuses; ``tag`` is our
idempotency key (at most 20 letters and digits) and ``tags`` may also hold Kite's own markers
(``mktp``, ``autoslice``), which are never taken for ours; a trade's ``order_timestamp`` is a bare
time of day, so the fill's time is ``exchange_timestamp`` (else ``fill_timestamp``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime
from types import MappingProxyType
from typing import Any, Final, TypeVar

from data_contracts.charges import ChargesModel
from data_contracts.enums import ChargeSegment, Exchange, OrderStatus, Product, Side
from data_contracts.errors import ContractError
from data_contracts.ids import ClientTag, InstrumentToken, OrderId, TradeId
from data_contracts.timeutil import IST
from data_contracts.trading import Fill, OrderEvent, Position
from execution.kite.historical import kite_time_to_utc

__all__ = [
    "KITE_ORDER_STATUSES",
    "charge_segment",
    "client_tag_of",
    "fill_charges",
    "order_status",
    "parse_order",
    "parse_position",
    "parse_trade",
]

_E = TypeVar("_E", Side, Product, Exchange)

_ORDER: Final = "KiteOrder"
_TRADE: Final = "KiteTrade"
_POSITION: Final = "KitePosition"

# Every status Kite reports for a regular order, and the domain status it means. The enum's
# values are Kite's spellings; two more words appear on the wire:
# - "CANCELLED AMO": an after-market order cancelled before the open (final, like CANCELLED);
# - "UPDATE": postbacks/WS updates use it for a modification or a partial fill of a working order.
#   It names no state; the order is still working, so it is reported as OPEN (a modified SL order
#   waiting for its trigger shows OPEN until its next update or the order book says otherwise).
KITE_ORDER_STATUSES: Final[Mapping[str, OrderStatus]] = MappingProxyType(
    {status.value: status for status in OrderStatus}
    | {"CANCELLED AMO": OrderStatus.CANCELLED, "UPDATE": OrderStatus.OPEN}
)

# The exchanges the one charges model prices (Zerodha's NSE equity and F&O rates).
_PRICED_EXCHANGES: Final = frozenset({Exchange.NSE, Exchange.NFO})
_DERIVATIVE_EXCHANGES: Final = frozenset({Exchange.NFO, Exchange.BFO})


def order_status(value: object) -> OrderStatus:
    """The domain status of Kite's ``status`` string; an unknown one raises ContractError (a
    status we cannot name must not be guessed)."""
    status = KITE_ORDER_STATUSES.get(value) if isinstance(value, str) else None
    if status is None:
        rule = f"must be one of Kite's order statuses ({', '.join(sorted(KITE_ORDER_STATUSES))})"
        raise ContractError(_ORDER, "status", value, rule)
    return status


def client_tag_of(row: Mapping[str, Any]) -> ClientTag | None:
    """The order's ``tag`` as our :class:`ClientTag`, or None when it has none or one we could
    not have sent (spaces, too long: an order placed by someone else)."""
    tag = row.get("tag")
    if not isinstance(tag, str):
        return None
    try:
        return ClientTag(tag)
    except ContractError:
        return None


def parse_order(row: Mapping[str, Any], ts_init: datetime) -> OrderEvent:
    """One order row (order book, order history, WS order update or postback) as an
    :class:`OrderEvent`.

    ``ts_event`` is the latest of Kite's times the row has: ``exchange_update_timestamp``, else
    ``exchange_timestamp``, else ``order_timestamp``. An order without a valid tag is not one of
    ours and raises ContractError (check :func:`client_tag_of` first to skip such rows).
    """
    order_id = _text(row, "order_id", _ORDER)
    tag = client_tag_of(row)
    if tag is None:
        rule = "must be a Kite tag of 1-20 letters or digits (an untagged order is not ours)"
        raise ContractError(_ORDER, "tag", row.get("tag"), rule, order_id)
    when = _first_time(
        row, ("exchange_update_timestamp", "exchange_timestamp", "order_timestamp"), _ORDER
    )
    message = row.get("status_message")
    return OrderEvent(
        client_tag=tag,
        order_id=OrderId(order_id),
        status=order_status(row.get("status")),
        ts_event=when,
        ts_init=ts_init,
        quantity=_whole(row, "quantity", _ORDER, order_id),
        filled_quantity=_whole(row, "filled_quantity", _ORDER, order_id, default=0),
        average_price=_number(row, "average_price", _ORDER, order_id, default=0.0),
        status_message=message if isinstance(message, str) else "",
    )


def parse_trade(
    row: Mapping[str, Any],
    ts_init: datetime,
    tag_of: Mapping[str, ClientTag],
    *,
    charges: ChargesModel | None = None,
) -> Fill:
    """One trade-book row as a :class:`Fill`; ``tag_of`` maps order ids to our tags (from the
    order book: the trade row has none). With ``charges`` the fill carries the charges of its
    leg (:func:`fill_charges`); without, 0.0."""
    trade_id = _text(row, "trade_id", _TRADE)
    order_id = _text(row, "order_id", _TRADE, trade_id)
    side = _enum(row, "transaction_type", Side, _TRADE, trade_id)
    product = _enum(row, "product", Product, _TRADE, trade_id)
    quantity = _whole(row, "quantity", _TRADE, trade_id)
    price = _number(row, "average_price", _TRADE, trade_id)
    when = _first_time(row, ("exchange_timestamp", "fill_timestamp"), _TRADE, trade_id)
    fill = Fill(
        trade_id=TradeId(trade_id),
        order_id=OrderId(order_id),
        client_tag=tag_of.get(order_id),
        instrument_token=InstrumentToken(_whole(row, "instrument_token", _TRADE, trade_id)),
        side=side,
        product=product,
        quantity=quantity,
        price=price,
        ts_event=when,
        ts_init=ts_init,
    )
    if charges is None:
        return fill
    exchange = _enum(row, "exchange", Exchange, _TRADE, trade_id)
    tradingsymbol = _text(row, "tradingsymbol", _TRADE, trade_id)
    amount = fill_charges(charges, exchange, tradingsymbol, fill, when.astimezone(IST).date())
    return replace(fill, charges=amount)


def parse_position(row: Mapping[str, Any]) -> Position:
    """One row of ``positions()["net"]`` as a :class:`Position`: signed ``quantity``,
    ``average_price`` (0 once flat), ``realised`` as ``realised_pnl``. Kite's rows carry no
    charges (``charges`` stays 0; the fills carry them). A product we do not trade (``CO``,
    ``BO``, ``MTF``) raises ContractError."""
    symbol = _text(row, "tradingsymbol", _POSITION)
    quantity = _signed(row, "quantity", _POSITION, symbol)
    average = _number(row, "average_price", _POSITION, symbol, default=0.0)
    return Position(
        instrument_token=InstrumentToken(_whole(row, "instrument_token", _POSITION, symbol)),
        tradingsymbol=symbol,
        product=_enum(row, "product", Product, _POSITION, symbol),
        quantity=quantity,
        average_price=average if quantity != 0 else 0.0,
        realised_pnl=_number(row, "realised", _POSITION, symbol, default=0.0, signed=True),
    )


def charge_segment(exchange: Exchange, tradingsymbol: str, product: Product) -> ChargeSegment:
    """How Zerodha charges a trade: F&O by contract (``...FUT`` futures, ``...CE``/``...PE``
    options), equity by product (CNC delivery, otherwise intraday)."""
    if exchange in _DERIVATIVE_EXCHANGES:
        if tradingsymbol.endswith("FUT"):
            return ChargeSegment.FUTURES
        if tradingsymbol.endswith(("CE", "PE")):
            return ChargeSegment.OPTIONS
        rule = "must end in FUT, CE or PE for a derivatives exchange"
        raise ContractError(_TRADE, "tradingsymbol", tradingsymbol, rule)
    return ChargeSegment.DELIVERY if product is Product.CNC else ChargeSegment.INTRADAY


def fill_charges(
    charges: ChargesModel, exchange: Exchange, tradingsymbol: str, fill: Fill, on: date
) -> float:
    """The charges of one fill as one leg of the charges model, in rupees (exact total as a
    float). Exchanges the model does not price (BSE, currency, commodity) and days before its
    horizon give 0.0. The DP charge (per scrip per day of a delivery sale, not per order) is not
    included."""
    if exchange not in _PRICED_EXCHANGES or on < charges.valid_from:
        return 0.0
    segment = charge_segment(exchange, tradingsymbol, fill.product)
    return float(charges.leg(segment, fill.side, fill.price, fill.quantity, on).total)


# --- field readers: each names the row's field and the record when it is wrong -------------------


def _text(row: Mapping[str, Any], key: str, owner: str, subject: str | None = None) -> str:
    value = row.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise ContractError(owner, key, value, "must be a non-empty string", subject)
    return value


def _whole(
    row: Mapping[str, Any],
    key: str,
    owner: str,
    subject: str | None,
    *,
    default: int | None = None,
) -> int:
    value = row.get(key)
    if value is None and default is not None:
        return default
    number = _signed_value(value)
    if number is None or number < 0:
        raise ContractError(owner, key, value, "must be a whole number >= 0", subject)
    return number


def _signed(row: Mapping[str, Any], key: str, owner: str, subject: str | None) -> int:
    value = row.get(key)
    number = _signed_value(value)
    if number is None:
        raise ContractError(owner, key, value, "must be a whole number", subject)
    return number


def _signed_value(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _number(
    row: Mapping[str, Any],
    key: str,
    owner: str,
    subject: str | None,
    *,
    default: float | None = None,
    signed: bool = False,
) -> float:
    value = row.get(key)
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise ContractError(owner, key, value, "must be a number", subject)
    if not signed and value < 0:
        raise ContractError(owner, key, value, "must be >= 0", subject)
    return float(value)


def _enum(row: Mapping[str, Any], key: str, kind: type[_E], owner: str, subject: str | None) -> _E:
    value = row.get(key)
    if isinstance(value, str) and value in kind.__members__.values():
        return kind(value)
    allowed = ", ".join(member.value for member in kind)
    raise ContractError(owner, key, value, f"must be one of {allowed}", subject)


def _first_time(
    row: Mapping[str, Any], keys: tuple[str, ...], owner: str, subject: str | None = None
) -> datetime:
    for key in keys:
        value = row.get(key)
        if value is not None and value != "":
            if not isinstance(value, datetime | str):
                raise ContractError(owner, key, value, "must be a Kite timestamp", subject)
            return kite_time_to_utc(value)
    raise ContractError(owner, keys[0], None, f"one of {', '.join(keys)} is required", subject)
