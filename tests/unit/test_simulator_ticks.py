"""Ticks inside simulated bars: consistent with the bar, valid frames, a merged feed."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from data_contracts.errors import ContractError
from data_contracts.market import Tick
from data_contracts.nse_calendar import NseCalendar
from data_contracts.pricegrid import Rounding, round_to_tick
from data_contracts.schemas import TickFrame
from execution.simulator import SimulatedMarket, SimulatorConfig
from execution.simulator.grid import ceil_ticks, to_grid
from execution.simulator.ticks import MEAN_TICKS_PER_BAR, bar_ticks

CALENDAR = NseCalendar.default()
DAY = date(2026, 6, 9)  # a weekly expiry day
MINUTE_US = 60_000_000
NIFTY, RELIANCE = 256265, 738561


@pytest.fixture(scope="module")
def market() -> SimulatedMarket:
    return SimulatedMarket(SimulatorConfig(seed=9, start=date(2026, 6, 8), end=date(2026, 6, 10)))


@st.composite
def bars(draw: st.DrawFn) -> tuple[list[float], list[float], list[float], list[float], list[int]]:
    """1-5 consecutive bars on a 0.05 grid (prices in ticks, then converted), with volumes."""
    count = draw(st.integers(1, 5))
    opens, highs, lows, closes, volumes = [], [], [], [], []
    for _ in range(count):
        low = draw(st.integers(1, 400_000))
        high = low + draw(st.integers(0, 200))
        opens.append(draw(st.integers(low, high)) / 20)
        closes.append(draw(st.integers(low, high)) / 20)
        highs.append(high / 20)
        lows.append(low / 20)
        volumes.append(draw(st.integers(0, 50)) * draw(st.sampled_from([1, 65])))
    return opens, highs, lows, closes, volumes


@given(bars(), st.integers(0, 2**32 - 1), st.sampled_from([1, 65]), st.booleans())
def test_bar_ticks_rebuild_the_bar(
    bar: tuple[list[float], list[float], list[float], list[float], list[int]],
    seed: int,
    unit: int,
    with_book: bool,
) -> None:
    opens, highs, lows, closes, volumes = bar
    volumes = [v - v % unit for v in volumes]
    close_us = 1_780_000_000_000_000 + MINUTE_US * np.arange(1, len(opens) + 1)
    spread = np.full(len(opens), 3) if with_book else None

    ticks = bar_ticks(
        np.random.default_rng(seed),
        close_us,
        opens,
        highs,
        lows,
        closes,
        volumes,
        tick_size=0.05,
        quantity_unit=unit,
        spread_ticks=spread,
    )

    frame = pl.DataFrame(
        {"bar": ticks.bar, "ts": ticks.ts_us, "price": ticks.price, "qty": ticks.quantity}
    )
    rebuilt = frame.group_by("bar", maintain_order=True).agg(
        pl.col("price").first().alias("open"),
        pl.col("price").max().alias("high"),
        pl.col("price").min().alias("low"),
        pl.col("price").last().alias("close"),
        pl.col("qty").sum().alias("volume"),
        pl.col("ts").min().alias("first_ts"),
        pl.col("ts").max().alias("last_ts"),
        pl.col("ts").diff().min().alias("min_step"),
    )
    assert rebuilt["open"].to_list() == opens
    assert rebuilt["high"].to_list() == highs
    assert rebuilt["low"].to_list() == lows
    assert rebuilt["close"].to_list() == closes
    assert rebuilt["volume"].to_list() == volumes
    assert (rebuilt["first_ts"].to_numpy() > close_us - MINUTE_US).all()
    assert (rebuilt["last_ts"].to_numpy() <= close_us).all()
    assert (rebuilt["min_step"].fill_null(1) > 0).all()
    assert (ticks.quantity % unit == 0).all()
    assert ticks.volume[-1] == sum(volumes)
    if with_book:
        assert ticks.bid is not None
        assert ticks.ask is not None
        assert (ticks.bid <= ticks.price).all()
        assert (ticks.price <= ticks.ask).all()
        assert ticks.bid.min() >= 0.05
    else:
        assert ticks.bid is None


@given(st.decimals(min_value="0.0001", max_value="99999", places=4))
def test_to_grid_agrees_with_pricegrid(price: object) -> None:
    value = float(str(price))

    assert to_grid(value, 0.05).item() == float(round_to_tick(value, "0.05"))
    assert ceil_ticks(value, 0.05).item() / 20 == float(round_to_tick(value, "0.05", Rounding.UP))


@pytest.mark.parametrize("token", [NIFTY, RELIANCE])
def test_ticks_of_a_stock_or_the_index_rebuild_its_candles(
    market: SimulatedMarket, token: int
) -> None:
    ticks = market.ticks(token, DAY)
    candles = market.day_candles(DAY).filter(pl.col("instrument_token") == token)

    TickFrame.validate(ticks)
    rebuilt = (
        ticks.with_columns(pl.col("ts_event").dt.truncate("1m").dt.offset_by("1m").alias("bar"))
        .group_by("bar", maintain_order=True)
        .agg(
            pl.col("last_price").first().alias("open"),
            pl.col("last_price").max().alias("high"),
            pl.col("last_price").min().alias("low"),
            pl.col("last_price").last().alias("close"),
            pl.col("last_quantity").sum().alias("volume"),
        )
    )
    assert rebuilt["bar"].equals(candles["ts_event"], check_names=False)
    for column in ("open", "high", "low", "close", "volume"):
        assert rebuilt[column].equals(candles[column], check_names=False), column
    assert ticks["volume"].diff().drop_nulls().min() >= 0


def test_index_ticks_have_no_book_and_no_volume(market: SimulatedMarket) -> None:
    ticks = market.ticks(NIFTY, DAY)

    assert ticks["bid"].null_count() == ticks.height
    assert ticks["volume"].max() == 0


def test_option_ticks_trade_whole_lots_and_carry_oi(market: SimulatedMarket) -> None:
    chain = market.option_chain(DAY)
    token = chain.filter(pl.col("expiry") == DAY)["instrument_token"][42]

    ticks = market.ticks(token, DAY)
    candles = market.option_candles(token, DAY)

    TickFrame.validate(ticks)
    assert (ticks["last_quantity"] % 65 == 0).all()
    assert ticks["last_quantity"].sum() == candles["volume"].sum()
    assert ticks["oi"].null_count() == 0
    assert (ticks["bid"] <= ticks["last_price"]).all()


def test_ticks_same_seed_are_identical_and_another_seed_differs(market: SimulatedMarket) -> None:
    again = SimulatedMarket(market.config)
    other = SimulatedMarket(
        SimulatorConfig(seed=10, start=market.config.start, end=market.config.end)
    )

    assert again.ticks(RELIANCE, DAY).equals(market.ticks(RELIANCE, DAY))
    assert not other.ticks(RELIANCE, DAY).equals(market.ticks(RELIANCE, DAY))


def test_tick_objects_are_validated_ticks(market: SimulatedMarket) -> None:
    ticks = market.tick_objects(RELIANCE, DAY)

    assert all(isinstance(t, Tick) for t in ticks)
    assert ticks[0].ts_event.tzinfo is not None
    assert ticks[-1].volume == market.ticks(RELIANCE, DAY)["volume"][-1]


def test_day_ticks_merge_instruments_in_time_order(market: SimulatedMarket) -> None:
    feed = market.day_ticks([NIFTY, RELIANCE], DAY)

    TickFrame.validate(feed)
    assert feed["ts_event"].is_sorted()
    assert set(feed["instrument_token"].unique()) == {NIFTY, RELIANCE}


def _dense(mean_ticks: float, bars: int = 400, seed: int = 3) -> np.ndarray:
    close_us = 1_780_000_000_000_000 + MINUTE_US * np.arange(1, bars + 1)
    price = np.full(bars, 100.0)
    ticks = bar_ticks(
        np.random.default_rng(seed),
        close_us,
        price,
        price + 1,
        price - 1,
        price,
        np.full(bars, 1_000),
        tick_size=0.05,
        mean_ticks=mean_ticks,
    )
    return np.bincount(ticks.bar, minlength=bars)


@pytest.mark.parametrize("mean", [12.0, 60.0, 180.0])
def test_bar_ticks_density_is_the_mean_asked_for(mean: float) -> None:
    per_bar = _dense(mean)
    assert per_bar.min() >= 4
    assert abs(per_bar.mean() - mean) < 0.1 * mean


def test_bar_ticks_default_density_is_the_paper_exchanges_twelve() -> None:
    assert (_dense(12.0) == _dense(MEAN_TICKS_PER_BAR)).all()


@pytest.mark.parametrize("mean", [3.9, 10_000.0, True])
def test_bar_ticks_refuses_a_density_out_of_range_naming_it(mean: float) -> None:
    with pytest.raises(ContractError, match="mean_ticks"):
        _dense(mean, bars=2)
