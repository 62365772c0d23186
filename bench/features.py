"""Benchmark: the candle feature build (numba kernel) against TA-Lib computing the same features.

Default size: 220 instruments x 94,500 one-minute bars (252 sessions x 375 minutes, about one year
of the F&O stock universe) = 20.8 M rows. Configure with arguments or the environment::

    python -m bench.features [instruments] [bars_per_instrument] [repeats]
    KITEPILOT_BENCH_INSTRUMENTS=20 KITEPILOT_BENCH_BARS=50000 python -m bench.features

The TA-Lib side is a fair equivalent: per instrument (contiguous slices of the same sorted frame)
it calls TA-Lib's C functions, derives the same columns with numpy, and returns the same polars
frame; the two results are compared after warm-up before the times are printed. Target (issue
#3): our build takes at most 2x TA-Lib's time.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import platform
import sys
import time
from collections.abc import Callable

import numpy as np
import polars as pl

from data_contracts.nse_calendar import NseCalendar
from data_contracts.schemas import UTC_TIMESTAMP
from models.features import CANDLE_FEATURES, FeatureSet, trading_days_to_expiry
from models.option_math import black76_price

DEFAULT_INSTRUMENTS = 220
DEFAULT_BARS = 252 * 375
DEFAULT_REPEATS = 5
_MINUTE_US = 60_000_000


def synthetic_candles(instruments: int, bars: int, seed: int = 7) -> pl.DataFrame:
    """Random-walk 1-minute candles on real NSE sessions, sorted by (instrument, time)."""
    rng = np.random.default_rng(seed)
    closes_us = _session_minutes(bars)
    tokens = (np.arange(1, instruments + 1, dtype=np.int64) * 256) + 1
    parts = []
    for token in tokens:
        base = rng.uniform(50.0, 5000.0)
        close = base * np.exp(np.cumsum(rng.normal(0.0, 0.0008, bars)))
        open_ = np.concatenate(([close[0]], close[:-1])) * np.exp(rng.normal(0.0, 0.0002, bars))
        high = np.maximum(open_, close) * (1.0 + np.abs(rng.normal(0.0, 0.0005, bars)))
        low = np.minimum(open_, close) * (1.0 - np.abs(rng.normal(0.0, 0.0005, bars)))
        parts.append(
            pl.DataFrame(
                {
                    "instrument_token": np.full(bars, token, dtype=np.int64),
                    "ts_event": closes_us,
                    "open": open_,
                    "high": high,
                    "low": low,
                    "close": close,
                    "volume": rng.integers(0, 100_000, bars, dtype=np.int64),
                }
            )
        )
    return pl.concat(parts, rechunk=True).with_columns(
        pl.col("ts_event").cast(pl.Datetime("us")).dt.replace_time_zone("UTC").cast(UTC_TIMESTAMP),
        pl.lit(None, dtype=pl.Int64).alias("oi"),
    )


def synthetic_option_prices(rows: int, seed: int = 7) -> tuple[np.ndarray, ...]:
    """``(price, forward, strike, t, is_call, discount)`` arrays priced by Black-76."""
    rng = np.random.default_rng(seed)
    forward = rng.uniform(100.0, 50_000.0, rows)
    strike = forward * rng.uniform(0.8, 1.2, rows)
    t = rng.uniform(1.0 / 365.0, 0.25, rows)
    is_call = rng.random(rows) < 0.5
    discount = np.exp(-0.065 * t)
    price = black76_price(forward, strike, t, rng.uniform(0.08, 0.6, rows), is_call, discount)
    return price, forward, strike, t, is_call, discount


def _session_minutes(bars: int) -> np.ndarray:
    """Bar close times (epoch microseconds) of consecutive regular NSE sessions from 2025."""
    calendar = NseCalendar.default()
    closes: list[int] = []
    day = dt.date(2025, 1, 1)
    while len(closes) < bars:
        session = calendar.session(day)
        if session is not None and session.is_trading_day:
            first = int(session.open.timestamp()) * 1_000_000 + _MINUTE_US
            last = int(session.close.timestamp()) * 1_000_000
            closes.extend(range(first, last + 1, _MINUTE_US))
        day += dt.timedelta(days=1)
    return np.asarray(closes[:bars], dtype=np.int64)


def talib_features(candles: pl.DataFrame, features: FeatureSet) -> pl.DataFrame:
    """The same feature frame as ``features.build``, from TA-Lib's C functions and numpy."""
    import talib  # a test dependency: `python -m bench` runs without it

    p = features.params
    token = candles["instrument_token"].to_numpy()
    high = candles["high"].to_numpy()
    low = candles["low"].to_numpy()
    close = candles["close"].to_numpy()
    volume = candles["volume"].to_numpy().astype(np.float64)
    starts = np.flatnonzero(np.concatenate(([True], token[1:] != token[:-1])))
    ends = np.concatenate((starts[1:], [len(token)]))
    columns = {name: np.empty(len(token)) for name in features.columns[:15]}
    for start, end in zip(starts, ends, strict=True):
        h, lo, c, v = high[start:end], low[start:end], close[start:end], volume[start:end]
        macd, signal, hist = talib.MACD(c, p.ema_fast, p.ema_slow, p.macd_signal)
        upper, _, lower = talib.BBANDS(c, p.bollinger, p.bollinger_width, p.bollinger_width)
        band = upper - lower
        z_std = talib.STDDEV(c, p.zscore, 1.0)
        log_return = np.concatenate(([np.nan], np.log(c[1:] / c[:-1])))
        v_mean = talib.SMA(v, p.volume)
        v_std = talib.STDDEV(v, p.volume, 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            values = (
                c / talib.EMA(c, p.ema_fast) - 1.0,
                c / talib.EMA(c, p.ema_slow) - 1.0,
                macd / c,
                signal / c,
                hist / c,
                talib.RSI(c, p.rsi),
                talib.ADX(h, lo, c, p.adx),
                np.where(band > 0.0, (c - lower) / band, 0.5),
                np.where(z_std > 0.0, (c - talib.SMA(c, p.zscore)) / z_std, 0.0),
                talib.ROC(c, p.roc),
                talib.ATR(h, lo, c, p.atr) / c,
                talib.STDDEV(c, p.stddev, 1.0) / c,
                np.sqrt(np.maximum(talib.VAR(log_return, p.hv, 1.0), 0.0))
                * math.sqrt(p.bars_per_year),
                np.where(v_mean > 0.0, v / v_mean, 1.0),
                np.where(v_std > 0.0, (v - v_mean) / v_std, 0.0),
            )
        for name, value in zip(features.columns, values, strict=False):
            columns[name][start:end] = value
    return pl.DataFrame(
        {
            "instrument_token": token,
            "ts_event": candles["ts_event"],
            "feature_version": features.version,
            **columns,
            **_numpy_time_features(candles, features.calendar),
        }
    )


def _numpy_time_features(candles: pl.DataFrame, calendar: NseCalendar) -> dict[str, np.ndarray]:
    minutes = candles["ts_event"].dt.epoch("us").to_numpy() // _MINUTE_US + 330  # IST wall clock
    day = minutes // 1440
    days, inverse = np.unique(day, return_inverse=True)
    epoch = dt.date(1970, 1, 1)
    to_expiry = np.array(
        [trading_days_to_expiry(calendar, epoch + dt.timedelta(days=int(d))) for d in days]
    )
    return {
        "minute_of_day": (minutes % 1440 - 555).astype(np.float64),
        "day_of_week": ((day + 3) % 7).astype(np.float64),
        "days_to_expiry": to_expiry[inverse].astype(np.float64),
    }


def _best_interleaved(
    works: list[Callable[[], pl.DataFrame]], repeats: int
) -> list[tuple[float, pl.DataFrame]]:
    """Best wall time of each work, the works taking turns (so a busy spell hits both)."""
    best = [math.inf] * len(works)
    results = [pl.DataFrame()] * len(works)
    for _ in range(repeats):
        for i, work in enumerate(works):
            results[i] = pl.DataFrame()  # free the last result first: 20 M rows x 21 columns
            started = time.perf_counter()
            results[i] = work()
            best[i] = min(best[i], time.perf_counter() - started)
    return list(zip(best, results, strict=True))


def _largest_gap(ours: pl.DataFrame, theirs: pl.DataFrame, features: FeatureSet) -> float:
    """The largest difference after warm-up, relative to max(|TA-Lib value|, 1)."""
    a = features.drop_warmup(ours)
    b = features.drop_warmup(theirs)
    gaps = a.select(
        ((pl.col(n) - b[n]).abs() / b[n].abs().clip(lower_bound=1.0)).max()
        for n in features.columns
    )
    return float(gaps.max_horizontal().item() or 0.0)


def _setting(argv: list[str], index: int, variable: str, default: int) -> int:
    if len(argv) > index:
        return int(argv[index])
    return int(os.environ.get(variable, default))


def main(argv: list[str]) -> None:
    instruments = _setting(argv, 0, "KITEPILOT_BENCH_INSTRUMENTS", DEFAULT_INSTRUMENTS)
    bars = _setting(argv, 1, "KITEPILOT_BENCH_BARS", DEFAULT_BARS)
    repeats = _setting(argv, 2, "KITEPILOT_BENCH_REPEATS", DEFAULT_REPEATS)
    features = CANDLE_FEATURES
    candles = synthetic_candles(instruments, bars)
    print(
        f"feature build: {instruments} instruments x {bars:,} bars = {candles.height:,} rows, "
        f"{len(features.columns)} features ({features.version})\n"
        f"Python {platform.python_version()}, polars {pl.__version__} "
        f"({pl.thread_pool_size()} threads), {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f}; best of {repeats}, taking turns"
    )
    (ours_seconds, ours), (talib_seconds, theirs) = _best_interleaved(
        [lambda: features.build(candles), lambda: talib_features(candles, features)], repeats
    )
    rows = candles.height
    print(f"  FeatureSet.build (numba): {ours_seconds:7.2f} s ({rows / ours_seconds:,.0f} rows/s)")
    print(
        f"  TA-Lib + numpy          : {talib_seconds:7.2f} s ({rows / talib_seconds:,.0f} rows/s)"
    )
    print(f"  ratio ours / TA-Lib     : {ours_seconds / talib_seconds:7.2f}   (target <= 2.00)")
    print(f"  largest difference after warm-up: {_largest_gap(ours, theirs, features):.1e}")


if __name__ == "__main__":
    main(sys.argv[1:])
