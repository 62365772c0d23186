"""One instrument's streaming feature state: the closed candles folded into the feature kernel.

A :class:`CandleWindow` carries the instrument's :class:`~models.features.FeatureState` from bar
to bar: appending a closed candle is one O(1) kernel update (no window of bars is rebuilt), and
the row it gives is, bit for bit, the batch build's row for that bar over the bars folded in
since the prefill. It is prefilled from history at start-up (the lake, or Kite's historical API:
the last ``warmup_bars + 1`` bars), so decisions start at the first live bar, and from the
prefill on its rows equal the batch feature table's to the warm-up contract (1e-9,
``docs/features.md``).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from data_contracts.errors import ContractError
from data_contracts.market import Candle
from models.features import FeatureSet, FeatureState

__all__ = ["CandleWindow", "load_feature_kernel"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)


class CandleWindow:
    """The feature state of one instrument's closed candles, in time order."""

    __slots__ = ("_state", "_token")

    def __init__(self, instrument_token: int, feature_set: FeatureSet) -> None:
        self._token = instrument_token
        self._state: FeatureState = feature_set.stream_state()

    def __len__(self) -> int:
        """Bars folded in so far."""
        return self._state.rows

    @property
    def last_close_at(self) -> datetime | None:
        stamp = self._state.last_event_us
        return None if stamp is None else _EPOCH + stamp * _MICROSECOND

    @property
    def ready(self) -> bool:
        """Past the feature set's warm-up: :meth:`latest_features` has a row."""
        return self._state.ready

    def append(self, candle: Candle) -> bool:
        """Fold in a closed candle; False (and nothing folded in) when it is not after the last."""
        last = self._state.last_event_us
        if last is not None and (candle.ts_event - _EPOCH) // _MICROSECOND <= last:
            return False
        self._state.update(
            candle.ts_event, candle.high, candle.low, candle.close, float(candle.volume)
        )
        return True

    def prefill(self, candles: pl.DataFrame) -> int:
        """Fold in history (a CandleFrame; this instrument's rows are taken, in time order)
        before any live candle; returns how many bars were taken."""
        if len(self):
            raise ContractError("CandleWindow", "prefill", len(self), "must come before any candle")
        return self._state.extend(candles.filter(pl.col("instrument_token") == self._token))

    def latest_features(self) -> npt.NDArray[np.float64] | None:
        """The newest bar's feature row (``feature_set.columns`` order), or None while the
        state is short of the feature set's warm-up."""
        return self._state.row


def load_feature_kernel(feature_set: FeatureSet, at: datetime) -> None:
    """Load the compiled feature kernel into this process now (numba's cached machine code:
    ~0.2-0.3 s at its first call in a process) — not at the first bar decided, whose latency
    it would otherwise carry. One bar closing at ``at`` (a market time, so the calendar knows
    its day) is folded into a scratch state of a copy of ``feature_set`` (its own expiry table:
    nothing of ``feature_set`` changes)."""
    dataclasses.replace(feature_set).stream_state().update(at, 1.0, 1.0, 1.0, 0.0)
