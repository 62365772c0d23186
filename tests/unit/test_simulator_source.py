"""``SimulatedMarket`` as a ``MarketDataSource``: the candles port, intervals and its errors."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from data_contracts.ids import InstrumentToken
from data_contracts.ports import MarketDataSource
from data_contracts.schemas import CandleFrame
from data_contracts.timeutil import IST
from execution.simulator import CANDLE_SCHEMA, SimulatedMarket, SimulatorConfig

NIFTY, INFY = InstrumentToken(256265), InstrumentToken(408065)


@pytest.fixture(scope="module")
def market() -> SimulatedMarket:
    return SimulatedMarket(SimulatorConfig(seed=4, start=date(2026, 6, 1), end=date(2026, 6, 12)))


def _ist(day: int, hour: int, minute: int) -> datetime:
    return datetime(2026, 6, day, hour, minute, tzinfo=IST)


def test_simulated_market_is_a_market_data_source(market: SimulatedMarket) -> None:
    source: MarketDataSource = market

    assert source.instruments(_ist(3, 9, 0))
    assert source.candles(NIFTY, _ist(3, 9, 0), _ist(3, 10, 0), timedelta(minutes=1)).height


def test_candles_are_the_bars_closing_in_the_half_open_window(market: SimulatedMarket) -> None:
    frame = market.candles(INFY, _ist(3, 9, 20), _ist(3, 9, 25))

    assert [ts.astimezone(IST).strftime("%H:%M") for ts in frame["ts_event"]] == [
        "09:21",
        "09:22",
        "09:23",
        "09:24",
        "09:25",
    ]


def test_candles_span_days_and_match_day_candles(market: SimulatedMarket) -> None:
    frame = market.candles(INFY, _ist(2, 0, 0), _ist(4, 23, 0))
    daily = pl.concat(
        market.day_candles(date(2026, 6, d)).filter(pl.col("instrument_token") == INFY)
        for d in (2, 3, 4)
    )

    CandleFrame.validate(frame)
    assert frame.equals(daily)


@pytest.mark.parametrize("minutes", [3, 5, 15, 60])
def test_candles_k_minute_bars_aggregate_the_minute_bars(
    market: SimulatedMarket, minutes: int
) -> None:
    start, end = _ist(3, 0, 0), _ist(3, 23, 0)
    ones = market.candles(INFY, start, end)

    bars = market.candles(INFY, start, end, timedelta(minutes=minutes))

    CandleFrame.validate(bars)
    assert bars.height == -(-375 // minutes)
    assert bars["volume"].sum() == ones["volume"].sum()
    assert bars["high"].max() == ones["high"].max()
    assert (bars["open"][0], bars["close"][-1]) == (ones["open"][0], ones["close"][-1])
    assert bars["ts_event"][0] == ones["ts_event"][minutes - 1]
    assert bars["ts_event"][-1] == _ist(3, 15, 30)


def test_candles_daily_bars_close_at_the_session_close(market: SimulatedMarket) -> None:
    bars = market.candles(NIFTY, _ist(1, 0, 0), _ist(12, 23, 0), timedelta(days=1))

    CandleFrame.validate(bars)
    assert bars.height == len(market.sessions)
    assert [ts.astimezone(IST).hour for ts in bars["ts_event"]] == [15] * bars.height


def test_candles_of_an_option_token(market: SimulatedMarket) -> None:
    day = date(2026, 6, 3)
    token = market.option_chain(day)["instrument_token"][7]

    frame = market.candles(token, _ist(3, 0, 0), _ist(3, 23, 0))

    CandleFrame.validate(frame)
    assert frame.equals(market.option_candles(token, day))


def test_candles_outside_the_simulated_range_are_empty(market: SimulatedMarket) -> None:
    frame = market.candles(NIFTY, _ist(20, 0, 0), _ist(25, 0, 0))

    assert frame.is_empty()
    assert dict(frame.schema) == CANDLE_SCHEMA


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"instrument_token": 999_999_999}, "is not a simulated instrument"),
        ({"end": _ist(3, 9, 0)}, "must be after start"),
        ({"start": datetime(2026, 6, 3, 9, 0)}, "timezone-aware"),  # noqa: DTZ001
        ({"interval": timedelta(seconds=30)}, "whole minutes"),
        ({"interval": timedelta(minutes=400)}, "whole minutes"),
    ],
)
def test_candles_bad_arguments_raise(
    market: SimulatedMarket, kwargs: dict[str, object], message: str
) -> None:
    arguments: dict[str, object] = {
        "instrument_token": NIFTY,
        "start": _ist(3, 9, 0),
        "end": _ist(3, 10, 0),
        "interval": timedelta(minutes=1),
    } | kwargs

    with pytest.raises(ValueError, match=message):
        market.candles(**arguments)  # type: ignore[arg-type]


def test_twenty_trading_days_with_chains_generate() -> None:
    """The documented workload (docs/simulator.md), end to end; timing is for `make bench`."""
    config = SimulatorConfig.ending(date(2026, 7, 29), trading_days=20, seed=1)
    market = SimulatedMarket(config, cache_days=2)

    rows = sum(
        market.day_candles(s.date).height + market.option_chain(s.date).height
        for s in market.sessions
    )

    assert len(market.sessions) == 20
    assert rows > 20 * 15 * 375


def test_day_state_reports_the_regime(market: SimulatedMarket) -> None:
    state = market.day_state(datetime(2026, 6, 3, 4, 0, tzinfo=UTC))

    assert state.session.date == date(2026, 6, 3)
    assert state.regime.value in {"calm", "stressed"}
    assert 0 < state.vol < 1
