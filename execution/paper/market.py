"""The paper exchange's market data: one replayed session of quotes, the instruments dump and
historical candles, from the simulator or from the lake.

:class:`MarketReplay` holds one trading day. Its quotes are built up front from ticks
(``execution.simulator.ticks``: ``SimulatedMarket.ticks`` for the simulator, ``bar_ticks`` over the
lake's 1-minute candles) into a columnar table (:mod:`execution.paper.market_book`), and handed out
in market time: :meth:`MarketReplay.quotes_until` returns every update since the previous call, so
the exchange can match orders against each one. Same source, day and seed → the same quotes.

Lake replay quotes only the instruments that have 1-minute candles in ``candles_1m`` for the day
(the lake holds no ticks and no option candles unless they were ingested), and never a bar that
failed a blocking check (``candles_1m_quarantine``: not replayed, not served as history, not a
previous close); their ticks are drawn
inside each bar with a seeded stream, so a candle rebuilt from the quotes is the lake's candle
(prices on the instrument's tick grid). See ``docs/paper-exchange.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Final

import numpy as np
import polars as pl

from data_contracts.errors import ContractError
from data_contracts.ids import InstrumentToken
from data_contracts.instruments import Instrument
from data_contracts.nse_calendar import NseCalendar
from data_contracts.nse_session import Session
from data_contracts.timeutil import IST, UTC, require_aware
from execution.paper.market_book import InstrumentTicks, QuoteTable, build_quote_table
from execution.paper.market_history import interval_minutes, kite_candles
from execution.paper.market_lake import (
    CANDLES_TABLE,
    INSTRUMENTS_TABLE,
    lake_closes,
    lake_instruments,
    lake_ticks,
    tick_size,
)
from execution.paper.types import KiteApiError, Quote
from execution.simulator.instruments import instruments_csv
from execution.simulator.paths import epoch_us
from execution.simulator.source import SimulatedMarket
from models.data_quality.quarantine import CandleReader, quarantine_table
from models.lake import Lake

__all__ = ["CANDLES_TABLE", "INSTRUMENTS_TABLE", "MarketReplay"]

_OWNER: Final = "MarketReplay"
_ONE_DAY: Final = timedelta(days=1)
QUARANTINE: Final = quarantine_table(CANDLES_TABLE)

MinuteBars = Callable[[int, datetime, datetime], pl.DataFrame]
"""1-minute ``CandleFrame`` bars of one instrument closing in ``(start, end]``."""


class MarketReplay:
    """Quotes of a set of instruments in market time, from the simulator or the lake,
    deterministic for a seed. Build with :meth:`from_simulator` or :meth:`from_lake`."""

    def __init__(
        self,
        *,
        session: Session,
        instruments: Sequence[Instrument],
        table: QuoteTable,
        minute_bars: MinuteBars,
        calendar: NseCalendar,
    ) -> None:
        self._session = session
        self._instruments = tuple(instruments)
        self._table = table
        self._minute_bars = minute_bars
        self._calendar = calendar
        self._position = {int(t): n for n, t in enumerate(table.tokens.tolist())}
        self._latest_row = np.full(table.tokens.size, -1, dtype=np.int64)
        self._latest_cache: dict[int, tuple[int, Quote]] = {}
        self._next_row = 0
        self._now: datetime | None = None

    # -- construction --------------------------------------------------------------------------

    @classmethod
    def from_simulator(
        cls, market: SimulatedMarket, day: date, *, tokens: Sequence[int] | None = None
    ) -> MarketReplay:
        """Replay the simulated session of ``day`` (all its instruments, or ``tokens``: index,
        stocks or options listed that day). The previous close is the previous simulated
        session's; on the first one, or for an option first listed today, the day's open."""
        sessions = market.sessions
        dates = [s.date for s in sessions]
        if day not in dates:
            raise ContractError(_OWNER, "day", day, "must be a simulated NSE session")
        position = dates.index(day)
        instruments = market.instruments(day)
        chosen = _choose(instruments, tokens)
        wanted = {int(i.instrument_token) for i in chosen}
        previous = (
            _simulator_closes(market, sessions[position - 1].date, wanted) if position else {}
        )
        parts = [
            InstrumentTicks(
                instrument_token=int(i.instrument_token),
                ticks=market.ticks(i.instrument_token, day),
                tick_size=tick_size(i),
                lot_size=i.lot_size,
                tradable=i.is_tradable,
                previous_close=previous.get(int(i.instrument_token)),
            )
            for i in chosen
        ]

        def minute_bars(token: int, start: datetime, end: datetime) -> pl.DataFrame:
            try:
                return market.candles(InstrumentToken(token), start, end)
            except ContractError as error:
                if error.field == "instrument_token":
                    raise KiteApiError("InputException", "invalid token") from error
                raise

        return cls(
            session=sessions[position],
            instruments=instruments,
            table=build_quote_table(parts, seed=market.config.seed, day=day),
            minute_bars=minute_bars,
            calendar=market.calendar,
        )

    @classmethod
    def from_lake(
        cls,
        lake_root: Path,
        day: date,
        *,
        tokens: Sequence[int] | None = None,
        seed: int = 0,
        calendar: NseCalendar | None = None,
    ) -> MarketReplay:
        """Replay ``day`` from the lake at ``lake_root``: the instruments dump of that day (or the
        latest before it) and ticks drawn inside the day's ``candles_1m`` bars. Only instruments
        with candles that day are quoted; the previous close comes from the latest earlier
        ``candles_1m`` partition (else the day's open)."""
        lake = Lake(lake_root)
        cal = calendar or NseCalendar.default()
        session = cal.session(day)
        if session is None:
            raise ContractError(_OWNER, "day", day, "must be an NSE session day")
        instruments = lake_instruments(lake, day)
        if not lake.partition_path(CANDLES_TABLE, day).is_file():
            raise ContractError(
                _OWNER, "day", day, f"must have a {CANDLES_TABLE} partition in {lake.root}"
            )
        # Never a bar a blocking check failed (candles_1m_quarantine): quotes, closes, history.
        reader = CandleReader(lake, CANDLES_TABLE)
        candles = reader.read(day, day)
        if candles.is_empty() and not _empty_partition(lake, day):
            rule = (
                f"must have {CANDLES_TABLE} bars that passed the blocking checks (see {QUARANTINE})"
            )
            raise ContractError(_OWNER, "day", day, rule)
        by_token = {int(i.instrument_token): i for i in instruments}
        unknown = sorted(set(candles["instrument_token"].to_list()) - by_token.keys())
        if unknown:
            raise ContractError(
                _OWNER,
                "instrument_token",
                unknown[:5],
                f"must be in the instruments dump for {day} (candles without an instrument)",
            )
        quoted = set(candles["instrument_token"].to_list())
        chosen = [i for i in _choose(instruments, tokens) if int(i.instrument_token) in quoted]
        previous = lake_closes(lake, day)
        grouped = candles.sort("instrument_token", "ts_event").partition_by(
            "instrument_token", as_dict=True
        )
        parts = [
            lake_ticks(
                i, grouped[(int(i.instrument_token),)], seed=seed, day=day, previous=previous
            )
            for i in chosen
        ]

        def minute_bars(token: int, start: datetime, end: datetime) -> pl.DataFrame:
            first, last = start.astimezone(IST).date(), end.astimezone(IST).date()
            start, end = start.astimezone(UTC), end.astimezone(UTC)
            bars = reader.read(first, last, tokens=[token])
            if bars.is_empty():
                return bars
            return bars.filter((pl.col("ts_event") > start) & (pl.col("ts_event") <= end)).sort(
                "ts_event"
            )

        return cls(
            session=session,
            instruments=instruments,
            table=build_quote_table(parts, seed=seed, day=day),
            minute_bars=minute_bars,
            calendar=cal,
        )

    # -- what is replayed ----------------------------------------------------------------------

    @property
    def day(self) -> date:
        return self._session.date

    @property
    def session_start(self) -> datetime:
        """The session's open (UTC)."""
        return self._session.open

    @property
    def session_end(self) -> datetime:
        """The session's close (UTC)."""
        return self._session.close

    @property
    def instruments(self) -> tuple[Instrument, ...]:
        """The instruments dump of the day (all of it, quoted or not)."""
        return self._instruments

    @property
    def tokens(self) -> tuple[int, ...]:
        """The instruments that have quotes, in the order they were given."""
        return tuple(int(t) for t in self._table.tokens.tolist())

    @property
    def market_time(self) -> datetime | None:
        """The market time of the last :meth:`quotes_until` call (None before the first)."""
        return self._now

    @property
    def size(self) -> int:
        """How many quote updates the day has."""
        return self._table.size

    def instruments_csv(self, exchange: str | None = None) -> str:
        """The dump as Kite's CSV (all exchanges, or those of ``exchange``, e.g. ``"NFO"``)."""
        rows = [i for i in self._instruments if exchange is None or i.exchange.value == exchange]
        return instruments_csv(rows)

    def previous_close(self, token: int) -> float | None:
        """The close the quotes of ``token`` carry (previous session's), None if not quoted."""
        position = self._position.get(token)
        return None if position is None else float(self._table.previous_close[position])

    # -- quotes in market time -----------------------------------------------------------------

    def quotes_until(self, market_time: datetime, *, latest_only: bool = False) -> list[Quote]:
        """Every quote update with ``ts_event`` in ``(previous call, market_time]``, in time order
        (ties by token); ``latest_only`` keeps only each instrument's last one (after a jump).
        Market time must not go backwards."""
        now = require_aware(_OWNER, "market_time", market_time)
        if self._now is not None and now < self._now:
            raise ContractError(_OWNER, "market_time", now, f"must not be before {self._now}")
        self._now = now
        first = self._next_row
        last = int(np.searchsorted(self._table.ts_us, epoch_us(now), side="right"))
        if last <= first:
            return []
        self._next_row = last
        instruments = self._table.instrument[first:last]
        # Each instrument's last row in the window: first occurrence in the reversed slice.
        seen, from_end = np.unique(instruments[::-1], return_index=True)
        latest_rows = last - 1 - from_end
        self._latest_row[seen] = latest_rows
        rows = np.sort(latest_rows) if latest_only else np.arange(first, last)
        return self._table.quotes(rows)

    def latest(self, token: int) -> Quote | None:
        """The last quote of ``token`` handed out so far (None before its first, or if it is
        not quoted)."""
        position = self._position.get(token)
        if position is None:
            return None
        row = int(self._latest_row[position])
        if row < 0:
            return None
        cached = self._latest_cache.get(token)
        if cached is not None and cached[0] == row:
            return cached[1]
        quote = self._table.quotes([row])[0]
        self._latest_cache[token] = (row, quote)
        return quote

    # -- historical candles --------------------------------------------------------------------

    def historical(
        self,
        token: int,
        interval: str,
        start: datetime,
        end: datetime,
        *,
        oi: bool,
        as_of: datetime | None = None,
    ) -> list[list[object]]:
        """Kite's candle rows ``["YYYY-MM-DDTHH:MM:SS+0530", o, h, l, c, volume(, oi)]`` of the
        candles **opening** in ``[start, end]`` (``day``: sessions whose date is in the IST
        dates of ``[start, end]``), from the source's 1-minute bars.

        Only bars closed by ``as_of`` count (default: :attr:`market_time`, else the session
        open), so the replay never shows the future; the candle in progress is built from the
        minutes closed so far, as Kite does. Per-interval range limits are the REST layer's.
        """
        minutes = interval_minutes(interval)
        first = require_aware(_OWNER, "start", start)
        last = require_aware(_OWNER, "end", end)
        if last < first:
            raise KiteApiError("InputException", "invalid range: from date is after to date")
        limit = as_of if as_of is not None else (self._now or self.session_start)
        limit = require_aware(_OWNER, "as_of", limit)
        if minutes == 0:
            first = _ist_midnight(first.astimezone(IST).date())
        window_start = _ist_midnight(first.astimezone(IST).date())
        window_end = min(_ist_midnight(last.astimezone(IST).date()) + _ONE_DAY, limit)
        if window_end <= window_start:
            return []
        bars = self._minute_bars(token, window_start, window_end)
        return kite_candles(bars, interval, first, last, session_open=self._session_open, oi=oi)

    def _session_open(self, day: date) -> datetime | None:
        session = self._calendar.session(day)
        return None if session is None else session.open


# -- helpers -----------------------------------------------------------------------------------


def _ist_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=IST)


def _choose(instruments: Sequence[Instrument], tokens: Sequence[int] | None) -> list[Instrument]:
    if tokens is None:
        return list(instruments)
    by_token = {int(i.instrument_token): i for i in instruments}
    missing = [t for t in tokens if int(t) not in by_token]
    if missing:
        raise ContractError(_OWNER, "tokens", missing[:5], "must be in the day's instruments dump")
    return [by_token[int(t)] for t in dict.fromkeys(tokens)]


def _simulator_closes(market: SimulatedMarket, day: date, wanted: set[int]) -> dict[int, float]:
    """The last close on ``day`` of the ``wanted`` index, stocks and options listed then."""
    bars = market.day_bars(day)
    closes = {
        int(token): float(close)
        for token, close in zip(market.universe.tokens, bars.close[:, -1], strict=True)
    }
    for contract in market.option_contracts(day):
        if int(contract.instrument_token) not in wanted:
            continue
        frame = market.option_candles(InstrumentToken(contract.instrument_token), day)
        closes[int(contract.instrument_token)] = float(frame["close"][-1])
    return closes


def _empty_partition(lake: Lake, day: date) -> bool:
    stored = lake.read(CANDLES_TABLE, day)
    return stored is None or stored.is_empty()
