"""Vectorised rounding onto an tick grid, by the same rule as ``data_contracts.pricegrid``.

:func:`data_contracts.pricegrid.round_to_tick` is exact but works one ``Decimal`` at a time; the
simulator rounds hundreds of thousands of prices a day, so it rounds arrays here with the same
rule (nearest, ties up) in integer tick units. A float is first brought to nine decimals of a tick,
so a price that is a tie when read as a decimal (``100.025`` on a ``0.05`` grid) rounds up as
``round_to_tick`` rounds it, not down as its binary value would. The tests check this agreement.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import numpy.typing as npt

from data_contracts.errors import ContractError
from data_contracts.pricegrid import to_decimal

__all__ = [
    "FloatArray",
    "IntArray",
    "ceil_ticks",
    "from_ticks",
    "ticks_per_unit",
    "to_grid",
    "to_ticks",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_TIE_DECIMALS = 9


def ticks_per_unit(tick_size: float) -> int:
    """How many ticks make one rupee (20 for 0.05); the tick must divide one rupee exactly."""
    tick = to_decimal(tick_size, "tick_size")
    if tick <= 0:
        raise ContractError("PriceGrid", "tick_size", tick_size, "must be > 0")
    per_unit = Decimal(1) / tick
    if per_unit != per_unit.to_integral_value():
        raise ContractError("PriceGrid", "tick_size", tick_size, "must divide 1 exactly")
    return int(per_unit)


def to_ticks(prices: npt.ArrayLike, tick_size: float, *, floor_ticks: int = 0) -> IntArray:
    """``prices`` as whole numbers of ticks (nearest, ties up), never below ``floor_ticks``."""
    scaled = np.round(
        np.asarray(prices, dtype=np.float64) * ticks_per_unit(tick_size), _TIE_DECIMALS
    )
    units: IntArray = np.floor(scaled + 0.5).astype(np.int64)
    return np.maximum(units, floor_ticks)


def ceil_ticks(prices: npt.ArrayLike, tick_size: float) -> IntArray:
    """``prices`` as whole ticks rounded up (``pricegrid``'s ``Rounding.UP``)."""
    scaled = np.round(
        np.asarray(prices, dtype=np.float64) * ticks_per_unit(tick_size), _TIE_DECIMALS
    )
    units: IntArray = np.ceil(scaled).astype(np.int64)
    return units


def from_ticks(units: npt.ArrayLike, tick_size: float) -> FloatArray:
    """Whole ticks back to prices: ``n / ticks_per_unit`` is the float nearest the decimal price."""
    prices: FloatArray = np.asarray(units, dtype=np.int64) / float(ticks_per_unit(tick_size))
    return prices


def to_grid(prices: npt.ArrayLike, tick_size: float, *, floor_ticks: int = 0) -> FloatArray:
    """``prices`` rounded to the grid (as ``pricegrid.round_to_tick`` would), as floats."""
    return from_ticks(to_ticks(prices, tick_size, floor_ticks=floor_ticks), tick_size)
