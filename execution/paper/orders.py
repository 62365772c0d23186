"""Orders of the paper exchange: Kite's form parsed and validated, and the order record.

An order is a sequence of immutable :class:`OrderRecord` states (Kite's order history); a state
change is a new record made with :func:`dataclasses.replace`, never an edit. :func:`parse_place`
and :func:`parse_modify` turn the form the client sends (every value a string, unknown keys
ignored) into a validated request or raise :class:`KiteApiError` with Kite's ``InputException``.
Checks that need the market or the account (price band, freeze, funds) are the venue's and end in
a REJECTED order instead.

Money is :class:`~decimal.Decimal` rupees; :meth:`OrderRecord.to_kite` renders Kite's dict with
floats and IST ``"YYYY-MM-DD HH:MM:SS"`` strings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from data_contracts.enums import Exchange, OrderStatus, OrderType, Product, Side, Validity
from data_contracts.instruments import Instrument
from data_contracts.pricegrid import is_on_grid
from data_contracts.timeutil import IST
from execution.paper.types import KiteApiError

__all__ = [
    "MARKET_PROTECTION_MESSAGE",
    "ModifyRequest",
    "OrderRecord",
    "PlaceRequest",
    "VenueRules",
    "ist_text",
    "number",
    "parse_modify",
    "parse_place",
]

REGULAR: Final = "regular"
INPUT: Final = "InputException"
MARKET_PROTECTION_MESSAGE: Final = (
    "Market orders without market protection are not allowed via API. "
    "Please set market protection or use a Limit order."
)
_TAG = re.compile(r"[A-Za-z0-9]{1,20}")
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class VenueRules:
    """The paper exchange's rule constants (the documented simplifications live here).

    ``auto_protection_pct`` is what ``market_protection=-1`` means; the price bands are the
    equity/futures circuit (``circuit_pct`` of the previous close) and, for options, NSE's limit
    price protection (``option_band_pct`` of the last price above ``option_band_threshold``
    rupees, else ``option_band_abs`` rupees either side).
    """

    auto_protection_pct: Decimal = Decimal(2)
    max_modifications: int = 25
    circuit_pct: Decimal = Decimal(10)
    option_band_pct: Decimal = Decimal(40)
    option_band_abs: Decimal = Decimal(20)
    option_band_threshold: Decimal = Decimal(50)
    mis_leverage: Decimal = Decimal(5)
    futures_margin_pct: Decimal = Decimal(12)
    enforce_market_hours: bool = True


def input_error(message: str) -> KiteApiError:
    return KiteApiError(INPUT, message, 400)


def ist_text(ts: datetime | None) -> str | None:
    """Kite's JSON time: ``"YYYY-MM-DD HH:MM:SS"`` in IST (None stays None)."""
    return None if ts is None else ts.astimezone(IST).strftime("%Y-%m-%d %H:%M:%S")


def number(value: Decimal) -> float | int:
    """A Decimal as Kite shows numbers: an int when whole, else a float."""
    return int(value) if value == value.to_integral_value() else float(value)


# --- the request -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlaceRequest:
    """A validated ``POST /orders/regular`` form (instrument resolved, values typed)."""

    instrument: Instrument
    side: Side
    quantity: int
    product: Product
    order_type: OrderType
    validity: Validity
    validity_ttl: int
    price: Decimal
    trigger_price: Decimal
    disclosed_quantity: int
    market_protection: Decimal
    tag: str | None


@dataclass(frozen=True, slots=True)
class ModifyRequest:
    """The fields a ``PUT /orders/regular/{id}`` form changes (None: keep the order's)."""

    quantity: int | None
    price: Decimal | None
    trigger_price: Decimal | None
    order_type: OrderType | None
    validity: Validity | None
    disclosed_quantity: int | None
    market_protection: Decimal | None


def check_variety(variety: str) -> None:
    if variety != REGULAR:
        raise input_error(
            f"Invalid `variety`: {variety!r} (the paper exchange supports only `regular`)."
        )


