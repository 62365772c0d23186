"""The NSE calendar's value types: a trading :class:`Session`, its :class:`TimeWindow` breaks,
its :class:`SessionKind` and a :class:`Holiday`, plus the regular hours a session is built from.

They live apart from :mod:`data_contracts.nse_calendar` (the rules) so that
:mod:`data_contracts.nse_calendar_data` (the YAML loader) can build them without importing the
calendar that uses it. Import them from ``data_contracts.nse_calendar``, which re-exports them.

Every datetime a :class:`Session` holds is aware and stored in **UTC**, like the rest of the domain
model; ``open_ist``/``close_ist`` show it in IST.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from data_contracts.errors import ContractError
from data_contracts.timeutil import IST, UTC, require_aware

__all__ = [
    "PRE_OPEN_LEAD",
    "PRE_OPEN_ORDER_ENTRY",
    "REGULAR_CLOSE",
    "REGULAR_OPEN",
    "Holiday",
    "Session",
    "SessionKind",
    "TimeWindow",
    "ist_instant",
]

REGULAR_OPEN: Final = dt.time(9, 15)
REGULAR_CLOSE: Final = dt.time(15, 30)
# Pre-open runs 09:00-09:15: order entry 09:00-09:08 (random close in the last minute), then
# matching and a buffer. Special sessions keep the same shape relative to their own open.
PRE_OPEN_LEAD: Final = dt.timedelta(minutes=15)
PRE_OPEN_ORDER_ENTRY: Final = dt.timedelta(minutes=8)


class SessionKind(StrEnum):
    REGULAR = "regular"
    SPECIAL = "special"
    """A full or partial session on a day that is not a regular one (Budget Saturday, DR drill)."""
    MUHURAT = "muhurat"
    """The one-hour Diwali session on a holiday: tradable, but not a trading day (no expiry)."""


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """A half-open interval ``[start, end)`` of aware instants, stored in UTC."""

    start: dt.datetime
    end: dt.datetime

    def __post_init__(self) -> None:
        start = require_aware("TimeWindow", "start", self.start)
        end = require_aware("TimeWindow", "end", self.end)
        if end <= start:
            raise ContractError("TimeWindow", "end", self.end, f"must be after start {self.start}")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)

    def contains(self, ts: dt.datetime) -> bool:
        return self.start <= ts < self.end


@dataclass(frozen=True, slots=True)
class Session:
    """One trading session of the equity/F&O market on one IST date.

    ``open``/``close`` bound continuous trading (``[open, close)``); ``breaks`` are intervals inside
    it when the market is shut (the 2024 DR-site drills). All datetimes are stored in UTC.
    """

    date: dt.date
    kind: SessionKind
    open: dt.datetime
    close: dt.datetime
    breaks: tuple[TimeWindow, ...] = ()
    mis_allowed: bool = True
    description: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.date, dt.datetime) or not isinstance(self.date, dt.date):
            raise ContractError("Session", "date", self.date, "must be a date")
        if not isinstance(self.kind, SessionKind):
            raise ContractError("Session", "kind", self.kind, "must be a SessionKind")
        opens = require_aware("Session", "open", self.open)
        closes = require_aware("Session", "close", self.close)
        if opens.astimezone(IST).date() != self.date:
            raise ContractError("Session", "open", self.open, f"must fall on {self.date} IST")
        if closes <= opens or closes.astimezone(IST).date() != self.date:
            raise ContractError(
                "Session", "close", self.close, f"must be after open and on {self.date} IST"
            )
        for window in self.breaks:
            if not opens < window.start < window.end < closes:
                raise ContractError(
                    "Session", "breaks", window, "must lie strictly inside open-close"
                )
        object.__setattr__(self, "open", opens)
        object.__setattr__(self, "close", closes)

    @classmethod
    def regular(cls, day: dt.date) -> Session:
        """The normal 09:15-15:30 IST session on ``day`` (no check that ``day`` trades)."""
        return cls(
            day,
            SessionKind.REGULAR,
            ist_instant(day, REGULAR_OPEN),
            ist_instant(day, REGULAR_CLOSE),
        )

    @property
    def pre_open_start(self) -> dt.datetime:
        return self.open - PRE_OPEN_LEAD

    @property
    def pre_open_order_end(self) -> dt.datetime:
        """When pre-open order entry closes (09:08 on a normal day); matching runs until open."""
        return self.pre_open_start + PRE_OPEN_ORDER_ENTRY

    @property
    def open_ist(self) -> dt.datetime:
        return self.open.astimezone(IST)

    @property
    def close_ist(self) -> dt.datetime:
        return self.close.astimezone(IST)

    @property
    def is_trading_day(self) -> bool:
        """Regular and special sessions make a trading day; a Muhurat token session does not."""
        return self.kind is not SessionKind.MUHURAT

    def is_open_at(self, ts: dt.datetime) -> bool:
        when = require_aware("Session", "ts", ts)
        if not self.open <= when < self.close:
            return False
        return not any(window.contains(when) for window in self.breaks)

    def is_pre_open_at(self, ts: dt.datetime) -> bool:
        when = require_aware("Session", "ts", ts)
        return self.pre_open_start <= when < self.open


@dataclass(frozen=True, slots=True, order=True)
class Holiday:
    """A day NSE lists as a trading holiday (weekend ones included, as NSE lists them).

    ``published`` is False for a fixed-date national holiday assumed for a year whose NSE list the
    calendar does not have.
    """

    date: dt.date
    description: str
    published: bool = True


def ist_instant(day: dt.date, time: dt.time) -> dt.datetime:
    """The instant ``day`` at ``time`` IST, as an aware UTC datetime."""
    return dt.datetime.combine(day, time, tzinfo=IST).astimezone(UTC)
