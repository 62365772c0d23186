"""The NSE trading calendar: sessions, holidays, special sessions, MIS cut-offs and NIFTY expiries.

Holidays and special sessions are *data* (``data_contracts/data/nse_calendar.yaml``), so a user
can add a year or a Budget-day session without touching code; see ``docs/calendar.md``. The rules
that are not calendar data (regular hours, Zerodha's MIS cut-offs, the NIFTY expiry weekday) live
here as named constants.

Conventions:

* A calendar *day* is an IST date. Where a day is expected, an aware datetime is accepted and
  read as its IST date; a naive datetime raises :class:`ContractError` (we never guess a zone).
* Every datetime a :class:`Session` holds is aware and stored in **UTC**, like the rest of the
  domain model; ``open_ist``/``close_ist`` show it in IST.
* Nothing reads the wall clock: every query takes its day or instant as an argument.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Final, TypeGuard

import yaml

from data_contracts.errors import ContractError
from data_contracts.timeutil import IST, UTC, require_aware

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

REGULAR_OPEN: Final = dt.time(9, 15)
REGULAR_CLOSE: Final = dt.time(15, 30)
# Pre-open runs 09:00-09:15: order entry 09:00-09:08 (random close in the last minute), then
# matching and a buffer. Special sessions keep the same shape relative to their own open.
PRE_OPEN_LEAD: Final = dt.timedelta(minutes=15)
PRE_OPEN_ORDER_ENTRY: Final = dt.timedelta(minutes=8)
# Zerodha squares off MIS at 15:20 (equity) and 15:25 (F&O) and takes no new MIS orders after;
# expressed as a lead before the close so a short special session gets a sensible cut-off too.
MIS_LEAD_EQUITY: Final = dt.timedelta(minutes=10)
MIS_LEAD_DERIVATIVES: Final = dt.timedelta(minutes=5)
# SEBI moved every NSE derivative expiry to Tuesday from this Monday: the last Thursday weekly
# was 2025-08-28 and the first Tuesday weekly 2025-09-02.
TUESDAY_EXPIRY_FROM: Final = dt.date(2025, 9, 1)

SHIPPED_CALENDAR: Final[Traversable] = resources.files("data_contracts").joinpath(
    "data/nse_calendar.yaml"
)

_TUESDAY: Final = 1
_THURSDAY: Final = 3
_SATURDAY: Final = 5
_ONE_DAY: Final = dt.timedelta(days=1)
# Searches for a session or a trading day give up after this many days: only a broken data file
# (a year of holidays) could need more, and an endless loop would hide it.
_SEARCH_LIMIT_DAYS: Final = 366
_HHMM: Final = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
_SCHEMA_VERSION: Final = 1
# Not strftime's %b, which follows the process locale.
_MONTH_ABBR: Final = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
_YAML_TIMESTAMP: Final = "tag:yaml.org,2002:timestamp"
_DATE_LIKE: Final = re.compile(r"\d{4}-\d{1,2}-\d{1,2}")


class SessionKind(StrEnum):
    REGULAR = "regular"
    SPECIAL = "special"
    """A full or partial session on a day that is not a regular one (Budget Saturday, DR drill)."""
    MUHURAT = "muhurat"
    """The one-hour Diwali session on a holiday: tradable, but not a trading day (no expiry)."""


class UnpublishedHolidaysWarning(UserWarning):
    """The calendar was asked about a year whose NSE holiday list it does not have."""


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
        return cls(day, SessionKind.REGULAR, _ist(day, REGULAR_OPEN), _ist(day, REGULAR_CLOSE))

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


class NseCalendar:
    """Trading days, sessions, holidays, MIS cut-offs and NIFTY expiries for NSE.

    Build it with :meth:`default` (the shipped data, optionally overridden by a user file) or
    :meth:`from_yaml`. The data is immutable; the instance only caches each year's holidays and
    remembers which unpublished years it has already warned about (once per year per calendar).
    """

    __slots__ = ("_fallback", "_sources", "_specials", "_year_cache", "_years")

    def __init__(
        self,
        years: Mapping[int, _Year],
        specials: Mapping[dt.date, Session],
        fallback: tuple[_Fallback, ...],
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
        shipped = SHIPPED_CALENDAR.read_text(encoding="utf-8")
        layers = [_parse_document(shipped, SHIPPED_CALENDAR.name, str(SHIPPED_CALENDAR))]
        if override is not None:
            layers.append(_read_layer(Path(override)))
        return cls._from_layers(layers)

    @classmethod
    def from_yaml(cls, *paths: str | Path) -> NseCalendar:
        """A calendar from these YAML files only; a later file overrides an earlier one."""
        if not paths:
            raise ContractError("NseCalendar", "paths", paths, "must name at least one YAML file")
        return cls._from_layers([_read_layer(Path(path)) for path in paths])

    @classmethod
    def _from_layers(cls, layers: Iterable[_Layer]) -> NseCalendar:
        years: dict[int, _Year] = {}
        specials: dict[dt.date, Session] = {}
        fallback: tuple[_Fallback, ...] = ()
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


# -- data file parsing ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Year:
    published: bool
    holidays: tuple[Holiday, ...]


@dataclass(frozen=True, slots=True)
class _Fallback:
    month: int
    day: int
    description: str

    def on(self, year: int) -> dt.date:
        return dt.date(year, self.month, self.day)


@dataclass(frozen=True, slots=True)
class _Layer:
    source: str
    years: Mapping[int, _Year]
    specials: Mapping[dt.date, Session]
    fallback: tuple[_Fallback, ...] | None


@dataclass(frozen=True, slots=True)
class _Src:
    """Where a value came from, so every data error names the file and the entry."""

    owner: str
    subject: str

    def error(self, where: str, value: object, rule: str) -> ContractError:
        return ContractError(self.owner, where, value, rule, self.subject)


def _read_layer(path: Path) -> _Layer:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ContractError(
            "NseCalendar", "path", str(path), f"must be a readable YAML file ({exc.strerror})"
        ) from exc
    return _parse_document(text, path.name, str(path))


def _parse_document(text: str, name: str, subject: str) -> _Layer:
    src = _Src(name, subject)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise src.error("<document>", name, f"must be valid YAML ({exc})") from exc
    except ValueError as exc:
        # safe_load builds dates itself, so an impossible one (2027-13-01) fails before we see its
        # entry; find it in the node tree to name its line.
        where, value = _locate_bad_date(text)
        raise src.error(where, value, f"must be a valid date YYYY-MM-DD ({exc})") from exc
    doc = _mapping(raw if raw is not None else {}, "<document>", src)
    _check_keys(
        doc, "<document>", src, set(), {"schema", "fallback_holidays", "years", "special_sessions"}
    )
    if doc.get("schema", _SCHEMA_VERSION) != _SCHEMA_VERSION:
        raise src.error("schema", doc["schema"], f"must be {_SCHEMA_VERSION}")
    fallback = None
    if "fallback_holidays" in doc:
        fallback = _parse_fallback(doc["fallback_holidays"], src)
    years = _parse_years(doc.get("years", {}), src)
    specials = _parse_specials(doc.get("special_sessions", []), src)
    return _Layer(subject, years, specials, fallback)


def _locate_bad_date(text: str) -> tuple[str, object]:
    stack: list[yaml.Node] = []
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is not None:
        stack.append(root)
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _YAML_TIMESTAMP and _DATE_LIKE.fullmatch(node.value):
                try:
                    dt.date(*(int(part) for part in node.value.split("-")))
                except ValueError:
                    return f"line {node.start_mark.line + 1}", node.value
        elif isinstance(node, yaml.MappingNode):
            stack.extend(part for pair in node.value for part in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return "<document>", "<unknown>"


def _parse_years(raw: object, src: _Src) -> dict[int, _Year]:
    years: dict[int, _Year] = {}
    for key, body in _mapping(raw, "years", src).items():
        if not _is_int(key) or not 1900 <= key <= 9998:
            raise src.error("years", key, "keys must be years such as 2027")
        where = f"years.{key}"
        entry = _mapping(body, where, src)
        _check_keys(entry, where, src, {"published", "holidays"}, {"source"})
        published = _bool(entry["published"], f"{where}.published", src)
        _optional_text(entry, where, src)
        holidays: dict[dt.date, Holiday] = {}
        for i, item in enumerate(_list(entry["holidays"], f"{where}.holidays", src)):
            holiday = _parse_holiday(item, f"{where}.holidays[{i}]", key, published, src)
            if holiday.date in holidays:
                raise src.error(f"{where}.holidays[{i}].date", holiday.date, "must not repeat")
            holidays[holiday.date] = holiday
        years[key] = _Year(published, tuple(sorted(holidays.values())))
    return years


def _parse_holiday(item: object, where: str, year: int, published: bool, src: _Src) -> Holiday:
    entry = _mapping(item, where, src)
    _check_keys(entry, where, src, {"date", "description"}, {"source"})
    day = _date(entry["date"], f"{where}.date", src)
    if day.year != year:
        raise src.error(f"{where}.date", day, f"must fall in {year}")
    return Holiday(day, _text(entry["description"], f"{where}.description", src), published)


def _parse_fallback(raw: object, src: _Src) -> tuple[_Fallback, ...]:
    found: list[_Fallback] = []
    for i, item in enumerate(_list(raw, "fallback_holidays", src)):
        where = f"fallback_holidays[{i}]"
        entry = _mapping(item, where, src)
        _check_keys(entry, where, src, {"month", "day", "description"}, set())
        month, day = entry["month"], entry["day"]
        if not _is_int(month) or not _is_int(day):
            raise src.error(where, {"month": month, "day": day}, "must have integer month and day")
        try:
            # 2001 is not a leap year: a fixed-date holiday must exist in every year.
            dt.date(2001, month, day)
        except ValueError as exc:
            raise src.error(
                where, {"month": month, "day": day}, "must be a valid month/day"
            ) from exc
        found.append(
            _Fallback(month, day, _text(entry["description"], f"{where}.description", src))
        )
    return tuple(found)


def _parse_specials(raw: object, src: _Src) -> dict[dt.date, Session]:
    specials: dict[dt.date, Session] = {}
    for i, item in enumerate(_list(raw, "special_sessions", src)):
        session = _parse_special(item, f"special_sessions[{i}]", src)
        if session.date in specials:
            raise src.error(f"special_sessions[{i}].date", session.date, "must not repeat")
        specials[session.date] = session
    return specials


def _parse_special(item: object, where: str, src: _Src) -> Session:
    entry = _mapping(item, where, src)
    _check_keys(
        entry,
        where,
        src,
        {"date", "kind", "open", "close", "description"},
        {"breaks", "mis", "source"},
    )
    _optional_text(entry, where, src)
    day = _date(entry["date"], f"{where}.date", src)
    kind = entry["kind"]
    if kind not in (SessionKind.SPECIAL.value, SessionKind.MUHURAT.value):
        raise src.error(f"{where}.kind", kind, "must be one of {muhurat, special}")
    breaks = []
    for j, pair in enumerate(_list(entry.get("breaks", []), f"{where}.breaks", src)):
        times = _list(pair, f"{where}.breaks[{j}]", src)
        if len(times) != 2:
            raise src.error(f"{where}.breaks[{j}]", pair, "must be [start, end]")
        breaks.append(
            (
                _time(times[0], f"{where}.breaks[{j}][0]", src),
                _time(times[1], f"{where}.breaks[{j}][1]", src),
            )
        )
    try:
        return Session(
            date=day,
            kind=SessionKind(kind),
            open=_ist(day, _time(entry["open"], f"{where}.open", src)),
            close=_ist(day, _time(entry["close"], f"{where}.close", src)),
            breaks=tuple(TimeWindow(_ist(day, a), _ist(day, b)) for a, b in breaks),
            mis_allowed=_bool(entry.get("mis", True), f"{where}.mis", src),
            description=_text(entry["description"], f"{where}.description", src),
        )
    except ContractError as exc:
        if exc.owner == src.owner:
            raise
        raise src.error(where, entry, f"must describe a valid session: {exc}") from exc


def _mapping(value: object, where: str, src: _Src) -> dict[object, object]:
    if not isinstance(value, dict):
        raise src.error(where, value, "must be a mapping")
    return value


def _list(value: object, where: str, src: _Src) -> list[object]:
    if not isinstance(value, list):
        raise src.error(where, value, "must be a list")
    return value


def _check_keys(
    entry: Mapping[object, object], where: str, src: _Src, required: set[str], optional: set[str]
) -> None:
    missing = sorted(required - entry.keys())
    if missing:
        raise src.error(where, entry, f"must have {', '.join(missing)}")
    unknown = sorted(str(k) for k in entry.keys() - required - optional)
    if unknown:
        allowed = ", ".join(sorted(required | optional))
        raise src.error(
            where, entry, f"has unknown key(s) {', '.join(unknown)}; allowed: {allowed}"
        )


def _date(value: object, where: str, src: _Src) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise src.error(where, value, "must be a date YYYY-MM-DD")


def _time(value: object, where: str, src: _Src) -> dt.time:
    # YAML 1.1 reads an unquoted 15:30 as the integer 930, so only a quoted string is accepted.
    if not isinstance(value, str) or _HHMM.fullmatch(value) is None:
        raise src.error(where, value, "must be a quoted IST time 'HH:MM'")
    hours, minutes = value.split(":")
    return dt.time(int(hours), int(minutes))


def _text(value: object, where: str, src: _Src) -> str:
    if not isinstance(value, str) or not value.strip():
        raise src.error(where, value, "must be a non-empty string")
    return value.strip()


def _optional_text(entry: Mapping[object, object], where: str, src: _Src) -> None:
    if "source" in entry:
        _text(entry["source"], f"{where}.source", src)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _bool(value: object, where: str, src: _Src) -> bool:
    if not isinstance(value, bool):
        raise src.error(where, value, "must be true or false")
    return value


# -- small date helpers -----------------------------------------------------------------------


def _ist(day: dt.date, time: dt.time) -> dt.datetime:
    return dt.datetime.combine(day, time, tzinfo=IST).astimezone(UTC)


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
