"""Kite's historical candles from our 1-minute ``CandleFrame`` bars.

Our bars are stamped with their **close** (``ts_event``); Kite stamps a candle with its **open**
(a 09:15 minute bar is ``"…T09:15:00+0530"``) and a day candle with the date's midnight IST
(``"…T00:00:00+0530"``). :func:`kite_candles` aggregates 1-minute bars into Kite's intervals,
counting buckets from the session open (so 60-minute bars open at 09:15, 10:15, …, 15:15; the last
one is short, as on Kite), and keeps the candles that **open** in ``[start, end]``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Final

import polars as pl

from data_contracts.timeutil import IST
from execution.paper.types import KiteApiError
from execution.simulator.paths import epoch_us

__all__ = ["INTERVAL_MINUTES", "KITE_CANDLE_TIME", "interval_minutes", "kite_candles"]

# Kite's interval names → minutes (0 = one candle per session).
INTERVAL_MINUTES: Final = {
    "minute": 1,
    "3minute": 3,
    "5minute": 5,
    "10minute": 10,
    "15minute": 15,
    "30minute": 30,
    "60minute": 60,
    "day": 0,
}
KITE_CANDLE_TIME: Final = "%Y-%m-%dT%H:%M:%S+0530"
_MINUTE_US: Final = 60_000_000
_IST_NAME: Final = str(IST)


def interval_minutes(interval: str) -> int:
    """Minutes of a Kite interval name (0 for ``day``); anything else is Kite's InputException."""
    minutes = INTERVAL_MINUTES.get(interval)
    if minutes is None:
        raise KiteApiError("InputException", f"invalid interval: {interval}")
    return minutes


def kite_candles(
    minute_bars: pl.DataFrame,
    interval: str,
    start: datetime,
    end: datetime,
    *,
    session_open: Callable[[date], datetime | None],
    oi: bool,
) -> list[list[object]]:
    """Kite rows ``[time, open, high, low, close, volume(, oi)]`` of one instrument.

    ``minute_bars`` is a ``CandleFrame`` of 1-minute bars of one instrument (any days, time
    order); ``session_open(day)`` gives the open of that IST day's session (None: the day's first
    bar opens it). ``oi`` adds the bucket's last open interest (0 where there is none).
    """
    minutes = interval_minutes(interval)
    if minute_bars.height == 0:
        return []
    opened = minute_bars.with_columns(
        (pl.col("ts_event").dt.epoch("us") - _MINUTE_US).alias("_open_us"),
    ).with_columns(
        pl.col("_open_us")
        .cast(pl.Datetime("us", "UTC"))
        .dt.convert_time_zone(_IST_NAME)
        .dt.date()
        .alias("_day")
    )
    if minutes == 0:
        bucket = (
            pl.col("_day").cast(pl.Datetime("us")).dt.replace_time_zone(_IST_NAME).dt.epoch("us")
        )
    else:
        opens = _session_opens(opened, session_open)
        width = minutes * _MINUTE_US
        since = pl.col("_open_us") - pl.col("_session_us")
        bucket = pl.col("_session_us") + (since // width) * width
        opened = opened.join(opens, on="_day", how="left")
    candles = (
        opened.with_columns(bucket.alias("_bucket"))
        .group_by("_bucket", maintain_order=True)
        .agg(
            pl.col("open").first(),
            pl.col("high").max(),
            pl.col("low").min(),
            pl.col("close").last(),
            pl.col("volume").sum(),
            pl.col("oi").last().fill_null(0),
        )
        .filter((pl.col("_bucket") >= epoch_us(start)) & (pl.col("_bucket") <= epoch_us(end)))
        .sort("_bucket")
        .with_columns(
            pl.col("_bucket")
            .cast(pl.Datetime("us", "UTC"))
            .dt.convert_time_zone(_IST_NAME)
            .dt.strftime(KITE_CANDLE_TIME)
            .alias("_time")
        )
    )
    columns = ["_time", "open", "high", "low", "close", "volume", *(["oi"] if oi else [])]
    return [list(row) for row in candles.select(columns).iter_rows()]


def _session_opens(
    frame: pl.DataFrame, session_open: Callable[[date], datetime | None]
) -> pl.DataFrame:
    """``_day → _session_us``: the calendar's open, else the day's first bar's open."""
    firsts = frame.group_by("_day").agg(pl.col("_open_us").min())
    days: list[date] = firsts["_day"].to_list()
    first_open: list[int] = firsts["_open_us"].to_list()
    opens = []
    for day, fallback in zip(days, first_open, strict=True):
        found = session_open(day)
        opens.append(fallback if found is None else epoch_us(found))
    return pl.DataFrame(
        {"_day": days, "_session_us": opens}, schema={"_day": pl.Date, "_session_us": pl.Int64}
    )
