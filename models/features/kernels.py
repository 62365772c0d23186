"""The candle feature definition as one compiled, sequential kernel (numba).

:func:`advance` folds bars into an instrument's **state** — a float64 vector (the recursions and
their seed accumulators, the previous bar) and three ring buffers (closes, log returns, volumes)
— and writes, for each bar, the TA-Lib-unit indicators (:data:`INDICATORS`, the order of
``indicators.INDICATOR_COLUMNS``) and/or the feature columns (:data:`FEATURES`, the order of
``FeatureSet.columns``). Batch (every instrument of a frame, each from a fresh state) and
streaming (one bar at a time, from the carried state) call this same function, so:

* running rows ``[0, n)`` and then ``[n, m)`` from the carried state gives the same bits as
  running ``[0, m)`` at once (the kernel is a left-to-right fold; nothing depends on where a call
  starts);
* rolling means and deviations are recomputed from the ring buffer on every bar (no running
  add/subtract sums), so each value depends on its own window only: deleting later bars changes
  nothing before them, and an instrument alone equals the instrument among others.

The recursions are TA-Lib's, in TA-Lib's arithmetic (see ``models/features/indicators.py``):
EMA ``y = (x - y)·k + y`` seeded with the SMA of the first ``n`` inputs; Wilder averages (RSI,
ATR) ``y = (y·(n-1) + x) / n`` seeded with the mean of inputs 1..n; ADX's Wilder *sums*
``S = S - S/n + x`` seeded with the sum of inputs 1..n-1, DX from bar ``n``, ADX the mean of the
first ``n`` DX (a DX TA-Lib skips counts as 0) then ``(ADX·(n-1) + DX) / n``, holding on a bar
without DX; MACD seeds both EMAs on the slow EMA's first bar; ``|x| < 1e-8`` is zero in RSI's and
ADX's divisions. Window means are left-to-right sums over ``n``; deviations are population ones,
computed two-pass on the window shifted by its oldest value (exact 0 for a flat window).

Every array argument is C-contiguous and writable with a fixed dtype, so the kernel has one
compiled signature (``cache=True``: compiled once per machine, then loaded from
``__pycache__``).
"""

from __future__ import annotations

import math
from typing import Final

import numba
import numpy as np
import numpy.typing as npt

from models.features.params import CandleFeatureParams

__all__ = [
    "BARS",
    "FEATURES",
    "INDICATORS",
    "RINGS",
    "STATE",
    "S_ROWS",
    "advance",
    "fresh_state",
    "kernel_params",
]

# Rows of the ``bars`` input: one column per bar.
B_HIGH, B_LOW, B_CLOSE, B_VOLUME, B_MINUTE = range(5)  # B_MINUTE: IST wall-clock epoch minute
BARS: Final = 5

# The parameter vector (kernel_params).
(
    P_EMA_FAST,
    P_EMA_SLOW,
    P_SIGNAL,
    P_RSI,
    P_ADX,
    P_ATR,
    P_BOLLINGER,
    P_WIDTH,
    P_ZSCORE,
    P_ROC,
    P_STDDEV,
    P_HV,
    P_VOLUME,
    P_SQRT_YEAR,
    P_OPEN_MINUTE,
    P_CLOSE_RING,
) = range(16)
PARAMS: Final = 16

# The state vector: bars folded in, the previous bar, recursions and seed accumulators.
(
    S_ROWS,
    S_HIGH,
    S_LOW,
    S_CLOSE,
    S_EMA_FAST,
    S_EMA_SLOW,
    S_MACD_FAST,
    S_SIGNAL,
    S_SIGNAL_SUM,
    S_GAIN,
    S_LOSS,
    S_ATR,
    S_PLUS_DM,
    S_MINUS_DM,
    S_TR,
    S_DX_SUM,
    S_ADX,
) = range(17)
STATE: Final = 17

# Ring buffers, each written twice (slot k and k + length) so a window is one contiguous slice.
R_CLOSE, R_LOG_RETURN, R_VOLUME = range(3)
RINGS: Final = 3

