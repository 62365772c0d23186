"""The bounded per-instrument window of closed candles the streaming features are computed on.

The window keeps the last ``FeatureSet.warmup_bars + 1`` candles (the declared warm-up plus the
bar being decided), so a feature row computed on it equals the batch feature row of that bar (the
feature definition's warm-up contract, ``docs/features.md``). It is prefilled from history at
start-up (the lake, or Kite's historical API), so decisions start at the first live bar.

The bars live in numpy buffers twice the window's size: appending writes the next slot and, when
the buffer is full, moves the last window to the front (amortised O(1)); the frame the features
read is built from array slices, not from Python objects.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from data_contracts.errors import ContractError
from data_contracts.market import Candle
from data_contracts.schemas import CANDLE_SCHEMA
from models.features import FeatureSet

__all__ = ["CandleWindow"]

_PRICES: Final = ("open", "high", "low", "close")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)


class CandleWindow:
    """The last ``size`` closed candles of one instrument, in time order (columnar)."""

    __slots__ = ("_end", "_prices", "_size", "_start", "_token", "_ts", "_volume")

    def __init__(self, instrument_token: int, size: int) -> None:
        if size < 1:
            raise ContractError("CandleWindow", "size", size, "must be >= 1")
        self._token = instrument_token
        self._size = size
        self._ts: npt.NDArray[np.int64] = np.zeros(2 * size, dtype=np.int64)  # close, µs epoch
        self._prices: npt.NDArray[np.float64] = np.zeros((len(_PRICES), 2 * size))
        self._volume: npt.NDArray[np.int64] = np.zeros(2 * size, dtype=np.int64)
        self._start = 0
        self._end = 0

    def __len__(self) -> int:
        return self._end - self._start

    @property
    def last_close_at(self) -> datetime | None:
        if not len(self):
            return None
        return _EPOCH + int(self._ts[self._end - 1]) * _MICROSECOND

    @property
    def full(self) -> bool:
        return len(self) == self._size

    def append(self, candle: Candle) -> bool:
        """Add a closed candle; False (and nothing added) when it is not after the last one."""
        stamp = (candle.ts_event - _EPOCH) // _MICROSECOND
        if len(self) and stamp <= self._ts[self._end - 1]:
            return False
        self._push(stamp, (candle.open, candle.high, candle.low, candle.close), candle.volume)
        return True

    def prefill(self, candles: pl.DataFrame) -> int:
        """Add history (a CandleFrame of this instrument, any order) before any live candle;
        returns how many bars were taken (the latest ``size``)."""
        if len(self):
            raise ContractError("CandleWindow", "prefill", len(self), "must come before any candle")
        rows = candles.filter(pl.col("instrument_token") == self._token).sort("ts_event")
        rows = rows.tail(self._size)
        n = rows.height
        self._ts[:n] = rows["ts_event"].dt.epoch("us").to_numpy()
        for k, name in enumerate(_PRICES):
            self._prices[k, :n] = rows[name].cast(pl.Float64).to_numpy()
        self._volume[:n] = rows["volume"].fill_null(0).cast(pl.Int64).to_numpy()
        self._start, self._end = 0, n
        return n

    def frame(self) -> pl.DataFrame:
        """The window as a CandleFrame-shaped frame (the columns the features read)."""
        window = slice(self._start, self._end)
        columns: dict[str, object] = {
            "instrument_token": np.full(len(self), self._token, dtype=np.int64),
            "ts_event": pl.Series(self._ts[window])
            .cast(pl.Datetime("us"))
            .dt.replace_time_zone("UTC"),
        }
        for k, name in enumerate(_PRICES):
            columns[name] = self._prices[k, window]
        columns["volume"] = self._volume[window]
        names = ("instrument_token", "ts_event", *_PRICES, "volume")
        return pl.DataFrame(columns, schema={name: CANDLE_SCHEMA[name] for name in names})

    def latest_features(self, feature_set: FeatureSet) -> pl.DataFrame | None:
        """The feature row of the newest bar (one row), or None while the window is short of the
        feature set's warm-up."""
        if len(self) <= feature_set.warmup_bars:
            return None
        row = feature_set.latest(self.frame())
        return row if row.height else None

    def _push(self, stamp: int, prices: tuple[float, float, float, float], volume: int) -> None:
        if self._end == len(self._ts):  # full: keep the newest size - 1 bars at the front
            keep = slice(self._end - self._size + 1, self._end)
            kept = self._size - 1
            self._ts[:kept] = self._ts[keep]
            self._prices[:, :kept] = self._prices[:, keep]
            self._volume[:kept] = self._volume[keep]
            self._start, self._end = 0, kept
        self._ts[self._end] = stamp
        self._prices[:, self._end] = prices
        self._volume[self._end] = volume
        self._end += 1
        self._start = max(self._start, self._end - self._size)
