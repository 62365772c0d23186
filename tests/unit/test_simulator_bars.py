"""The simulator's 1-minute bars: determinism, continuity, the calendar and the stylised facts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest

from data_contracts.nse_calendar import NseCalendar, SessionKind
from data_contracts.schemas import CandleFrame
from data_contracts.timeutil import IST
from execution.simulator import Regime, SimulatedMarket, SimulatorConfig
from execution.simulator.grid import to_grid
from execution.simulator.paths import MOMENTUM_BLOCK_BARS

CALENDAR = NseCalendar.default()
JUNE = SimulatorConfig(seed=11, start=date(2026, 6, 1), end=date(2026, 6, 30))


@pytest.fixture(scope="module")
def june() -> SimulatedMarket:
    return SimulatedMarket(JUNE, CALENDAR)


@dataclass(frozen=True)
class Year:
    """A simulated year of regular sessions, as arrays indexed [day, instrument, bar]."""

    market: SimulatedMarket
    returns: npt.NDArray[np.float64]  # 1-minute log returns (close to close)
    volumes: npt.NDArray[np.float64]
    stressed: npt.NDArray[np.bool_]  # per day


@pytest.fixture(scope="module")
def year() -> Year:
    config = SimulatorConfig(seed=5, start=date(2025, 1, 1), end=date(2025, 12, 31))
    market = SimulatedMarket(config, CALENDAR)
    regular = [s.date for s in market.sessions if s.kind is SessionKind.REGULAR]
    bars = [market.day_bars(day) for day in regular]
    return Year(
        market=market,
        returns=np.stack([np.diff(np.log(b.close), axis=1) for b in bars]),
        volumes=np.stack([b.volume for b in bars]).astype(np.float64),
        stressed=np.array([market.day_state(d).regime is Regime.STRESSED for d in regular]),
    )


# -- determinism -------------------------------------------------------------------------------


def test_day_candles_same_config_are_byte_identical() -> None:
    first = SimulatedMarket(JUNE, CALENDAR).day_candles(date(2026, 6, 10))
    second = SimulatedMarket(JUNE, CALENDAR).day_candles(date(2026, 6, 10))

    assert first.serialize() == second.serialize()


def test_day_candles_other_seed_differ() -> None:
    other = SimulatorConfig(seed=12, start=JUNE.start, end=JUNE.end)

    first = SimulatedMarket(JUNE, CALENDAR).day_candles(date(2026, 6, 10))
    second = SimulatedMarket(other, CALENDAR).day_candles(date(2026, 6, 10))

    assert not first.equals(second)
    assert first["ts_event"].equals(second["ts_event"])


def test_day_candles_do_not_depend_on_which_days_were_made_before() -> None:
    day = date(2026, 6, 22)
    alone = SimulatedMarket(JUNE, CALENDAR, cache_days=1).day_candles(day)
    walked = SimulatedMarket(JUNE, CALENDAR, cache_days=1)
    for session in reversed(walked.sessions):
        walked.day_candles(session.date)

    assert walked.day_candles(day).equals(alone)


def test_day_candles_adding_a_stock_leaves_the_others_unchanged() -> None:
    base = JUNE.universe
    smaller = SimulatorConfig(
        seed=JUNE.seed,
        start=JUNE.start,
        end=JUNE.end,
        universe=type(base)(index=base.index, stocks=base.stocks[:-1]),
    )
    day = date(2026, 6, 3)

    full = SimulatedMarket(JUNE, CALENDAR).day_candles(day)
    fewer = SimulatedMarket(smaller, CALENDAR).day_candles(day)

    kept = fewer["instrument_token"].unique().to_list()
    assert full.filter(pl.col("instrument_token").is_in(kept)).equals(fewer)


# -- continuity and the calendar ---------------------------------------------------------------


def test_day_bars_end_at_the_planned_close_and_next_day_opens_from_it(
    june: SimulatedMarket,
) -> None:
    tick = 0.05
    for before, after in zip(june.sessions, june.sessions[1:], strict=False):
        plan, bars = june.day_state(before.date), june.day_bars(before.date)
        following = june.day_state(after.date)
        next_bars = june.day_bars(after.date)

        assert np.array_equal(following.prev_close, plan.close)
        assert np.array_equal(bars.close[:, -1], to_grid(plan.close, tick))
        assert np.array_equal(next_bars.open[:, 0], to_grid(following.open, tick))
        assert np.array_equal(bars.open[:, 1:], bars.close[:, :-1])
        gap = np.log(following.open / plan.close)
        assert np.all(np.abs(gap) < 0.15)


def test_day_candles_every_day_is_a_valid_candle_frame(june: SimulatedMarket) -> None:
    for session in june.sessions:
        frame = june.day_candles(session.date)

        CandleFrame.validate(frame)
        assert frame.height == june.universe.size * 375


def test_sessions_are_the_calendars_sessions(june: SimulatedMarket) -> None:
    assert list(june.sessions) == CALENDAR.sessions(JUNE.start, JUNE.end)


@pytest.mark.parametrize(
    ("day", "bars", "first_close", "last_close"),
    [
        (date(2026, 6, 10), 375, time(9, 16), time(15, 30)),
        # Saturday DR-drill session: 09:15-10:00 and 11:30-12:30, break in between.
        (date(2024, 3, 2), 45 + 60, time(9, 16), time(12, 30)),
        # Budget Saturday: a full special session.
        (date(2025, 2, 1), 375, time(9, 16), time(15, 30)),
        # Diwali Muhurat session (13:45-14:45) on a holiday.
        (date(2025, 10, 21), 60, time(13, 46), time(14, 45)),
    ],
)
def test_day_candles_bar_count_matches_the_session(
    day: date, bars: int, first_close: time, last_close: time
) -> None:
    market = SimulatedMarket(SimulatorConfig(seed=1, start=day - timedelta(days=3), end=day))

    frame = market.day_candles(day).filter(pl.col("instrument_token") == 256265)

    stamps = [ts.astimezone(IST) for ts in frame["ts_event"]]
    assert frame.height == bars
    assert (stamps[0].time(), stamps[-1].time()) == (first_close, last_close)
    assert all(market.calendar.is_open(ts - timedelta(minutes=1)) for ts in frame["ts_event"])
    CandleFrame.validate(market.day_candles(day))


def test_day_candles_skip_the_break_of_a_special_session() -> None:
    day = date(2024, 3, 2)
    market = SimulatedMarket(SimulatorConfig(seed=1, start=day, end=day))

    stamps = market.day_candles(day)["ts_event"].to_list()

    shut_from = datetime(2024, 3, 2, 10, 0, tzinfo=IST)
    shut_to = datetime(2024, 3, 2, 11, 30, tzinfo=IST)
    assert not [ts for ts in stamps if shut_from < ts <= shut_to]


def test_market_without_a_session_raises() -> None:
    # A Saturday and Sunday with no special session.
    config = SimulatorConfig(seed=1, start=date(2026, 6, 6), end=date(2026, 6, 7))

    with pytest.raises(ValueError, match="at least one NSE session"):
        SimulatedMarket(config, CALENDAR)


def test_day_candles_day_outside_the_range_raises(june: SimulatedMarket) -> None:
    with pytest.raises(ValueError, match="must be a simulated NSE session"):
        june.day_candles(date(2026, 7, 1))


def test_day_candles_naive_datetime_raises(june: SimulatedMarket) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        june.day_candles(datetime(2026, 6, 10, 10, 0))  # noqa: DTZ001 - the point of the test


def test_day_candles_aware_datetime_reads_as_its_ist_date(june: SimulatedMarket) -> None:
    # 20:00 UTC on the 9th is 01:30 IST on the 10th.
    late = datetime(2026, 6, 9, 20, 0, tzinfo=UTC)

    assert june.day_candles(late).equals(june.day_candles(date(2026, 6, 10)))


# -- stylised facts (loose bounds, measured over a simulated year) ----------------------------


def test_one_minute_returns_have_fat_tails(year: Year) -> None:
    returns = year.returns

    for row in (0, 1, 7):
        series = returns[:, row].ravel()
        standardised = (series - series.mean()) / series.std()
        assert np.mean(standardised**4) > 6.0


def test_intraday_volatility_is_u_shaped(year: Year) -> None:
    returns = year.returns
    variance = (returns[:, 0] ** 2).mean(axis=0)

    first, middle, last = variance[:30].mean(), variance[150:250].mean(), variance[-30:].mean()

    assert first > 1.5 * middle
    assert last > 1.2 * middle


def test_intraday_volume_is_u_shaped(year: Year) -> None:
    volumes = year.volumes
    profile = volumes[:, 1:].mean(axis=(0, 1))

    first, middle, last = profile[:30].mean(), profile[150:250].mean(), profile[-30:].mean()

    assert first > 1.5 * middle
    assert last > 1.5 * middle


def test_index_volume_is_zero_as_kite_reports_it(year: Year) -> None:
    volumes = year.volumes

    assert not volumes[:, 0].any()


def test_stock_returns_correlate_with_the_index(year: Year) -> None:
    market, returns = year.market, year.returns
    index = returns[:, 0].ravel()

    for row, stock in enumerate(market.universe.stocks, start=1):
        correlation = np.corrcoef(index, returns[:, row].ravel())[0, 1]
        if stock.beta > 0.5:
            assert correlation > 0.3, stock.tradingsymbol


def test_stressed_days_are_more_volatile_than_calm_ones(year: Year) -> None:
    returns, stressed = year.returns, year.stressed
    daily_variance = (returns[:, 0] ** 2).sum(axis=1)

    assert 10 < stressed.sum() < 0.6 * stressed.size
    assert daily_variance[stressed].mean() > 2.5 * daily_variance[~stressed].mean()


def test_overnight_gaps_exist_and_are_smaller_than_day_moves(year: Year) -> None:
    market = year.market
    plans = [market.day_state(s.date) for s in market.sessions]
    gaps = np.array([np.log(p.open[0] / p.prev_close[0]) for p in plans])
    days = np.array([p.intraday[0] for p in plans])

    assert np.count_nonzero(np.abs(gaps) > 0.002) > 0.3 * gaps.size
    assert gaps.std() < days.std()


def test_fifteen_minute_returns_carry_the_documented_momentum(year: Year) -> None:
    returns = year.returns
    width = (returns.shape[2] + 1) // MOMENTUM_BLOCK_BARS * MOMENTUM_BLOCK_BARS
    padded = np.concatenate([np.zeros((*returns.shape[:2], 1)), returns], axis=2)[..., :width]
    blocks = padded.reshape(*returns.shape[:2], -1, MOMENTUM_BLOCK_BARS).sum(axis=3)
    standardised = blocks / blocks.std(axis=0, keepdims=True)

    lag_one = np.corrcoef(standardised[..., :-1].ravel(), standardised[..., 1:].ravel())[0, 1]

    assert 0.04 < lag_one < 0.16


def test_momentum_zero_removes_the_predictable_component() -> None:
    config = SimulatorConfig(
        seed=5, start=date(2025, 1, 1), end=date(2025, 6, 30), momentum_15m=0.0
    )
    market = SimulatedMarket(config, CALENDAR)
    regular = [s.date for s in market.sessions if s.kind is SessionKind.REGULAR]
    returns = np.stack([np.diff(np.log(market.day_bars(d).close), axis=1) for d in regular])
    blocks = returns[:, :, 14:]  # 360 bars after the first 15 minutes' worth of diffs
    sums = blocks[:, :, : 24 * 15].reshape(*blocks.shape[:2], 24, 15).sum(axis=3)
    standardised = sums / sums.std(axis=0, keepdims=True)

    lag_one = np.corrcoef(standardised[..., :-1].ravel(), standardised[..., 1:].ravel())[0, 1]

    assert abs(lag_one) < 0.04
