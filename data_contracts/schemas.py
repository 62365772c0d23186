"""Frame contracts (pandera on polars) for the tables that cross layer boundaries.

Timestamps are ``Datetime(us, UTC)``; a candle row's ``ts_event`` is the bar's close. Feature and
label tables are keyed by ``(instrument_token, ts_event)``; the feature columns themselves are
declared by the feature set in ``models``, so the feature schema checks only keys and values.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import ClassVar, Final

import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData

__all__ = [
    "CANDLE_SCHEMA",
    "OPTION_CHAIN_SCHEMA",
    "UTC_TIMESTAMP",
    "CandleFrame",
    "FeatureFrame",
    "LabelFrame",
    "TickFrame",
    "ist_date",
]

UTC_TIMESTAMP = pl.Datetime(time_unit="us", time_zone="UTC")
_KEY_COLUMNS = ("instrument_token", "ts_event")


def ist_date(column: str = "ts_event") -> pl.Expr:
    """The IST calendar date (the NSE trading day) of a UTC timestamp column; the lake partitions
    market data by it."""
    return pl.col(column).dt.convert_time_zone("Asia/Kolkata").dt.date()


CANDLE_SCHEMA: Final[Mapping[str, pl.DataType]] = MappingProxyType(
    {
        "instrument_token": pl.Int64(),
        "ts_event": UTC_TIMESTAMP,
        "open": pl.Float64(),
        "high": pl.Float64(),
        "low": pl.Float64(),
        "close": pl.Float64(),
        "volume": pl.Int64(),
        "oi": pl.Int64(),
    }
)
"""The column dtypes of a ``CandleFrame``, in order (for building or casting frames)."""

OPTION_CHAIN_SCHEMA: Final[Mapping[str, pl.DataType]] = MappingProxyType(
    {
        "ts_event": UTC_TIMESTAMP,
        "underlying_token": pl.Int64(),
        "instrument_token": pl.Int64(),
        "tradingsymbol": pl.String(),
        "expiry": pl.Date(),
        "strike": pl.Float64(),
        "option_type": pl.String(),
        "last_price": pl.Float64(),
        "bid": pl.Float64(),
        "ask": pl.Float64(),
        "oi": pl.Int64(),
        "volume": pl.Int64(),
    }
)
"""An option-chain snapshot's columns, as every source returns them (one row per contract and
snapshot; ``volume`` is the day's cumulative traded quantity, ``oi`` in units)."""


class TickFrame(pa.DataFrameModel):
    """Validated ticks: positive prices, non-negative sizes, never a crossed book."""

    instrument_token: pl.Int64 = pa.Field(gt=0)
    ts_event: UTC_TIMESTAMP  # type: ignore[valid-type]  # a polars dtype instance is pandera's idiom
    ts_init: UTC_TIMESTAMP  # type: ignore[valid-type]
    last_price: pl.Float64 = pa.Field(gt=0)
    last_quantity: pl.Int64 = pa.Field(ge=0)
    volume: pl.Int64 = pa.Field(ge=0)
    bid: pl.Float64 = pa.Field(gt=0, nullable=True)
    ask: pl.Float64 = pa.Field(gt=0, nullable=True)
    bid_quantity: pl.Int64 = pa.Field(ge=0)
    ask_quantity: pl.Int64 = pa.Field(ge=0)
    oi: pl.Int64 = pa.Field(ge=0, nullable=True)

    class Config:
        strict = True

    @pa.dataframe_check(error="prices must be finite")
    def prices_finite(cls, data: PolarsData) -> pl.LazyFrame:
        # Nulls (a missing side of the book) are allowed; NaN and infinities never are.
        return data.lazyframe.select(
            pl.all_horizontal(
                pl.col("last_price").is_finite(),
                pl.col("bid").is_finite().fill_null(value=True),
                pl.col("ask").is_finite().fill_null(value=True),
            )
        )

    @pa.dataframe_check(error="bid must be <= ask (crossed book)")
    def book_not_crossed(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            pl.col("bid").is_null() | pl.col("ask").is_null() | (pl.col("bid") <= pl.col("ask"))
        )


