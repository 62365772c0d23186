"""One frozen snapshot of the account, as the risk engine sees it.

The executor builds an :class:`AccountState` from the store and the broker for every intent; the
engine only reads it (no I/O, no clock: ``now`` is part of the snapshot).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from data_contracts.errors import ContractError
from data_contracts.timeutil import require_aware
from data_contracts.validation import (
    finite,
    instance_of,
    integer,
    non_empty,
    non_negative,
    positive,
)

__all__ = ["AccountState", "Exposure"]


@dataclass(frozen=True, slots=True)
class Exposure:
    """An open position or a pending entry in one instrument.

    ``quantity`` is signed (long > 0, short < 0, never 0: a flat position is not an exposure);
    ``notional`` is the rupees it commits (premium for a long option), always >= 0.
    ``underlying``: what its risk rides on (:attr:`Instrument.underlying`; empty: the
    tradingsymbol), which the per-symbol exposure limit adds up.
    """

    instrument_token: int
    tradingsymbol: str
    quantity: int
    notional: float
    underlying: str = ""

    @property
    def underlying_name(self) -> str:
        return self.underlying or self.tradingsymbol

    def __post_init__(self) -> None:
        owner = "Exposure"
        integer(owner, "instrument_token", self.instrument_token, minimum=1)
        non_empty(owner, "tradingsymbol", self.tradingsymbol)
        integer(owner, "quantity", self.quantity, subject=self.tradingsymbol)
        if self.quantity == 0:
            raise ContractError(
                owner, "quantity", 0, "must not be 0 (a flat position is no exposure)"
            )
        non_negative(owner, "notional", self.notional, self.tradingsymbol)


@dataclass(frozen=True, slots=True)
class AccountState:
    """The account at ``now``: P&L, equity, margin, exposures, prices and health signals.

    ``realised_pnl_today`` is net of charges; ``equity`` is capital plus cumulative net P&L
    (realised and unrealised) and ``peak_equity`` the highest equity seen. ``pending_entries`` are
    entry orders sent but not final: they count toward exposure and concurrency like positions.
    ``broker_latency_p95_ms`` is None until a latency has been measured.
    """

    now: datetime
    realised_pnl_today: float
    unrealised_pnl: float
    peak_equity: float
    equity: float
    available_margin: float
    positions: tuple[Exposure, ...]
    pending_entries: tuple[Exposure, ...]
    last_prices: Mapping[int, float] = field(hash=False)
    broker_latency_p95_ms: float | None
    exceptions_last_minute: int
    kill_switch_engaged: bool
    session_valid: bool

    def __post_init__(self) -> None:
        owner = "AccountState"
        object.__setattr__(self, "now", require_aware(owner, "now", self.now))
        for name in (
            "realised_pnl_today",
            "unrealised_pnl",
            "peak_equity",
            "equity",
            "available_margin",
        ):
            finite(owner, name, getattr(self, name))
        for name in ("positions", "pending_entries"):
            exposures = getattr(self, name)
            instance_of(owner, name, exposures, tuple)
            for exposure in exposures:
                instance_of(owner, name, exposure, Exposure)
        if not isinstance(self.last_prices, Mapping):
            raise ContractError(owner, "last_prices", self.last_prices, "must be a mapping")
        for token, price in self.last_prices.items():
            integer(owner, "last_prices", token, minimum=1)
            positive(owner, "last_prices", price, str(token))
        object.__setattr__(self, "last_prices", MappingProxyType(dict(self.last_prices)))
        if self.broker_latency_p95_ms is not None:
            non_negative(owner, "broker_latency_p95_ms", self.broker_latency_p95_ms)
        integer(owner, "exceptions_last_minute", self.exceptions_last_minute, minimum=0)
        instance_of(owner, "kill_switch_engaged", self.kill_switch_engaged, bool)
        instance_of(owner, "session_valid", self.session_valid, bool)

    @property
    def day_pnl(self) -> float:
        """Today's net P&L: realised (after charges) plus the open positions' unrealised."""
        return self.realised_pnl_today + self.unrealised_pnl

    @property
    def exposures(self) -> tuple[Exposure, ...]:
        """Open positions then pending entries."""
        return self.positions + self.pending_entries
