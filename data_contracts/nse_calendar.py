"""The NSE trading calendar: sessions, holidays, special sessions, MIS cut-offs and NIFTY expiries.

Holidays and special sessions are *data* (``data_contracts/data/nse_calendar.yaml``), so a user
can add a year or a Budget-day session without touching code; see ``docs/calendar.md``. Reading
and checking those files is :mod:`data_contracts.nse_calendar_data`'s job, and the value types
(:class:`Session`, :class:`Holiday`, ...) live in :mod:`data_contracts.nse_session`; both are
re-exported here. The rules that are not calendar data (regular hours, Zerodha's MIS cut-offs, the
NIFTY expiry weekday) live here as named constants.

Conventions:

* A calendar *day* is an IST date. Where a day is expected, an aware datetime is accepted and
  read as its IST date; a naive datetime raises :class:`ContractError` (we never guess a zone).
* Every datetime a :class:`Session` holds is aware and stored in **UTC**, like the rest of the
  domain model; ``open_ist``/``close_ist`` show it in IST.
* Nothing reads the wall clock: every query takes its day or instant as an argument.
"""

from __future__ import annotations

import datetime as dt
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Final

from data_contracts.errors import ContractError
from data_contracts.nse_calendar_data import (
    SHIPPED_CALENDAR,
    CalendarLayer,
    CalendarYear,
    FixedHoliday,
    read_layer,
    read_shipped_layer,
)
from data_contracts.nse_session import (
    PRE_OPEN_LEAD,
    PRE_OPEN_ORDER_ENTRY,
    REGULAR_CLOSE,
    REGULAR_OPEN,
    Holiday,
    Session,
    SessionKind,
    TimeWindow,
)
from data_contracts.timeutil import IST, require_aware

__all__ = [
    "MIS_LEAD_DERIVATIVES",
    "MIS_LEAD_EQUITY",
    "PRE_OPEN_LEAD",
    "PRE_OPEN_ORDER_ENTRY",
    "REGULAR_CLOSE",
    "REGULAR_OPEN",
    "SHIPPED_CALENDAR",
    "TUESDAY_EXPIRY_FROM",
    "Holiday",
    "NseCalendar",
    "Session",
    "SessionKind",
    "TimeWindow",
    "UnpublishedHolidaysWarning",
]

# Zerodha squares off MIS at 15:20 (equity) and 15:25 (F&O) and takes no new MIS orders after;
# expressed as a lead before the close so a short special session gets a sensible cut-off too.
MIS_LEAD_EQUITY: Final = dt.timedelta(minutes=10)
MIS_LEAD_DERIVATIVES: Final = dt.timedelta(minutes=5)
# SEBI moved every NSE derivative expiry to Tuesday from this Monday: the last Thursday weekly
# was 2025-08-28 and the first Tuesday weekly 2025-09-02.
TUESDAY_EXPIRY_FROM: Final = dt.date(2025, 9, 1)

_TUESDAY: Final = 1
_THURSDAY: Final = 3
_SATURDAY: Final = 5
_ONE_DAY: Final = dt.timedelta(days=1)
# Searches for a session or a trading day give up after this many days: only a broken data file
# (a year of holidays) could need more, and an endless loop would hide it.
_SEARCH_LIMIT_DAYS: Final = 366
# Not strftime's %b, which follows the process locale.
_MONTH_ABBR: Final = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


class UnpublishedHolidaysWarning(UserWarning):
    """The calendar was asked about a year whose NSE holiday list it does not have."""


