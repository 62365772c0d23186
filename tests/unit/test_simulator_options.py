"""The simulated NIFTY option chain: listings, no-arbitrage prices, the smile, spreads, OI."""

from __future__ import annotations

import itertools
from datetime import date

import numpy as np
import polars as pl
import pytest

from data_contracts.nse_calendar import NseCalendar
from data_contracts.pricegrid import is_on_grid
from data_contracts.schemas import CandleFrame
from execution.simulator import (
    OPTION_CHAIN_SCHEMA,
    OptionParams,
    RegimeParams,
    SimulatedMarket,
    SimulatorConfig,
)
from execution.simulator.options import atm_vol, option_exchange_token, smile_vol
from models.option_math import implied_vol

CALENDAR = NseCalendar.default()
TICK = 0.05
HALF_TICK = 0.025
EPS = 1e-9
# 2026-06-30 is June's monthly expiry (a Tuesday); 2026-06-02/09/16/23 are weeklies.
CONFIG = SimulatorConfig(seed=3, start=date(2026, 6, 1), end=date(2026, 6, 30))
DAYS = (date(2026, 6, 1), date(2026, 6, 8), date(2026, 6, 9), date(2026, 6, 30))


@pytest.fixture(scope="module")
def market() -> SimulatedMarket:
    return SimulatedMarket(CONFIG, CALENDAR)


@pytest.fixture(scope="module")
def chains(market: SimulatedMarket) -> pl.DataFrame:
    """Diagnostic chains of a few days: a weekly expiry day, the day before, a monthly expiry."""
    return pl.concat([market.option_chain(day, diagnostics=True) for day in DAYS])


def _pairs(chains: pl.DataFrame) -> pl.DataFrame:
    calls = chains.filter(pl.col("option_type") == "CE")
    puts = chains.filter(pl.col("option_type") == "PE")
    return calls.join(puts, on=["ts_event", "expiry", "strike"], suffix="_pe")


# -- shape and listing -------------------------------------------------------------------------


def test_option_chain_has_the_shared_columns_and_types(market: SimulatedMarket) -> None:
    chain = market.option_chain(date(2026, 6, 10))

    assert dict(chain.schema) == OPTION_CHAIN_SCHEMA
    assert chain.select(pl.all().is_null().any()).row(0) == (False,) * chain.width


def test_option_chain_snapshots_every_fifteen_minutes(market: SimulatedMarket) -> None:
    chain = market.option_chain(date(2026, 6, 10))

    stamps = chain["ts_event"].unique().sort()
    steps = stamps.diff().drop_nulls().unique().to_list()
    assert stamps.len() == 25
    assert [s.total_seconds() for s in steps] == [900.0]
    assert chain.height == 25 * len(market.option_contracts(date(2026, 6, 10)))


def test_option_chain_underlying_price_is_the_index_close(market: SimulatedMarket) -> None:
    day = date(2026, 6, 10)
    index = market.day_candles(day).filter(pl.col("instrument_token") == 256265)

    joined = market.option_chain(day).join(index, on="ts_event")

    assert joined.height == market.option_chain(day).height
    assert (joined["underlying_price"] == joined["close"]).all()


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (
            date(2026, 6, 1),
            [
                (2026, 6, 2),
                (2026, 6, 9),
                (2026, 6, 16),
                (2026, 6, 23),
                (2026, 6, 30),
                (2026, 7, 28),
            ],
        ),
        (
            date(2026, 6, 10),
            [(2026, 6, 16), (2026, 6, 23), (2026, 6, 30), (2026, 7, 7), (2026, 7, 28)],
        ),
    ],
)
def test_option_contracts_list_four_weeklies_and_two_monthlies(
    market: SimulatedMarket, day: date, expected: list[tuple[int, int, int]]
) -> None:
    expiries = sorted({c.expiry for c in market.option_contracts(day)})

    assert expiries == [date(*e) for e in expected]
    assert all(e in CALENDAR.nifty_expiries(day, e) for e in expiries)


def test_option_contracts_strikes_surround_the_previous_close(market: SimulatedMarket) -> None:
    day = date(2026, 6, 10)
    reference = market.day_state(day).index_reference
    contracts = market.option_contracts(day)
    nearest = [c for c in contracts if c.expiry == date(2026, 6, 16)]
    strikes = sorted({c.strike for c in nearest})

    assert all(s % 50 == 0 for s in strikes)
    assert strikes[0] <= reference - 20 * 50 + 25
    assert strikes[-1] >= reference + 20 * 50 - 25
    assert strikes == list(range(strikes[0], strikes[-1] + 50, 50))


def test_option_contracts_once_listed_stay_listed_to_expiry(market: SimulatedMarket) -> None:
    sessions = [s.date for s in market.sessions]
    for before, after in itertools.pairwise(sessions):
        still_alive = {
            c.instrument_token for c in market.option_contracts(before) if c.expiry >= after
        }
        listed_after = {c.instrument_token for c in market.option_contracts(after)}

        assert still_alive <= listed_after


