"""The NSE calendar: sessions, holidays, special sessions, MIS cut-offs and NIFTY expiries.

Acceptance tests check the calendar against real data in ``../shared/fixtures``: NSE's published
holiday lists (citadel-hq, misterdas), a real Kite instruments dump (Aug-2026), an NSE option-chain
snapshot (Jul-2025, before the Tuesday switch) and an NSE F&O bhavcopy (Nov-2025).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from data_contracts.errors import ContractError
from data_contracts.nse_calendar import (
    Holiday,
    NseCalendar,
    Session,
    SessionKind,
    TimeWindow,
    UnpublishedHolidaysWarning,
)
from data_contracts.timeutil import IST, UTC

# A query about a year without an NSE list must be expected (pytest.warns), never slip by.
pytestmark = pytest.mark.filterwarnings(
    "error::data_contracts.nse_calendar.UnpublishedHolidaysWarning"
)

D = dt.date
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# citadel-hq's 2024 list omits 01-Nov-2024, yet NSE was shut for regular trading that day
# (Diwali Laxmi Pujan; only the 18:00-19:00 Muhurat session ran; NSE notice of 31-Oct-2024).
# Its 2025 list does include the identical case, 21-Oct-2025.
KNOWN_MISSING_FROM_CITADEL = {D(2024, 11, 1)}


def ist(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, ss, tzinfo=IST)


def _nse_date(text: str) -> dt.date:
    """NSE's ``26-Jan-2025`` (parsed by hand: strptime's month names follow the locale)."""
    day, month, year = text.split("-")
    return D(int(year), _MONTHS.index(month) + 1, int(day))


def _citadel_dates(shared_fixtures: Path, year: int) -> set[dt.date]:
    (path,) = (shared_fixtures / "nse-holidays" / "citadel-hq").glob(f"{year}_commit_*/*.csv")
    return {_nse_date(line) for line in path.read_text(encoding="utf-8").split()}


def _option_chain_expiries(shared_fixtures: Path) -> set[dt.date]:
    """Expiries NSE listed for NIFTY on 17-Jul-2025, before the switch to Tuesday."""
    path = shared_fixtures / "options" / "nse-option-chain-2025-07-17" / "nifty_option_chain.json"
    chain = json.loads(path.read_text(encoding="utf-8"))
    return {_nse_date(text) for text in chain["records"]["expiryDates"]}


@pytest.fixture(scope="module")
def dump_expiries(shared_fixtures: Path) -> set[dt.date]:
    """Every NIFTY option expiry in the real Kite instruments dump of Aug-2026."""
    path = shared_fixtures / "instruments" / "kite_instruments_nfo_bfo_2026-08.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        return {
            D.fromisoformat(row["expiry"])
            for row in csv.DictReader(handle)
            if row["name"] == "NIFTY"
            and row["exchange"] == "NFO"
            and row["instrument_type"] in ("CE", "PE")
        }


@pytest.fixture
def calendar() -> NseCalendar:
    return NseCalendar.default()


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "my_calendar.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# -- acceptance: real holiday lists ----------------------------------------------------------


@pytest.mark.parametrize("year", [2024, 2025, 2026])
def test_holidays_against_citadel_list_same_dates(
    calendar: NseCalendar, shared_fixtures: Path, year: int
) -> None:
    expected = _citadel_dates(shared_fixtures, year)

    ours = {h.date for h in calendar.holidays(D(year, 1, 1), D(year, 12, 31))}

    assert ours - expected == {d for d in KNOWN_MISSING_FROM_CITADEL if d.year == year}
    assert expected - ours == set()


@pytest.mark.parametrize("year", [2024, 2025, 2026])
def test_trading_days_against_citadel_list_weekday_holidays_do_not_trade(
    calendar: NseCalendar, shared_fixtures: Path, year: int
) -> None:
    listed = {d for d in _citadel_dates(shared_fixtures, year) if d.weekday() < 5}
    weekdays = [D(year, 1, 1) + dt.timedelta(days=n) for n in range(366)]
    weekdays = [d for d in weekdays if d.year == year and d.weekday() < 5]

    closed = {d for d in weekdays if not calendar.is_trading_day(d)}

    assert closed - listed == {d for d in KNOWN_MISSING_FROM_CITADEL if d.year == year}
    assert listed - closed == set()


def test_holidays_2025_against_nse_holiday_master_same_fo_dates(
    calendar: NseCalendar, shared_fixtures: Path
) -> None:
    raw = json.loads(
        (shared_fixtures / "nse-holidays" / "misterdas" / "nse_holidays.json").read_text("utf-8")
    )
    expected = {_nse_date(entry["tradingDate"]) for entry in raw["FO"]}

    ours = {h.date for h in calendar.holidays(D(2025, 1, 1), D(2025, 12, 31))}

    assert ours == expected


# -- acceptance: real expiries ---------------------------------------------------------------


def test_nifty_expiries_against_instruments_dump_reproduces_every_expiry(
    calendar: NseCalendar, dump_expiries: set[dt.date]
) -> None:
    listed = dump_expiries

    # The dump runs to 2031, beyond the years NSE has published.
    with pytest.warns(UnpublishedHolidaysWarning):
        produced = set(calendar.nifty_expiries(min(listed), max(listed)))

    assert listed - produced == set()
    assert D(2029, 12, 24) in listed  # Christmas (Tue) 2029 pushes the monthly to Monday


def test_is_monthly_expiry_against_instruments_dump_only_four_weeklies_listed(
    calendar: NseCalendar, dump_expiries: set[dt.date]
) -> None:
    # NSE lists the next four NIFTY weeklies; every other contract in the dump is a monthly one.
    with pytest.warns(UnpublishedHolidaysWarning):
        weeklies = {d for d in dump_expiries if not calendar.is_monthly_expiry(d)}

    assert weeklies == {D(2026, 8, 18), D(2026, 9, 1), D(2026, 9, 8), D(2026, 9, 15)}
    assert {calendar.weekly_expiry(d) for d in weeklies} == weeklies


def test_nifty_expiries_against_jul_2025_option_chain_thursday_regime_reproduced(
    calendar: NseCalendar, shared_fixtures: Path
) -> None:
    before_switch = {d for d in _option_chain_expiries(shared_fixtures) if d <= D(2025, 8, 28)}

    produced = set(calendar.nifty_expiries(D(2025, 7, 17), D(2025, 8, 28)))

    assert before_switch <= produced
    assert len(before_switch) == 6


def test_monthly_expiry_against_option_chain_and_dump_pre_switch_contracts_remapped(
    calendar: NseCalendar, shared_fixtures: Path, dump_expiries: set[dt.date]
) -> None:
    # Long-dated contracts listed on Thursdays in Jul-2025 were moved to the last Tuesday when NSE
    # switched; the Aug-2026 dump shows where they ended up, and the rule must agree.
    dump_by_month = {(d.year, d.month): d for d in dump_expiries}
    remapped = {
        (d.year, d.month): dump_by_month[(d.year, d.month)]
        for d in _option_chain_expiries(shared_fixtures)
        if dump_by_month.get((d.year, d.month), d) != d
    }

    with pytest.warns(UnpublishedHolidaysWarning):
        ours = {key: calendar.monthly_expiry(*key) for key in remapped}

    assert ours == remapped
    assert (2029, 12) in remapped  # Thu 27-Dec-2029 became Mon 24-Dec-2029


def test_nifty_expiries_against_nov_2025_bhavcopy_reproduced_but_pre_holiday_list(
    calendar: NseCalendar, shared_fixtures: Path
) -> None:
    path = shared_fixtures / "options" / "nse-fo-bhavcopy-2025-11-14" / "op14112025.csv"
    listed = set()
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.reader(handle):
            if len(row) > 2 and row[0].strip() == "OPTIDX" and row[1].strip() == "NIFTY":
                day, month, yyyy = row[2].strip().split("/")
                listed.add(D(int(yyyy), int(month), int(day)))

    with pytest.warns(UnpublishedHolidaysWarning):
        produced = set(calendar.nifty_expiries(min(listed), max(listed)))

    # 31-Mar-2026 was listed before NSE declared it a holiday (Dec-2025); it now expires on 30-Mar.
    assert listed - produced == {D(2026, 3, 31)}
    assert D(2026, 3, 30) in produced


# -- sessions and is_open --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        (ist(2025, 11, 14, 9, 14, 59), False),
        (ist(2025, 11, 14, 9, 15), True),
        (ist(2025, 11, 14, 15, 29, 59), True),
        (ist(2025, 11, 14, 15, 30), False),
        (dt.datetime(2025, 11, 14, 3, 45, tzinfo=UTC), True),  # 09:15 IST given in UTC
        (ist(2025, 11, 14, 9, 5), False),  # pre-open is not continuous trading
        (ist(2025, 10, 2, 11, 0), False),  # Gandhi Jayanti holiday
        (ist(2025, 11, 15, 11, 0), False),  # Saturday
        (ist(2025, 2, 1, 11, 0), True),  # Budget Saturday
        (ist(2026, 2, 1, 15, 29), True),  # Budget Sunday, full hours
        (ist(2025, 10, 21, 11, 0), False),  # Diwali: closed outside the Muhurat hour
        (ist(2025, 10, 21, 13, 45), True),
        (ist(2025, 10, 21, 14, 45), False),
        (ist(2024, 11, 1, 18, 30), True),  # Muhurat 2024 ran in the evening
        (ist(2024, 3, 2, 10, 30), False),  # DR drill: between the two windows
        (ist(2024, 3, 2, 11, 45), True),
        (ist(2024, 3, 2, 12, 30), False),
    ],
)
def test_is_open_at_instant_matches_session(
    calendar: NseCalendar, ts: dt.datetime, expected: bool
) -> None:
    assert calendar.is_open(ts) is expected


@pytest.mark.parametrize(
    "call",
    [  # naive datetimes on purpose
        lambda c: c.is_open(dt.datetime(2025, 11, 14, 10, 0)),  # noqa: DTZ001
        lambda c: c.is_trading_day(dt.datetime(2025, 11, 14, 10, 0)),  # noqa: DTZ001
        lambda c: c.next_session(dt.datetime(2025, 11, 14, 10, 0)),  # noqa: DTZ001
        lambda c: c.previous_session(dt.datetime(2025, 11, 14, 10, 0)),  # noqa: DTZ001
    ],
)
def test_queries_naive_datetime_raise_contract_error(
    calendar: NseCalendar, call: Callable[[NseCalendar], object]
) -> None:
    with pytest.raises(ContractError, match="must be timezone-aware"):
        call(calendar)


@pytest.mark.parametrize(
    ("day", "kind"),
    [
        (D(2025, 11, 14), SessionKind.REGULAR),
        (D(2024, 1, 20), SessionKind.SPECIAL),
        (D(2025, 2, 1), SessionKind.SPECIAL),
        (D(2025, 10, 21), SessionKind.MUHURAT),
        (D(2025, 10, 22), None),
        (D(2025, 11, 16), None),
    ],
)
def test_session_on_day_has_expected_kind(
    calendar: NseCalendar, day: dt.date, kind: SessionKind | None
) -> None:
    found = calendar.session(day)

    assert (found.kind if found else None) is kind


def test_session_regular_day_times_in_utc_and_ist(calendar: NseCalendar) -> None:
    found = calendar.session(D(2025, 11, 14))

    assert found is not None
    assert found.open.tzinfo is UTC
    assert (found.open_ist.time(), found.close_ist.time()) == (dt.time(9, 15), dt.time(15, 30))
    assert found.pre_open_start.astimezone(IST).time() == dt.time(9, 0)
    assert found.pre_open_order_end.astimezone(IST).time() == dt.time(9, 8)


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        (ist(2025, 11, 14, 8, 59, 59), False),
        (ist(2025, 11, 14, 9, 0), True),
        (ist(2025, 11, 14, 9, 14, 59), True),
        (ist(2025, 11, 14, 9, 15), False),
    ],
)
def test_session_is_pre_open_at_window_09_00_to_09_15(
    calendar: NseCalendar, ts: dt.datetime, expected: bool
) -> None:
    found = calendar.session(D(2025, 11, 14))

    assert found is not None
    assert found.is_pre_open_at(ts) is expected


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (D(2025, 11, 14), True),
        (D(2024, 1, 20), True),  # Saturday turned into a full session
        (D(2024, 1, 22), False),  # declared a holiday three days before
        (D(2025, 10, 21), False),  # Muhurat-only holiday
        (D(2026, 1, 15), False),  # late-added municipal election holiday
        (D(2026, 11, 21), False),  # Saturday
        (ist(2025, 11, 14, 23, 59), True),  # an aware datetime counts as its IST date
        (dt.datetime(2025, 11, 14, 20, 0, tzinfo=UTC), False),  # 01:30 IST on Saturday
    ],
)
def test_is_trading_day_on_day_expected(
    calendar: NseCalendar, day: dt.date, expected: bool
) -> None:
    assert calendar.is_trading_day(day) is expected


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (D(2025, 11, 14), D(2025, 11, 17)),  # Friday -> Monday
        (D(2025, 10, 1), D(2025, 10, 3)),  # over the Gandhi Jayanti holiday
        (D(2025, 10, 20), D(2025, 10, 21)),  # the Muhurat session counts
        (D(2025, 10, 21), D(2025, 10, 23)),  # over Balipratipada
        (D(2025, 1, 31), D(2025, 2, 1)),  # Budget Saturday
        (D(2025, 12, 31), D(2026, 1, 1)),
        (ist(2025, 11, 14, 9, 0), D(2025, 11, 14)),  # before the open: today's session
        (ist(2025, 11, 14, 9, 15), D(2025, 11, 17)),  # once open: the next one
    ],
)
def test_next_session_across_weekends_and_holidays(
    calendar: NseCalendar, when: dt.date, expected: dt.date
) -> None:
    assert calendar.next_session(when).date == expected


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (D(2025, 11, 17), D(2025, 11, 14)),  # Monday -> Friday
        (D(2025, 10, 3), D(2025, 10, 1)),
        (D(2026, 1, 16), D(2026, 1, 14)),  # over the municipal election holiday
        (D(2026, 2, 2), D(2026, 2, 1)),  # Budget Sunday
        (D(2025, 1, 1), D(2024, 12, 31)),
        (ist(2025, 11, 14, 15, 30), D(2025, 11, 14)),  # closed at 15:30: today's session
        (ist(2025, 11, 14, 15, 29), D(2025, 11, 13)),  # still open: the one before
    ],
)
def test_previous_session_across_weekends_and_holidays(
    calendar: NseCalendar, when: dt.date, expected: dt.date
) -> None:
    assert calendar.previous_session(when).date == expected


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (D(2025, 1, 1), D(2025, 1, 31), 23),  # 23 weekdays, 26-Jan was a Sunday
        (D(2025, 2, 1), D(2025, 2, 28), 20),  # 20 weekdays - 26-Feb + Budget Saturday
        (D(2025, 10, 1), D(2025, 10, 31), 21),  # 23 weekdays - 2-Oct - 22-Oct (21-Oct Muhurat)
        (D(2025, 1, 1), D(2025, 12, 31), 249),  # 261 weekdays - 14 holidays + 1-Feb + Muhurat
        (D(2025, 11, 15), D(2025, 11, 16), 0),  # a weekend
        (D(2025, 11, 14), D(2025, 11, 14), 1),
    ],
)
def test_sessions_in_range_count(
    calendar: NseCalendar, start: dt.date, end: dt.date, expected: int
) -> None:
    assert len(calendar.sessions(start, end)) == expected


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.sessions(D(2025, 2, 1), D(2025, 1, 31)),
        lambda c: c.holidays(D(2025, 2, 1), D(2025, 1, 31)),
        lambda c: c.nifty_expiries(D(2025, 2, 1), D(2025, 1, 31)),
    ],
)
def test_range_queries_end_before_start_raise(
    calendar: NseCalendar, call: Callable[[NseCalendar], object]
) -> None:
    with pytest.raises(ContractError, match="must be on or after start"):
        call(calendar)


@pytest.mark.parametrize(
    ("day", "derivatives", "expected"),
    [
        (D(2025, 11, 14), False, ist(2025, 11, 14, 15, 20)),
        (D(2025, 11, 14), True, ist(2025, 11, 14, 15, 25)),
        (D(2026, 2, 1), False, ist(2026, 2, 1, 15, 20)),  # Budget Sunday
        (D(2025, 10, 22), False, None),  # holiday
        (D(2024, 5, 18), True, None),  # DR drill: Zerodha blocked MIS
    ],
)
def test_mis_square_off_on_day_expected(
    calendar: NseCalendar, day: dt.date, derivatives: bool, expected: dt.datetime | None
) -> None:
    assert calendar.mis_square_off(day, derivatives=derivatives) == expected


# -- unpublished years -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "day", [D(2028, 1, 26), D(2028, 5, 1), D(2028, 8, 15), D(2028, 10, 2), D(2028, 12, 25)]
)
def test_is_trading_day_unpublished_year_fixed_holidays_closed_with_warning(
    calendar: NseCalendar, day: dt.date
) -> None:
    with pytest.warns(UnpublishedHolidaysWarning, match=r"2028.*nse_calendar\.yaml"):
        trading = calendar.is_trading_day(day)

    assert trading is False


def test_unpublished_year_queried_twice_warns_once_per_year(calendar: NseCalendar) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        calendar.is_trading_day(D(2027, 3, 1))
        calendar.sessions(D(2027, 1, 1), D(2027, 12, 31))
        calendar.is_trading_day(D(2028, 3, 1))

    messages = [str(w.message) for w in caught if w.category is UnpublishedHolidaysWarning]
    assert len(messages) == 2
    assert ("2027" in messages[0], "2028" in messages[1]) == (True, True)


def test_holidays_unpublished_year_marked_not_published(calendar: NseCalendar) -> None:
    with pytest.warns(UnpublishedHolidaysWarning):
        found = calendar.holidays(D(2027, 1, 1), D(2027, 12, 31))

    assert [(h.date, h.published) for h in found] == [
        (D(2027, 1, 26), False),
        (D(2027, 5, 1), False),
        (D(2027, 8, 15), False),
        (D(2027, 10, 2), False),
        (D(2027, 12, 25), False),
    ]


def test_monthly_expiry_unpublished_year_christmas_moves_dec_2029_to_monday(
    calendar: NseCalendar,
) -> None:
    with pytest.warns(UnpublishedHolidaysWarning, match="2029"):
        expiry = calendar.monthly_expiry(2029, 12)

    assert expiry == D(2029, 12, 24)


# -- NIFTY expiries --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (D(2025, 8, 25), D(2025, 8, 28)),  # last Thursday weekly
        (D(2025, 8, 31), D(2025, 8, 28)),  # Sunday belongs to the same week
        (D(2025, 9, 1), D(2025, 9, 2)),  # first Tuesday weekly
        (D(2025, 9, 5), D(2025, 9, 2)),
        (D(2025, 10, 2), D(2025, 9, 30)),  # the week of the re-mapped 2-Oct contract
        (D(2025, 10, 7), D(2025, 10, 7)),  # ...which landed on the next Tuesday weekly
        (D(2025, 4, 8), D(2025, 4, 9)),  # Thu 10-Apr holiday -> Wednesday
        (D(2025, 10, 20), D(2025, 10, 20)),  # Tue 21-Oct Diwali (Muhurat only) -> Monday
        (D(2026, 3, 3), D(2026, 3, 2)),  # Holi on Tuesday -> Monday
        (D(2024, 11, 11), D(2024, 11, 14)),  # Thursday regime in 2024
    ],
)
def test_weekly_expiry_of_week_containing_day(
    calendar: NseCalendar, day: dt.date, expected: dt.date
) -> None:
    assert calendar.weekly_expiry(day) == expected


@pytest.mark.parametrize(
    ("year", "month", "expected"),
    [
        (2024, 12, D(2024, 12, 26)),  # last Thursday
        (2025, 8, D(2025, 8, 28)),  # last Thursday monthly
        (2025, 9, D(2025, 9, 30)),  # first last-Tuesday monthly
        (2025, 12, D(2025, 12, 30)),
        (2026, 3, D(2026, 3, 30)),  # Tue 31-Mar Mahavir Jayanti -> Monday
        (2026, 11, D(2026, 11, 23)),  # Tue 24-Nov Guru Nanak Jayanti -> Monday
    ],
)
def test_monthly_expiry_for_month(
    calendar: NseCalendar, year: int, month: int, expected: dt.date
) -> None:
    assert calendar.monthly_expiry(year, month) == expected


@pytest.mark.parametrize(("year", "month"), [(2025, 13), (2025, 0)])
def test_monthly_expiry_invalid_month_raises(calendar: NseCalendar, year: int, month: int) -> None:
    with pytest.raises(ContractError, match="must be a valid"):
        calendar.monthly_expiry(year, month)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (D(2025, 8, 28), True),
        (D(2025, 8, 21), False),
        (D(2025, 9, 30), True),
        (D(2025, 9, 23), False),
        (D(2026, 3, 30), True),
        (D(2026, 3, 31), False),
    ],
)
def test_is_monthly_expiry_on_day(calendar: NseCalendar, day: dt.date, expected: bool) -> None:
    assert calendar.is_monthly_expiry(day) is expected


def test_nifty_expiries_thursday_to_tuesday_transition(calendar: NseCalendar) -> None:
    found = calendar.nifty_expiries(D(2025, 8, 18), D(2025, 10, 10))

    assert found == [
        D(2025, 8, 21),
        D(2025, 8, 28),
        D(2025, 9, 2),
        D(2025, 9, 9),
        D(2025, 9, 16),
        D(2025, 9, 23),
        D(2025, 9, 30),
        D(2025, 10, 7),
    ]


def test_nifty_expiries_range_ends_before_shifted_expiry_includes_it(tmp_path: Path) -> None:
    # Mon 9-Mar and Tue 10-Mar-2026 both holidays here: that week's expiry moves back to Friday
    # 6-Mar, inside a range that ends on Saturday 7-Mar.
    path = _write(
        tmp_path,
        "years:\n  2026:\n    published: true\n    holidays:\n"
        "      - {date: 2026-03-09, description: A}\n"
        "      - {date: 2026-03-10, description: B}\n",
    )
    cal = NseCalendar.from_yaml(path)

    assert cal.nifty_expiries(D(2026, 3, 4), D(2026, 3, 7)) == [D(2026, 3, 6)]


# -- loading the YAML ------------------------------------------------------------------------


def test_default_shipped_data_published_years() -> None:
    assert NseCalendar.default().published_years == (2024, 2025, 2026)


def test_default_with_override_user_year_and_session_win(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
years:
  2027:
    published: true
    holidays:
      - {date: 2027-03-22, description: Holi}
special_sessions:
  - {date: 2025-02-01, kind: special, open: "09:15", close: "13:00", description: shorter}
""",
    )

    cal = NseCalendar.default(override=path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        closed = cal.is_trading_day(D(2027, 3, 22))
        budget = cal.session(D(2025, 2, 1))

    assert closed is False
    assert budget is not None
    assert budget.close_ist.time() == dt.time(13, 0)
    assert cal.is_trading_day(D(2025, 10, 2)) is False  # shipped data still there


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            "years: {2027: {published: true, holidays: [{date: 2027-03-22}]}}",
            r"years\.2027\.holidays\[0\] must have description",
        ),
        (
            "years: {2027: {published: true, holidays: [{date: 2027-13-01, description: X}]}}",
            r"line 1 must be a valid date",
        ),
        (
            "years: {2027: {published: true, holidays: [{date: 2028-01-01, description: X}]}}",
            r"years\.2027\.holidays\[0\]\.date must fall in 2027",
        ),
        (
            "years: {2027: {published: true, holidays: [{date: 2027-01-01, descripton: X}]}}",
            r"years\.2027\.holidays\[0\] must have description",
        ),
        (
            "years: {2027: {published: yes please, holidays: []}}",
            r"years\.2027\.published must be true or false",
        ),
        (
            "years: {2027: {published: true, holidays: [{date: 2027-01-01, description: X},"
            " {date: 2027-01-01, description: Y}]}}",
            r"years\.2027\.holidays\[1\]\.date must not repeat",
        ),
        (
            "special_sessions: [{date: 2027-02-01, kind: special, open: '09:15', close: 15:30,"
            " description: X}]",
            r"special_sessions\[0\]\.close must be a quoted IST time",
        ),
        (
            "special_sessions: [{date: 2027-02-01, kind: regular, open: '09:15', close: '15:30',"
            " description: X}]",
            r"special_sessions\[0\]\.kind must be one of",
        ),
        (
            "special_sessions: [{date: 2027-02-01, kind: special, open: '09:15', close: '12:30',"
            " breaks: [['12:00', '13:00']], description: X}]",
            r"special_sessions\[0\] must describe a valid session",
        ),
        ("years: [2027]", r"years must be a mapping"),
        ("holidays: []", r"<document> has unknown key\(s\) holidays"),
        ("years: {2027: {published: true", r"must be valid YAML"),
    ],
)
def test_from_yaml_malformed_entry_raises_naming_it(tmp_path: Path, text: str, match: str) -> None:
    path = _write(tmp_path, text)

    with pytest.raises(ContractError, match=match):
        NseCalendar.from_yaml(path)


