"""TA-Lib's classic indicators, equal to TA-Lib after its look-back, from the compiled kernel.

:func:`classic_indicators` adds one column per indicator, in TA-Lib's units, to candles sorted by
``(instrument_token, ts_event)``; each instrument is computed on its own rows only. Rows inside an
indicator's look-back are null (TA-Lib's NaN).

The recursions are TA-Lib's exactly, including its seeding and its arithmetic:

* EMA(n): ``k = 2/(n+1)``, ``y = (x - y)·k + y``; the first value is the SMA of the first ``n``
  inputs (at row ``n-1``).
* Wilder's smoothing (RSI, ATR): ``y = (y·(n-1) + x) / n``, seeded with the SMA of the first ``n``
  inputs (the inputs start at row 1, so the first value is at row ``n``).
* ADX: +DM, -DM and TR are smoothed as Wilder *sums* ``S = S - S/n + x`` seeded with the sum of
  their first ``n-1`` values (row ``n-1``); DX exists from row ``n``; ADX is the mean of the first
  ``n`` DX (a DX TA-Lib skips counts as 0) at row ``2n-1``, then Wilder-smoothed, holding its
  value on a bar where DX is undefined.
* MACD seeds *both* EMAs at the slow EMA's first row (the fast EMA starts from the SMA of the
  ``fast`` closes ending there, so it is not TA_EMA's fast EMA), then the signal EMA on the MACD
  line from the row where that line has ``signal`` values.
* TA-Lib treats ``|x| < 1e-8`` as zero in RSI's and ADX's divisions (RSI is 0 on a flat market;
  ADX holds). So do these. Standard deviations are population ones (TA_STDDEV, ``nbdev=1``).

How it runs: :func:`models.features.kernels.advance`, a numba kernel that folds each instrument's
bars in time order into a carried state (the same kernel the streaming state advances one bar at
a time). Rolling means and deviations are recomputed from a ring buffer on every bar, so each
value depends on its own window only; deviations are two-pass (on the window shifted by its oldest
value) rather than TA-Lib's ``E[x²] - E[x]²``, which differs from TA-Lib's by its cancellation
error only (~1e-12 of the price, 0 on a flat window).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from models.features import kernels
from models.features.params import CandleFeatureParams

__all__ = ["INDICATOR_COLUMNS", "INPUT_COLUMNS", "ROW", "TALIB_ZERO", "classic_indicators"]

# TA-Lib's TA_IS_ZERO: a denominator inside (-1e-8, 1e-8) counts as zero.
TALIB_ZERO: Final = 1e-8
ROW: Final = "_row"  # the bar's 0-based position within its instrument
_BY: Final = "instrument_token"
INPUT_COLUMNS: Final = ("instrument_token", "high", "low", "close", "volume")

INDICATOR_COLUMNS: Final = (
    "ema_fast",  # TA_EMA(close, ema_fast)
    "ema_slow",  # TA_EMA(close, ema_slow)
    "macd",  # TA_MACD(close, ema_fast, ema_slow, macd_signal): macd, signal, hist
    "macd_signal",
    "macd_hist",
    "rsi",  # TA_RSI(close, rsi)
    "adx",  # TA_ADX(high, low, close, adx)
    "atr",  # TA_ATR(high, low, close, atr)
    "bb_upper",  # TA_BBANDS(close, bollinger, width, width, SMA)
    "bb_middle",
    "bb_lower",
    "zscore_mean",  # TA_SMA(close, zscore)
    "zscore_std",  # TA_STDDEV(close, zscore)
    "roc",  # TA_ROC(close, roc)
    "stddev",  # TA_STDDEV(close, stddev)
    "log_return_std",  # population std of ln(close/close[-1]) over hv bars, per bar
    "volume_mean",  # TA_SMA(volume, volume)
    "volume_std",  # TA_STDDEV(volume, volume)
)
_NO_OUTPUT: Final = np.empty((0, 0))


def instrument_starts(tokens: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Where each instrument's rows start in ``tokens`` (grouped), and the end: ``k + 1`` values."""
    changes = np.flatnonzero(tokens[1:] != tokens[:-1]) + 1
    return np.concatenate(([0], changes, [len(tokens)])).astype(np.int64)


def kernel_bars(
    frame: pl.DataFrame, minutes: npt.NDArray[np.int64] | None
) -> npt.NDArray[np.float64]:
    """The kernel's ``bars`` input of ``frame``'s Float64 ``high, low, close, volume`` and the
    bars' IST epoch minutes (zeros when the time features are not wanted)."""
    bars = np.empty((kernels.BARS, frame.height))
    for k, name in enumerate(("high", "low", "close", "volume")):
        bars[k] = frame[name].cast(pl.Float64).to_numpy()
    bars[kernels.B_MINUTE] = 0.0 if minutes is None else minutes
    return bars


def classic_indicators(candles: pl.DataFrame, p: CandleFeatureParams) -> pl.DataFrame:
    """The candles' keys and inputs, ROW, and :data:`INDICATOR_COLUMNS` in TA-Lib's units.

    ``candles`` is sorted by ``(instrument_token, ts_event)`` with Float64 ``high, low, close,
    volume``; it may carry other columns, which are passed through.
    """
    tokens = candles[_BY].to_numpy()
    starts = instrument_starts(tokens)
    states, rings = kernels.fresh_state(p, len(starts) - 1)
    out = np.empty((kernels.INDICATORS, candles.height))
    kernels.advance(
        kernel_bars(candles, None),
        starts,
        kernels.kernel_params(p, 0),
        0,
        np.empty(0),
        states,
        rings,
        out,
        _NO_OUTPUT,
    )
    lengths = np.diff(starts)
    rows = np.arange(candles.height, dtype=np.int64) - np.repeat(starts[:-1], lengths)
    return candles.with_columns(
        pl.Series(ROW, rows),
        *(pl.Series(name, out[k], nan_to_null=True) for k, name in enumerate(INDICATOR_COLUMNS)),
    )