class NseCalendar:
    """Trading days, sessions, holidays, MIS cut-offs and NIFTY expiries for NSE.

    Build it with :meth:`default` (the shipped data, optionally overridden by a user file) or
    :meth:`from_yaml`. The data is immutable; the instance only caches each year's holidays and
    remembers which unpublished years it has already warned about (once per year per calendar).
    """

    __slots__ = ("_fallback", "_sources", "_specials", "_year_cache", "_years")

    def __init__(
        self,
        years: Mapping[int, CalendarYear],
        specials: Mapping[dt.date, Session],
        fallback: tuple[FixedHoliday, ...],
        sources: tuple[str, ...],
    ) -> None:
        self._years = dict(years)
        self._specials = dict(specials)
        self._fallback = fallback
        self._sources = sources
        self._year_cache: dict[int, dict[dt.date, Holiday]] = {}

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def default(cls, override: str | Path | None = None) -> NseCalendar:
        """The shipped calendar, extended or overridden by the user YAML at ``override``."""
        layers = [read_shipped_layer()]
        if override is not None:
            layers.append(read_layer(Path(override)))
        return cls._from_layers(layers)

    @classmethod
    def from_yaml(cls, *paths: str | Path) -> NseCalendar:
        """A calendar from these YAML files only; a later file overrides an earlier one."""
        if not paths:
            raise ContractError("NseCalendar", "paths", paths, "must name at least one YAML file")
        return cls._from_layers([read_layer(Path(path)) for path in paths])

    @classmethod
    def _from_layers(cls, layers: Iterable[CalendarLayer]) -> NseCalendar:
        years: dict[int, CalendarYear] = {}
        specials: dict[dt.date, Session] = {}
        fallback: tuple[FixedHoliday, ...] = ()
        sources: list[str] = []
        for layer in layers:
            years.update(layer.years)
            specials.update(layer.specials)
            fallback = layer.fallback if layer.fallback is not None else fallback
            sources.append(layer.source)
        return cls(years, specials, fallback, tuple(sources))

    def __repr__(self) -> str:
        return f"NseCalendar(published={self.published_years}, sources={self._sources})"

    # -- holidays -----------------------------------------------------------------------------

    @property
    def published_years(self) -> tuple[int, ...]:
        return tuple(sorted(year for year, entry in self._years.items() if entry.published))

    def is_published(self, year: int) -> bool:
        entry = self._years.get(year)
        return entry is not None and entry.published

    def holidays(self, start: dt.date, end: dt.date) -> list[Holiday]:
        """Listed holidays from ``start`` to ``end`` inclusive, weekend ones included."""
        first, last = _ordered(start, end)
        found: list[Holiday] = []
        for year in range(first.year, last.year + 1):
            found.extend(h for h in self._holidays_of(year).values() if first <= h.date <= last)
        return sorted(found)

    def is_holiday(self, day: dt.date) -> bool:
        """Whether ``day`` is a listed holiday (even if a Muhurat session runs on it)."""
        when = _as_day(day)
        return when in self._holidays_of(when.year)

    # -- sessions -----------------------------------------------------------------------------

    def session(self, day: dt.date) -> Session | None:
        """The session on ``day``: a listed special one, else regular on a non-holiday weekday."""
        when = _as_day(day)
        special = self._specials.get(when)
        if special is not None:
            return special
        if when.weekday() >= _SATURDAY or when in self._holidays_of(when.year):
            return None
        return Session.regular(when)

    def is_trading_day(self, day: dt.date) -> bool:
        """A day with a regular or special session (a Muhurat-only holiday is not one)."""
        found = self.session(day)
        return found is not None and found.is_trading_day

    def is_open(self, ts: dt.datetime) -> bool:
        """Whether continuous trading is on at ``ts`` (pre-open and breaks count as closed)."""
        when = require_aware("NseCalendar", "ts", ts)
        found = self.session(when)
        return found is not None and found.is_open_at(when)

    def next_session(self, when: dt.date) -> Session:
        """The next session: for a datetime, the first that opens after it; for a date, the first
        on a later date. Muhurat sessions count (the market does open)."""
        if isinstance(when, dt.datetime):
            instant = require_aware("NseCalendar", "when", when)
            return self._scan(instant.astimezone(IST).date(), 1, lambda s: s.open > instant)
        return self._scan(_as_day(when) + _ONE_DAY, 1, lambda s: True)

    def previous_session(self, when: dt.date) -> Session:
        """The previous session: for a datetime, the last that closed at or before it; for a date,
        the last on an earlier date."""
        if isinstance(when, dt.datetime):
            instant = require_aware("NseCalendar", "when", when)
            return self._scan(instant.astimezone(IST).date(), -1, lambda s: s.close <= instant)
        return self._scan(_as_day(when) - _ONE_DAY, -1, lambda s: True)

    def sessions(self, start: dt.date, end: dt.date) -> list[Session]:
        """Every session (regular, special, Muhurat) from ``start`` to ``end`` inclusive."""
        first, last = _ordered(start, end)
        found = (self.session(first + dt.timedelta(days=n)) for n in range((last - first).days + 1))
        return [s for s in found if s is not None]

    def mis_square_off(self, day: dt.date, *, derivatives: bool) -> dt.datetime | None:
        """Zerodha's MIS auto square-off on ``day`` (15:20 equity, 15:25 F&O on a regular day).

        None when there is no session or MIS is blocked for it. For a short special session the
        same lead before the close is assumed (Zerodha announces those per session).
        """
        found = self.session(day)
        if found is None or not found.mis_allowed:
            return None
        return found.close - (MIS_LEAD_DERIVATIVES if derivatives else MIS_LEAD_EQUITY)

    # -- NIFTY expiries -----------------------------------------------------------------------

    def weekly_expiry(self, day: dt.date) -> dt.date:
        """The NIFTY weekly expiry of the Monday-Sunday week containing ``day``.

        Thursday for weeks up to the one of 2025-08-28, Tuesday from the week of 2025-09-01;
        moved to the previous trading day when that day does not trade.
        """
        when = _as_day(day)
        return self._trading_day_on_or_before(
            _nominal_weekly(when - dt.timedelta(days=when.weekday()))
        )

    def monthly_expiry(self, year: int, month: int) -> dt.date:
        """The monthly expiry: last Tuesday (last Thursday before Sep-2025), moved back on a
        holiday."""
        first = _month_start(year, month)
        weekday = _TUESDAY if first >= TUESDAY_EXPIRY_FROM.replace(day=1) else _THURSDAY
        last_day = _next_month(first) - _ONE_DAY
        nominal = last_day - dt.timedelta(days=(last_day.weekday() - weekday) % 7)
        return self._trading_day_on_or_before(nominal)

    def is_monthly_expiry(self, day: dt.date) -> bool:
        when = _as_day(day)
        return when == self.monthly_expiry(when.year, when.month)

    def nifty_expiries(self, start: dt.date, end: dt.date) -> list[dt.date]:
        """Every NIFTY option expiry (weekly and monthly) from ``start`` to ``end`` inclusive."""
        first, last = _ordered(start, end)
        found: set[dt.date] = set()
        monday = first - dt.timedelta(days=first.weekday())
        while monday <= last:
            found.add(self.weekly_expiry(monday))
            monday += dt.timedelta(days=7)
        # A later week's expiry moves back into the range only if no day after ``last`` up to that
        # week's nominal expiry trades (e.g. Monday and Tuesday both holidays).
        while not any(
            self.is_trading_day(d) for d in _days(last + _ONE_DAY, _nominal_weekly(monday))
        ):
            found.add(self.weekly_expiry(monday))
            monday += dt.timedelta(days=7)
        month = first.replace(day=1)
        while month <= last:
            found.add(self.monthly_expiry(month.year, month.month))
            month = _next_month(month)
        return sorted(d for d in found if first <= d <= last)

    # -- internals ----------------------------------------------------------------------------

    def _holidays_of(self, year: int) -> dict[dt.date, Holiday]:
        cached = self._year_cache.get(year)
        if cached is None:
            cached = self._build_year(year)
            self._year_cache[year] = cached
        return cached

    def _build_year(self, year: int) -> dict[dt.date, Holiday]:
        entry = self._years.get(year)
        if entry is not None and entry.published:
            return {h.date: h for h in entry.holidays}
        self._warn_unpublished(year)
        assumed = {
            f.on(year): Holiday(f.on(year), f.description, published=False) for f in self._fallback
        }
        listed = {h.date: h for h in entry.holidays} if entry is not None else {}
        return assumed | listed

    def _warn_unpublished(self, year: int) -> None:
        fixed = ", ".join(f"{f.day} {_MONTH_ABBR[f.month - 1]}" for f in self._fallback)
        warnings.warn(
            f"NSE holidays for {year} are not in the calendar data; assuming only the fixed-date "
            f"national holidays ({fixed or 'none'}). Add {year} with `published: true` to "
            f"{self._sources[-1]} (or to a user file passed to NseCalendar.default(override=...)) "
            "once NSE publishes its holiday circular.",
            UnpublishedHolidaysWarning,
            stacklevel=_caller_stacklevel(),
        )

    def _trading_day_on_or_before(self, day: dt.date) -> dt.date:
        for n in range(_SEARCH_LIMIT_DAYS):
            candidate = day - dt.timedelta(days=n)
            if self.is_trading_day(candidate):
                return candidate
        raise ContractError(
            "NseCalendar", "day", day, f"has no trading day in the {_SEARCH_LIMIT_DAYS} days before"
        )

    def _scan(self, day: dt.date, step: int, accept: Callable[[Session], bool]) -> Session:
        for n in range(_SEARCH_LIMIT_DAYS):
            found = self.session(day + dt.timedelta(days=step * n))
            if found is not None and accept(found):
                return found
        raise ContractError(
            "NseCalendar", "when", day, f"has no session within {_SEARCH_LIMIT_DAYS} days"
        )


