"""Kite derivative tradingsymbols: parse and format, checked against the reference examples and
every row of the real NFO/BFO instruments dump."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from data_contracts.enums import InstrumentType
from data_contracts.errors import ContractError
from data_contracts.symbols import DerivativeSymbol, format_strike, format_symbol, parse_symbol

CE, PE, FUT = InstrumentType.CE, InstrumentType.PE, InstrumentType.FUT

DUMP = Path("instruments") / "kite_instruments_nfo_bfo_2026-08.csv"


@pytest.fixture(scope="module")
def dump_rows(shared_fixtures: Path) -> list[dict[str, str]]:
    """The real dump's raw rows, read with the csv module (independent of our parser)."""
    with (shared_fixtures / DUMP).open(newline="") as handle:
        return list(csv.DictReader(handle))


# --- reference examples (kite-connect.md §4.1) ----------------------------------------------

EXAMPLES = [
    # symbol, underlying, year, month, day, strike, type
    ("NIFTY2580724400CE", "NIFTY", 2025, 8, 7, Decimal(24400), CE),
    ("NIFTY20D1713600CE", "NIFTY", 2020, 12, 17, Decimal(13600), CE),
    ("NIFTY24N2124000CE", "NIFTY", 2024, 11, 21, Decimal(24000), CE),
    ("NIFTY2371317900PE", "NIFTY", 2023, 7, 13, Decimal(17900), PE),
    ("BANKNIFTY2020630900CE", "BANKNIFTY", 2020, 2, 6, Decimal(30900), CE),
    ("BANKNIFTY18JAN23500CE", "BANKNIFTY", 2018, 1, None, Decimal(23500), CE),
    ("BANKNIFTY20FEB30900CE", "BANKNIFTY", 2020, 2, None, Decimal(30900), CE),
    ("NIFTY24NOV24000CE", "NIFTY", 2024, 11, None, Decimal(24000), CE),
    ("NIFTY15DECFUT", "NIFTY", 2015, 12, None, None, FUT),
    ("USDINR21JUNFUT", "USDINR", 2021, 6, None, None, FUT),
    ("ASHOKLEY26AUG172.5CE", "ASHOKLEY", 2026, 8, None, Decimal("172.5"), CE),
    ("M&M26AUG3000PE", "M&M", 2026, 8, None, Decimal(3000), PE),
    ("BAJAJ-AUTO26SEPFUT", "BAJAJ-AUTO", 2026, 9, None, None, FUT),
    ("NIFTYNXT5026AUGFUT", "NIFTYNXT50", 2026, 8, None, None, FUT),
    ("SENSEX26O0176200CE", "SENSEX", 2026, 10, 1, Decimal(76200), CE),
]


@pytest.mark.parametrize(
    ("symbol", "underlying", "year", "month", "day", "strike", "kind"), EXAMPLES
)
def test_parse_symbol_reference_example_gives_its_parts(
    symbol: str,
    underlying: str,
    year: int,
    month: int,
    day: int | None,
    strike: Decimal | None,
    kind: InstrumentType,
) -> None:
    parsed = parse_symbol(symbol, underlying)
    assert parsed == DerivativeSymbol(underlying, year, month, day, strike, kind)
    assert parsed.is_weekly is (day is not None)
    assert parsed.format() == symbol
    assert str(parsed) == symbol


@pytest.mark.parametrize(
    ("underlying", "expiry", "strike", "kind", "monthly", "symbol"),
    [
        ("NIFTY", date(2025, 8, 7), 24400, CE, False, "NIFTY2580724400CE"),
        ("NIFTY", date(2020, 12, 17), 13600.0, CE, False, "NIFTY20D1713600CE"),
        ("NIFTY", date(2024, 11, 21), Decimal("24000.00"), CE, False, "NIFTY24N2124000CE"),
        ("NIFTY", date(2024, 11, 28), 24000, CE, True, "NIFTY24NOV24000CE"),
        ("NIFTY", date(2023, 7, 13), "17900", PE, False, "NIFTY2371317900PE"),
        ("BANKNIFTY", date(2018, 1, 25), 23500.0, CE, True, "BANKNIFTY18JAN23500CE"),
        ("NIFTY", date(2015, 12, 31), None, FUT, True, "NIFTY15DECFUT"),
        ("ASHOKLEY", date(2026, 8, 25), 172.5, CE, True, "ASHOKLEY26AUG172.5CE"),
        ("NIFTY", date(2026, 10, 6), 25000, PE, False, "NIFTY26O0625000PE"),
    ],
)
def test_format_symbol_contract_terms_gives_kite_symbol(
    underlying: str,
    expiry: date,
    strike: Decimal | float | str | None,
    kind: InstrumentType,
    monthly: bool,
    symbol: str,
) -> None:
    assert format_symbol(underlying, expiry, strike, kind, monthly=monthly) == symbol