def parse_place(
    variety: str,
    params: Mapping[str, str],
    instruments: Mapping[tuple[str, str], Instrument],
) -> PlaceRequest:
    """Validate Kite's place-order form; raise ``InputException`` naming the first bad field."""
    check_variety(variety)
    exchange = _required(params, "exchange")
    symbol = _required(params, "tradingsymbol")
    instrument = instruments.get((exchange, symbol))
    if instrument is None or not instrument.is_tradable:
        raise input_error(
            f"Invalid `tradingsymbol`: {exchange}:{symbol} is not a tradable instrument."
        )
    side = _enum(Side, params, "transaction_type")
    product = _enum(Product, params, "product")
    order_type = _enum(OrderType, params, "order_type")
    validity = _enum(Validity, params, "validity", default="DAY")
    quantity = _int(params, "quantity", required=True, minimum=1) or 0
    request = PlaceRequest(
        instrument=instrument,
        side=side,
        quantity=quantity,
        product=product,
        order_type=order_type,
        validity=validity,
        validity_ttl=_int(params, "validity_ttl", minimum=0) or 0,
        price=_decimal(params, "price") or _ZERO,
        trigger_price=_decimal(params, "trigger_price") or _ZERO,
        disclosed_quantity=_int(params, "disclosed_quantity", minimum=0) or 0,
        market_protection=_protection(params) or _ZERO,
        tag=_tag(params),
    )
    _check_product(instrument, product)
    check_order_fields(
        instrument,
        order_type=request.order_type,
        validity=request.validity,
        validity_ttl=request.validity_ttl,
        quantity=request.quantity,
        price=request.price,
        trigger_price=request.trigger_price,
        market_protection=request.market_protection,
    )
    return request


def parse_modify(variety: str, params: Mapping[str, str]) -> ModifyRequest:
    """Parse Kite's modify form; the venue checks the merged order (:func:`check_order_fields`)."""
    check_variety(variety)
    order_type = _enum(OrderType, params, "order_type") if _given(params, "order_type") else None
    validity = _enum(Validity, params, "validity") if _given(params, "validity") else None
    return ModifyRequest(
        quantity=_int(params, "quantity", minimum=1),
        price=_decimal(params, "price"),
        trigger_price=_decimal(params, "trigger_price"),
        order_type=order_type,
        validity=validity,
        disclosed_quantity=_int(params, "disclosed_quantity", minimum=0),
        market_protection=_protection(params),
    )


def check_order_fields(
    instrument: Instrument,
    *,
    order_type: OrderType,
    validity: Validity,
    validity_ttl: int,
    quantity: int,
    price: Decimal,
    trigger_price: Decimal,
    market_protection: Decimal,
) -> None:
    """The per-order rules that need only the instrument: prices per order type, the tick grid,
    whole lots, market protection, TTL."""
    lot = instrument.lot_size
    if quantity % lot:
        raise input_error(
            f"Quantity should be a multiple of the lot size ({lot}) for "
            f"{instrument.tradingsymbol}; was {quantity}."
        )
    if order_type in (OrderType.LIMIT, OrderType.SL) and price <= 0:
        raise input_error("Invalid `price`: a LIMIT or SL order needs a price > 0.")
    if order_type in (OrderType.SL, OrderType.SL_M) and trigger_price <= 0:
        raise input_error("Invalid `trigger_price`: an SL or SL-M order needs a trigger price > 0.")
    if order_type in (OrderType.MARKET, OrderType.SL_M) and market_protection == 0:
        raise input_error(MARKET_PROTECTION_MESSAGE)
    for value in (price, trigger_price):
        if value > 0 and not is_on_grid(value, instrument.tick_size):
            raise input_error(
                f"Tick size for this script is {instrument.tick_size:g}. Kindly enter the price "
                "in the multiple of tick size for this script."
            )
    if validity is Validity.TTL and validity_ttl < 1:
        raise input_error("Invalid `validity_ttl`: a TTL order needs a lifetime of >= 1 minute.")


