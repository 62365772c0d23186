"""``SimulatedMarket``: the embedded default market data source (a ``MarketDataSource``).

It serves the simulated NSE market of one :class:`SimulatorConfig`: the instruments dump, 1-minute
candles (any minute multiple, or daily) for the index, the stocks and every listed NIFTY option,
option-chain snapshots and ticks. Every answer is a pure function of the config and the calendar;
days are computed on demand (and a few kept in a small cache), each from its own random streams,
so the order in which days are asked for never changes what they contain.

Nothing here is market evidence: see ``docs/simulator.md``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Final, TypeVar

import numpy as np
import polars as pl

from data_contracts.errors import ContractError
from data_contracts.ids import InstrumentToken
from data_contracts.instruments import Instrument
from data_contracts.market import Tick
from data_contracts.nse_calendar import NseCalendar, Session
from data_contracts.schemas import CANDLE_SCHEMA
from data_contracts.timeutil import IST, require_aware
from data_contracts.validation import integer
from execution.simulator.config import MINUTES_PER_REGULAR_SESSION, SimulatorConfig
from execution.simulator.grid import FloatArray, IntArray
from execution.simulator.instruments import instruments_csv, simulated_instruments
from execution.simulator.options import (
    OptionContract,
    OptionListing,
    OptionPricer,
    chain_frame,
    option_bars,
    snapshot_bars,
)
from execution.simulator.paths import MINUTE_US, DayBars, DayPlan, epoch_us, plan_days, simulate_day
from execution.simulator.rng import Purpose, stream
from execution.simulator.ticks import bar_ticks, frame_to_ticks, ticks_frame
from execution.simulator.universe import Universe

__all__ = ["CANDLE_SCHEMA", "SimulatedMarket"]

_OWNER: Final = "SimulatedMarket"
ONE_MINUTE: Final = timedelta(minutes=1)
ONE_DAY: Final = timedelta(days=1)
_STOCK_WIDE_SPREAD_SHARE: Final = 0.3  # share of minutes a stock quotes two ticks wide, not one


_V = TypeVar("_V")


class _Lru(OrderedDict[int, _V]):
    """A small least-recently-used cache keyed by session position."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self._size = size

    def get_or_make(self, key: int, make: Callable[[], _V]) -> _V:
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = make()
        self[key] = value
        if len(self) > self._size:
            self.popitem(last=False)
        return value