class CandleFrame(pa.DataFrameModel):
    """Validated OHLCV bars: one row per instrument and close time, consistent OHLC."""

    instrument_token: pl.Int64 = pa.Field(gt=0)
    ts_event: UTC_TIMESTAMP  # type: ignore[valid-type]
    open: pl.Float64 = pa.Field(gt=0)
    high: pl.Float64 = pa.Field(gt=0)
    low: pl.Float64 = pa.Field(gt=0)
    close: pl.Float64 = pa.Field(gt=0)
    volume: pl.Int64 = pa.Field(ge=0)
    oi: pl.Int64 = pa.Field(ge=0, nullable=True)

    class Config:
        strict = True
        unique: ClassVar[list[str]] = list(_KEY_COLUMNS)

    @pa.dataframe_check(error="high must be >= open, close and low")
    def high_is_highest(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("high") >= pl.max_horizontal("open", "close", "low"))

    @pa.dataframe_check(error="low must be <= open and close")
    def low_is_lowest(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("low") <= pl.min_horizontal("open", "close"))

    @pa.dataframe_check(error="prices must be finite")
    def prices_finite(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            pl.all_horizontal(pl.col("open", "high", "low", "close").is_finite())
        )


class FeatureFrame(pa.DataFrameModel):
    """A feature table: keys, the feature-set version, then only finite, non-null float features.

    Rows inside a feature set's warm-up are dropped before this table is written, so a null here
    means a bug, not a cold start.
    """

    instrument_token: pl.Int64 = pa.Field(gt=0)
    ts_event: UTC_TIMESTAMP  # type: ignore[valid-type]
    feature_version: pl.String = pa.Field(str_length={"min_value": 1})

    class Config:
        strict = False  # feature columns are declared by the feature set, not here
        unique: ClassVar[list[str]] = list(_KEY_COLUMNS)

    @pa.dataframe_check(error="feature columns must be Float64, finite and non-null")
    def features_finite(cls, data: PolarsData) -> pl.LazyFrame:
        frame = data.lazyframe
        schema = frame.collect_schema()
        names = [n for n in schema.names() if n not in _FEATURE_KEYS]
        if any(schema[n] != pl.Float64 for n in names):
            return frame.select(pl.lit(value=False))  # a string or bool "feature" is a bug
        if not names:
            return frame.select(pl.lit(value=True))
        return frame.select(
            pl.all_horizontal([pl.col(n).is_finite().fill_null(value=False) for n in names])
        )


_FEATURE_KEYS = frozenset({*_KEY_COLUMNS, "feature_version"})


class LabelFrame(pa.DataFrameModel):
    """Fee-aware labels: the net outcome of the trade the strategy would take at ``ts_event``.

    ``exit_ts`` is when that trade ends (the label's look-ahead window is ``(ts_event, exit_ts]``);
    ``win`` is exactly ``net_pnl > 0``.
    """

    instrument_token: pl.Int64 = pa.Field(gt=0)
    ts_event: UTC_TIMESTAMP  # type: ignore[valid-type]
    exit_ts: UTC_TIMESTAMP  # type: ignore[valid-type]
    net_pnl: pl.Float64
    net_return_pct: pl.Float64
    charges: pl.Float64 = pa.Field(ge=0)
    win: pl.Boolean

    class Config:
        strict = False  # strategies may add diagnostic columns (exit reason, entry price)
        unique: ClassVar[list[str]] = list(_KEY_COLUMNS)

    @pa.dataframe_check(error="exit_ts must be after ts_event")
    def exit_after_entry(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("exit_ts") > pl.col("ts_event"))

    @pa.dataframe_check(error="win must equal net_pnl > 0")
    def win_matches_pnl(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("win") == (pl.col("net_pnl") > 0))

    @pa.dataframe_check(error="net_pnl, net_return_pct and charges must be finite")
    def outcomes_finite(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            pl.all_horizontal(pl.col("net_pnl", "net_return_pct", "charges").is_finite())
        )