@pytest.mark.parametrize(
    ("strike", "text"),
    [
        (Decimal("24400"), "24400"),
        (Decimal("24400.0"), "24400"),
        (Decimal("2.44E+4"), "24400"),
        (Decimal("172.50"), "172.5"),
        (Decimal("8.5"), "8.5"),
        (Decimal("100"), "100"),
        (Decimal("0.50"), "0.5"),
    ],
)
def test_format_strike_any_spelling_gives_kites_spelling(strike: Decimal, text: str) -> None:
    assert format_strike(strike) == text


@pytest.mark.parametrize(
    ("symbol", "underlying"),
    [
        ("BANKNIFTY18JAN23500CE", "NIFTY"),  # does not start with the underlying
        ("NIFTYNXT5026AUGFUT", "NIFTY"),  # the underlying is NIFTYNXT50, not NIFTY
        ("NIFTY25A0724400CE", "NIFTY"),  # A is not a month code
        ("NIFTY2513224400CE", "NIFTY"),  # 32 January
        ("NIFTY2523024400CE", "NIFTY"),  # 30 February
        ("NIFTY2580024400CE", "NIFTY"),  # day 00
        ("NIFTY25JAN024400CE", "NIFTY"),  # leading zero strike
        ("NIFTY25JAN24400.0CE", "NIFTY"),  # not Kite's spelling of the strike
        ("NIFTY25JAN24400.CE", "NIFTY"),
        ("NIFTY25JAN0CE", "NIFTY"),  # zero strike
        ("NIFTY25JAN00.5CE", "NIFTY"),
        ("NIFTY25JAN24400XE", "NIFTY"),
        ("NIFTY25JAN24400", "NIFTY"),
        ("NIFTY25JANCE", "NIFTY"),  # option without strike
        ("NIFTY25JAN24400FUT", "NIFTY"),  # future with strike
        ("NIFTY25807FUT", "NIFTY"),  # no weekly futures
        ("NIFTY25jan24400CE", "NIFTY"),  # mixed case is not Kite's format
        ("NIFTY25Jul0324200CE", "NIFTY"),
        ("NIFTY5JAN24400CE", "NIFTY"),  # one-digit year
        ("NIFTY 50", "NIFTY"),
        ("NIFTY", "NIFTY"),
        ("", "NIFTY"),
        ("NIFTY25JANFUT", ""),
    ],
)
def test_parse_symbol_malformed_raises(symbol: str, underlying: str) -> None:
    with pytest.raises(ContractError, match=r"DerivativeSymbol\.\w+"):
        parse_symbol(symbol, underlying)


def test_parse_symbol_underlying_ending_in_digits_needs_the_name() -> None:
    # A weekly SENSEX50 symbol; all digits after the letters, so the name decides the split.
    symbol = format_symbol("SENSEX50", date(2026, 8, 20), 78000, CE, monthly=False)
    assert symbol == "SENSEX502682078000CE"
    assert parse_symbol(symbol, "SENSEX50").strike == Decimal(78000)
    with pytest.raises(ContractError, match="day"):
        parse_symbol(symbol, "SENSEX")  # would read as 2050, February, day 68


def test_format_symbol_weekly_future_raises() -> None:
    with pytest.raises(ContractError, match=r"DerivativeSymbol\.monthly must be True"):
        format_symbol("NIFTY", date(2026, 8, 18), None, FUT, monthly=False)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"underlying": "nifty"}, "underlying"),
        ({"underlying": "NIFTY 50"}, "underlying"),
        ({"year": 1999}, "year"),
        ({"year": 2100}, "year"),
        ({"month": 13}, "month"),
        ({"month": 0}, "month"),
        ({"day": 31, "month": 4}, "day"),
        ({"strike": Decimal(0)}, "strike"),
        ({"strike": Decimal(-100)}, "strike"),
        ({"strike": Decimal("NaN")}, "strike"),
        ({"strike": None}, "strike"),
        ({"instrument_type": InstrumentType.EQ}, "instrument_type"),
        ({"instrument_type": FUT}, "strike"),
        ({"instrument_type": FUT, "strike": None, "day": 7}, "day"),
    ],
)
def test_derivative_symbol_invalid_field_raises(kwargs: dict[str, object], field: str) -> None:
    values: dict[str, object] = {
        "underlying": "NIFTY",
        "year": 2025,
        "month": 8,
        "day": None,
        "strike": Decimal(24400),
        "instrument_type": CE,
    }
    values.update(kwargs)
    with pytest.raises(ContractError, match=rf"DerivativeSymbol\.{field} "):
        DerivativeSymbol(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("symbol", "expiry", "matches"),
    [
        ("NIFTY2580724400CE", date(2025, 8, 7), True),
        ("NIFTY2580724400CE", date(2025, 8, 14), False),
        ("NIFTY25AUG24400CE", date(2025, 8, 28), True),
        ("NIFTY25AUG24400CE", date(2025, 9, 25), False),
        ("NIFTY25AUG24400CE", date(2024, 8, 29), False),
    ],
)
def test_matches_expiry_weekly_day_or_monthly_month(
    symbol: str, expiry: date, matches: bool
) -> None:
    assert parse_symbol(symbol, "NIFTY").matches_expiry(expiry) is matches