def test_option_tokens_are_stable_and_unique() -> None:
    tokens = {
        option_exchange_token(date(2026, 6, d), steps, call)
        for d in (2, 9, 16, 23, 30)
        for steps in range(400, 600)
        for call in (True, False)
    }

    assert len(tokens) == 5 * 200 * 2
    assert max(tokens) * 256 + 2 < 2**31


# -- prices ------------------------------------------------------------------------------------


def test_option_prices_are_on_the_tick_grid_and_at_least_one_tick(chains: pl.DataFrame) -> None:
    for column in ("last_price", "bid", "ask"):
        values = chains[column]
        assert values.min() >= TICK
        assert all(is_on_grid(v, TICK) for v in values.sample(2000, seed=1))
    assert (chains["bid"] <= chains["last_price"]).all()
    assert (chains["last_price"] <= chains["ask"]).all()
    assert (chains["bid"] < chains["ask"]).all()


def test_option_prices_respect_no_arbitrage_bounds(chains: pl.DataFrame) -> None:
    calls = chains["option_type"] == "CE"
    forward, strike, discount = chains["forward"], chains["strike"], chains["discount"]
    intrinsic = discount * pl.Series(
        np.where(calls, np.maximum(forward - strike, 0), np.maximum(strike - forward, 0))
    )
    ceiling = discount * pl.Series(np.where(calls, forward, strike))

    assert (chains["last_price"] >= intrinsic - EPS).all()
    assert (chains["last_price"] <= ceiling + TICK).all()


def test_option_prices_are_monotone_and_convex_in_strike(chains: pl.DataFrame) -> None:
    ordered = chains.sort("ts_event", "expiry", "option_type", "strike")
    group = ("ts_event", "expiry", "option_type")
    steps = ordered.with_columns(
        pl.col("last_price").diff().over(group).alias("step"),
        (pl.col("last_price").shift(-1) - 2 * pl.col("last_price") + pl.col("last_price").shift(1))
        .over(group)
        .alias("butterfly"),
    )

    calls, puts = (
        steps.filter(pl.col("option_type") == "CE"),
        steps.filter(pl.col("option_type") == "PE"),
    )
    assert (calls["step"].drop_nulls() <= EPS).all()
    assert (puts["step"].drop_nulls() >= -EPS).all()
    assert (steps["butterfly"].drop_nulls() >= -2 * TICK - EPS).all()


def test_put_call_parity_holds_to_the_tick(chains: pl.DataFrame) -> None:
    pairs = _pairs(chains)
    residual = (
        pairs["last_price"]
        - pairs["last_price_pe"]
        - pairs["discount"] * (pairs["forward"] - pairs["strike"])
    ).abs()
    at_bound = (pairs["last_price"] == TICK) | (pairs["last_price_pe"] == TICK)

    assert residual.filter(~at_bound).max() <= TICK + EPS
    assert residual.max() <= TICK + HALF_TICK + EPS


def test_implied_vols_recover_the_smile_within_tick_rounding(chains: pl.DataFrame) -> None:
    last = chains["last_price"].to_numpy()
    args = (
        chains["forward"].to_numpy(),
        chains["strike"].to_numpy(),
        chains["t_years"].to_numpy(),
        (chains["option_type"] == "CE").to_numpy(),
        chains["discount"].to_numpy(),
    )
    model = chains["model_vol"].to_numpy()
    quoted = last > TICK

    # The model price lies in (last - 1 tick, last + half a tick), so the model vol lies between
    # the implied vols of those two prices (no lower bound where the lower price has none).
    low = np.nan_to_num(implied_vol(np.maximum(last - TICK, 0.0), *args), nan=0.0)
    high = implied_vol(last + HALF_TICK, *args)
    assert np.all((low[quoted] <= model[quoted] + EPS) & (model[quoted] <= high[quoted] + EPS))
    out_of_the_money = np.where(args[3], args[1] >= args[0], args[1] <= args[0])
    liquid = out_of_the_money & (last >= 5.0)
    recovered = implied_vol(last, *args)
    assert np.max(np.abs(recovered[liquid] - model[liquid])) < 0.005


def test_option_chain_same_config_is_identical(market: SimulatedMarket) -> None:
    again = SimulatedMarket(CONFIG, CALENDAR)

    assert again.option_chain(date(2026, 6, 9)).equals(market.option_chain(date(2026, 6, 9)))


# -- the volatility surface --------------------------------------------------------------------


