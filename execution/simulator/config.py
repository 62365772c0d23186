"""The simulator's frozen configuration: seed, date range, universe and every model parameter.

Every field has a documented default except the seed and the date range, which a run must name.
Construction validates each field (raising :class:`ContractError` that names it) and
:meth:`SimulatorConfig.from_mapping` builds one from YAML-shaped data, rejecting unknown keys.
The same config always produces byte-identical frames (see ``docs/simulator.md``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from typing import Any

from data_contracts.errors import ContractError
from data_contracts.nse_calendar import NseCalendar
from data_contracts.validation import finite, integer
from execution.simulator.mapping import known_fields, require_mapping
from execution.simulator.universe import Universe, load_universe

__all__ = [
    "MINUTES_PER_REGULAR_SESSION",
    "OptionParams",
    "RegimeParams",
    "ReturnParams",
    "SimulatorConfig",
    "default_universe",
]

MINUTES_PER_REGULAR_SESSION = 375
TRADING_DAYS_PER_YEAR = 252


def _between(
    owner: str, name: str, value: float, low: float, high: float, *, open_low: bool = False
) -> None:
    finite(owner, name, value)
    if value > high or value < low or (open_low and value == low):
        bracket = "(" if open_low else "["
        raise ContractError(owner, name, value, f"must be within {bracket}{low}, {high}]")


@dataclass(frozen=True, slots=True)
class RegimeParams:
    """A two-state (calm/stressed) Markov chain on trading days sets each day's index volatility.

    ``calm_vol``/``stressed_vol`` are annualised index vols; ``vol_of_vol`` is the day-to-day
    log-normal noise around them; the transition probabilities are per trading day (the defaults
    give stressed spells of ~7 days about one day in five).
    """

    calm_vol: float = 0.11
    stressed_vol: float = 0.24
    p_calm_to_stressed: float = 0.04
    p_stressed_to_calm: float = 0.15
    vol_of_vol: float = 0.20
    start_stressed: bool = False

    def __post_init__(self) -> None:
        owner = "RegimeParams"
        _between(owner, "calm_vol", self.calm_vol, 0.0, 2.0, open_low=True)
        _between(owner, "stressed_vol", self.stressed_vol, 0.0, 3.0, open_low=True)
        if self.stressed_vol < self.calm_vol:
            raise ContractError(
                owner, "stressed_vol", self.stressed_vol, f"must be >= calm_vol {self.calm_vol}"
            )
        _between(owner, "p_calm_to_stressed", self.p_calm_to_stressed, 0.0, 1.0)
        _between(owner, "p_stressed_to_calm", self.p_stressed_to_calm, 0.0, 1.0, open_low=True)
        _between(owner, "vol_of_vol", self.vol_of_vol, 0.0, 1.0)
        if not isinstance(self.start_stressed, bool):
            raise ContractError(owner, "start_stressed", self.start_stressed, "must be a bool")

    @property
    def long_run_vol(self) -> float:
        """The stationary root-mean-square vol of the chain (the long end of the term structure)."""
        up, down = self.p_calm_to_stressed, self.p_stressed_to_calm
        stressed_share = up / (up + down)
        return math.sqrt(
            (1 - stressed_share) * self.calm_vol**2 + stressed_share * self.stressed_vol**2
        )


@dataclass(frozen=True, slots=True)
class ReturnParams:
    """Shape of the return and volume paths (stylised facts).

    * Student-t innovations with ``t_dof`` degrees of freedom (scaled to unit variance).
    * ``overnight_variance_share`` of each day's variance is the overnight gap.
    * Overnight jumps with probability ``gap_jump_prob`` a day, size ``gap_jump_sd`` daily sds;
      intraday minute jumps ``minute_jumps_per_day`` a day, size ``minute_jump_sd`` daily sds.
    * U-shaped intraday variance ``1 + open_vol_boost·e^(-m/decay) + close_vol_boost·e^(-m'/d)``
      with ``m``/``m'`` minutes since the open/to the close; volume likewise.
    * ``bar_range_scale``: how far high/low reach beyond open/close, in per-minute sds.
    """

    t_dof: float = 6.0
    overnight_variance_share: float = 0.20
    index_drift: float = 0.10
    gap_jump_prob: float = 0.03
    gap_jump_sd: float = 2.0
    minute_jumps_per_day: float = 0.02
    minute_jump_sd: float = 0.3
    open_vol_boost: float = 3.0
    close_vol_boost: float = 1.0
    vol_decay_minutes: float = 20.0
    open_volume_boost: float = 2.0
    close_volume_boost: float = 3.0
    volume_decay_minutes: float = 25.0
    volume_noise: float = 0.35
    bar_range_scale: float = 0.5

    def __post_init__(self) -> None:
        owner = "ReturnParams"
        _between(owner, "t_dof", self.t_dof, 2.0, 1000.0, open_low=True)
        _between(owner, "overnight_variance_share", self.overnight_variance_share, 0.0, 0.9)
        _between(owner, "index_drift", self.index_drift, -1.0, 1.0)
        _between(owner, "gap_jump_prob", self.gap_jump_prob, 0.0, 1.0)
        _between(owner, "gap_jump_sd", self.gap_jump_sd, 0.0, 20.0)
        _between(owner, "minute_jumps_per_day", self.minute_jumps_per_day, 0.0, 100.0)
        _between(owner, "minute_jump_sd", self.minute_jump_sd, 0.0, 5.0)
        _between(owner, "open_vol_boost", self.open_vol_boost, 0.0, 50.0)
        _between(owner, "close_vol_boost", self.close_vol_boost, 0.0, 50.0)
        _between(owner, "vol_decay_minutes", self.vol_decay_minutes, 0.0, 375.0, open_low=True)
        _between(owner, "open_volume_boost", self.open_volume_boost, 0.0, 50.0)
        _between(owner, "close_volume_boost", self.close_volume_boost, 0.0, 50.0)
        _between(
            owner, "volume_decay_minutes", self.volume_decay_minutes, 0.0, 375.0, open_low=True
        )
        _between(owner, "volume_noise", self.volume_noise, 0.0, 2.0)
        _between(owner, "bar_range_scale", self.bar_range_scale, 0.0, 5.0)


@dataclass(frozen=True, slots=True)
class OptionParams:
    """The simulated NIFTY option chain.

    * Listed each day: the ``weekly_expiries`` nearest expiries plus the ``monthly_expiries``
      nearest monthly ones; strikes ``strike_step`` apart (from the universe), ``strikes_each_side``
      either side of the at-the-money strike of every day the expiry has been listed (strikes,
      once listed, stay listed until expiry).
    * Chain snapshots every ``snapshot_minutes`` from the session's open.
    * Black-76 on ``F = S·e^((rate - dividend_yield)·T)``, discount ``e^(-rate·T)``, ``T`` in
      ACT/365 years to the expiry day's close, floored at ``min_minutes_to_expiry``.
    * ATM vol term structure: ``vol_premium`` times (the day's regime vol at the short end, the
      regime chain's long-run vol at the long end), blended with ``e^(-T/term_decay_days)``.
    * Smile: ``atm·(1 - smile_skew·z + smile_curvature·z²)`` in standardised moneyness
      ``z = ln(K/F)/(atm·√T)``, saturated smoothly into ``[smile_floor, smile_cap]`` times ATM
      (a put skew: lower strikes carry higher vol; flat far wings keep spreads arbitrage-free).
    * Spread: ``1 + floor(spread_per_sd·|z|)`` ticks (``z`` = moneyness in ATM sds), one more tick
      below ``cheap_price``, at most ``max_spread_ticks``.
    * OI: ``oi_base_lots`` lots at the peak, decaying with ``|z|`` (width ``oi_width``) and with
      days to expiry (``oi_decay_days``).
    """

    strikes_each_side: int = 20
    snapshot_minutes: int = 15
    weekly_expiries: int = 4
    monthly_expiries: int = 2
    rate: float = 0.065
    dividend_yield: float = 0.012
    vol_premium: float = 1.10
    term_decay_days: float = 30.0
    smile_skew: float = 0.25
    smile_curvature: float = 0.03
    smile_floor: float = 0.75
    smile_cap: float = 2.0
    min_minutes_to_expiry: float = 1.0
    oi_base_lots: int = 150_000
    oi_width: float = 1.3
    oi_decay_days: float = 10.0
    spread_per_sd: float = 1.0
    cheap_price: float = 2.0
    max_spread_ticks: int = 40

    def __post_init__(self) -> None:
        owner = "OptionParams"
        integer(owner, "strikes_each_side", self.strikes_each_side, minimum=1)
        integer(owner, "snapshot_minutes", self.snapshot_minutes, minimum=1)
        if self.snapshot_minutes > MINUTES_PER_REGULAR_SESSION:
            raise ContractError(owner, "snapshot_minutes", self.snapshot_minutes, "must be <= 375")
        integer(owner, "weekly_expiries", self.weekly_expiries, minimum=1)
        integer(owner, "monthly_expiries", self.monthly_expiries, minimum=0)
        if self.weekly_expiries > 12 or self.monthly_expiries > 6:
            raise ContractError(
                owner,
                "weekly_expiries",
                (self.weekly_expiries, self.monthly_expiries),
                "must list at most 12 weeklies and 6 monthlies",
            )
        _between(owner, "rate", self.rate, -0.05, 0.5)
        _between(owner, "dividend_yield", self.dividend_yield, 0.0, 0.2)
        _between(owner, "vol_premium", self.vol_premium, 0.0, 5.0, open_low=True)
        _between(owner, "term_decay_days", self.term_decay_days, 0.0, 3650.0, open_low=True)
        _between(owner, "smile_skew", self.smile_skew, -2.0, 2.0)
        _between(owner, "smile_curvature", self.smile_curvature, 0.0, 1.0)
        _between(owner, "smile_floor", self.smile_floor, 0.0, 1.0, open_low=True)
        if self.smile_floor == 1.0:
            raise ContractError(owner, "smile_floor", self.smile_floor, "must be < 1")
        _between(owner, "smile_cap", self.smile_cap, 1.0, 10.0, open_low=True)
        _between(
            owner, "min_minutes_to_expiry", self.min_minutes_to_expiry, 0.0, 60.0, open_low=True
        )
        integer(owner, "oi_base_lots", self.oi_base_lots, minimum=1)
        _between(owner, "oi_width", self.oi_width, 0.0, 10.0, open_low=True)
        _between(owner, "oi_decay_days", self.oi_decay_days, 0.0, 365.0, open_low=True)
        _between(owner, "spread_per_sd", self.spread_per_sd, 0.0, 50.0)
        _between(owner, "cheap_price", self.cheap_price, 0.0, 1000.0)
        integer(owner, "max_spread_ticks", self.max_spread_ticks, minimum=1)


@cache
def default_universe() -> Universe:
    """The shipped universe (read once per process; it is immutable)."""
    return load_universe()


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """Everything a simulated market depends on. Same config → byte-identical frames.

    ``start``/``end`` are IST dates, inclusive; every NSE session in between (regular, special
    and Muhurat) is simulated. ``momentum_15m`` is the deliberate, weak predictable component:
    the AR(1) coefficient of each instrument's 15-minute returns within a session (see
    ``docs/simulator.md``); 0 switches it off.
    """

    seed: int
    start: date
    end: date
    universe: Universe = field(default_factory=default_universe)
    regime: RegimeParams = field(default_factory=RegimeParams)
    returns: ReturnParams = field(default_factory=ReturnParams)
    options: OptionParams = field(default_factory=OptionParams)
    momentum_15m: float = 0.10

    def __post_init__(self) -> None:
        owner = "SimulatorConfig"
        integer(owner, "seed", self.seed, minimum=0)
        for name in ("start", "end"):
            value = getattr(self, name)
            if isinstance(value, datetime) or not isinstance(value, date):
                raise ContractError(owner, name, value, "must be a date")
        if self.end < self.start:
            raise ContractError(owner, "end", self.end, f"must be on or after start {self.start}")
        kinds: dict[str, type] = {
            "universe": Universe,
            "regime": RegimeParams,
            "returns": ReturnParams,
            "options": OptionParams,
        }
        for name, kind in kinds.items():
            if not isinstance(getattr(self, name), kind):
                raise ContractError(owner, name, getattr(self, name), f"must be a {kind.__name__}")
        _between(owner, "momentum_15m", self.momentum_15m, -0.5, 0.5)

    @classmethod
    def ending(
        cls,
        end: date,
        trading_days: int,
        seed: int,
        calendar: NseCalendar | None = None,
        **overrides: Any,
    ) -> SimulatorConfig:
        """A config of the ``trading_days`` trading days ending on (or before) ``end``."""
        integer("SimulatorConfig", "trading_days", trading_days, minimum=1)
        cal = calendar or NseCalendar.default()
        day, found = end, 0
        start = end
        while found < trading_days:
            if cal.is_trading_day(day):
                found += 1
                start = day
            day = cal.previous_session(day).date
        return cls(seed=seed, start=start, end=end, **overrides)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> SimulatorConfig:
        """A config from YAML-shaped data: nested mappings for ``regime``, ``returns``,
        ``options`` and ``universe`` (the universe file's shape), ISO strings for dates.
        Unknown keys anywhere raise :class:`ContractError`."""
        values = known_fields("SimulatorConfig", cls, require_mapping("SimulatorConfig", data))
        for name in ("start", "end"):
            if isinstance(values.get(name), str):
                try:
                    values[name] = date.fromisoformat(values[name])
                except ValueError:
                    raise ContractError(
                        "SimulatorConfig", name, values[name], "must be a YYYY-MM-DD date"
                    ) from None
        nested: dict[str, type[RegimeParams] | type[ReturnParams] | type[OptionParams]] = {
            "regime": RegimeParams,
            "returns": ReturnParams,
            "options": OptionParams,
        }
        for name, kind in nested.items():
            if name in values and isinstance(values[name], Mapping):
                values[name] = kind(**known_fields(kind.__name__, kind, values[name]))
        if "universe" in values and isinstance(values["universe"], Mapping):
            values["universe"] = Universe.from_mapping(values["universe"])
        return cls(**values)
