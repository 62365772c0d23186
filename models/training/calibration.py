"""Probability calibration: isotonic or Platt, fitted on the calibration slice only.

A calibrator maps the classifier's raw margin (log-odds) to a calibrated probability of a net
win. Both kinds are plain numbers, so they save to JSON and apply with numpy alone: isotonic is
``np.interp`` over the fitted thresholds (scikit-learn's ``IsotonicRegression`` fits them), Platt is
``sigmoid(slope * margin + intercept)`` fitted by Newton's method on Platt's smoothed targets.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from data_contracts.errors import ContractError

__all__ = ["Calibrator", "fit_calibrator", "sigmoid"]

_OWNER: Final = "Calibrator"
_MAX_NEWTON_STEPS: Final = 100
_GRADIENT_TOLERANCE: Final = 1e-10
_MIN_STEP: Final = 1e-10
_RIDGE: Final = 1e-12  # keeps the Newton system solvable when every margin is equal

Floats = npt.NDArray[np.float64]


def sigmoid(margin: Floats) -> Floats:
    """The logistic function, exact in float64 on both tails."""
    out: Floats = np.exp(-np.logaddexp(0.0, -margin))
    return out


@dataclass(frozen=True)
class Calibrator:
    """A fitted calibrator. ``thresholds``/``values`` are isotonic's knots on the raw probability
    (``sigmoid(margin)``); ``slope``/``intercept`` are Platt's coefficients on the margin."""

    method: Literal["isotonic", "platt"]
    thresholds: tuple[float, ...] = ()
    values: tuple[float, ...] = ()
    slope: float = 1.0
    intercept: float = 0.0

    def __post_init__(self) -> None:
        if self.method == "isotonic":
            if not self.thresholds or len(self.thresholds) != len(self.values):
                raise ContractError(
                    _OWNER,
                    "thresholds",
                    len(self.thresholds),
                    f"must be non-empty and match values ({len(self.values)})",
                )
            knots = np.asarray(self.thresholds, dtype=np.float64)
            levels = np.asarray(self.values, dtype=np.float64)
            if not np.all(np.isfinite(knots)) or np.any(np.diff(knots) < 0):
                raise ContractError(_OWNER, "thresholds", self.thresholds[:5], "must increase")
            if not np.all((levels >= 0) & (levels <= 1)) or np.any(np.diff(levels) < 0):
                raise ContractError(
                    _OWNER, "values", self.values[:5], "must be non-decreasing within [0, 1]"
                )
        elif self.method == "platt":
            for field in ("slope", "intercept"):
                value = getattr(self, field)
                if not isinstance(value, float) or not math.isfinite(value):
                    raise ContractError(_OWNER, field, value, "must be a finite float")
        else:
            raise ContractError(_OWNER, "method", self.method, "must be 'isotonic' or 'platt'")

    def apply(self, margin: npt.ArrayLike) -> Floats:
        """Calibrated probabilities for raw classifier margins (log-odds)."""
        m = np.asarray(margin, dtype=np.float64)
        if self.method == "platt":
            return sigmoid(self.slope * m + self.intercept)
        knots = np.asarray(self.thresholds, dtype=np.float64)
        levels = np.asarray(self.values, dtype=np.float64)
        out: Floats = np.interp(sigmoid(m), knots, levels)
        return out

    def to_json(self) -> dict[str, object]:
        return {
            "method": self.method,
            "thresholds": list(self.thresholds),
            "values": list(self.values),
            "slope": self.slope,
            "intercept": self.intercept,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Calibrator:
        method = data.get("method")
        if method == "isotonic":
            return cls(
                "isotonic", thresholds=_floats(data, "thresholds"), values=_floats(data, "values")
            )
        if method == "platt":
            return cls("platt", slope=_number(data, "slope"), intercept=_number(data, "intercept"))
        raise ContractError(_OWNER, "method", method, "must be 'isotonic' or 'platt'")


def _floats(data: Mapping[str, object], field: str) -> tuple[float, ...]:
    raw = data.get(field)
    if not isinstance(raw, list) or not all(isinstance(v, int | float) for v in raw):
        raise ContractError(_OWNER, field, raw, "must be a JSON list of numbers")
    return tuple(float(v) for v in raw)


def _number(data: Mapping[str, object], field: str) -> float:
    raw = data.get(field)
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ContractError(_OWNER, field, raw, "must be a JSON number")
    return float(raw)


def fit_calibrator(
    method: Literal["isotonic", "platt"], margin: npt.ArrayLike, win: npt.ArrayLike
) -> Calibrator:
    """Fit a calibrator on raw margins and outcomes; needs both wins and losses."""
    m = np.asarray(margin, dtype=np.float64)
    y = np.asarray(win, dtype=bool)
    if m.shape != y.shape or m.ndim != 1:
        raise ContractError(_OWNER, "win", y.shape, f"must match the margins' shape {m.shape}")
    if not np.all(np.isfinite(m)):
        raise ContractError(_OWNER, "margin", "non-finite", "must be finite")
    wins = int(y.sum())
    if wins == 0 or wins == y.size:
        raise ContractError(
            _OWNER,
            "win",
            f"{wins} wins of {y.size}",
            "calibration slice must hold both wins and losses",
        )
    if method == "isotonic":
        return _fit_isotonic(sigmoid(m), y)
    if method == "platt":
        return _fit_platt(m, y)
    raise ContractError(_OWNER, "method", method, "must be 'isotonic' or 'platt'")


def _fit_isotonic(p: Floats, y: npt.NDArray[np.bool_]) -> Calibrator:
    # Imported here: only training needs scikit-learn (and its start-up cost), scoring does not.
    from sklearn.isotonic import IsotonicRegression  # type: ignore[import-untyped]  # no type info

    fitted = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    fitted.fit(p, y.astype(np.float64))
    knots = np.asarray(fitted.X_thresholds_, dtype=np.float64)
    levels = np.clip(np.asarray(fitted.y_thresholds_, dtype=np.float64), 0.0, 1.0)
    return Calibrator(
        "isotonic",
        thresholds=tuple(float(v) for v in knots),
        values=tuple(float(v) for v in levels),
    )


def _fit_platt(m: Floats, y: npt.NDArray[np.bool_]) -> Calibrator:
    """Platt scaling (Platt 1999; Lin, Lin & Weng 2007): minimise the cross-entropy of
    ``sigmoid(a*m + b)`` against the smoothed targets ``(N+ + 1)/(N+ + 2)`` and ``1/(N- + 2)``,
    which stay finite even when the slice is perfectly separated."""
    positives = float(y.sum())
    negatives = float(y.size - positives)
    target = np.where(y, (positives + 1.0) / (positives + 2.0), 1.0 / (negatives + 2.0))
    a, b = 0.0, math.log((positives + 1.0) / (negatives + 1.0))

    def loss(a: float, b: float) -> float:
        z = a * m + b
        return float(np.sum(np.logaddexp(0.0, z) - target * z))

    current = loss(a, b)
    for _ in range(_MAX_NEWTON_STEPS):
        p = sigmoid(a * m + b)
        residual = p - target
        gradient = np.array([np.dot(residual, m), residual.sum()])
        if float(np.max(np.abs(gradient))) < _GRADIENT_TOLERANCE:
            break
        weight = p * (1.0 - p)
        hessian = np.array(
            [
                [np.dot(weight, m * m) + _RIDGE, np.dot(weight, m)],
                [np.dot(weight, m), weight.sum() + _RIDGE],
            ]
        )
        direction = -np.linalg.solve(hessian, gradient)
        step = 1.0
        while step >= _MIN_STEP:
            trial_a, trial_b = a + step * direction[0], b + step * direction[1]
            trial = loss(trial_a, trial_b)
            if trial <= current + 1e-4 * step * float(np.dot(gradient, direction)):
                a, b, current = trial_a, trial_b, trial
                break
            step /= 2.0
        else:
            break  # no decrease possible: at the optimum to machine precision
    return Calibrator("platt", slope=float(a), intercept=float(b))
