"""Exact JSON round-trip of the stored domain objects: ``decode(type(x), encode(x)) == x``.

The encoding is a JSON object of the dataclass's fields with sorted keys (so equal objects encode
to equal text): typed ids and enums as their string values, timestamps as ISO 8601 with their UTC
offset, floats as Python's shortest repr (which reads back bit for bit), nested dataclasses as
objects and tuples as arrays. Decoding goes through the type's constructor, so a stored payload
is validated exactly like a new object; an unknown or missing field, a wrong type or an unknown
enum value raises :class:`~data_contracts.errors.ContractError` naming the field.

A field added later with a default decodes from an old payload; anything else is a migration.
"""

from __future__ import annotations

import dataclasses
import json
import types
from collections.abc import Callable
from datetime import datetime
from enum import Enum
from functools import cache, partial
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from data_contracts.errors import ContractError
from data_contracts.feed import DeadLetter
from data_contracts.ids import ClientTag, DecisionId, OrderId, ProposalId, StrategyId, TradeId
from data_contracts.timeutil import require_aware
from data_contracts.trading import (
    Decision,
    ExitProposal,
    FeatureContribution,
    Fill,
    OpenTrade,
    OrderEvent,
    OrderIntent,
    Proposal,
)

__all__ = ["STORED_TYPES", "Stored", "decode", "encode"]

Stored = (
    Proposal | ExitProposal | OpenTrade | DeadLetter | Decision | OrderIntent | OrderEvent | Fill
)
STORED_TYPES: tuple[type[Stored], ...] = (
    Proposal,
    ExitProposal,
    OpenTrade,
    DeadLetter,
    Decision,
    OrderIntent,
    OrderEvent,
    Fill,
)

_T = TypeVar("_T", bound=Stored)
_NESTED: frozenset[type] = frozenset({*STORED_TYPES, FeatureContribution})
_ID_TYPES: tuple[type, ...] = (ProposalId, DecisionId, OrderId, TradeId, StrategyId, ClientTag)


def encode(value: Stored) -> str:
    """``value`` as canonical JSON text (sorted keys, no whitespace, ASCII only)."""
    if not isinstance(value, STORED_TYPES):
        raise ContractError(
            "codec", "value", value, f"must be one of {', '.join(_names(STORED_TYPES))}"
        )
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), allow_nan=False)


def decode(kind: type[_T], text: str) -> _T:
    """The ``kind`` object encoded in ``text`` (validated by ``kind``'s constructor)."""
    if kind not in STORED_TYPES:
        raise ContractError(
            "codec", "kind", kind, f"must be one of {', '.join(_names(STORED_TYPES))}"
        )
    try:
        data = json.loads(text)
    except (TypeError, ValueError) as error:
        raise ContractError(kind.__name__, "payload", text, f"must be JSON ({error})") from None
    result = _object(kind, data)
    assert isinstance(result, kind)  # noqa: S101 - _object builds exactly ``kind``
    return result


def _plain(value: object) -> Any:
    """A JSON-ready value: ids and enums as strings, datetimes as ISO text, dataclasses as dicts."""
    if isinstance(value, Enum):  # before str: a StrEnum is a str
        return value.value
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, _ID_TYPES):
        return value.value  # type: ignore[attr-defined]  # every typed id is a _StrId with .value
    if isinstance(value, datetime):
        return require_aware("codec", "datetime", value).isoformat()
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    if type(value) in _NESTED:
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}  # type: ignore[arg-type]  # a dataclass instance, checked above
    raise ContractError("codec", "value", value, "must be a storable field value")


Converter = Callable[[str, str, object], object]
"""Turns a JSON value into a field's declared type: ``(owner, field name, raw) -> value``."""