def test_smile_has_a_put_skew_and_stays_within_floor_and_cap() -> None:
    params = OptionParams()
    t = 30 / 365
    atm = 0.14
    z = np.linspace(-8, 8, 161)
    log_moneyness = z * atm * np.sqrt(t)

    vols = smile_vol(atm, log_moneyness, t, params)

    assert vols[z == -1][0] > atm > vols[z == 1][0]
    assert np.all(vols >= atm * params.smile_floor - EPS)
    assert np.all(vols <= atm * params.smile_cap + EPS)
    assert smile_vol(atm, 0.0, t, params) == pytest.approx(atm)


def test_term_structure_runs_from_the_days_vol_to_the_long_run() -> None:
    params, regime = OptionParams(), RegimeParams()

    short, long = atm_vol(0.30, np.array([1e-6, 5.0]), params, regime)

    assert short == pytest.approx(0.30 * params.vol_premium, rel=1e-3)
    assert long == pytest.approx(regime.long_run_vol * params.vol_premium, rel=1e-3)


# -- spreads, OI, volume -----------------------------------------------------------------------


def test_spreads_widen_away_from_the_money(chains: pl.DataFrame) -> None:
    spread = chains.with_columns(
        ((pl.col("ask") - pl.col("bid")) / TICK).round().alias("ticks"),
        pl.col("moneyness_sd").abs().alias("distance"),
    )
    otm = spread.filter(
        ((pl.col("option_type") == "CE") & (pl.col("strike") >= pl.col("forward")))
        | ((pl.col("option_type") == "PE") & (pl.col("strike") <= pl.col("forward")))
    ).sort("ts_event", "expiry", "option_type", "distance")
    steps = otm.select(pl.col("ticks").diff().over("ts_event", "expiry", "option_type"))

    assert (steps["ticks"].drop_nulls() >= 0).all()
    near = spread.filter(pl.col("distance") < 0.5)["ticks"].mean()
    far = spread.filter(pl.col("distance") > 3)["ticks"].mean()
    assert far > near + 1


def test_open_interest_decays_away_from_the_money(chains: pl.DataFrame) -> None:
    nearest = chains.filter(pl.col("expiry") == pl.col("expiry").min().over("ts_event"))
    by_strike = nearest.group_by("ts_event", "strike").agg(
        pl.col("oi").sum(), (pl.col("strike") - pl.col("forward")).abs().first().alias("distance")
    )
    ranked = by_strike.with_columns(
        pl.col("distance").rank("ordinal").over("ts_event").alias("near_rank"),
        pl.col("distance").rank("ordinal", descending=True).over("ts_event").alias("far_rank"),
    )

    near = ranked.filter(pl.col("near_rank") <= 5)["oi"].mean()
    far = ranked.filter(pl.col("far_rank") <= 10)["oi"].mean()

    assert near > 2 * far
    assert (chains["oi"] % 65 == 0).all()


def test_open_interest_builds_through_the_expiry_cycle(market: SimulatedMarket) -> None:
    expiry = date(2026, 6, 16)
    totals = []
    for day in (date(2026, 6, 8), date(2026, 6, 11), date(2026, 6, 15)):
        chain = market.option_chain(day).filter(pl.col("expiry") == expiry)
        totals.append(chain.filter(pl.col("ts_event") == pl.col("ts_event").min())["oi"].sum())

    assert totals[0] < totals[1] < totals[2]


def test_option_volume_is_cumulative_through_the_day(market: SimulatedMarket) -> None:
    chain = market.option_chain(date(2026, 6, 9)).sort("instrument_token", "ts_event")

    steps = chain.select(pl.col("volume").diff().over("instrument_token"))["volume"]

    assert (steps.drop_nulls() >= 0).all()
    assert (chain["volume"] % 65 == 0).all()
    assert chain["volume"].max() > 0


@pytest.mark.parametrize("day", [date(2026, 6, 9), date(2026, 6, 12)])
def test_option_candles_agree_with_the_chain(market: SimulatedMarket, day: date) -> None:
    chain = market.option_chain(day)
    token = chain.filter(pl.col("expiry") == chain["expiry"].min())["instrument_token"][40]

    candles = market.option_candles(token, day)
    snapshots = chain.filter(pl.col("instrument_token") == token).join(
        candles, on="ts_event", suffix="_bar"
    )
    running = candles.with_columns(pl.col("volume").cum_sum().alias("so_far"))
    at_snapshots = chain.filter(pl.col("instrument_token") == token).join(running, on="ts_event")

    CandleFrame.validate(candles)
    assert candles.height == 375
    assert candles["oi"].null_count() == 0
    assert (snapshots["last_price"] == snapshots["close"]).all()
    assert (snapshots["oi"] == snapshots["oi_bar"]).all()
    assert (at_snapshots["volume"] == at_snapshots["so_far"]).all()


def test_option_candles_unlisted_token_raises(market: SimulatedMarket) -> None:
    with pytest.raises(ValueError, match="is not an option listed"):
        market.option_candles(738561, date(2026, 6, 9))
