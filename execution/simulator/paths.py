"""Price and volume paths: a daily plan for the whole range, then 1-minute bars one day at a time.

Two stages, so that any single day is cheap to compute on its own and prices stay continuous:

1. :func:`plan_days` walks the sessions once (O(days), a handful of draws per day and instrument)
   and fixes, for every session, the volatility regime, the day's volatility, the overnight gap
   and the open-to-close log return of every instrument. Each day's close is the next day's
   reference, so the price level is continuous across days.
2. :func:`simulate_day` builds that day's 1-minute bars from the day's own random streams: a
   U-shaped intraday variance profile, Student-t innovations, Poisson jumps and the weak 15-minute
   momentum, then *bridged* (in variance time) so the path ends exactly at the planned close.

Stocks are ``beta · index + idiosyncratic`` at both stages. Every random stream is keyed by
``(seed, purpose, date, exchange token)`` (:mod:`execution.simulator.rng`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum

import numpy as np

from data_contracts.nse_calendar import Session
from execution.simulator.config import (
    MINUTES_PER_REGULAR_SESSION,
    TRADING_DAYS_PER_YEAR,
    ReturnParams,
    SimulatorConfig,
)
from execution.simulator.grid import FloatArray, IntArray, to_grid
from execution.simulator.rng import Purpose, stream

__all__ = [
    "BarGrid",
    "DayBars",
    "DayPlan",
    "Regime",
    "bar_grid",
    "epoch_us",
    "plan_days",
    "simulate_day",
    "u_shape",
]

MINUTE_US = 60_000_000
MOMENTUM_BLOCK_BARS = 15
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Regime(StrEnum):
    CALM = "calm"
    STRESSED = "stressed"


def epoch_us(ts: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime (exact integer arithmetic)."""
    delta = ts - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@dataclass(frozen=True, slots=True)
class BarGrid:
    """The 1-minute bars of one session: close times (µs since epoch, UTC) and their position.

    ``elapsed`` is minutes from the open to each bar's open, ``to_close`` minutes from each bar's
    close to the session close; bars whose minute falls in a break are absent.
    """

    session: Session
    close_us: IntArray
    elapsed: FloatArray
    to_close: FloatArray

    @property
    def size(self) -> int:
        return int(self.close_us.size)

    @property
    def open_us(self) -> IntArray:
        opens: IntArray = self.close_us - MINUTE_US
        return opens


def bar_grid(session: Session) -> BarGrid:
    """Every 1-minute bar of ``session`` (``ts_event`` = close), skipping its breaks."""
    open_us, close_us = epoch_us(session.open), epoch_us(session.close)
    minutes = (close_us - open_us) // MINUTE_US
    starts = open_us + MINUTE_US * np.arange(minutes, dtype=np.int64)
    keep = np.ones(minutes, dtype=bool)
    for window in session.breaks:
        keep &= ~((starts >= epoch_us(window.start)) & (starts < epoch_us(window.end)))
    starts = starts[keep]
    ends = starts + MINUTE_US
    return BarGrid(
        session=session,
        close_us=ends,
        elapsed=((starts - open_us) / MINUTE_US).astype(np.float64),
        to_close=((close_us - ends) / MINUTE_US).astype(np.float64),
    )


def u_shape(grid: BarGrid, open_boost: float, close_boost: float, decay: float) -> FloatArray:
    """Weights ``1 + a·e^(-m/decay) + b·e^(-m'/decay)`` over the bars, normalised to sum 1."""
    weights = (
        1.0
        + open_boost * np.exp(-grid.elapsed / decay)
        + close_boost * np.exp(-grid.to_close / decay)
    )
    normalised: FloatArray = weights / weights.sum()
    return normalised


@dataclass(frozen=True, slots=True)
class DayPlan:
    """One session's daily-level facts; arrays are per instrument, index first.

    ``prev_close``/``open``/``close`` are unrounded levels (bars round them to the tick);
    ``intraday`` is the open-to-close log return; ``vol`` the index's annualised vol of the day.
    """

    session: Session
    position: int
    regime: Regime
    vol: float
    prev_close: FloatArray
    open: FloatArray
    close: FloatArray
    intraday: FloatArray

    @property
    def index_reference(self) -> float:
        """The index level the day's option strikes are centred on (the previous close)."""
        return float(self.prev_close[0])


def _unit_t(rng: np.random.Generator, dof: float, size: int | tuple[int, ...]) -> FloatArray:
    """Student-t draws scaled to unit variance."""
    draws: FloatArray = rng.standard_t(dof, size=size) * math.sqrt((dof - 2.0) / dof)
    return draws


def _session_fraction(session: Session) -> float:
    return bar_grid(session).size / MINUTES_PER_REGULAR_SESSION