class SimulatedMarket:
    """The simulated NSE market of ``config`` on ``calendar`` (the shipped NSE calendar by default).

    Implements :class:`data_contracts.ports.MarketDataSource` (``instruments``, ``candles``) plus
    ``day_candles``, ``option_chain``, ``option_candles``, ``ticks`` and ``instruments_csv``.
    A *day* argument is an IST date (or an aware datetime, read as its IST date) of a simulated
    session; anything else raises :class:`ContractError`.
    """

    def __init__(
        self, config: SimulatorConfig, calendar: NseCalendar | None = None, *, cache_days: int = 16
    ) -> None:
        if not isinstance(config, SimulatorConfig):
            raise ContractError(_OWNER, "config", config, "must be a SimulatorConfig")
        integer(_OWNER, "cache_days", cache_days, minimum=1)
        self._config = config
        self._calendar = calendar or NseCalendar.default()
        sessions = tuple(self._calendar.sessions(config.start, config.end))
        if not sessions:
            raise ContractError(
                "SimulatorConfig",
                "start",
                config.start,
                f"must leave at least one NSE session up to {config.end}",
            )
        self._sessions = sessions
        self._positions = {s.date: n for n, s in enumerate(sessions)}
        self._plans = plan_days(config, sessions)
        self._listing = OptionListing(
            self._plans, config.universe.index, config.options, self._calendar
        )
        self._rows = {int(token): row for row, token in enumerate(config.universe.tokens)}
        self._bars: _Lru[DayBars] = _Lru(cache_days)
        self._pricers: _Lru[OptionPricer] = _Lru(cache_days)
        self._option_rows: dict[int, dict[int, int]] = {}

    # -- what is simulated ---------------------------------------------------------------------

    @property
    def config(self) -> SimulatorConfig:
        return self._config

    @property
    def calendar(self) -> NseCalendar:
        return self._calendar

    @property
    def universe(self) -> Universe:
        return self._config.universe

    @property
    def sessions(self) -> tuple[Session, ...]:
        """Every simulated session (regular, special and Muhurat), in order."""
        return self._sessions

    def day_state(self, day: date) -> DayPlan:
        """The day's regime, index vol and unrounded open/close levels (index first)."""
        return self._plans[self._position(day)]

    def day_bars(self, day: date) -> DayBars:
        """The day's 1-minute bars of the index and the stocks, as arrays."""
        position = self._position(day)
        return self._bars.get_or_make(
            position, lambda: simulate_day(self._config, self._plans[position])
        )

    # -- MarketDataSource ----------------------------------------------------------------------

    def instruments(self, on: datetime | date) -> list[Instrument]:
        """The instruments dump as of ``on``: that day's, or the last simulated session's
        before it (a weekend's dump is Friday's)."""
        return simulated_instruments(self.universe, self.option_contracts(self._dump_day(on)))

    def instruments_csv(self, on: datetime | date) -> str:
        """:meth:`instruments` as Kite's CSV text."""
        return instruments_csv(self.instruments(on))

    def candles(
        self,
        instrument_token: InstrumentToken,
        start: datetime,
        end: datetime,
        interval: timedelta = ONE_MINUTE,
    ) -> pl.DataFrame:
        """Bars of ``instrument_token`` (index, stock or listed option) closing in
        ``(start, end]``: 1-minute, any whole number of minutes up to 375, or one day.

        Only simulated sessions have bars; a window partly outside the range returns the part
        inside it. An option's bars exist only on days it is listed.
        """
        first = require_aware(_OWNER, "start", start)
        last = require_aware(_OWNER, "end", end)
        if last <= first:
            raise ContractError(_OWNER, "end", end, f"must be after start {start}")
        minutes = _interval_minutes(interval)
        first_day, last_day = first.astimezone(IST).date(), last.astimezone(IST).date()
        frames = []
        for session in self._sessions:
            if not first_day <= session.date <= last_day:
                continue
            daily = self._token_candles(int(instrument_token), session.date)
            if daily is None:
                continue
            if minutes != 1:
                daily = _resample(daily, session, minutes)
            frames.append(daily)
        if not frames:
            if int(instrument_token) not in self._rows and not any(
                self._option_row(int(instrument_token), s.date) is not None for s in self._sessions
            ):
                raise ContractError(
                    _OWNER, "instrument_token", instrument_token, "is not a simulated instrument"
                )
            return pl.DataFrame(schema=CANDLE_SCHEMA)
        frame = pl.concat(frames)
        return frame.filter((pl.col("ts_event") > first) & (pl.col("ts_event") <= last))

    # -- more than the port --------------------------------------------------------------------

    def day_candles(self, day: date) -> pl.DataFrame:
        """The day's 1-minute candles of the index and every stock (``CandleFrame``), instrument
        by instrument in universe order (index first), each in time order."""
        bars = self.day_bars(day)
        rows, width = bars.close.shape
        tokens = np.repeat(np.array(self.universe.tokens, dtype=np.int64), width)
        return _candle_frame(
            tokens,
            np.tile(bars.grid.close_us, rows),
            bars.open.ravel(),
            bars.high.ravel(),
            bars.low.ravel(),
            bars.close.ravel(),
            bars.volume.ravel(),
            None,
        )

    def option_contracts(self, day: date) -> tuple[OptionContract, ...]:
        """The NIFTY options listed on ``day`` (by expiry, strike, CE before PE)."""
        return self._listing.contracts(self._position(day))

    def option_chain(self, day: date, *, diagnostics: bool = False) -> pl.DataFrame:
        """Chain snapshots every ``options.snapshot_minutes`` through the session.

        Columns: ``ts_event, underlying_token, instrument_token, tradingsymbol, expiry, strike,
        option_type, last_price, bid, ask, oi, volume, underlying_price`` (``volume`` is the
        day's cumulative traded quantity, ``oi`` in units). ``diagnostics`` appends the model's
        ``forward, t_years, discount, model_vol, moneyness_sd`` (for tests and research).
        """
        pricer = self._pricer(self._position(day))
        snapshots = snapshot_bars(pricer.bars, self._config.options.snapshot_minutes)
        token = int(self.universe.index.instrument_token)
        return chain_frame(pricer, token, snapshots, diagnostics=diagnostics)

    def option_candles(self, instrument_token: InstrumentToken, day: date) -> pl.DataFrame:
        """The day's 1-minute candles of one listed option (with ``oi``)."""
        frame = self._option_candles(int(instrument_token), self._position(day))
        if frame is None:
            raise ContractError(
                _OWNER, "instrument_token", instrument_token, f"is not an option listed on {day}"
            )
        return frame

    def ticks(self, instrument_token: InstrumentToken, day: date) -> pl.DataFrame:
        """The day's ticks of one instrument as a ``TickFrame`` (``ts_init`` = ``ts_event``)."""
        position = self._position(day)
        token = int(instrument_token)
        session_day = self._sessions[position].date
        rng = stream(self._config.seed, Purpose.TICKS, session_day, token)
        row = self._rows.get(token)
        if row is not None:
            bars = self.day_bars(session_day)
            tick_size = (
                self.universe.index.tick_size
                if row == 0
                else self.universe.stocks[row - 1].tick_size
            )
            spread = (
                None
                if row == 0
                else 1 + (rng.random(bars.grid.size) < _STOCK_WIDE_SPREAD_SHARE).astype(np.int64)
            )
            ticks = bar_ticks(
                rng,
                bars.grid.close_us,
                bars.open[row],
                bars.high[row],
                bars.low[row],
                bars.close[row],
                bars.volume[row],
                tick_size=tick_size,
                spread_ticks=spread,
            )
            return ticks_frame(token, ticks)
        option_row = self._option_row(token, session_day)
        if option_row is None:
            raise ContractError(
                _OWNER, "instrument_token", instrument_token, f"is not simulated on {session_day}"
            )
        index = self.universe.index
        option = option_bars(self._pricer(position), option_row)
        ticks = bar_ticks(
            rng,
            option.close_us,
            option.open,
            option.high,
            option.low,
            option.close,
            option.volume,
            tick_size=index.option_tick_size,
            quantity_unit=index.option_lot_size,
            spread_ticks=option.spread_ticks,
        )
        return ticks_frame(token, ticks, option.oi)

    def tick_objects(self, instrument_token: InstrumentToken, day: date) -> list[Tick]:
        """:meth:`ticks` as validated :class:`~data_contracts.market.Tick` objects."""
        return frame_to_ticks(self.ticks(instrument_token, day))

    def day_ticks(self, tokens: Sequence[InstrumentToken], day: date) -> pl.DataFrame:
        """The ticks of several instruments merged in time order (ties by token): a feed."""
        frames = [self.ticks(token, day) for token in tokens]
        return pl.concat(frames).sort("ts_event", "instrument_token", maintain_order=True)

    # -- internals -----------------------------------------------------------------------------

    def _position(self, day: date) -> int:
        when = _ist_day(day)
        position = self._positions.get(when)
        if position is None:
            raise ContractError(
                _OWNER,
                "day",
                day,
                f"must be a simulated NSE session between {self._config.start} and "
                f"{self._config.end}",
            )
        return position

    def _dump_day(self, on: datetime | date) -> date:
        when = _ist_day(on)
        if not self._config.start <= when <= self._config.end:
            raise ContractError(
                _OWNER,
                "on",
                on,
                f"must fall between {self._config.start} and {self._config.end} (IST)",
            )
        earlier = [s.date for s in self._sessions if s.date <= when]
        if not earlier:
            raise ContractError(_OWNER, "on", on, "must be on or after the first simulated session")
        return earlier[-1]

    def _pricer(self, position: int) -> OptionPricer:
        def make() -> OptionPricer:
            plan = self._plans[position]
            return OptionPricer(
                self.day_bars(plan.session.date),
                self._listing.contracts(position),
                self.universe.index,
                self._config.options,
                self._config.regime,
                self._calendar,
                self._config.seed,
            )

        return self._pricers.get_or_make(position, make)

    def _option_row(self, token: int, day: date) -> int | None:
        position = self._positions.get(day)
        if position is None:
            return None
        rows = self._option_rows.get(position)
        if rows is None:
            contracts = self._listing.contracts(position)
            rows = {int(c.instrument_token): row for row, c in enumerate(contracts)}
            self._option_rows[position] = rows
        return rows.get(token)

    def _option_candles(self, token: int, position: int) -> pl.DataFrame | None:
        row = self._option_row(token, self._sessions[position].date)
        if row is None:
            return None
        bars = option_bars(self._pricer(position), row)
        return _candle_frame(
            np.full(bars.close_us.size, token, dtype=np.int64),
            bars.close_us,
            bars.open,
            bars.high,
            bars.low,
            bars.close,
            bars.volume,
            bars.oi,
        )

    def _token_candles(self, token: int, day: date) -> pl.DataFrame | None:
        row = self._rows.get(token)
        if row is None:
            return self._option_candles(token, self._positions[day])
        bars = self.day_bars(day)
        return _candle_frame(
            np.full(bars.grid.size, token, dtype=np.int64),
            bars.grid.close_us,
            bars.open[row],
            bars.high[row],
            bars.low[row],
            bars.close[row],
            bars.volume[row],
            None,
        )


