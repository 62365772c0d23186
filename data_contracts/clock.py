"""Clocks behind the :class:`~data_contracts.ports.Clock` port.

Core code never reads the wall clock itself: it is handed a clock. Live trading uses
:class:`SystemClock`; replay, paper and tests use :class:`ManualClock`, which the market data drives
(the latest exchange timestamp), so a replayed day is deterministic at any speed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from data_contracts.errors import ContractError
from data_contracts.timeutil import require_aware

__all__ = ["ManualClock", "SystemClock"]


class SystemClock:
    """The wall clock, in UTC. The only place in the code base that reads the system time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to, and never backwards."""

    def __init__(self, start: datetime) -> None:
        self._now = require_aware("ManualClock", "start", start)

    def now(self) -> datetime:
        return self._now

    def set(self, ts: datetime) -> None:
        """Move to ``ts``; moving backwards is an error (time going backwards corrupts TTLs)."""
        ts = require_aware("ManualClock", "ts", ts)
        if ts < self._now:
            raise ContractError("ManualClock", "ts", ts, f"must not be before {self._now}")
        self._now = ts

    def advance(self, by: timedelta) -> None:
        if by < timedelta(0):
            raise ContractError("ManualClock", "by", by, "must be >= 0")
        self._now += by
