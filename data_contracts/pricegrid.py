"""Exchange arithmetic: prices on the tick grid, quantities in whole lots, slicing at the freeze.

Prices are computed in :class:`~decimal.Decimal` with exact integer arithmetic, so ``0.1 + 0.2``
rounds to ``0.30`` on a 0.05 grid, not to ``0.30000000000000004``. A float argument is read
through its shortest ``repr`` (``0.05`` means 0.05, not the binary value nearest to it).

Which way to round depends on what the price is for: a BUY limit rounds DOWN so it never pays
more than intended, a SELL limit rounds UP so it never sells for less (:func:`round_for_side`).
Rounding can produce 0 (a price below one tick rounded down); checking that a price is
acceptable to the exchange is the caller's job, not this module's.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from enum import StrEnum

from data_contracts.enums import Side
from data_contracts.errors import ContractError
from data_contracts.validation import integer

__all__ = [
    "Rounding",
    "is_on_grid",
    "is_whole_lots",
    "lots_to_quantity",
    "max_order_quantity",
    "quantity_to_lots",
    "round_for_side",
    "round_to_tick",
    "slice_quantity",
    "to_decimal",
]

DecimalLike = Decimal | float | int | str

_PRICE = "PriceGrid"
_LOTS = "Lots"


class Rounding(StrEnum):
    NEAREST = "nearest"  # ties go up (half a tick above a grid point rounds to the next one)
    DOWN = "down"  # toward -infinity: the grid point at or below the price
    UP = "up"  # toward +infinity: the grid point at or above the price


def to_decimal(value: DecimalLike, field: str = "price") -> Decimal:
    """``value`` as a finite Decimal; a float is taken at its shortest repr (``0.05`` → 0.05)."""
    if isinstance(value, bool):
        raise ContractError(_PRICE, field, value, "must be a finite number")
    try:
        # str() of a float is its shortest repr, and str() of a numpy scalar is its number.
        result = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, TypeError, ValueError):
        raise ContractError(_PRICE, field, value, "must be a finite number") from None
    if not result.is_finite():
        raise ContractError(_PRICE, field, value, "must be a finite number")
    return result


def round_to_tick(
    price: DecimalLike, tick_size: DecimalLike, rounding: Rounding = Rounding.NEAREST
) -> Decimal:
    """``price`` moved onto the grid of multiples of ``tick_size``.

    The result carries the tick's decimal places (``100.05`` on a ``0.05`` grid).
    """
    p, tick = to_decimal(price), _tick(tick_size)
    units, tick_units, exponent = _as_integers(p, tick)
    steps, remainder = divmod(units, tick_units)  # floor division: exact, any sign
    if remainder:
        if rounding is Rounding.UP or (
            rounding is Rounding.NEAREST and 2 * remainder >= tick_units
        ):
            steps += 1
    # steps * tick, written with the tick's own exponent (exact: the tick is a whole number of
    # 10**tick_exponent units, so the product divides by the scale).
    tick_exponent = _exponent(tick)
    return _decimal(steps * tick_units // _pow10(tick_exponent - exponent), tick_exponent)


def round_for_side(price: DecimalLike, tick_size: DecimalLike, side: Side) -> Decimal:
    """A limit price on the grid that never works against us: BUY rounds down, SELL rounds up."""
    return round_to_tick(price, tick_size, Rounding.DOWN if side is Side.BUY else Rounding.UP)


def is_on_grid(price: DecimalLike, tick_size: DecimalLike) -> bool:
    """True when ``price`` is an exact multiple of ``tick_size``.

    A plain float or int price on a plain float tick takes an integer fast path with the same
    answer (:func:`_on_grid_fast`); anything else, or anything it cannot decide, goes through
    ``Decimal`` (which also raises the errors).
    """
    fast = _on_grid_fast(price, tick_size)
    if fast is not None:
        return fast
    units, tick_units, _ = _as_integers(to_decimal(price), _tick(tick_size))
    return units % tick_units == 0


# A float tick (its exact type, so neither a bool nor a numpy scalar) as (k, tick_units,
# 10.0**k, 10**k): the tick's shortest repr is tick_units * 10**-k. Ticks are few; the memo is
# bounded anyway, and a tick that is not cached simply goes through Decimal.
_TICKS: dict[float, tuple[int, int, float, int] | None] = {}
_TICKS_MAX = 256
_MAX_DIGITS = 15  # 10.0**k is exact for k <= 22; far more places than any exchange tick has
# |price| * 10**k below this: the float product is then within 2**-13 of the true one, and one
# float's rounding interval holds at most one multiple of 10**-k (see _on_grid_fast).
_FAST_LIMIT = float(2**40)


def _tick_units(tick_size: float) -> tuple[int, int, float, int] | None:
    cached = _TICKS.get(tick_size, False)
    if cached is not False:
        return cached  # type: ignore[return-value]  # False is the miss marker, never stored
    try:
        tick = _tick(tick_size)
    except ContractError:
        entry = None  # refused: the Decimal path raises the error
    else:
        k = -_exponent(tick)
        entry = None if not 0 <= k <= _MAX_DIGITS else (k, _units(tick, -k), 10.0**k, _pow10(k))
    if len(_TICKS) < _TICKS_MAX:
        _TICKS[tick_size] = entry
    return entry


def _on_grid_fast(price: object, tick_size: object) -> bool | None:
    """:func:`is_on_grid` of a plain float/int price on a plain float tick with integers only, or
    ``None`` when this path does not decide (the caller then uses Decimal).

    A float price means its shortest repr (the value ``Decimal(str(price))``). With the tick's
    repr ``tick_units * 10**-k``: every multiple of the tick is a multiple of ``10**-k``, so the
    price is on the grid iff its repr is some ``n * 10**-k`` with ``n % tick_units == 0``. The
    candidate ``n`` is ``round(price * 10**k)``; it is the repr's value iff ``n / 10**k`` (an
    int division, correctly rounded) reads back as ``price``: below ``_FAST_LIMIT`` the rounding
    interval of ``price`` is narrower than ``10**-k``, so it holds at most that one multiple, and
    the shortest repr, having at most ``k`` places whenever any round-tripping decimal does, is
    it. Otherwise the repr has more than ``k`` places and is not on the grid.
    """
    if type(tick_size) is not float:
        return None
    kind = type(price)
    if kind is not float and kind is not int:
        return None
    entry = _tick_units(tick_size)
    if entry is None:
        return None
    _k, tick_units, scale, scale_int = entry
    if kind is int:
        return (price * scale_int) % tick_units == 0  # type: ignore[operator]  # an int here
    scaled = price * scale  # type: ignore[operator]  # a float here
    if not -_FAST_LIMIT < scaled < _FAST_LIMIT:  # also False for NaN and the infinities
        return None
    n = round(scaled)
    if n / scale_int != price:
        return False
    return n % tick_units == 0


def lots_to_quantity(lots: int, lot_size: int) -> int:
    """The order quantity for ``lots`` lots (F&O quantities are in units, not lots)."""
    integer(_LOTS, "lots", lots, minimum=0)
    integer(_LOTS, "lot_size", lot_size, minimum=1)
    return lots * lot_size


def is_whole_lots(quantity: int, lot_size: int) -> bool:
    integer(_LOTS, "quantity", quantity, minimum=0)
    integer(_LOTS, "lot_size", lot_size, minimum=1)
    return quantity % lot_size == 0


def quantity_to_lots(quantity: int, lot_size: int) -> int:
    """The number of lots in ``quantity``; raises if it is not a whole number of lots."""
    if not is_whole_lots(quantity, lot_size):
        raise ContractError(
            _LOTS, "quantity", quantity, f"must be a whole number of lots of {lot_size}"
        )
    return quantity // lot_size


def max_order_quantity(lot_size: int, freeze_quantity: int) -> int:
    """The largest whole-lot quantity one order may carry under ``freeze_quantity``.

    Reference §1.10 leaves open whether an order of *exactly* the freeze quantity is accepted, so
    we take the safe side and stay strictly below it (at most ``freeze_quantity - 1``): a rejected
    order fails at the exchange, possibly partway through a sliced order, while the safe side at
    worst adds an order.

    That is free when the freeze quantity is not a whole number of lots (NIFTY: lot 65, freeze
    1800, 27 lots = 1755 either way). When it is, each order carries one lot less than the
    exchange may accept, so some quantities need one more order, with its own brokerage (Zerodha
    charges per executed order): with lot 75 and freeze 1800 the largest order is 1725, and 1800
    goes out as 1725 + 75 instead of one order. A freeze quantity of exactly one lot leaves no
    order size at all, and this raises.
    """
    integer(_LOTS, "lot_size", lot_size, minimum=1)
    integer(_LOTS, "freeze_quantity", freeze_quantity, minimum=1)
    lots = (freeze_quantity - 1) // lot_size
    if lots < 1:
        raise ContractError(
            _LOTS,
            "freeze_quantity",
            freeze_quantity,
            f"must exceed one lot ({lot_size}) so that any order can be placed",
        )
    return lots * lot_size


def slice_quantity(quantity: int, lot_size: int, freeze_quantity: int) -> tuple[int, ...]:
    """Split ``quantity`` into child quantities that each fit under the freeze quantity.

    Every child is a whole number of lots and at most :func:`max_order_quantity`; the children
    sum to ``quantity``. Children are as large as allowed, the remainder goes last (the fewest
    orders possible, the same shape as Kite's autoslice). A quantity that already fits is one
    child.
    """
    lots = quantity_to_lots(quantity, lot_size)
    if lots < 1:
        raise ContractError(_LOTS, "quantity", quantity, "must be >= 1 lot")
    largest = max_order_quantity(lot_size, freeze_quantity)
    full, rest = divmod(quantity, largest)
    return (largest,) * full + ((rest,) if rest else ())


def _tick(tick_size: DecimalLike) -> Decimal:
    tick = to_decimal(tick_size, "tick_size")
    if tick <= 0:
        raise ContractError(_PRICE, "tick_size", tick_size, "must be > 0")
    return tick


def _exponent(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int):  # 'n', 'N' or 'F': to_decimal already rejected these
        raise ContractError(_PRICE, "price", value, "must be a finite number")
    return exponent


def _decimal(units: int, exponent: int) -> Decimal:
    """``units * 10**exponent`` built from digits, so no context precision can round it."""
    digits = tuple(int(c) for c in str(abs(units)))
    return Decimal((1 if units < 0 else 0, digits, exponent))


def _as_integers(price: Decimal, tick: Decimal) -> tuple[int, int, int]:
    """``price`` and ``tick`` as integer multiples of a shared power of ten, plus that power.

    Built from the digit tuples, not by Decimal arithmetic, so no context precision can round.
    """
    exponent = min(_exponent(price), _exponent(tick))
    return _units(price, exponent), _units(tick, exponent), exponent


def _units(value: Decimal, exponent: int) -> int:
    sign, digits, _ = value.as_tuple()
    own = _exponent(value)
    magnitude = int("".join(map(str, digits)) or "0") * _pow10(own - exponent)
    return -magnitude if sign else magnitude


def _pow10(n: int) -> int:
    # n >= 0 at every call site; int() pins the type (int ** int is Any to the type checker).
    return int(10**n)