# -- small date helpers -----------------------------------------------------------------------


def _as_day(value: object) -> dt.date:
    """A calendar day: a date as is, an aware datetime as its IST date, anything else rejected."""
    if isinstance(value, dt.datetime):
        return require_aware("NseCalendar", "day", value).astimezone(IST).date()
    if not isinstance(value, dt.date):
        raise ContractError("NseCalendar", "day", value, "must be a date or an aware datetime")
    return value


def _ordered(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    first, last = _as_day(start), _as_day(end)
    if last < first:
        raise ContractError("NseCalendar", "end", last, f"must be on or after start {first}")
    return first, last


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    """Every date from ``first`` to ``last`` inclusive (empty when ``last`` is before ``first``)."""
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


def _nominal_weekly(monday: dt.date) -> dt.date:
    """The weekly expiry of the week starting ``monday`` before any holiday shift."""
    weekday = _TUESDAY if monday >= TUESDAY_EXPIRY_FROM else _THURSDAY
    return monday + dt.timedelta(days=weekday)


def _month_start(year: int, month: int) -> dt.date:
    try:
        return dt.date(year, month, 1)
    except (TypeError, ValueError) as exc:
        raise ContractError(
            "NseCalendar", "month", (year, month), "must be a valid (year, month)"
        ) from exc


def _next_month(first: dt.date) -> dt.date:
    return (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def _caller_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside this module."""
    frame = sys._getframe(1)
    level = 1
    while frame.f_back is not None and frame.f_code.co_filename == __file__:
        frame = frame.f_back
        level += 1
    return level