# Indicator outputs, in indicators.INDICATOR_COLUMNS order.
(
    I_EMA_FAST,
    I_EMA_SLOW,
    I_MACD,
    I_MACD_SIGNAL,
    I_MACD_HIST,
    I_RSI,
    I_ADX,
    I_ATR,
    I_BB_UPPER,
    I_BB_MIDDLE,
    I_BB_LOWER,
    I_ZSCORE_MEAN,
    I_ZSCORE_STD,
    I_ROC,
    I_STDDEV,
    I_LOG_RETURN_STD,
    I_VOLUME_MEAN,
    I_VOLUME_STD,
) = range(18)
INDICATORS: Final = 18
# Feature outputs: FeatureSet.columns order (15 candle features, then the 3 time features).
FEATURES: Final = 18

_ZERO: Final = 1e-8  # TA-Lib's TA_IS_ZERO bound
_MINUTES_PER_DAY: Final = 1440
_EPOCH_WEEKDAY: Final = 3  # 1970-01-01 was a Thursday (Monday = 0)


def _close_ring(p: CandleFeatureParams) -> int:
    """Closes kept: the longest close window, ROC's lag, the slow EMA's seed."""
    return max(p.bollinger, p.zscore, p.stddev, p.roc + 1, p.ema_slow)


def kernel_params(p: CandleFeatureParams, open_minute: int) -> npt.NDArray[np.float64]:
    """The parameter vector :func:`advance` reads (``open_minute``: the session's opening minute
    of the IST day, 555 for 09:15)."""
    values = np.zeros(PARAMS)
    values[P_EMA_FAST] = p.ema_fast
    values[P_EMA_SLOW] = p.ema_slow
    values[P_SIGNAL] = p.macd_signal
    values[P_RSI] = p.rsi
    values[P_ADX] = p.adx
    values[P_ATR] = p.atr
    values[P_BOLLINGER] = p.bollinger
    values[P_WIDTH] = p.bollinger_width
    values[P_ZSCORE] = p.zscore
    values[P_ROC] = p.roc
    values[P_STDDEV] = p.stddev
    values[P_HV] = p.hv
    values[P_VOLUME] = p.volume
    values[P_SQRT_YEAR] = math.sqrt(p.bars_per_year)
    values[P_OPEN_MINUTE] = open_minute
    values[P_CLOSE_RING] = _close_ring(p)
    return values