def _ist_day(value: object) -> date:
    if isinstance(value, datetime):
        return require_aware(_OWNER, "day", value).astimezone(IST).date()
    if not isinstance(value, date):
        raise ContractError(_OWNER, "day", value, "must be a date or an aware datetime")
    return value


def _interval_minutes(interval: timedelta) -> int:
    """The interval in minutes (a day counts as the whole session: 0 stands for it)."""
    if not isinstance(interval, timedelta):
        raise ContractError(_OWNER, "interval", interval, "must be a timedelta")
    if interval == ONE_DAY:
        return 0
    minutes, rest = divmod(interval, ONE_MINUTE)
    if rest or not 1 <= minutes <= MINUTES_PER_REGULAR_SESSION:
        raise ContractError(
            _OWNER, "interval", interval, "must be 1 to 375 whole minutes, or one day"
        )
    return int(minutes)


def _candle_frame(
    tokens: IntArray,
    close_us: IntArray,
    open_: FloatArray,
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    volume: IntArray,
    oi: IntArray | None,
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "instrument_token": tokens,
            "ts_event": pl.Series(close_us).cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": volume,
            "oi": pl.Series([None] * tokens.size if oi is None else oi, dtype=pl.Int64),
        },
        schema=CANDLE_SCHEMA,
    )


