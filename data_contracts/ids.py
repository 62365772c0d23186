"""Typed identifiers: a proposal id can never be passed where an order id is expected.

Instrument tokens stay plain ints on the hot path (a ``NewType``); string ids are small frozen value
objects validated at construction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, NewType, Self

from data_contracts.validation import matches

InstrumentToken = NewType("InstrumentToken", int)

_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}")
_KITE_TAG = re.compile(r"[A-Za-z0-9]{1,20}")


@dataclass(frozen=True, slots=True, order=True)
class _StrId:
    value: str
    _pattern: ClassVar[re.Pattern[str]] = _SAFE_ID
    _rule: ClassVar[str] = "must be 1-128 characters of letters, digits, '_', '.', ':' or '-'"

    def __post_init__(self) -> None:
        matches(type(self).__name__, "value", self.value, self._pattern, self._rule)

    def __str__(self) -> str:
        return self.value

    @classmethod
    def of(cls, value: str) -> Self:
        return cls(value)


@dataclass(frozen=True, slots=True, order=True)
class ProposalId(_StrId):
    """Our id for a trade proposal (deterministic from its inputs where the producer can)."""


@dataclass(frozen=True, slots=True, order=True)
class DecisionId(_StrId):
    """Our id for an approve/reject decision."""


@dataclass(frozen=True, slots=True, order=True)
class OrderId(_StrId):
    """The broker's order id: an opaque string (Kite sends 15-19 digit strings)."""


@dataclass(frozen=True, slots=True, order=True)
class TradeId(_StrId):
    """The broker's trade (fill) id."""


@dataclass(frozen=True, slots=True, order=True)
class StrategyId(_StrId):
    """Which strategy produced a signal or proposal, e.g. ``fno-long-options``."""


@dataclass(frozen=True, slots=True, order=True)
class ClientTag(_StrId):
    """The idempotency key we send as Kite's ``tag``: at most 20 letters and digits."""

    _pattern: ClassVar[re.Pattern[str]] = _KITE_TAG
    _rule: ClassVar[str] = "must be 1-20 letters or digits (Kite's tag rule)"
