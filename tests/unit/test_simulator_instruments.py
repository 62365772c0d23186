"""The simulated instruments dump: Kite's CSV format, tokens and tradingsymbols."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest

from data_contracts.enums import Exchange, InstrumentType, SegmentId
from data_contracts.instruments import (
    CSV_COLUMNS,
    InstrumentMaster,
    parse_instruments_csv,
    split_instrument_token,
)
from data_contracts.nse_calendar import NseCalendar
from data_contracts.symbols import parse_symbol
from execution.simulator import SimulatedMarket, SimulatorConfig

CALENDAR = NseCalendar.default()
DAY = date(2026, 6, 10)


@pytest.fixture(scope="module")
def market() -> SimulatedMarket:
    return SimulatedMarket(SimulatorConfig(seed=2, start=date(2026, 6, 1), end=date(2026, 6, 30)))


def test_instruments_csv_has_kites_exact_header(market: SimulatedMarket) -> None:
    text = market.instruments_csv(DAY)

    assert text.splitlines()[0] == ",".join(CSV_COLUMNS)
    assert all(len(row) == 12 for row in csv.reader(io.StringIO(text)))


def test_instruments_csv_parses_back_to_the_same_instruments(market: SimulatedMarket) -> None:
    parsed = parse_instruments_csv(market.instruments_csv(DAY))

    assert parsed == market.instruments(DAY)
    InstrumentMaster.of(parsed)  # unique tradingsymbols and tokens


def test_instruments_index_row_is_kites_nifty_50(market: SimulatedMarket) -> None:
    index = market.instruments(DAY)[0]

    assert (index.instrument_token, index.tradingsymbol, index.segment) == (
        256265,
        "NIFTY 50",
        "INDICES",
    )
    assert index.is_index
    assert not index.is_tradable


def test_instruments_stocks_are_nse_equities(market: SimulatedMarket) -> None:
    stocks = [i for i in market.instruments(DAY) if i.segment == "NSE"]

    assert len(stocks) >= 10
    for stock in stocks:
        assert stock.instrument_type is InstrumentType.EQ
        assert split_instrument_token(stock.instrument_token) == (
            stock.exchange_token,
            SegmentId.NSE,
        )


def test_instruments_options_round_trip_their_symbols(market: SimulatedMarket) -> None:
    options = [i for i in market.instruments(DAY) if i.exchange is Exchange.NFO]

    assert options
    for option in options:
        assert option.expiry is not None
        symbol = parse_symbol(option.tradingsymbol, option.name)
        assert symbol.format() == option.tradingsymbol
        assert symbol.matches_expiry(option.expiry)
        assert symbol.is_monthly == CALENDAR.is_monthly_expiry(option.expiry)
        assert float(symbol.strike or 0) == option.strike
        assert symbol.instrument_type is option.instrument_type
        assert (option.lot_size, option.tick_size, option.segment) == (65, 0.05, "NFO-OPT")
        assert split_instrument_token(option.instrument_token)[1] is SegmentId.NFO


@pytest.mark.parametrize(
    ("symbol", "expiry"),
    [
        ("NIFTY2661624000CE", date(2026, 6, 16)),  # a weekly
        ("NIFTY26JUN24000PE", date(2026, 6, 30)),  # June's monthly
    ],
)
def test_instruments_use_weekly_and_monthly_symbol_formats(
    market: SimulatedMarket, symbol: str, expiry: date
) -> None:
    by_symbol = InstrumentMaster.of(market.instruments(DAY))

    assert by_symbol[Exchange.NFO, symbol].expiry == expiry


def test_instruments_same_contract_keeps_its_token_across_days(market: SimulatedMarket) -> None:
    first = {i.tradingsymbol: i.instrument_token for i in market.instruments(date(2026, 6, 10))}
    later = {i.tradingsymbol: i.instrument_token for i in market.instruments(date(2026, 6, 15))}

    shared = first.keys() & later.keys()
    assert len(shared) > 100
    assert all(first[s] == later[s] for s in shared)


def test_instruments_on_a_weekend_is_fridays_dump(market: SimulatedMarket) -> None:
    saturday = datetime(2026, 6, 13, 6, 0, tzinfo=UTC)

    assert market.instruments(saturday) == market.instruments(date(2026, 6, 12))


def test_instruments_outside_the_range_raise(market: SimulatedMarket) -> None:
    with pytest.raises(ValueError, match="must fall between"):
        market.instruments(date(2026, 7, 1))