def _resample(frame: pl.DataFrame, session: Session, minutes: int) -> pl.DataFrame:
    """Aggregate a day's 1-minute bars into ``minutes``-minute bars counted from the session
    open (0 = one bar for the session); each closes at its bucket's end or the session close."""
    open_us, close_us = epoch_us(session.open), epoch_us(session.close)
    width = (close_us - open_us) // MINUTE_US if minutes == 0 else minutes
    since_open = (pl.col("ts_event").dt.epoch("us") - open_us) // MINUTE_US
    bucket_close = pl.min_horizontal(
        open_us + ((since_open - 1) // width + 1) * width * MINUTE_US, pl.lit(close_us)
    )
    return (
        frame.with_columns(bucket_close.alias("_close"))
        .group_by("instrument_token", "_close", maintain_order=True)
        .agg(
            pl.col("open").first(),
            pl.col("high").max(),
            pl.col("low").min(),
            pl.col("close").last(),
            pl.col("volume").sum(),
            pl.col("oi").last(),
        )
        .with_columns(
            pl.col("_close").cast(pl.Datetime("us")).dt.replace_time_zone("UTC").alias("ts_event")
        )
        .select(*CANDLE_SCHEMA)
        .cast(CANDLE_SCHEMA)  # type: ignore[arg-type]  # polars accepts a name → dtype mapping
    )
