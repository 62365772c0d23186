"""The simulated NIFTY option chain: listings, Black-76 prices off a smile, OI, volume, spreads.

One pricing function (:func:`OptionPricer.state`) serves both the chain snapshots and the 1-minute
candles of a single option, so a chain's ``last_price`` at a snapshot is exactly that option's
candle close at the same minute, and its ``volume`` the sum of the candle volumes so far.
Parameters and formulas are in :class:`~execution.simulator.config.OptionParams` and
``docs/simulator.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from data_contracts.enums import InstrumentType, SegmentId
from data_contracts.errors import ContractError
from data_contracts.ids import InstrumentToken
from data_contracts.instruments import instrument_token
from data_contracts.nse_calendar import NseCalendar
from data_contracts.schemas import OPTION_CHAIN_SCHEMA as SHARED_OPTION_CHAIN_SCHEMA
from data_contracts.symbols import DerivativeSymbol
from execution.simulator.config import OptionParams, RegimeParams
from execution.simulator.grid import FloatArray, IntArray, ceil_ticks, from_ticks, to_ticks
from execution.simulator.paths import MINUTE_US, DayBars, DayPlan, epoch_us
from execution.simulator.rng import Purpose, keyed_normals, stream
from execution.simulator.universe import IndexSpec
from models.option_math import black76_price

__all__ = [
    "OPTION_CHAIN_COLUMNS",
    "OPTION_CHAIN_SCHEMA",
    "OptionContract",
    "OptionListing",
    "OptionPricer",
    "OptionState",
    "atm_vol",
    "option_exchange_token",
    "smile_vol",
    "years_to_expiry",
]

YEAR_US: Final = 365 * 86_400 * 1_000_000  # ACT/365
_DAY_US: Final = 86_400 * 1_000_000
_EXPIRY_SLOTS: Final = 2048  # expiry dates are unique in a token for 2048 days (5.6 years)
_STRIKE_SLOTS: Final = 1024  # strikes are unique in a token within 1024 strike steps
_OPTION_TOKEN_BASE: Final = 100_000
_ROUND_STRIKE_STEPS: Final = 10  # every 10th strike (500 for NIFTY) carries extra OI
_MONTHLY_OI_FACTOR: Final = 1.5
_ROUND_STRIKE_OI_FACTOR: Final = 1.3
_EXPIRY_DAY_UNWIND: Final = 0.6  # share of OI closed out over an expiry day
_OI_MONEYNESS_SHIFT: Final = 0.6  # OI peaks this many ATM sds out of the money
_OI_MIN_YEARS: Final = 7 / 365  # OI spreads over at least a week's worth of moneyness
_OI_CONTRACT_NOISE: Final = 0.25  # log-sd of a contract's lasting popularity
_OI_DAILY_NOISE: Final = 0.05  # log-sd of its day-to-day change

# The chain's columns, shared with the Kite historical source (which has no underlying_price).
OPTION_CHAIN_SCHEMA: Final[dict[str, pl.DataType]] = {
    **SHARED_OPTION_CHAIN_SCHEMA,
    "underlying_price": pl.Float64(),
}
OPTION_CHAIN_COLUMNS: Final = tuple(OPTION_CHAIN_SCHEMA)


def option_exchange_token(expiry: date, strike_steps: int, is_call: bool) -> int:
    """A Kite-style NFO exchange token for a simulated option (synthetic, not Kite's).

    Unique for every (expiry, strike, type) listed within any 5.6-year window of a 1024-strike
    range, which is all one instruments dump can hold; the instrument token is ``this * 256 + 2``.
    """
    slot = (expiry.toordinal() % _EXPIRY_SLOTS) * _STRIKE_SLOTS + strike_steps % _STRIKE_SLOTS
    return _OPTION_TOKEN_BASE + 2 * slot + (0 if is_call else 1)


@dataclass(frozen=True, slots=True)
class OptionContract:
    """One listed NIFTY option."""

    expiry: date
    strike: int
    option_type: InstrumentType
    exchange_token: int
    tradingsymbol: str
    monthly: bool

    @property
    def instrument_token(self) -> InstrumentToken:
        return instrument_token(self.exchange_token, SegmentId.NFO)

    @property
    def is_call(self) -> bool:
        return self.option_type is InstrumentType.CE


class OptionListing:
    """Which NIFTY options are listed on each simulated day.

    Expiries: the ``weekly_expiries`` nearest plus the ``monthly_expiries`` nearest monthlies.
    Strikes: ``strikes_each_side`` steps either side of the ATM strike (from the previous close)
    of *every* day since the expiry was first listed in the simulated range, so a contract once
    listed stays listed until it expires.
    """

    def __init__(
        self,
        plans: Sequence[DayPlan],
        index: IndexSpec,
        params: OptionParams,
        calendar: NseCalendar,
    ) -> None:
        self._plans = tuple(plans)
        self._index = index
        self._params = params
        self._calendar = calendar
        self._expiries: dict[int, tuple[date, ...]] = {}
        self._contracts: dict[int, tuple[OptionContract, ...]] = {}
        self._symbols: dict[tuple[date, int, InstrumentType], OptionContract] = {}

    def expiries(self, position: int) -> tuple[date, ...]:
        """The expiries listed on the ``position``-th simulated session."""
        found = self._expiries.get(position)
        if found is None:
            found = self._list_expiries(self._plans[position].session.date)
            self._expiries[position] = found
        return found

    def _list_expiries(self, day: date) -> tuple[date, ...]:
        params = self._params
        horizon = timedelta(days=7 * params.weekly_expiries + 31 * (params.monthly_expiries + 1))
        upcoming = self._calendar.nifty_expiries(day, day + horizon)
        weeklies = upcoming[: params.weekly_expiries]
        monthlies = [e for e in upcoming if self._calendar.is_monthly_expiry(e)]
        return tuple(sorted({*weeklies, *monthlies[: params.monthly_expiries]}))

    def contracts(self, position: int) -> tuple[OptionContract, ...]:
        """Every option listed on the ``position``-th session, by expiry, strike, CE before PE."""
        found = self._contracts.get(position)
        if found is None:
            found = tuple(
                contract
                for expiry in self.expiries(position)
                for steps in self._strike_steps(expiry, position)
                for contract in self._pair(expiry, steps)
            )
            self._contracts[position] = found
        return found

    def _strike_steps(self, expiry: date, position: int) -> list[int]:
        step, side = self._index.strike_step, self._params.strikes_each_side
        steps: set[int] = set()
        first = position
        while first >= 0 and expiry in self.expiries(first):
            atm = round(self._plans[first].index_reference / step)
            steps.update(range(max(1, atm - side), atm + side + 1))
            first -= 1
        return sorted(steps)

    def _pair(self, expiry: date, steps: int) -> tuple[OptionContract, OptionContract]:
        return (
            self._contract(expiry, steps, InstrumentType.CE),
            self._contract(expiry, steps, InstrumentType.PE),
        )

    def _contract(self, expiry: date, steps: int, kind: InstrumentType) -> OptionContract:
        key = (expiry, steps, kind)
        found = self._symbols.get(key)
        if found is None:
            strike = steps * self._index.strike_step
            monthly = self._calendar.is_monthly_expiry(expiry)
            symbol = DerivativeSymbol.of(
                self._index.underlying, expiry, Decimal(strike), kind, monthly=monthly
            ).format()
            found = OptionContract(
                expiry=expiry,
                strike=strike,
                option_type=kind,
                exchange_token=option_exchange_token(expiry, steps, kind is InstrumentType.CE),
                tradingsymbol=symbol,
                monthly=monthly,
            )
            self._symbols[key] = found
        return found


# --- the volatility surface -------------------------------------------------------------------


def years_to_expiry(
    ts_us: npt.ArrayLike, expiry_close_us: npt.ArrayLike, min_minutes: float
) -> FloatArray:
    """ACT/365 years from ``ts_us`` to the expiry's close, floored at ``min_minutes``."""
    remaining = (np.asarray(expiry_close_us) - np.asarray(ts_us)).astype(np.float64)
    years: FloatArray = np.maximum(remaining, min_minutes * MINUTE_US) / YEAR_US
    return years


def atm_vol(
    day_vol: float, t: npt.ArrayLike, params: OptionParams, regime: RegimeParams
) -> FloatArray:
    """ATM implied vol by maturity: the day's regime vol at the short end, the regime chain's
    long-run vol at the long end, both times ``vol_premium``."""
    blend = np.exp(-np.asarray(t, dtype=np.float64) * 365.0 / params.term_decay_days)
    short, long = day_vol * params.vol_premium, regime.long_run_vol * params.vol_premium
    vol: FloatArray = long + (short - long) * blend
    return vol


def smile_vol(
    atm: npt.ArrayLike, log_moneyness: npt.ArrayLike, t: npt.ArrayLike, params: OptionParams
) -> FloatArray:
    """The smile: ATM vol times ``1 - smile_skew·z + smile_curvature·z²`` in standardised
    moneyness ``z = ln(K/F)/(atm·√T)``, saturated smoothly (``tanh``) into
    ``[smile_floor, smile_cap]`` so the wings flatten and call and put spreads stay free of
    arbitrage."""
    atm_vol_ = np.asarray(atm, dtype=np.float64)
    z = np.asarray(log_moneyness, dtype=np.float64) / (
        atm_vol_ * np.sqrt(np.asarray(t, dtype=np.float64))
    )
    raw = 1.0 - params.smile_skew * z + params.smile_curvature * z * z
    up, down = params.smile_cap - 1.0, 1.0 - params.smile_floor
    factor = np.where(
        raw >= 1.0,
        1.0 + up * np.tanh((raw - 1.0) / up),
        1.0 - down * np.tanh((1.0 - raw) / down),
    )
    vol: FloatArray = atm_vol_ * factor
    return vol


# --- prices, OI and volume of contracts at bars -----------------------------------------------


@dataclass(frozen=True, slots=True)
class OptionState:
    """Contracts-by-bars arrays: model inputs and the quoted market (prices on the tick grid)."""

    t: FloatArray
    forward: FloatArray
    discount: FloatArray
    vol: FloatArray
    moneyness_sd: FloatArray
    last_ticks: IntArray
    bid_ticks: IntArray
    ask_ticks: IntArray
    oi: IntArray
    volume: IntArray


class OptionPricer:
    """Prices, spreads, OI and cumulative volume of listed options on one simulated day."""

    def __init__(
        self,
        bars: DayBars,
        contracts: Sequence[OptionContract],
        index: IndexSpec,
        params: OptionParams,
        regime: RegimeParams,
        calendar: NseCalendar,
        seed: int,
    ) -> None:
        self.bars = bars
        self.contracts = tuple(contracts)
        self._index = index
        self._params = params
        self._regime = regime
        self.tick_size = index.option_tick_size
        n = len(self.contracts)
        self.strike = np.array([c.strike for c in self.contracts], dtype=np.float64)
        self.is_call = np.array([c.is_call for c in self.contracts], dtype=bool)
        self.expiry_close_us = np.array(
            [_expiry_close_us(calendar, c.expiry) for c in self.contracts], dtype=np.int64
        )
        day = bars.plan.session.date
        rng = stream(seed, Purpose.OPTIONS, day)
        tokens = np.array([c.exchange_token for c in self.contracts], dtype=np.int64)
        persistent = keyed_normals(seed, Purpose.CONTRACT, tokens)
        self._oi_noise = np.exp(
            _OI_CONTRACT_NOISE * persistent
            + _OI_DAILY_NOISE * rng.standard_normal(n)
            - 0.5 * (_OI_CONTRACT_NOISE**2 + _OI_DAILY_NOISE**2)
        )
        self._volume_noise = np.exp(0.3 * rng.standard_normal(n) - 0.045)
        profile = bars.volume_profile * np.exp(0.3 * rng.standard_normal(bars.grid.size) - 0.045)
        self._cumulative_share = np.cumsum(profile) / profile.sum()
        self._expiring_today = np.array([c.expiry == day for c in self.contracts], dtype=bool)
        self._oi_shape = self._moneyness_weights()
        every = np.arange(n, dtype=np.int64)
        first_bar = np.zeros(1, dtype=np.int64)
        opening_oi = self._oi_lots(every, first_bar)[:, 0]
        self._day_lots = opening_oi * self._turnover() * self._volume_noise

    def _moneyness_weights(self) -> FloatArray:
        """OI by strike: peaks a little out of the money, decays away from it; round strikes and
        monthlies carry more."""
        grid = self.bars.grid
        t = years_to_expiry(grid.close_us[0] - MINUTE_US, self.expiry_close_us, 1.0)
        reference = self.bars.plan.index_reference
        sd = atm_vol(self.bars.plan.vol, t, self._params, self._regime) * np.sqrt(
            np.maximum(t, _OI_MIN_YEARS)
        )
        z = np.log(self.strike / reference) / sd
        shift = np.where(self.is_call, _OI_MONEYNESS_SHIFT, -_OI_MONEYNESS_SHIFT)
        weight = np.exp(-0.5 * ((z - shift) / self._params.oi_width) ** 2)
        steps = np.rint(self.strike / self._index.strike_step).astype(np.int64)
        weight = weight * np.where(steps % _ROUND_STRIKE_STEPS == 0, _ROUND_STRIKE_OI_FACTOR, 1.0)
        monthly = np.array([c.monthly for c in self.contracts], dtype=bool)
        shaped: FloatArray = weight * np.where(monthly, _MONTHLY_OI_FACTOR, 1.0)
        return shaped

    def _oi_lots(self, rows: IntArray, bar_index: IntArray) -> FloatArray:
        """Open interest in lots (unrounded) of contracts ``rows`` at the close of bars
        ``bar_index``: built up as expiry nears, partly unwound through an expiry day."""
        grid = self.bars.grid
        ts = grid.close_us[bar_index]
        days_left = (self.expiry_close_us[rows][:, None] - ts[None, :]) / _DAY_US
        build_up = np.exp(-np.maximum(days_left, 0.0) / self._params.oi_decay_days)
        session_share = (grid.elapsed[bar_index] + 1.0) / (grid.elapsed[-1] + 1.0)
        unwind = np.where(
            self._expiring_today[rows][:, None],
            1.0 - _EXPIRY_DAY_UNWIND * session_share[None, :],
            1.0,
        )
        weight = self._oi_shape[rows] * self._oi_noise[rows]
        lots: FloatArray = self._params.oi_base_lots * weight[:, None] * build_up * unwind
        return lots

    def _turnover(self) -> FloatArray:
        """A day's traded lots per lot of open interest: far higher close to expiry."""
        days_left = (self.expiry_close_us - self.bars.grid.close_us[0]) / _DAY_US
        turnover: FloatArray = 0.2 + 2.5 * np.exp(-np.maximum(days_left, 0.0) / 1.5)
        return turnover

    def _model(
        self, rows: IntArray, spot: FloatArray, ts_us: IntArray
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
        """``(t, forward, discount, atm vol, smile vol, log-moneyness)`` for contracts ``rows``
        (a column) at spot levels and times broadcast along the bars (a row)."""
        params = self._params
        expiry_close = self.expiry_close_us[rows][:, None]
        t = years_to_expiry(ts_us[None, :], expiry_close, params.min_minutes_to_expiry)
        forward = spot * np.exp((params.rate - params.dividend_yield) * t)
        discount = np.exp(-params.rate * t)
        atm = atm_vol(self.bars.plan.vol, t, params, self._regime)
        log_moneyness = np.log(self.strike[rows][:, None] / forward)
        vol = smile_vol(atm, log_moneyness, t, params)
        return t, forward, discount, atm, vol, log_moneyness

    def price_ticks(self, rows: IntArray, spot: FloatArray, ts_us: IntArray) -> IntArray:
        """Model prices in ticks (at least one) of contracts ``rows`` for spot levels ``spot``
        (a row, or rows by bars) at times ``ts_us`` (a row)."""
        t, forward, discount, _, vol, _ = self._model(rows, spot, ts_us)
        return self._quoted(rows, t, forward, discount, vol)

    def _quoted(
        self,
        rows: IntArray,
        t: FloatArray,
        forward: FloatArray,
        discount: FloatArray,
        vol: FloatArray,
    ) -> IntArray:
        """Black-76 on the grid: nearest tick, never below one tick nor below the discounted
        intrinsic value (rounded up), so no quote is an arbitrage against the forward."""
        strike = self.strike[rows][:, None]
        calls = self.is_call[rows][:, None]
        price = black76_price(forward, strike, t, vol, calls, discount)
        intrinsic = discount * np.maximum(np.where(calls, forward - strike, strike - forward), 0.0)
        return np.maximum(
            to_ticks(price, self.tick_size, floor_ticks=1), ceil_ticks(intrinsic, self.tick_size)
        )

    def state(self, rows: IntArray, bar_index: IntArray) -> OptionState:
        """Everything about contracts ``rows`` at the close of bars ``bar_index`` (rows by bars):
        the model inputs, the quote (last, bid, ask in ticks), OI and the day's volume so far."""
        params = self._params
        spot = self.bars.close[0, bar_index][None, :]
        ts_us = self.bars.grid.close_us[bar_index]
        t, forward, discount, atm, vol, log_moneyness = self._model(rows, spot, ts_us)
        last = self._quoted(rows, t, forward, discount, vol)
        z = log_moneyness / (atm * np.sqrt(t))
        cheap = (from_ticks(last, self.tick_size) < params.cheap_price).astype(np.int64)
        widening = np.floor(params.spread_per_sd * np.abs(z)).astype(np.int64)
        spread = np.minimum(1 + widening + cheap, params.max_spread_ticks)
        bid = np.maximum(last - spread // 2, 1)
        lot = self._index.option_lot_size
        oi = np.rint(self._oi_lots(rows, bar_index)).astype(np.int64) * lot
        so_far = self._day_lots[rows][:, None] * self._cumulative_share[bar_index][None, :]
        return OptionState(
            t=t,
            forward=np.broadcast_to(forward, t.shape).copy(),
            discount=discount,
            vol=vol,
            moneyness_sd=z,
            last_ticks=last,
            bid_ticks=bid,
            ask_ticks=bid + spread,
            oi=oi,
            volume=np.rint(so_far).astype(np.int64) * lot,
        )


def _expiry_close_us(calendar: NseCalendar, expiry: date) -> int:
    session = calendar.session(expiry)
    if session is None:  # an expiry is always a trading day; this guards a broken calendar file
        raise ContractError("OptionListing", "expiry", expiry, "must be a trading day")
    return epoch_us(session.close)


# --- frames -----------------------------------------------------------------------------------


def snapshot_bars(bars: DayBars, every_minutes: int) -> IntArray:
    """The bars whose close is a whole multiple of ``every_minutes`` after the session open."""
    since_open = (bars.grid.close_us - epoch_us(bars.plan.session.open)) // MINUTE_US
    found: IntArray = np.flatnonzero(since_open % every_minutes == 0).astype(np.int64)
    return found


def chain_frame(
    pricer: OptionPricer, underlying_token: int, snapshots: IntArray, *, diagnostics: bool
) -> pl.DataFrame:
    """The chain at each snapshot bar: one row per (snapshot, contract), in time then contract
    order; ``diagnostics`` adds the model's inputs (forward, years, discount, vol, ...)."""
    contracts = pricer.contracts
    tick = pricer.tick_size
    rows = np.arange(len(contracts), dtype=np.int64)
    state = pricer.state(rows, snapshots)

    def flat(values: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
        return np.ascontiguousarray(values.T).ravel()  # snapshot-major, then contract order

    times = pl.DataFrame(
        {
            "ts_event": pricer.bars.grid.close_us[snapshots],
            "underlying_price": pricer.bars.close[0, snapshots],
        }
    )
    listed = pl.DataFrame(
        {
            "instrument_token": [int(c.instrument_token) for c in contracts],
            "tradingsymbol": [c.tradingsymbol for c in contracts],
            "expiry": [c.expiry for c in contracts],
            "strike": [float(c.strike) for c in contracts],
            "option_type": [c.option_type.value for c in contracts],
        },
        schema={
            "instrument_token": pl.Int64,
            "tradingsymbol": pl.String,
            "expiry": pl.Date,
            "strike": pl.Float64,
            "option_type": pl.String,
        },
    )
    quotes = {
        "last_price": from_ticks(flat(state.last_ticks), tick),
        "bid": from_ticks(flat(state.bid_ticks), tick),
        "ask": from_ticks(flat(state.ask_ticks), tick),
        "oi": flat(state.oi),
        "volume": flat(state.volume),
    }
    if diagnostics:
        quotes |= {
            "forward": flat(state.forward),
            "t_years": flat(state.t),
            "discount": flat(state.discount),
            "model_vol": flat(state.vol),
            "moneyness_sd": flat(state.moneyness_sd),
        }
    frame = times.join(listed, how="cross").with_columns(
        pl.col("ts_event").cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
        pl.lit(underlying_token, dtype=pl.Int64).alias("underlying_token"),
        *(pl.Series(name, values) for name, values in quotes.items()),
    )
    extra = [c for c in frame.columns if c not in OPTION_CHAIN_SCHEMA]
    return frame.select(*OPTION_CHAIN_COLUMNS, *extra)


@dataclass(frozen=True, slots=True)
class OptionBars:
    """One contract's 1-minute bars on one day (prices in rupees on the grid)."""

    close_us: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: IntArray
    oi: IntArray
    spread_ticks: IntArray


def option_bars(pricer: OptionPricer, row: int) -> OptionBars:
    """The 1-minute bars of contract ``row``: the close is the chain's last price at that minute;
    high and low are the model prices at the index's high and low; volume adds up to the
    chain's cumulative volume."""
    bars = pricer.bars
    grid = bars.grid
    every = np.arange(grid.size, dtype=np.int64)
    rows = np.array([row], dtype=np.int64)
    state = pricer.state(rows, every)
    close = state.last_ticks[0]
    at_high = pricer.price_ticks(rows, bars.high[0][None, :], grid.close_us)[0]
    at_low = pricer.price_ticks(rows, bars.low[0][None, :], grid.close_us)[0]
    first = pricer.price_ticks(rows, bars.open[0, :1][None, :], grid.open_us[:1])[0]
    opened = np.concatenate([first, close[:-1]])
    high = np.maximum.reduce([opened, close, at_high, at_low])
    low = np.minimum.reduce([opened, close, at_high, at_low])
    cumulative = state.volume[0]
    tick = pricer.tick_size
    return OptionBars(
        close_us=grid.close_us,
        open=from_ticks(opened, tick),
        high=from_ticks(high, tick),
        low=from_ticks(low, tick),
        close=from_ticks(close, tick),
        volume=np.diff(cumulative, prepend=0),
        oi=state.oi[0],
        spread_ticks=state.ask_ticks[0] - state.bid_ticks[0],
    )
