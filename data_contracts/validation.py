"""Small checks used by every constructor in the domain model; each raises a ContractError."""

from __future__ import annotations

import math
import re
from enum import Enum

from data_contracts.errors import ContractError


def finite(owner: str, field: str, value: float, subject: str | None = None) -> float:
    """``value`` as a float; refused unless it is an int or float that a float holds finitely
    (not a bool, NaN, an infinity, or an int beyond the float range such as ``10**400``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ContractError(owner, field, value, "must be a finite number", subject)
    try:
        number = float(value)
    except OverflowError:  # an int beyond the float range
        raise ContractError(owner, field, value, "must be a finite number", subject) from None
    if not math.isfinite(number):
        raise ContractError(owner, field, value, "must be a finite number", subject)
    return number


def positive(owner: str, field: str, value: float, subject: str | None = None) -> float:
    number = finite(owner, field, value, subject)
    if number <= 0:
        raise ContractError(owner, field, value, "must be > 0", subject)
    return number


def non_negative(owner: str, field: str, value: float, subject: str | None = None) -> float:
    number = finite(owner, field, value, subject)
    if number < 0:
        raise ContractError(owner, field, value, "must be >= 0", subject)
    return number


def integer(
    owner: str, field: str, value: int, minimum: int | None = None, subject: str | None = None
) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ContractError(owner, field, value, "must be an integer", subject)
    if minimum is not None and value < minimum:
        raise ContractError(owner, field, value, f"must be >= {minimum}", subject)
    return value


def probability(owner: str, field: str, value: float, subject: str | None = None) -> float:
    number = finite(owner, field, value, subject)
    if not 0.0 <= number <= 1.0:
        raise ContractError(owner, field, value, "must be within [0, 1]", subject)
    return number


def non_empty(owner: str, field: str, value: str, subject: str | None = None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ContractError(owner, field, value, "must be a non-empty string", subject)
    return value


def text(
    owner: str,
    field: str,
    value: str,
    max_chars: int,
    *,
    required: bool = False,
    subject: str | None = None,
) -> str:
    """Free text a person typed (a name, a reason), as it can be stored and shown: a string
    (non-blank when ``required``) of at most ``max_chars`` characters that is valid Unicode —
    no lone surrogate such as the JSON escape ``"\\ud800"``, which UTF-8 (SQLite, files, the
    wire) cannot hold."""
    if not isinstance(value, str):
        raise ContractError(owner, field, value, "must be a string", subject)
    if required and not value.strip():
        raise ContractError(owner, field, value, "must be a non-empty string", subject)
    if len(value) > max_chars:
        shown = f"{value[:40]}… ({len(value):,} characters)"
        raise ContractError(
            owner, field, shown, f"must be at most {max_chars:,} characters", subject
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        rule = f"must be valid Unicode text (a surrogate code point at character {error.start})"
        raise ContractError(owner, field, value, rule, subject) from None
    return value


def storable(value: str) -> str:
    """``value`` with what UTF-8 cannot hold (a lone surrogate, from a terminal's undecodable
    bytes) replaced by ``?``: for text that must be kept whatever it is, never refused (the kill
    switch's note)."""
    return value.encode("utf-8", "replace").decode("utf-8")


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