def plan_days(config: SimulatorConfig, sessions: Sequence[Session]) -> tuple[DayPlan, ...]:
    """The daily plan of every session in ``sessions`` (in order), starting from the universe's
    price levels as the close before the first session."""
    universe, regime, ret = config.universe, config.regime, config.returns
    betas = np.array([1.0, *(s.beta for s in universe.stocks)])
    idio = np.array([0.0, *(s.idio_vol for s in universe.stocks)])
    prev = np.array([universe.index.price, *(s.price for s in universe.stocks)])
    share = ret.overnight_variance_share
    stressed = regime.start_stressed
    plans: list[DayPlan] = []
    for position, session in enumerate(sessions):
        day = session.date
        regime_rng = stream(config.seed, Purpose.REGIME, day)
        u, z = regime_rng.random(), regime_rng.standard_normal()
        if position > 0:
            stressed = u >= regime.p_stressed_to_calm if stressed else u < regime.p_calm_to_stressed
        base = regime.stressed_vol if stressed else regime.calm_vol
        vol = base * math.exp(regime.vol_of_vol * z - 0.5 * regime.vol_of_vol**2)
        fraction = _session_fraction(session)
        draws = np.array(
            [_daily_draws(config.seed, day, token, ret) for token in universe.exchange_tokens]
        )
        gap_t, intra_t, jump = draws[:, 0], draws[:, 1], draws[:, 2]
        sd_index = vol / math.sqrt(TRADING_DAYS_PER_YEAR)
        sd_idio = idio * (vol / regime.calm_vol) / math.sqrt(TRADING_DAYS_PER_YEAR)
        sd_total = np.sqrt((betas * sd_index) ** 2 + sd_idio**2)
        sd_own = np.where(np.arange(betas.size) == 0, sd_index, sd_idio)
        gap = sd_own * math.sqrt(share) * gap_t + jump * ret.gap_jump_sd * sd_total
        drift = (ret.index_drift - 0.5 * vol**2) / TRADING_DAYS_PER_YEAR * fraction
        intraday = sd_own * math.sqrt((1.0 - share) * fraction) * intra_t
        intraday[0] += drift
        gap[1:] += betas[1:] * gap[0]
        intraday[1:] += betas[1:] * intraday[0]
        opens = prev * np.exp(gap)
        closes = opens * np.exp(intraday)
        plans.append(
            DayPlan(
                session=session,
                position=position,
                regime=Regime.STRESSED if stressed else Regime.CALM,
                vol=vol,
                prev_close=prev,
                open=opens,
                close=closes,
                intraday=intraday,
            )
        )
        prev = closes
    return tuple(plans)


def _daily_draws(seed: int, day: date, token: int, ret: ReturnParams) -> tuple[float, ...]:
    """Gap shock, intraday shock and gap jump (0 or a standard normal) for one instrument-day."""
    rng = stream(seed, Purpose.DAILY, day, token)
    gap_t, intra_t = _unit_t(rng, ret.t_dof, 2)
    jumps = rng.random() < ret.gap_jump_prob
    size = rng.standard_normal()
    return float(gap_t), float(intra_t), float(size) if jumps else 0.0


@dataclass(frozen=True, slots=True)
class DayBars:
    """One session's 1-minute bars for every instrument of the universe (rows: index first).

    Prices are on each instrument's tick grid. ``volume_profile`` is the day's expected share of
    volume per bar (the U shape, summing to 1), reused by the option chain.
    """

    plan: DayPlan
    grid: BarGrid
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: IntArray
    volume_profile: FloatArray


