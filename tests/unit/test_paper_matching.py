"""Matching primitives of the paper venue: walking the book, stops, protection, price bands."""

from __future__ import annotations

from decimal import Decimal

import pytest

from data_contracts.enums import Side
from data_contracts.instruments import Instrument
from execution.paper.matching import (
    Book,
    match_book,
    price_band,
    protection_price,
    trade_through,
    triggered,
)
from execution.paper.orders import VenueRules
from tests.unit.test_paper_venue import CE, INFY, quote


def test_match_book_walks_levels_up_to_the_limit_in_whole_lots() -> None:
    book = Book(quote(CE, 100.0, size=100))  # 100 units a level: one 65-lot each

    fills = match_book(Side.BUY, Decimal("100.15"), 260, 65, book)

    assert fills == [(Decimal("100.05"), 65), (Decimal("100.1"), 65), (Decimal("100.15"), 65)]
    assert match_book(Side.BUY, Decimal("100.15"), 65, 65, book) == []  # taken already


def test_match_book_sell_walks_bids_down() -> None:
    book = Book(quote(INFY, 1000.0, size=3))

    assert match_book(Side.SELL, Decimal("999.95"), 5, 1, book) == [
        (Decimal("1000.0"), 3),
        (Decimal("999.95"), 2),
    ]


def test_trade_through_fills_at_limit_once_per_trade() -> None:
    book = Book(quote(CE, 98.0, last_quantity=65))

    assert trade_through(Side.BUY, Decimal(99), 130, 65, book) == [(Decimal(99), 65)]
    assert trade_through(Side.BUY, Decimal(99), 130, 65, book) == []
    assert trade_through(Side.BUY, Decimal(97), 130, 65, Book(quote(CE, 98.0))) == []


@pytest.mark.parametrize(
    ("side", "trigger", "last", "expected"),
    [
        (Side.BUY, "101", "101", True),
        (Side.BUY, "101", "100.95", False),
        (Side.SELL, "95", "95", True),
        (Side.SELL, "95", "95.05", False),
    ],
)
def test_triggered_at_or_beyond_trigger(
    side: Side, trigger: str, last: str, expected: bool
) -> None:
    assert triggered(side, Decimal(trigger), Decimal(last)) is expected


@pytest.mark.parametrize(
    ("side", "reference", "percent", "expected"),
    [
        (Side.BUY, "100.05", "2", "102.05"),
        (Side.SELL, "100", "2", "98"),
        (Side.SELL, "94", "2", "92.15"),
        (Side.SELL, "0.05", "100", "0.05"),  # never below one tick
    ],
)
def test_protection_price_stays_within_protection_on_the_grid(
    side: Side, reference: str, percent: str, expected: str
) -> None:
    assert protection_price(side, Decimal(reference), Decimal(percent), 0.05) == Decimal(expected)


@pytest.mark.parametrize(
    ("instrument", "last", "close", "band"),
    [
        (INFY, 1000.0, 1000.0, ("900", "1100")),  # +- 10 % of the previous close
        (CE, 100.0, 80.0, ("60", "140")),  # option premium > 50: +- 40 % of the last price
        (CE, 30.0, 30.0, ("10", "50")),  # premium <= 50: +- 20 rupees
        (CE, 10.0, 10.0, ("0.05", "30")),  # at least one tick
    ],
)
def test_price_band_per_instrument_kind(
    instrument: Instrument, last: float, close: float, band: tuple[str, str]
) -> None:
    low, high = price_band(instrument, quote(instrument, last, close=close), VenueRules())

    assert (low, high) == (Decimal(band[0]), Decimal(band[1]))
