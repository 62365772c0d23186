"""Tick and Candle: validated at construction, tz-aware, normalised to UTC."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest

from data_contracts.errors import ContractError
from data_contracts.timeutil import IST, UTC
from tests import factories


def test_tick_ist_timestamp_is_stored_in_utc() -> None:
    ist = datetime(2026, 8, 18, 9, 30, tzinfo=IST)

    made = factories.tick(ts_event=ist)

    assert made.ts_event.tzinfo is UTC
    assert made.ts_event == ist


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("last_price", 0.0, "must be > 0"),
        ("last_price", -1.0, "must be > 0"),
        ("last_price", math.nan, "must be a finite number"),
        ("last_price", math.inf, "must be a finite number"),
        ("volume", -1, "must be >= 0"),
        ("last_quantity", 1.5, "must be an integer"),
        ("bid", 0.0, "must be > 0"),
        ("oi", -5, "must be >= 0"),
        ("instrument_token", 0, "must be >= 1"),
        ("ts_event", datetime(2026, 8, 18, 9, 30), "must be timezone-aware"),  # noqa: DTZ001
        ("ts_init", "2026-08-18", "must be a datetime"),
    ],
)
def test_tick_bad_field_raises_error_naming_field_value_and_rule(
    field: str, value: object, rule: str
) -> None:
    with pytest.raises(ContractError) as caught:
        factories.tick(**{field: value})

    error = caught.value
    assert (error.owner, error.field, error.rule) == ("Tick", field, rule)
    assert f"Tick.{field} {rule}, was {value!r}" in str(error)


def test_tick_crossed_book_is_rejected() -> None:
    with pytest.raises(ContractError, match=r"Tick.bid must be <= ask 100.0 \(crossed book\)"):
        factories.tick(bid=100.5, ask=100.0)


def test_tick_one_sided_book_mid_is_last_price() -> None:
    made = factories.tick(bid=None, ask=101.0, last_price=100.5)

    assert (made.mid, made.spread) == (100.5, None)


def test_tick_two_sided_book_mid_and_spread() -> None:
    made = factories.tick(bid=99.0, ask=101.0)

    assert (made.mid, made.spread) == (100.0, 2.0)


def test_tick_is_immutable() -> None:
    made = factories.tick()

    with pytest.raises(AttributeError):
        made.last_price = 1.0  # type: ignore[misc]


def test_candle_ts_event_is_close_and_ts_open_is_one_interval_earlier() -> None:
    close = datetime(2026, 8, 18, 9, 16, tzinfo=IST)

    made = factories.candle(ts_event=close, interval=timedelta(minutes=1))

    assert made.ts_event == close
    assert made.ts_open == datetime(2026, 8, 18, 9, 15, tzinfo=IST)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"high": 100.5, "close": 101.0}, "high"),
        ({"low": 100.5, "open": 100.0}, "low"),
        ({"high": 98.0, "low": 99.0, "open": 98.0, "close": 98.0}, "high"),
        ({"open": math.nan}, "open"),
        ({"close": 0.0}, "close"),
        ({"volume": -1}, "volume"),
        ({"interval": timedelta(0)}, "interval"),
    ],
)
def test_candle_inconsistent_ohlc_is_rejected(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(ContractError) as caught:
        factories.candle(**overrides)

    assert caught.value.field == field
