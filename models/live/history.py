"""Candles before the first live bar, to fill an instrument's feature window at start-up.

:class:`LakeHistory` reads the lake's ``candles_1m`` (replay, paper on simulated or imported data)
without what failed blocking checks, as the batch features read it
(:func:`models.data_quality.quarantine.clean_history`: quarantined bars left out, and an
instrument's history starts after its last quarantined session);
:class:`SourceHistory` asks a ``MarketDataSource`` (Kite's historical API, the paper exchange's
historical endpoint). Either returns a CandleFrame of the bars closing at or before ``end``, at most
``bars`` of them: enough whole sessions are read to cover them.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from typing import Final, Protocol

import polars as pl

from data_contracts.ids import InstrumentToken
from data_contracts.nse_calendar import NseCalendar
from data_contracts.ports import MarketDataSource
from data_contracts.timeutil import IST
from models.data_quality.quarantine import CandleReader, clean_history
from models.lake import Lake

__all__ = ["CANDLES_TABLE", "History", "LakeHistory", "SourceHistory"]

CANDLES_TABLE: Final = "candles_1m"
_BARS_PER_SESSION: Final = 375
_ONE_MINUTE: Final = timedelta(minutes=1)


class History(Protocol):
    def candles_before(self, instrument_token: int, end: datetime, bars: int) -> pl.DataFrame:
        """The instrument's last ``bars`` 1-minute candles closing at or before ``end``."""
        ...


def _days(calendar: NseCalendar, end: datetime, bars: int) -> list[date]:
    day = end.astimezone(IST).date()
    days = [day]
    for _ in range(math.ceil(bars / _BARS_PER_SESSION) + 1):
        day = calendar.previous_session(day).date
        days.append(day)
    return sorted(days)


class LakeHistory:
    """History from the lake's 1-minute candles, less what failed blocking checks (a day's
    partition and its verdict are read once and cached)."""

    def __init__(self, lake: Lake, calendar: NseCalendar, *, cached_days: int = 8) -> None:
        self._lake = lake
        self._calendar = calendar
        self._reader = CandleReader(lake, CANDLES_TABLE)
        self._cache: dict[date, tuple[pl.DataFrame, pl.DataFrame]] = {}
        self._cached_days = cached_days

    def candles_before(self, instrument_token: int, end: datetime, bars: int) -> pl.DataFrame:
        read = [self._day(day) for day in _days(self._calendar, end, bars)]
        present = [(frame, verdict) for frame, verdict in read if frame.height]
        if not present:
            return pl.DataFrame()
        mine = (pl.col("instrument_token") == instrument_token) & (pl.col("ts_event") <= end)
        candles = pl.concat([frame for frame, _ in present], how="vertical_relaxed").filter(mine)
        quarantine = pl.concat([verdict for _, verdict in present])
        return clean_history(candles, quarantine).sort("ts_event").tail(bars)

    def _day(self, day: date) -> tuple[pl.DataFrame, pl.DataFrame]:
        cached = self._cache.get(day)
        if cached is None:
            frame = self._lake.read(CANDLES_TABLE, day)
            frame = pl.DataFrame() if frame is None else frame
            verdict = self._reader.verdicts([day])
            if len(self._cache) >= self._cached_days:
                self._cache.pop(next(iter(self._cache)))
            cached = self._cache[day] = (frame, verdict)
        return cached


class SourceHistory:
    """History from a ``MarketDataSource`` (one request per instrument)."""

    def __init__(self, source: MarketDataSource, calendar: NseCalendar) -> None:
        self._source = source
        self._calendar = calendar

    def candles_before(self, instrument_token: int, end: datetime, bars: int) -> pl.DataFrame:
        first = _days(self._calendar, end, bars)[0]
        start = self._calendar.previous_session(first).close
        frame = self._source.candles(InstrumentToken(instrument_token), start, end, _ONE_MINUTE)
        return frame.sort("ts_event").tail(bars)