@cache
def _layout(kind: type) -> tuple[frozenset[str], tuple[tuple[str, Converter, bool], ...]]:
    """``kind``'s field names, and per field its converter and whether a payload must have it
    (built once per type: decoding is on every store read)."""
    hints = get_type_hints(kind)
    fields = dataclasses.fields(kind)
    layout = tuple(
        (
            f.name,
            _converter(hints[f.name]),
            f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
        )
        for f in fields
    )
    return frozenset(f.name for f in fields), layout


def _object(kind: type, data: object) -> object:
    owner = kind.__name__
    if not isinstance(data, dict):
        raise ContractError(owner, "payload", data, "must be a JSON object")
    names, layout = _layout(kind)
    if not names.issuperset(data):
        unknown = sorted(set(data) - names)[0]
        raise ContractError(owner, unknown, data[unknown], f"is not a field of {owner}")
    values: dict[str, object] = {}
    for name, convert, required in layout:
        if name in data:
            values[name] = convert(owner, name, data[name])
        elif required:
            raise ContractError(owner, name, None, "is missing from the stored payload")
    return kind(**values)


@cache
def _converter(hint: Any) -> Converter:
    """The converter of the declared type ``hint`` (cached: one per type)."""
    supertype = getattr(hint, "__supertype__", None)  # a NewType such as InstrumentToken
    if supertype is not None:
        return _converter(supertype)
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        return _optional(hint)
    if origin is tuple:
        return _tuple_of(_converter(get_args(hint)[0]))
    if hint in _NESTED:
        return partial(_nested, hint)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return partial(_enum, hint)
    if hint in _ID_TYPES:
        return partial(_id, hint)
    if hint is datetime:
        return _datetime
    if hint is float:
        return _float
    if hint in (int, str):
        return partial(_exact, hint)
    return partial(_unknown, hint)


def _optional(hint: Any) -> Converter:
    options = [arg for arg in get_args(hint) if arg is not type(None)]
    nullable = len(options) < len(get_args(hint))
    inner = _converter(options[0])

    def convert(owner: str, name: str, raw: object) -> object:
        if raw is None:
            if nullable:
                return None
            raise ContractError(owner, name, raw, "must not be null")
        return inner(owner, name, raw)

    return convert


def _tuple_of(item: Converter) -> Converter:
    def convert(owner: str, name: str, raw: object) -> object:
        if not isinstance(raw, list):
            raise ContractError(owner, name, raw, "must be a JSON array")
        return tuple(item(owner, name, element) for element in raw)

    return convert


def _nested(kind: type, owner: str, name: str, raw: object) -> object:
    return _object(kind, raw)


def _enum(kind: type[Enum], owner: str, name: str, raw: object) -> object:
    try:
        return kind(raw)
    except ValueError:
        values = ", ".join(str(member.value) for member in kind)
        raise ContractError(owner, name, raw, f"must be one of {values}") from None


def _id(kind: type, owner: str, name: str, raw: object) -> object:
    if not isinstance(raw, str):
        raise ContractError(owner, name, raw, "must be a string id")
    return kind(raw)


def _float(owner: str, name: str, raw: object) -> object:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ContractError(owner, name, raw, "must be a number")
    return float(raw)


def _exact(kind: type, owner: str, name: str, raw: object) -> object:
    if isinstance(raw, bool) or not isinstance(raw, kind):
        raise ContractError(owner, name, raw, f"must be a JSON {kind.__name__}")
    return raw


def _unknown(hint: Any, owner: str, name: str, raw: object) -> object:
    raise ContractError(owner, name, raw, f"has a type the codec does not know ({hint!r})")


def _datetime(owner: str, name: str, raw: object) -> datetime:
    if not isinstance(raw, str):
        raise ContractError(owner, name, raw, "must be an ISO 8601 timestamp")
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise ContractError(owner, name, raw, "must be an ISO 8601 timestamp") from None
    return require_aware(owner, name, parsed)


def _names(kinds: tuple[type, ...]) -> list[str]:
    return [kind.__name__ for kind in kinds]
