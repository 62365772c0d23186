"""Small checks used by every constructor in the domain model; each raises a ContractError."""

from __future__ import annotations

import math
import re
from enum import Enum

from data_contracts.errors import ContractError


def finite(owner: str, field: str, value: float, subject: str | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ContractError(owner, field, value, "must be a finite number", subject)
    return float(value)


def positive(owner: str, field: str, value: float, subject: str | None = None) -> float:
    finite(owner, field, value, subject)
    if value <= 0:
        raise ContractError(owner, field, value, "must be > 0", subject)
    return float(value)


def non_negative(owner: str, field: str, value: float, subject: str | None = None) -> float:
    finite(owner, field, value, subject)
    if value < 0:
        raise ContractError(owner, field, value, "must be >= 0", subject)
    return float(value)


def integer(
    owner: str, field: str, value: int, minimum: int | None = None, subject: str | None = None
) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ContractError(owner, field, value, "must be an integer", subject)
    if minimum is not None and value < minimum:
        raise ContractError(owner, field, value, f"must be >= {minimum}", subject)
    return value


def probability(owner: str, field: str, value: float, subject: str | None = None) -> float:
    finite(owner, field, value, subject)
    if not 0.0 <= value <= 1.0:
        raise ContractError(owner, field, value, "must be within [0, 1]", subject)
    return float(value)


def non_empty(owner: str, field: str, value: str, subject: str | None = None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ContractError(owner, field, value, "must be a non-empty string", subject)
    return value


def matches(
    owner: str,
    field: str,
    value: str,
    pattern: re.Pattern[str],
    rule: str,
    subject: str | None = None,
) -> str:
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise ContractError(owner, field, value, rule, subject)
    return value


def instance_of(
    owner: str,
    field: str,
    value: object,
    kind: type | tuple[type, ...],
    subject: str | None = None,
) -> None:
    """Reject a value of the wrong type, e.g. the string ``"SELL"`` where a ``Side`` is required.

    Enums are not coerced: data from a store or the wire is converted once, at the boundary.
    """
    if isinstance(value, kind):
        return
    kinds = kind if isinstance(kind, tuple) else (kind,)
    described = " or ".join(_describe(k) for k in kinds)
    raise ContractError(owner, field, value, f"must be {described}", subject)


def _describe(kind: type) -> str:
    if kind is type(None):
        return "None"
    article = "an" if kind.__name__[0] in "AEIOU" else "a"
    if issubclass(kind, Enum):
        return f"{article} {kind.__name__} ({', '.join(str(m.value) for m in kind)})"
    return f"{article} {kind.__name__}"