def fresh_state(
    p: CandleFeatureParams, instruments: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Zeroed ``(states, rings)`` for ``instruments`` instruments: shapes ``(k, STATE)`` and
    ``(k, RINGS, 2·longest ring)``."""
    longest = max(_close_ring(p), p.hv, p.volume)
    return np.zeros((instruments, STATE)), np.zeros((instruments, RINGS, 2 * longest))


@numba.njit(cache=True, nogil=True)
def _push(ring: npt.NDArray[np.float64], length: int, row: int, value: float) -> None:
    slot = row % length
    ring[slot] = value
    ring[slot + length] = value


@numba.njit(cache=True, nogil=True)
def _window(
    ring: npt.NDArray[np.float64], length: int, row: int, n: int
) -> npt.NDArray[np.float64]:
    """The ``n`` values ending at ``row``, oldest first (a view)."""
    start = (row - n + 1) % length
    return ring[start : start + n]


@numba.njit(cache=True, nogil=True)
def _sum(values: npt.NDArray[np.float64]) -> float:
    """Left to right, like TA-Lib's seeds and sums."""
    total = 0.0
    for x in values:
        total += x
    return total


@numba.njit(cache=True, nogil=True)
def _std(values: npt.NDArray[np.float64]) -> float:
    """Population standard deviation, two-pass on the values shifted by the first one."""
    n = values.shape[0]
    first = values[0]
    shifted = 0.0
    for x in values:
        shifted += x - first
    mean = shifted / n
    squares = 0.0
    for x in values:
        d = (x - first) - mean
        squares += d * d
    return math.sqrt(squares / n)


@numba.njit(cache=True, nogil=True)
def _is_zero(x: float) -> bool:
    return -_ZERO < x < _ZERO


@numba.njit(cache=True, nogil=True)
def _ratio(numerator: float, denominator: float, flat: float) -> float:
    """``numerator / denominator``, or ``flat`` where the denominator is not > 0 (a flat window,
    or NaN inside the look-back)."""
    return numerator / denominator if denominator > 0.0 else flat


@numba.njit(cache=True, nogil=True)
def _step(  # noqa: C901 - one bar of every indicator, kept in one place on purpose
    high: float,
    low: float,
    close: float,
    volume: float,
    p: npt.NDArray[np.float64],
    s: npt.NDArray[np.float64],
    rings: npt.NDArray[np.float64],
    out: npt.NDArray[np.float64],
) -> None:
    """Fold one bar into ``s``/``rings`` and write its indicators into ``out`` (NaN inside an
    indicator's look-back)."""
    nan = np.nan
    fast, slow, nsig = int(p[P_EMA_FAST]), int(p[P_EMA_SLOW]), int(p[P_SIGNAL])
    nrsi, nadx, natr = int(p[P_RSI]), int(p[P_ADX]), int(p[P_ATR])
    nbb, nz, nroc, nstd = int(p[P_BOLLINGER]), int(p[P_ZSCORE]), int(p[P_ROC]), int(p[P_STDDEV])
    nhv, nvol, lc = int(p[P_HV]), int(p[P_VOLUME]), int(p[P_CLOSE_RING])
    t = int(s[S_ROWS])
    closes, returns, volumes = rings[R_CLOSE], rings[R_LOG_RETURN], rings[R_VOLUME]
    _push(closes, lc, t, close)
    _push(volumes, nvol, t, volume)
    out[:] = nan

    # Inputs from the previous bar (from bar 1 on).
    tr = gain = loss = plus_dm = minus_dm = 0.0
    if t >= 1:
        prev_close, prev_high, prev_low = s[S_CLOSE], s[S_HIGH], s[S_LOW]
        tr = max(high, prev_close) - min(low, prev_close)
        change = close - prev_close
        if change < 0.0:
            loss = -change
        else:
            gain = change
        _push(returns, nhv, t, math.log(close / prev_close))
        up, down = high - prev_high, prev_low - low
        if down > 0.0 and up < down:
            minus_dm = down
        elif up > 0.0 and up > down:
            plus_dm = up
    s[S_HIGH], s[S_LOW], s[S_CLOSE] = high, low, close

    # EMA(fast), EMA(slow): seeded with the SMA of the first n closes.
    k_fast, k_slow = 2.0 / (fast + 1), 2.0 / (slow + 1)
    if t == fast - 1:
        s[S_EMA_FAST] = _sum(_window(closes, lc, t, fast)) / fast
    elif t >= fast:
        s[S_EMA_FAST] = (close - s[S_EMA_FAST]) * k_fast + s[S_EMA_FAST]
    if t >= fast - 1:
        out[I_EMA_FAST] = s[S_EMA_FAST]
    if t == slow - 1:
        s[S_EMA_SLOW] = _sum(_window(closes, lc, t, slow)) / slow
        # MACD's fast EMA starts here, from the SMA of the `fast` closes ending on this bar.
        s[S_MACD_FAST] = _sum(_window(closes, lc, t, fast)) / fast
    elif t >= slow:
        s[S_EMA_SLOW] = (close - s[S_EMA_SLOW]) * k_slow + s[S_EMA_SLOW]
        s[S_MACD_FAST] = (close - s[S_MACD_FAST]) * k_fast + s[S_MACD_FAST]
    if t >= slow - 1:
        out[I_EMA_SLOW] = s[S_EMA_SLOW]
        macd = s[S_MACD_FAST] - s[S_EMA_SLOW]
        out[I_MACD] = macd
        # The signal EMA: seeded with the mean of the first `nsig` MACD values.
        signal_row = slow - 1 + nsig - 1
        if t <= signal_row:
            s[S_SIGNAL_SUM] += macd
            if t == signal_row:
                s[S_SIGNAL] = s[S_SIGNAL_SUM] / nsig
        else:
            s[S_SIGNAL] = (macd - s[S_SIGNAL]) * (2.0 / (nsig + 1)) + s[S_SIGNAL]
        if t >= signal_row:
            out[I_MACD_SIGNAL] = s[S_SIGNAL]
            out[I_MACD_HIST] = macd - s[S_SIGNAL]

    # RSI: Wilder averages of gains and losses, seeded with their means over bars 1..n.
    if 1 <= t <= nrsi:
        s[S_GAIN] += gain
        s[S_LOSS] += loss
        if t == nrsi:
            s[S_GAIN] /= nrsi
            s[S_LOSS] /= nrsi
    elif t > nrsi:
        s[S_GAIN] = (s[S_GAIN] * (nrsi - 1) + gain) / nrsi
        s[S_LOSS] = (s[S_LOSS] * (nrsi - 1) + loss) / nrsi
    if t >= nrsi:
        total = s[S_GAIN] + s[S_LOSS]
        out[I_RSI] = 0.0 if _is_zero(total) else 100.0 * (s[S_GAIN] / total)

    # ATR: Wilder average of the true range, seeded with its mean over bars 1..n.
    if 1 <= t <= natr:
        s[S_ATR] += tr
        if t == natr:
            s[S_ATR] /= natr
    elif t > natr:
        s[S_ATR] = (s[S_ATR] * (natr - 1) + tr) / natr
    if t >= natr:
        out[I_ATR] = s[S_ATR]

    # ADX: Wilder sums of +DM, -DM and TR seeded with bars 1..n-1; DX from bar n.
    if 1 <= t <= nadx - 1:
        s[S_PLUS_DM] += plus_dm
        s[S_MINUS_DM] += minus_dm
        s[S_TR] += tr
    elif t >= nadx:
        s[S_PLUS_DM] = s[S_PLUS_DM] - s[S_PLUS_DM] / nadx + plus_dm
        s[S_MINUS_DM] = s[S_MINUS_DM] - s[S_MINUS_DM] / nadx + minus_dm
        s[S_TR] = s[S_TR] - s[S_TR] / nadx + tr
        dx, has_dx = 0.0, False
        if not _is_zero(s[S_TR]):
            minus_di = 100.0 * (s[S_MINUS_DM] / s[S_TR])
            plus_di = 100.0 * (s[S_PLUS_DM] / s[S_TR])
            di_sum = minus_di + plus_di
            if not _is_zero(di_sum):
                dx, has_dx = 100.0 * (abs(minus_di - plus_di) / di_sum), True
        adx_row = 2 * nadx - 1
        if t <= adx_row:
            if has_dx:
                s[S_DX_SUM] += dx
            if t == adx_row:
                s[S_ADX] = s[S_DX_SUM] / nadx
        elif has_dx:  # a bar without DX holds ADX
            s[S_ADX] = (s[S_ADX] * (nadx - 1) + dx) / nadx
        if t >= adx_row:
            out[I_ADX] = s[S_ADX]

    # Windows, recomputed from the rings on every bar (a window shared by two indicators is
    # computed once: with the defaults the Bollinger, z-score and std windows are one).
    middle = bb_std = z_mean = z_std = nan
    if t >= nbb - 1:
        window = _window(closes, lc, t, nbb)
        middle, bb_std = _sum(window) / nbb, _std(window)
        spread = p[P_WIDTH] * bb_std
        out[I_BB_MIDDLE], out[I_BB_UPPER], out[I_BB_LOWER] = (
            middle,
            middle + spread,
            middle - spread,
        )
    if t >= nz - 1:
        if nz == nbb:
            z_mean, z_std = middle, bb_std
        else:
            window = _window(closes, lc, t, nz)
            z_mean, z_std = _sum(window) / nz, _std(window)
        out[I_ZSCORE_MEAN], out[I_ZSCORE_STD] = z_mean, z_std
    if t >= nroc:
        base = closes[(t - nroc) % lc]
        out[I_ROC] = 0.0 if base == 0.0 else (close / base - 1.0) * 100.0
    if t >= nstd - 1:
        if nstd == nbb:
            out[I_STDDEV] = bb_std
        elif nstd == nz:
            out[I_STDDEV] = z_std
        else:
            out[I_STDDEV] = _std(_window(closes, lc, t, nstd))
    if t >= nhv:  # log returns exist from bar 1
        out[I_LOG_RETURN_STD] = _std(_window(returns, nhv, t, nhv))
    if t >= nvol - 1:
        window = _window(volumes, nvol, t, nvol)
        out[I_VOLUME_MEAN], out[I_VOLUME_STD] = _sum(window) / nvol, _std(window)
    s[S_ROWS] = t + 1


@numba.njit(cache=True, nogil=True)
def _features(
    ind: npt.NDArray[np.float64],
    close: float,
    volume: float,
    minute: float,
    p: npt.NDArray[np.float64],
    expiry_first: int,
    expiry_days: npt.NDArray[np.float64],
    out: npt.NDArray[np.float64],
    i: int,
) -> None:
    """Write bar ``i``'s feature columns (``FeatureSet.columns`` order) from its indicators."""
    out[0, i] = close / ind[I_EMA_FAST] - 1.0
    out[1, i] = close / ind[I_EMA_SLOW] - 1.0
    out[2, i] = ind[I_MACD] / close
    out[3, i] = ind[I_MACD_SIGNAL] / close
    out[4, i] = ind[I_MACD_HIST] / close
    out[5, i] = ind[I_RSI]
    out[6, i] = ind[I_ADX]
    band = ind[I_BB_UPPER] - ind[I_BB_LOWER]
    out[7, i] = _ratio(close - ind[I_BB_LOWER], band, 0.5)
    out[8, i] = _ratio(close - ind[I_ZSCORE_MEAN], ind[I_ZSCORE_STD], 0.0)
    out[9, i] = ind[I_ROC]
    out[10, i] = ind[I_ATR] / close
    out[11, i] = ind[I_STDDEV] / close
    out[12, i] = ind[I_LOG_RETURN_STD] * p[P_SQRT_YEAR]
    out[13, i] = _ratio(volume, ind[I_VOLUME_MEAN], 1.0)
    out[14, i] = _ratio(volume - ind[I_VOLUME_MEAN], ind[I_VOLUME_STD], 0.0)
    # The time features: the IST wall clock at the bar's close, and the expiry table by IST day.
    whole = int(minute)
    day = whole // _MINUTES_PER_DAY
    out[15, i] = float(whole - day * _MINUTES_PER_DAY) - p[P_OPEN_MINUTE]
    out[16, i] = float((day + _EPOCH_WEEKDAY) % 7)
    k = day - expiry_first
    out[17, i] = expiry_days[k] if 0 <= k < expiry_days.shape[0] else np.nan


@numba.njit(cache=True, nogil=True)
def advance(
    bars: npt.NDArray[np.float64],
    starts: npt.NDArray[np.int64],
    p: npt.NDArray[np.float64],
    expiry_first: int,
    expiry_days: npt.NDArray[np.float64],
    states: npt.NDArray[np.float64],
    rings: npt.NDArray[np.float64],
    indicators: npt.NDArray[np.float64],
    features: npt.NDArray[np.float64],
) -> None:
    """Fold bars into instruments' states, writing each bar's outputs.

    ``bars`` (BARS, n): high, low, close, volume and the IST epoch minute of each bar's close,
    instruments one after another, each in time order; instrument ``j`` is columns
    ``starts[j] .. starts[j+1]-1`` and continues ``states[j]``/``rings[j]`` (zeros: a fresh
    instrument). ``indicators`` (INDICATORS, n) and ``features`` (FEATURES, n) receive bar
    ``i``'s values in column ``i``; pass an array with 0 columns for an output not wanted. The
    time features read ``expiry_days[day - expiry_first]`` (trading days to expiry by IST epoch
    day; NaN outside the table).
    """
    ind = np.empty(INDICATORS)
    want_indicators = indicators.shape[1] > 0
    want_features = features.shape[1] > 0
    for j in range(starts.shape[0] - 1):
        state, ring = states[j], rings[j]
        for i in range(starts[j], starts[j + 1]):
            close, volume = bars[B_CLOSE, i], bars[B_VOLUME, i]
            _step(bars[B_HIGH, i], bars[B_LOW, i], close, volume, p, state, ring, ind)
            if want_indicators:
                indicators[:, i] = ind
            if want_features:
                _features(
                    ind, close, volume, bars[B_MINUTE, i], p, expiry_first, expiry_days, features, i
                )