# --- the real dump -----------------------------------------------------------------------------


def _check_row_agrees(row: dict[str, str]) -> DerivativeSymbol:
    parsed = parse_symbol(row["tradingsymbol"], row["name"])
    expiry = date.fromisoformat(row["expiry"])
    assert parsed.instrument_type.value == row["instrument_type"], row
    if parsed.is_weekly:
        assert (parsed.year, parsed.month, parsed.day) == (expiry.year, expiry.month, expiry.day)
    else:
        assert (parsed.year, parsed.month) == (expiry.year, expiry.month), row
    if parsed.instrument_type is FUT:
        assert parsed.strike is None
        assert float(row["strike"]) == 0
    else:
        assert parsed.strike == Decimal(row["strike"]), row
    # Both ways: the symbol from the row's own terms, and format(parse(s)).
    assert parsed.format() == row["tradingsymbol"]
    rebuilt = format_symbol(
        row["name"],
        expiry,
        row["strike"] if parsed.strike is not None else None,
        parsed.instrument_type,
        monthly=parsed.is_monthly,
    )
    assert rebuilt == row["tradingsymbol"]
    return parsed


def test_parse_symbol_every_nifty_row_agrees_and_round_trips(
    dump_rows: list[dict[str, str]],
) -> None:
    nifty = [row for row in dump_rows if row["name"] == "NIFTY" and row["exchange"] == "NFO"]
    parsed = [_check_row_agrees(row) for row in nifty]
    # The dump holds weeklies, monthlies and futures: all three formats were exercised.
    assert len(parsed) == 1725
    assert any(p.is_weekly for p in parsed)
    assert any(p.is_monthly and p.instrument_type.is_option for p in parsed)
    assert any(p.instrument_type is FUT for p in parsed)


def test_parse_symbol_every_dump_row_agrees_and_round_trips(
    dump_rows: list[dict[str, str]],
) -> None:
    assert len(dump_rows) == 39941
    for row in dump_rows:
        _check_row_agrees(row)


def test_dump_weekly_symbols_never_name_a_months_last_expiry(
    dump_rows: list[dict[str, str]],
) -> None:
    # The convention format_symbol's `monthly` flag encodes (reference §4.1, UNCERTAIN there):
    # the month's last expiry of an underlying uses the monthly format, every other one weekly.
    expiries: dict[tuple[str, str, int, int], set[date]] = defaultdict(set)
    weekly: dict[tuple[str, str, int, int], set[date]] = defaultdict(set)
    monthly: dict[tuple[str, str, int, int], set[date]] = defaultdict(set)
    for row in dump_rows:
        expiry = date.fromisoformat(row["expiry"])
        key = (row["exchange"], row["name"], expiry.year, expiry.month)
        expiries[key].add(expiry)
        target = weekly if parse_symbol(row["tradingsymbol"], row["name"]).is_weekly else monthly
        target[key].add(expiry)
    assert weekly, "the dump has weekly contracts"
    for key, dates in weekly.items():
        assert max(expiries[key]) not in dates, key
    for key, dates in monthly.items():
        assert dates == {max(expiries[key])}, key


# --- invariants --------------------------------------------------------------------------------

underlyings = st.from_regex(r"[A-Z][A-Z0-9&\-]{0,11}", fullmatch=True)
strikes = st.decimals(
    min_value=Decimal("0.05"), max_value=Decimal(200_000), places=2, allow_nan=False
)


@st.composite
def symbols(draw: st.DrawFn) -> DerivativeSymbol:
    expiry = draw(st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)))
    kind = draw(st.sampled_from([CE, PE, FUT]))
    monthly = kind is FUT or draw(st.booleans())
    strike = None if kind is FUT else draw(strikes)
    return DerivativeSymbol.of(draw(underlyings), expiry, strike, kind, monthly=monthly)


@given(symbols())
def test_derivative_symbol_any_valid_round_trips_through_text(symbol: DerivativeSymbol) -> None:
    text = symbol.format()
    assert parse_symbol(text, symbol.underlying) == symbol
    assert parse_symbol(text, symbol.underlying).format() == text
