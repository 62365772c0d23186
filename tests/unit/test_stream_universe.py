"""Which instruments the live worker streams, and each derivative's underlying — on a real Kite
NFO instruments dump (``../shared/fixtures``) plus the NSE rows it lacks (the index, a stock)."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_contracts.enums import Exchange, InstrumentType
from data_contracts.ids import InstrumentToken
from data_contracts.instruments import Instrument, parse_instruments_csv, underlying_tokens
from orchestration.stream_setup import live_universe

NIFTY_50, RELIANCE = 256265, 738561


def _nse(token: int, symbol: str, segment: str) -> Instrument:
    index = segment == "INDICES"
    return Instrument(
        instrument_token=InstrumentToken(token),
        exchange_token=token // 256,
        tradingsymbol=symbol,
        name=symbol,
        exchange=Exchange.NSE,
        segment=segment,
        instrument_type=InstrumentType.EQ,
        expiry=None,
        strike=None,
        tick_size=0.0 if index else 0.05,
        lot_size=0 if index else 1,
    )


@pytest.fixture(scope="module")
def dump(shared_fixtures: Path) -> list[Instrument]:
    nfo = parse_instruments_csv(
        shared_fixtures / "instruments" / "kite_instruments_nfo_bfo_2026-08.csv",
        exchanges=[Exchange.NFO],
    )
    wanted = [i for i in nfo if i.name in ("NIFTY", "RELIANCE", "BANKNIFTY")]
    return [_nse(NIFTY_50, "NIFTY 50", "INDICES"), _nse(RELIANCE, "RELIANCE", "NSE"), *wanted]


def test_underlying_tokens_map_index_and_stock_derivatives_to_their_underlying(
    dump: list[Instrument],
) -> None:
    found = underlying_tokens(dump)

    by_name = {i.name: set() for i in dump}
    for i in dump:
        if int(i.instrument_token) in found:
            by_name[i.name].add(found[int(i.instrument_token)])
    assert by_name["NIFTY"] == {NIFTY_50}  # NIFTY contracts belong to the "NIFTY 50" index row
    assert by_name["RELIANCE"] == {RELIANCE}
    assert by_name["BANKNIFTY"] == set()  # its index row is not in this universe
    assert NIFTY_50 not in found
    assert RELIANCE not in found


def test_live_universe_streams_equities_the_optioned_index_and_two_nearest_expiries(
    dump: list[Instrument],
) -> None:
    chosen = live_universe(dump)

    options = [i for i in chosen if i.is_option]
    mapped = underlying_tokens(dump)
    listed = sorted({i.expiry for i in dump if i.is_option and int(i.instrument_token) in mapped})
    assert {int(i.instrument_token) for i in chosen if not i.is_option} == {NIFTY_50, RELIANCE}
    assert {i.expiry for i in options} == set(listed[:2])
    assert not any(i.is_future for i in chosen)
    assert all(i.name in ("NIFTY", "RELIANCE") for i in options)  # BANKNIFTY has no underlying row