def simulate_day(config: SimulatorConfig, plan: DayPlan) -> DayBars:
    """The 1-minute bars of ``plan``'s session, from that day's own random streams."""
    universe, ret = config.universe, config.returns
    grid = bar_grid(plan.session)
    bars = grid.size
    weights = u_shape(grid, ret.open_vol_boost, ret.close_vol_boost, ret.vol_decay_minutes)
    profile = u_shape(grid, ret.open_volume_boost, ret.close_volume_boost, ret.volume_decay_minutes)
    betas = np.array([0.0, *(s.beta for s in universe.stocks)])
    idio = np.array([0.0, *(s.idio_vol for s in universe.stocks)])
    fraction = bars / MINUTES_PER_REGULAR_SESSION
    scale = math.sqrt((1.0 - ret.overnight_variance_share) * fraction / TRADING_DAYS_PER_YEAR)
    sd_day = idio * plan.vol / config.regime.calm_vol  # annualised, each row's own part
    sd_day[0] = plan.vol
    sd_intraday = sd_day * scale  # each row's own (index, or idiosyncratic) intraday sd
    rngs = [
        stream(config.seed, Purpose.INTRADAY, plan.session.date, t)
        for t in universe.exchange_tokens
    ]
    own = np.stack(
        [
            _own_returns(
                rng, weights, float(sd), float(d) / math.sqrt(TRADING_DAYS_PER_YEAR), ret, fraction
            )
            for rng, sd, d in zip(rngs, sd_intraday, sd_day, strict=True)
        ]
    )
    own = _momentum(own, config.momentum_15m)
    targets = plan.intraday - betas * plan.intraday[0]
    own += weights * (targets - own.sum(axis=1))[:, None]  # bridge to the planned close
    returns = own + betas[:, None] * own[0]
    per_bar_sd = np.sqrt(np.outer((betas * sd_intraday[0]) ** 2 + sd_intraday**2, weights))
    per_bar_sd[0] = sd_intraday[0] * np.sqrt(weights)
    closes = plan.open[:, None] * np.exp(np.cumsum(returns, axis=1))
    opens = np.concatenate([plan.open[:, None], closes[:, :-1]], axis=1)
    reach = np.stack([np.abs(rng.standard_normal((2, bars))) for rng in rngs])
    highs = np.maximum(opens, closes) * np.exp(ret.bar_range_scale * per_bar_sd * reach[:, 0])
    lows = np.minimum(opens, closes) * np.exp(-ret.bar_range_scale * per_bar_sd * reach[:, 1])
    volume = _volumes(rngs, plan, config, profile, returns, per_bar_sd, fraction)
    ticks = [universe.index.tick_size, *(s.tick_size for s in universe.stocks)]
    rounded = [
        np.stack([to_grid(p[row], tick, floor_ticks=1) for row, tick in enumerate(ticks)])
        for p in (opens, highs, lows, closes)
    ]
    return DayBars(
        plan=plan,
        grid=grid,
        open=rounded[0],
        high=rounded[1],
        low=rounded[2],
        close=rounded[3],
        volume=volume,
        volume_profile=profile,
    )


def _own_returns(
    rng: np.random.Generator,
    weights: FloatArray,
    sd_intraday: float,
    sd_daily: float,
    ret: ReturnParams,
    fraction: float,
) -> FloatArray:
    """One row's own minute log returns: U-shaped Student-t innovations plus Poisson jumps."""
    returns: FloatArray = sd_intraday * np.sqrt(weights) * _unit_t(rng, ret.t_dof, weights.size)
    jumps = int(rng.poisson(ret.minute_jumps_per_day * fraction))
    where = rng.choice(weights.size, size=jumps, p=weights)
    sizes = rng.standard_normal(jumps) * ret.minute_jump_sd * sd_daily
    np.add.at(returns, where, sizes)
    return returns


def _momentum(returns: FloatArray, phi: float) -> FloatArray:
    """Give each row's 15-minute block returns an AR(1) term ``phi`` times the previous block's.

    The extra drift of a block is spread evenly over its bars; a last partial block is left as is.
    """
    blocks = returns.shape[1] // MOMENTUM_BLOCK_BARS
    if phi == 0.0 or blocks < 2:
        return returns
    width = blocks * MOMENTUM_BLOCK_BARS
    sums = returns[:, :width].reshape(returns.shape[0], blocks, MOMENTUM_BLOCK_BARS).sum(axis=2)
    filtered = sums.copy()
    for block in range(1, blocks):
        filtered[:, block] += phi * filtered[:, block - 1]
    drift = np.repeat((filtered - sums) / MOMENTUM_BLOCK_BARS, MOMENTUM_BLOCK_BARS, axis=1)
    out = returns.copy()
    out[:, :width] += drift
    return out


def _volumes(
    rngs: Sequence[np.random.Generator],
    plan: DayPlan,
    config: SimulatorConfig,
    profile: FloatArray,
    returns: FloatArray,
    per_bar_sd: FloatArray,
    fraction: float,
) -> IntArray:
    """Shares per bar: U-shaped, higher on volatile days and on bars that moved; 0 for the index
    (Kite reports no volume for indices)."""
    ret = config.returns
    bars = profile.size
    volume = np.zeros((len(rngs), bars), dtype=np.int64)
    regime_factor = (plan.vol / config.regime.calm_vol) ** 0.8
    sigma = ret.volume_noise
    for row in range(1, len(rngs)):
        rng = rngs[row]
        daily = config.universe.stocks[row - 1].daily_volume
        day_noise = math.exp(0.25 * rng.standard_normal() - 0.5 * 0.25**2)
        noise = np.exp(sigma * rng.standard_normal(bars) - 0.5 * sigma**2)
        activity = 0.5 + 0.5 * np.abs(returns[row]) / per_bar_sd[row]
        expected = daily * fraction * regime_factor * day_noise * profile * noise * activity
        volume[row] = np.rint(expected).astype(np.int64)
    return volume