def _check_product(instrument: Instrument, product: Product) -> None:
    equity = instrument.exchange is Exchange.NSE and not instrument.instrument_type.is_derivative
    derivative = instrument.exchange is Exchange.NFO
    if product is Product.CNC and not equity:
        raise input_error("Invalid `product`: CNC is only for NSE equity.")
    if product is Product.NRML and not derivative:
        raise input_error("Invalid `product`: NRML is only for NFO futures and options.")
    if not (equity or derivative):
        raise input_error(f"Invalid `exchange`: {instrument.exchange.value} is not traded here.")


def _given(params: Mapping[str, str], key: str) -> bool:
    value = params.get(key)
    return value is not None and str(value).strip() != ""


def _required(params: Mapping[str, str], key: str) -> str:
    if not _given(params, key):
        raise input_error(f"Missing or empty field `{key}`.")
    return str(params[key]).strip()


def _enum(kind: Any, params: Mapping[str, str], key: str, default: str | None = None) -> Any:
    raw = str(params[key]).strip() if _given(params, key) else default
    if raw is None:
        raise input_error(f"Missing or empty field `{key}`.")
    try:
        return kind(raw)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise input_error(f"Invalid `{key}`: {raw!r} (expected one of {allowed}).") from None


def _int(
    params: Mapping[str, str], key: str, *, required: bool = False, minimum: int = 0
) -> int | None:
    if not _given(params, key):
        if required:
            raise input_error(f"Missing or empty field `{key}`.")
        return None
    raw = str(params[key]).strip()
    try:
        value = int(raw)
    except ValueError:
        raise input_error(f"Invalid `{key}`: {raw!r} is not a whole number.") from None
    if value < minimum:
        raise input_error(f"Invalid `{key}`: must be >= {minimum}, was {value}.")
    return value


def _decimal(params: Mapping[str, str], key: str) -> Decimal | None:
    if not _given(params, key):
        return None
    raw = str(params[key]).strip()
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise input_error(f"Invalid `{key}`: {raw!r} is not a number.") from None
    if not value.is_finite() or value < 0:
        raise input_error(f"Invalid `{key}`: must be a finite number >= 0, was {raw!r}.")
    return value


def _protection(params: Mapping[str, str]) -> Decimal | None:
    if not _given(params, "market_protection"):
        return None
    raw = str(params["market_protection"]).strip()
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or not (value == -1 or 0 <= value <= 100):
        raise input_error(
            f"Invalid `market_protection`: {raw!r} (expected 0, a percentage up to 100, or -1)."
        )
    return value


def _tag(params: Mapping[str, str]) -> str | None:
    if not _given(params, "tag"):
        return None
    tag = str(params["tag"])
    if not _TAG.fullmatch(tag):
        raise input_error(f"Invalid `tag`: {tag!r} (at most 20 letters and digits).")
    return tag


# --- the record --------------------------------------------------------------------------------

