"""Black-76 option math on the forward (futures price) of an underlying: price, greeks, implied vol.

NSE index and stock options are European-style on the spot, which is a European option on the
forward ``F = S·e^{(r-q)T}`` with the premium discounted by ``discount = e^{-rT}``; pass the
future's price (or a forward implied from put-call parity) as ``forward``.

Conventions:

* ``t`` is the time to expiry in **years** (the caller chooses the day count; the features use
  calendar time, ``ACT/365``). ``vol`` is annualised, as a fraction (``0.15`` is 15 %).
* ``is_call`` is a ``bool`` or a bool array (``True`` for CE, ``False`` for PE).
* Every argument may be a scalar or an array; arrays broadcast with numpy rules. When every
  argument is a scalar the result is a ``float``, otherwise an array of the broadcast shape.
* **Domain.** ``forward``, ``strike``, ``t``, ``vol`` and ``discount`` must be finite and > 0
  (``price`` finite and >= 0 for :func:`implied_vol`). A *scalar* argument outside its domain is a
  caller's mistake and raises :class:`ContractError`. In an *array* argument a bad row is data
  (a stale quote, an expired contract): that row's result is ``NaN`` and the other rows are
  computed — so a vectorised caller never has to pre-filter, and never gets a silent number.
* Greeks are per unit of the underlying forward: ``delta = dV/dF`` (discounted), ``gamma =
  d²V/dF²``, ``vega`` per 1 vol point (``dV/dsigma · 0.01``), ``theta`` per **calendar day**
  (``-dV/dt / 365``, with the rate ``r = -ln(discount)/t`` held constant as ``t`` decays).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, overload

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr  # type: ignore[import-untyped]  # scipy ships no stubs

from data_contracts.errors import ContractError

__all__ = [
    "IV_PRICE_TOLERANCE",
    "Greeks",
    "black76_greeks",
    "black76_price",
    "implied_vol",
]

FloatArray = npt.NDArray[np.float64]

# implied_vol stops when the repriced (undiscounted) option is within this of the target price,
# or earlier when float precision allows no better (a 24,000-point index is priced to ~1e-11).
IV_PRICE_TOLERANCE: Final = 1e-10
_DAYS_PER_YEAR: Final = 365.0
_VOLATILITY_POINT: Final = 0.01
_INV_SQRT_2PI: Final = 1.0 / math.sqrt(2.0 * math.pi)
# The solver's bracket: no traded option has a vol above this (it is 10,000 %); a price that
# needs more is within float noise of the no-arbitrage maximum and has no meaningful vol.
_MAX_VOL: Final = 100.0
_MAX_ITERATIONS: Final = 200
# A step this small relative to the vol is float noise: the root is found as well as it can be.
_STALL: Final = 4.0 * float(np.finfo(np.float64).eps)
_OWNER: Final = "black76"


@dataclass(frozen=True, slots=True)
class Greeks:
    """Black-76 sensitivities, arrays of the broadcast shape (0-d arrays for scalar inputs).

    ``delta`` is dV/dF (discounted), ``gamma`` d²V/dF², ``theta`` the value lost per calendar day,
    ``vega`` the value gained per 1 vol point (sigma + 0.01).
    """

    delta: FloatArray
    gamma: FloatArray
    theta: FloatArray
    vega: FloatArray


@overload
def black76_price(
    forward: float, strike: float, t: float, vol: float, is_call: bool, discount: float = 1.0
) -> float: ...
@overload
def black76_price(
    forward: npt.ArrayLike,
    strike: npt.ArrayLike,
    t: npt.ArrayLike,
    vol: npt.ArrayLike,
    is_call: npt.ArrayLike,
    discount: npt.ArrayLike = 1.0,
) -> FloatArray: ...
def black76_price(
    forward: npt.ArrayLike,
    strike: npt.ArrayLike,
    t: npt.ArrayLike,
    vol: npt.ArrayLike,
    is_call: npt.ArrayLike,
    discount: npt.ArrayLike = 1.0,
) -> FloatArray | float:
    """The Black-76 premium: ``D·(F·N(d1) - K·N(d2))`` (call), ``D·(K·N(-d2) - F·N(-d1))`` (put)."""
    args = _Inputs.of(
        forward=forward, strike=strike, t=t, vol=vol, is_call=is_call, discount=discount
    )
    undiscounted = _undiscounted_price(args.forward, args.strike, args.t, args.vol, args.is_call)
    return args.result(args.discount * undiscounted)


def black76_greeks(
    forward: npt.ArrayLike,
    strike: npt.ArrayLike,
    t: npt.ArrayLike,
    vol: npt.ArrayLike,
    is_call: npt.ArrayLike,
    discount: npt.ArrayLike = 1.0,
) -> Greeks:
    """Delta, gamma, theta (per calendar day) and vega (per vol point) of a Black-76 option."""
    args = _Inputs.of(
        forward=forward, strike=strike, t=t, vol=vol, is_call=is_call, discount=discount
    )
    f, k, tt, v, call, disc = (
        args.forward,
        args.strike,
        args.t,
        args.vol,
        args.is_call,
        args.discount,
    )
    sqrt_t = np.sqrt(tt)
    d1 = (np.log(f / k) + 0.5 * v * v * tt) / (v * sqrt_t)
    pdf = _INV_SQRT_2PI * np.exp(-0.5 * d1 * d1)
    delta = np.where(call, disc * ndtr(d1), -disc * ndtr(-d1))
    gamma = disc * pdf / (f * v * sqrt_t)
    vega_per_unit = disc * f * pdf * sqrt_t
    rate = -np.log(disc) / tt
    value = disc * _undiscounted_price(f, k, tt, v, call)
    theta_per_year = -disc * f * pdf * v / (2.0 * sqrt_t) + rate * value
    return Greeks(
        delta=args.array(delta),
        gamma=args.array(gamma),
        theta=args.array(theta_per_year / _DAYS_PER_YEAR),
        vega=args.array(vega_per_unit * _VOLATILITY_POINT),
    )


@overload
def implied_vol(
    price: float, forward: float, strike: float, t: float, is_call: bool, discount: float = 1.0
) -> float: ...
@overload
def implied_vol(
    price: npt.ArrayLike,
    forward: npt.ArrayLike,
    strike: npt.ArrayLike,
    t: npt.ArrayLike,
    is_call: npt.ArrayLike,
    discount: npt.ArrayLike = 1.0,
) -> FloatArray: ...
def implied_vol(
    price: npt.ArrayLike,
    forward: npt.ArrayLike,
    strike: npt.ArrayLike,
    t: npt.ArrayLike,
    is_call: npt.ArrayLike,
    discount: npt.ArrayLike = 1.0,
) -> FloatArray | float:
    """The vol at which :func:`black76_price` equals ``price``; NaN where no vol does.

    No vol exists when the price is at or below the discounted intrinsic value or at or above the
    no-arbitrage maximum (``D·F`` for a call, ``D·K`` for a put). The solver works on the
    out-of-the-money side (an in-the-money price is converted by put-call parity, which keeps the
    small time value out of cancellation) with Newton steps kept inside a bisection bracket, so it
    always converges; it stops at :data:`IV_PRICE_TOLERANCE` on the price.
    """
    args = _Inputs.of(
        price=price, forward=forward, strike=strike, t=t, is_call=is_call, discount=discount
    )
    f, k, tt, call = args.forward, args.strike, args.t, args.is_call
    undiscounted = args.price / args.discount
    # Time value over intrinsic, then the out-of-the-money option with the same time value.
    intrinsic = np.where(call, np.maximum(f - k, 0.0), np.maximum(k - f, 0.0))
    time_value = undiscounted - intrinsic
    otm_call = k >= f
    cap = np.where(otm_call, f, k)  # an OTM option is worth less than this at any vol
    solvable = np.isfinite(time_value) & (time_value > 0.0) & (time_value < cap)
    vol = _solve_otm(
        np.where(solvable, time_value, 0.0),
        np.where(solvable, f, 1.0),
        np.where(solvable, k, 1.0),
        np.where(solvable, tt, 1.0),
        otm_call,
        solvable,
    )
    return args.result(np.where(solvable, vol, np.nan))


def _solve_otm(
    target: FloatArray,
    f: FloatArray,
    k: FloatArray,
    t: FloatArray,
    is_call: npt.NDArray[np.bool_],
    active: npt.NDArray[np.bool_],
) -> FloatArray:
    """Safeguarded Newton for ``undiscounted_price(sigma) = target`` on out-of-the-money options.

    Each row keeps a bracket ``[low, high]`` around its root; a Newton step that leaves it is
    replaced by bisection. A row stops when its price is within IV_PRICE_TOLERANCE, or when its
    vol no longer changes in float precision. Only unfinished rows are iterated.
    """
    # Start where vega peaks in sigma (Manaster & Koehler): from there Newton is monotone for OTM.
    vol = np.clip(np.sqrt(2.0 * np.abs(np.log(f / k)) / t), 0.05, 5.0)
    rows = np.flatnonzero(active)
    low = np.zeros(rows.size)
    high = np.full(rows.size, _MAX_VOL)
    x = vol[rows]
    for _ in range(_MAX_ITERATIONS):
        if rows.size == 0:
            break
        fr, kr, tr, cr, goal = f[rows], k[rows], t[rows], is_call[rows], target[rows]
        error = _undiscounted_price(fr, kr, tr, x, cr) - goal
        low = np.where(error < 0.0, x, low)
        high = np.where(error > 0.0, x, high)
        sqrt_t = np.sqrt(tr)
        d1 = (np.log(fr / kr) + 0.5 * x * x * tr) / (x * sqrt_t)
        vega = fr * _INV_SQRT_2PI * np.exp(-0.5 * d1 * d1) * sqrt_t
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            newton = x - error / vega
        inside = np.isfinite(newton) & (newton > low) & (newton < high)
        step = np.where(inside, newton, 0.5 * (low + high))
        converged = np.abs(error) <= IV_PRICE_TOLERANCE
        stalled = np.abs(step - x) <= _STALL * x
        vol[rows] = np.where(converged, x, step)
        keep = ~(converged | stalled)
        rows, low, high, x = rows[keep], low[keep], high[keep], step[keep]
    return vol


def _undiscounted_price(
    f: FloatArray, k: FloatArray, t: FloatArray, vol: FloatArray, is_call: npt.NDArray[np.bool_]
) -> FloatArray:
    sd = vol * np.sqrt(t)
    d1 = (np.log(f / k) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    sign = np.where(is_call, 1.0, -1.0)
    price: FloatArray = sign * (f * ndtr(sign * d1) - k * ndtr(sign * d2))
    return price


@dataclass(frozen=True, slots=True)
class _Inputs:
    """Broadcast float arrays, NaN in every row where any input is outside its domain."""

    shape: tuple[int, ...]
    scalar: bool
    valid: npt.NDArray[np.bool_]
    forward: FloatArray
    strike: FloatArray
    t: FloatArray
    vol: FloatArray
    discount: FloatArray
    price: FloatArray
    is_call: npt.NDArray[np.bool_]

    @classmethod
    def of(
        cls,
        *,
        forward: npt.ArrayLike,
        strike: npt.ArrayLike,
        t: npt.ArrayLike,
        is_call: npt.ArrayLike,
        discount: npt.ArrayLike,
        vol: npt.ArrayLike = 1.0,
        price: npt.ArrayLike = 0.0,
    ) -> _Inputs:
        positives = {"forward": forward, "strike": strike, "t": t, "vol": vol, "discount": discount}
        floats = {name: _as_float(name, value) for name, value in positives.items()}
        floats["price"] = _as_float("price", price)
        calls = np.asarray(is_call)
        if calls.dtype != np.bool_:
            raise ContractError(_OWNER, "is_call", is_call, "must be a bool or a bool array")
        for name, value in floats.items():
            if value.ndim == 0:
                _check_scalar(name, float(value))
        scalar = calls.ndim == 0 and all(v.ndim == 0 for v in floats.values())
        broadcast = np.broadcast_arrays(*floats.values(), calls)
        shape = broadcast[0].shape
        f, k, tt, v, disc, p = (np.ravel(a).astype(np.float64) for a in broadcast[:-1])
        valid = (
            (f > 0.0)
            & (k > 0.0)
            & (tt > 0.0)
            & (v > 0.0)
            & (disc > 0.0)
            & (p >= 0.0)
            & np.isfinite(f * k * tt * v * disc * (p + 1.0))
        )

        def clean(a: FloatArray) -> FloatArray:
            return np.where(valid, a, 1.0)

        return cls(
            shape=shape,
            scalar=scalar,
            valid=valid,
            forward=clean(f),
            strike=clean(k),
            t=clean(tt),
            vol=clean(v),
            discount=clean(disc),
            price=np.where(valid, p, 0.0),
            is_call=np.ravel(broadcast[-1]).copy(),
        )

    def array(self, values: FloatArray) -> FloatArray:
        out: FloatArray = np.where(self.valid, values, np.nan).reshape(self.shape)
        return out

    def result(self, values: FloatArray) -> FloatArray | float:
        out = self.array(values)
        return float(out) if self.scalar else out


def _as_float(name: str, value: npt.ArrayLike) -> FloatArray:
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ContractError(_OWNER, name, value, "must be a number or a numeric array") from exc


def _check_scalar(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise ContractError(_OWNER, name, value, "must be a finite number")
    if name == "price":
        if value < 0.0:
            raise ContractError(_OWNER, name, value, "must be >= 0")
    elif value <= 0.0:
        raise ContractError(_OWNER, name, value, "must be > 0")
