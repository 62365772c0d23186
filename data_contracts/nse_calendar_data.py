"""The NSE calendar's data files: YAML in, validated holidays and special sessions out.

Holidays and special sessions are *data* (``data_contracts/data/nse_calendar.yaml`` plus any user
file layered on top), so a user can add a year or a Budget-day session without touching code; see
``docs/calendar.md`` for the format. This module only reads and checks those files: every error is
a :class:`ContractError` naming the file and the entry (``years.2027.holidays[0].date``) or, for a
date YAML itself cannot build, the line. The rules that use the data live in
:mod:`data_contracts.nse_calendar`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Final, TypeGuard, cast

import yaml

from data_contracts.errors import ContractError
from data_contracts.nse_session import Holiday, Session, SessionKind, TimeWindow, ist_instant
from data_contracts.validation import non_empty

__all__ = [
    "SHIPPED_CALENDAR",
    "CalendarLayer",
    "CalendarYear",
    "FixedHoliday",
    "parse_layer",
    "read_layer",
    "read_shipped_layer",
]

SHIPPED_CALENDAR: Final[Traversable] = resources.files("data_contracts").joinpath(
    "data/nse_calendar.yaml"
)

_HHMM: Final = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
_SCHEMA_VERSION: Final = 1
_YAML_TIMESTAMP: Final = "tag:yaml.org,2002:timestamp"
_DATE_LIKE: Final = re.compile(r"\d{4}-\d{1,2}-\d{1,2}")


@dataclass(frozen=True, slots=True)
class CalendarYear:
    """One year's entry: its listed holidays and whether they are NSE's published list."""

    published: bool
    holidays: tuple[Holiday, ...]


@dataclass(frozen=True, slots=True)
class FixedHoliday:
    """A fixed-date national holiday assumed for a year whose NSE list is not published."""

    month: int
    day: int
    description: str

    def on(self, year: int) -> dt.date:
        return dt.date(year, self.month, self.day)


@dataclass(frozen=True, slots=True)
class CalendarLayer:
    """One YAML file, validated. ``fallback`` is None when the file has no ``fallback_holidays``
    (a later layer then keeps an earlier layer's list)."""

    source: str
    years: Mapping[int, CalendarYear]
    specials: Mapping[dt.date, Session]
    fallback: tuple[FixedHoliday, ...] | None


@dataclass(frozen=True, slots=True)
class _Src:
    """Where a value came from, so every data error names the file and the entry."""

    owner: str
    subject: str

    def error(self, where: str, value: object, rule: str) -> ContractError:
        return ContractError(self.owner, where, value, rule, self.subject)

    def text(self, where: str, value: object) -> str:
        """``value`` stripped, once :func:`~data_contracts.validation.non_empty` accepts it."""
        # non_empty checks the type at run time; the cast only tells the type checker so.
        return non_empty(self.owner, where, cast("str", value), self.subject).strip()


def read_shipped_layer() -> CalendarLayer:
    """The calendar data shipped with the package (:data:`SHIPPED_CALENDAR`)."""
    text = SHIPPED_CALENDAR.read_text(encoding="utf-8")
    return parse_layer(text, SHIPPED_CALENDAR.name, str(SHIPPED_CALENDAR))


def read_layer(path: Path) -> CalendarLayer:
    """The calendar data in the YAML file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ContractError(
            "NseCalendar", "path", str(path), f"must be a readable YAML file ({exc.strerror})"
        ) from exc
    return parse_layer(text, path.name, str(path))


def parse_layer(text: str, name: str, subject: str) -> CalendarLayer:
    """The calendar data in ``text``; errors name the file as ``name`` (owner) and ``subject``."""
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
    return CalendarLayer(subject, years, specials, fallback)


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


def _parse_years(raw: object, src: _Src) -> dict[int, CalendarYear]:
    years: dict[int, CalendarYear] = {}
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
        years[key] = CalendarYear(published, tuple(sorted(holidays.values())))
    return years


def _parse_holiday(item: object, where: str, year: int, published: bool, src: _Src) -> Holiday:
    entry = _mapping(item, where, src)
    _check_keys(entry, where, src, {"date", "description"}, {"source"})
    day = _date(entry["date"], f"{where}.date", src)
    if day.year != year:
        raise src.error(f"{where}.date", day, f"must fall in {year}")
    return Holiday(day, src.text(f"{where}.description", entry["description"]), published)


def _parse_fallback(raw: object, src: _Src) -> tuple[FixedHoliday, ...]:
    found: list[FixedHoliday] = []
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
            FixedHoliday(month, day, src.text(f"{where}.description", entry["description"]))
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
            open=ist_instant(day, _time(entry["open"], f"{where}.open", src)),
            close=ist_instant(day, _time(entry["close"], f"{where}.close", src)),
            breaks=tuple(TimeWindow(ist_instant(day, a), ist_instant(day, b)) for a, b in breaks),
            mis_allowed=_bool(entry.get("mis", True), f"{where}.mis", src),
            description=src.text(f"{where}.description", entry["description"]),
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


def _optional_text(entry: Mapping[object, object], where: str, src: _Src) -> None:
    if "source" in entry:
        src.text(f"{where}.source", entry["source"])


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _bool(value: object, where: str, src: _Src) -> bool:
    if not isinstance(value, bool):
        raise src.error(where, value, "must be true or false")
    return value