_DECIMALS = frozenset(
    {"price", "trigger_price", "market_protection", "filled_value", "margin_per_unit"}
)
_TIMES = frozenset(
    {"order_timestamp", "exchange_timestamp", "exchange_update_timestamp", "expires_at"}
)


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """One state of one order: everything Kite shows plus what the venue needs to go on
    (``filled_value`` = sum of price x quantity of the fills, ``margin_per_unit`` blocked for the
    pending quantity, ``modifications`` made, ``expires_at`` for TTL, ``internal_tag`` marks
    the venue's own square-off orders). Times are aware UTC."""

    order_id: str
    exchange_order_id: str | None
    placed_by: str
    status: OrderStatus
    status_message: str | None
    order_timestamp: datetime
    exchange_timestamp: datetime | None
    exchange_update_timestamp: datetime | None
    variety: str
    exchange: Exchange
    tradingsymbol: str
    instrument_token: int
    order_type: OrderType
    transaction_type: Side
    validity: Validity
    validity_ttl: int
    product: Product
    quantity: int
    disclosed_quantity: int
    price: Decimal
    trigger_price: Decimal
    filled_quantity: int
    cancelled_quantity: int
    market_protection: Decimal
    tag: str | None
    tags: tuple[str, ...]
    modified: bool
    modifications: int
    filled_value: Decimal
    margin_per_unit: Decimal
    expires_at: datetime | None
    internal_tag: str | None = None

    @property
    def side(self) -> Side:
        return self.transaction_type

    @property
    def is_final(self) -> bool:
        return self.status.is_final

    @property
    def remaining(self) -> int:
        """Quantity still working at the exchange (0 once final)."""
        return 0 if self.is_final else self.quantity - self.filled_quantity

    @property
    def average_price(self) -> Decimal:
        if not self.filled_quantity:
            return _ZERO
        return self.filled_value / self.filled_quantity

    def to_kite(self) -> dict[str, Any]:
        """Kite's order dict (the keys of ``orders.json`` / ``order_info.json``)."""
        message = self.status_message
        return {
            "account_id": self.placed_by,
            "placed_by": self.placed_by,
            "order_id": self.order_id,
            "exchange_order_id": self.exchange_order_id,
            "parent_order_id": None,
            "status": self.status.value,
            "status_message": message,
            "status_message_raw": None if message is None else f"RMS:{message}",
            "order_timestamp": ist_text(self.order_timestamp),
            "exchange_update_timestamp": ist_text(self.exchange_update_timestamp),
            "exchange_timestamp": ist_text(self.exchange_timestamp),
            "variety": self.variety,
            "modified": self.modified,
            "exchange": self.exchange.value,
            "tradingsymbol": self.tradingsymbol,
            "instrument_token": self.instrument_token,
            "order_type": self.order_type.value,
            "transaction_type": self.transaction_type.value,
            "validity": self.validity.value,
            "validity_ttl": self.validity_ttl,
            "product": self.product.value,
            "quantity": self.quantity,
            "disclosed_quantity": self.disclosed_quantity,
            "price": number(self.price),
            "trigger_price": number(self.trigger_price),
            "average_price": number(_round_price(self.average_price)),
            "filled_quantity": self.filled_quantity,
            "pending_quantity": self.remaining,
            "cancelled_quantity": self.cancelled_quantity,
            "market_protection": number(self.market_protection),
            "meta": {},
            "tag": self.tag,
            "tags": list(self.tags) if self.tags else None,
            "guid": f"paper-{self.order_id}",
            "auction_number": None,
            "terminal_id": None,
        }

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict for the store (:meth:`from_json` reverses it exactly)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _DECIMALS:
                out[f.name] = str(value)
            elif f.name in _TIMES:
                out[f.name] = None if value is None else value.isoformat()
            elif f.name == "tags":
                out[f.name] = list(value)
            elif hasattr(value, "value"):  # the enums
                out[f.name] = value.value
            else:
                out[f.name] = value
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OrderRecord:
        kinds: dict[str, Any] = {
            "status": OrderStatus,
            "exchange": Exchange,
            "order_type": OrderType,
            "transaction_type": Side,
            "validity": Validity,
            "product": Product,
        }
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = data[f.name]
            if f.name in _DECIMALS:
                values[f.name] = Decimal(raw)
            elif f.name in _TIMES:
                values[f.name] = None if raw is None else datetime.fromisoformat(raw)
            elif f.name == "tags":
                values[f.name] = tuple(raw)
            elif f.name in kinds:
                values[f.name] = kinds[f.name](raw)
            else:
                values[f.name] = raw
        return cls(**values)


def _round_price(value: Decimal) -> Decimal:
    # Kite shows average prices to a few decimals; keep 6 so a float shows them cleanly.
    return value.quantize(Decimal("0.000001")) if value else value


def ttl_expiry(placed: datetime, validity: Validity, minutes: int) -> datetime | None:
    return placed + timedelta(minutes=minutes) if validity is Validity.TTL else None