def test_from_yaml_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="must be a readable YAML file"):
        NseCalendar.from_yaml(tmp_path / "absent.yaml")


# -- value objects ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"open": dt.datetime(2025, 11, 14, 9, 15)}, "must be timezone-aware"),  # noqa: DTZ001
        ({"close": ist(2025, 11, 14, 9, 0)}, "must be after open"),
        ({"open": ist(2025, 11, 13, 9, 15)}, "must fall on 2025-11-14"),
        (
            {"breaks": (TimeWindow(ist(2025, 11, 14, 15, 0), ist(2025, 11, 14, 16, 0)),)},
            "must lie strictly inside",
        ),
    ],
)
def test_session_invalid_fields_raise(kwargs: dict[str, object], match: str) -> None:
    fields: dict[str, object] = {
        "date": D(2025, 11, 14),
        "kind": SessionKind.REGULAR,
        "open": ist(2025, 11, 14, 9, 15),
        "close": ist(2025, 11, 14, 15, 30),
    } | kwargs

    with pytest.raises(ContractError, match=match):
        Session(**fields)  # type: ignore[arg-type]


def test_holidays_published_year_sorted_with_descriptions(calendar: NseCalendar) -> None:
    found = calendar.holidays(D(2025, 10, 1), D(2025, 10, 31))

    assert found == [
        Holiday(D(2025, 10, 2), "Mahatma Gandhi Jayanti / Dussehra"),
        Holiday(D(2025, 10, 21), "Diwali Laxmi Pujan (Muhurat session)"),
        Holiday(D(2025, 10, 22), "Balipratipada"),
    ]
