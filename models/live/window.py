"""The bounded per-instrument window of closed candles the streaming features are computed on.

The window keeps the last ``FeatureSet.warmup_bars + 1`` candles (the declared warm-up plus the
bar being decided), so a feature row computed on it equals the batch feature row of that bar (the
feature definition's warm-up contract, ``docs/features.md``). It is prefilled from history at
start-up (the lake, or Kite's historical API), so decisions start at the first live bar.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime

import polars as pl

from data_contracts.errors import ContractError
from data_contracts.market import Candle
from data_contracts.schemas import CANDLE_SCHEMA
from models.features import FeatureSet

__all__ = ["CandleWindow"]

_COLUMNS = ("ts_event", "open", "high", "low", "close", "volume")


class CandleWindow:
    """The last ``size`` closed candles of one instrument, in time order (columnar)."""

    __slots__ = ("_columns", "_size", "_token")

    def __init__(self, instrument_token: int, size: int) -> None:
        if size < 1:
            raise ContractError("CandleWindow", "size", size, "must be >= 1")
        self._token = instrument_token
        self._size = size
        self._columns: dict[str, deque[object]] = {c: deque(maxlen=size) for c in _COLUMNS}

    def __len__(self) -> int:
        return len(self._columns["ts_event"])

    @property
    def last_close_at(self) -> datetime | None:
        stamps = self._columns["ts_event"]
        return stamps[-1] if stamps else None  # type: ignore[return-value]  # only datetimes go in

    @property
    def full(self) -> bool:
        return len(self) == self._size

    def append(self, candle: Candle) -> bool:
        """Add a closed candle; False (and nothing added) when it is not after the last one."""
        last = self.last_close_at
        if last is not None and candle.ts_event <= last:
            return False
        for name in _COLUMNS:
            self._columns[name].append(getattr(candle, name))
        return True

    def prefill(self, candles: pl.DataFrame) -> int:
        """Add history (a CandleFrame of this instrument, any order) before any live candle;
        returns how many bars were taken (the latest ``size``)."""
        if len(self):
            raise ContractError("CandleWindow", "prefill", len(self), "must come before any candle")
        rows = candles.filter(pl.col("instrument_token") == self._token).sort("ts_event")
        rows = rows.tail(self._size)
        for name in _COLUMNS:
            self._columns[name].extend(rows[name].to_list())
        return rows.height

    def frame(self) -> pl.DataFrame:
        """The window as a CandleFrame-shaped frame (the columns the features read)."""
        columns: dict[str, list[object]] = {"instrument_token": [self._token] * len(self)}
        columns.update({name: list(values) for name, values in self._columns.items()})
        return pl.DataFrame(
            columns,
            schema={name: CANDLE_SCHEMA[name] for name in ("instrument_token", *_COLUMNS)},
        )

    def latest_features(self, feature_set: FeatureSet) -> pl.DataFrame | None:
        """The feature row of the newest bar (one row), or None while the window is short of the
        feature set's warm-up."""
        if len(self) <= feature_set.warmup_bars:
            return None
        row = feature_set.latest(self.frame())
        return row if row.height else None
