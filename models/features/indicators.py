"""TA-Lib's classic indicators in polars, equal to TA-Lib after its look-back.

:func:`classic_indicators` adds one column per indicator, in TA-Lib's units, to candles sorted by
``(instrument_token, ts_event)``; each instrument is computed on its own rows only. Rows inside an
indicator's look-back are null (TA-Lib's NaN).

The recursions are TA-Lib's exactly, including its seeding:

* EMA(n): ``k = 2/(n+1)``; the first value is the SMA of the first ``n`` inputs (at row ``n-1``).
* Wilder's smoothing (RSI, ATR): ``k = 1/n``, seeded with the SMA of the first ``n`` inputs
  (the inputs start at row 1, so the first value is at row ``n``).
* ADX: +DM, -DM and TR are smoothed as Wilder *sums* seeded with the sum of their first ``n-1``
  values (row ``n-1``); DX exists from row ``n``; ADX is the mean of the first ``n`` DX (a DX
  TA-Lib skips counts as 0) at row ``2n-1``, then Wilder-smoothed, holding its value on a bar
  where DX is undefined.
* MACD seeds *both* EMAs at the slow EMA's first row (the fast EMA starts from the SMA of the
  ``fast`` closes ending there, so it is not TA_EMA's fast EMA), then the signal EMA on the MACD
  line from the row where that line has ``signal`` values.
* TA-Lib treats ``|x| < 1e-8`` as zero in RSI's and ADX's divisions (RSI is 0 on a flat market;
  ADX holds). So do these. Standard deviations are population ones (TA_STDDEV, ``nbdev=1``).

How it runs: shifts are taken over the whole column and masked by the row number within the
instrument (a lag that reaches into the previous instrument is null), which is exact and needs no
grouping. Rolling windows and recursions are grouped by instrument (``.over``), or not grouped at
all when the frame holds one instrument; a recursion is an ``ewm_mean(adjust=False)`` of a column
that is null before the seed row and holds the seed there. Seeds are left-to-right running sums
scaled by a reciprocal, so grouped and single-instrument frames give the same bits. Intermediate
results are materialised in eager stages (polars' streaming engine gains nothing on window
functions and costs more), so no sub-expression runs twice.
"""

from __future__ import annotations

from typing import Final

import polars as pl

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


def _row_at_least(count: int) -> pl.Expr:
    return pl.col(ROW) >= count


def _lag(name: str, bars: int) -> pl.Expr:
    """The value ``bars`` rows earlier in the same instrument (null before that)."""
    return pl.when(_row_at_least(bars)).then(pl.col(name).shift(bars))


def _sum_of_rows(name: str, first: int, count: int, grouped: bool) -> pl.Expr:
    """The sum of each instrument's rows ``first .. first+count-1``, nulls as 0.

    A running sum, left to right like TA-Lib's (``sum`` is pairwise); callers scale it by an
    explicit reciprocal, which is what polars does to a column divided by a number, so a grouped
    frame and a single instrument get the same bits.
    """
    total = pl.col(name).slice(first, count).fill_null(0.0).cum_sum().last()
    return _per_instrument(total, grouped)


def _mean_of_rows(name: str, first: int, count: int, grouped: bool) -> pl.Expr:
    """The mean of each instrument's rows ``first .. first+count-1`` (TA-Lib's seed SMA)."""
    return _sum_of_rows(name, first, count, grouped) * (1.0 / count)


def _seeded(name: str, seed: pl.Expr, seed_row: int) -> pl.Expr:
    """The input of a recursion: null before ``seed_row``, the seed on it, the values after."""
    row = pl.col(ROW)
    return pl.when(row > seed_row).then(pl.col(name)).when(row == seed_row).then(seed)


def _per_instrument(expr: pl.Expr, grouped: bool) -> pl.Expr:
    """``expr`` per instrument: grouped, or as is when the frame holds a single instrument."""
    return expr.over(_BY) if grouped else expr


def _recursion(start: str, alpha: float, grouped: bool) -> pl.Expr:
    """``y = seed`` on the seed row, then ``y += alpha·(x - y)``; a null input leaves y null."""
    smoothed = pl.col(start).ewm_mean(alpha=alpha, adjust=False, ignore_nulls=True)
    return _per_instrument(smoothed, grouped)


def _with_rows(frame: pl.DataFrame, grouped: bool = True) -> pl.DataFrame:
    """Add ROW without grouping: the global row number minus the instrument's first one."""
    index = pl.int_range(pl.len(), dtype=pl.Int64)
    if not grouped:
        return frame.with_columns(index.alias(ROW))
    first = pl.col(_BY) != pl.col(_BY).shift(1)
    start = pl.when(first.fill_null(value=True)).then(index).forward_fill()
    return frame.with_columns((index - start).alias(ROW))


class _Windows:
    """Rolling means and deviations, each computed once however many indicators share it.

    Grouped by instrument (unlike the shifts): a rolling sum carries rounding across the rows it
    has passed, so a global window would let one instrument's rows (or rows deleted later) touch
    another's last bits. Grouped, each value depends on its own window only, exactly.
    """

    def __init__(self, grouped: bool) -> None:
        self._grouped = grouped
        self._names: dict[tuple[str, str, int], str] = {}
        self.exprs: list[pl.Expr] = []

    def mean(self, name: str, period: int) -> pl.Expr:
        return self._get(name, "mean", period)

    def std(self, name: str, period: int) -> pl.Expr:
        return self._get(name, "std", period)

    def _get(self, name: str, kind: str, period: int) -> pl.Expr:
        key = (name, kind, period)
        if key not in self._names:
            values = pl.col(name)
            rolled = (
                values.rolling_mean(period)
                if kind == "mean"
                else values.rolling_std(period, ddof=0)
            )
            column = f"_{kind}{period}{name}"
            # Null until the window is full.
            self.exprs.append(_per_instrument(rolled, self._grouped).alias(column))
            self._names[key] = column
        return pl.col(self._names[key])


def classic_indicators(candles: pl.DataFrame, p: CandleFeatureParams) -> pl.DataFrame:
    """The candles' keys and inputs, ROW, and :data:`INDICATOR_COLUMNS` in TA-Lib's units.

    ``candles`` is sorted by ``(instrument_token, ts_event)`` with Float64 ``high, low, close,
    volume``; it may carry other columns, which are passed through. A frame of one instrument
    skips the grouping (same kernels on the same rows: the same bits, faster).
    """
    keep = candles.columns
    tokens = candles[_BY]
    grouped = candles.height > 0 and tokens[0] != tokens[-1]
    close, high, low = pl.col("close"), pl.col("high"), pl.col("low")
    frame = _with_rows(candles, grouped).with_columns(
        _lag("close", 1).alias("_prev_close"),
        (high - _lag("high", 1)).alias("_up"),
        (_lag("low", 1) - low).alias("_down"),
        _lag("close", p.roc).alias("_roc_base"),
    )
    prev_close, up, down = pl.col("_prev_close"), pl.col("_up"), pl.col("_down")
    change = close - prev_close
    slow_row = p.ema_slow - 1
    frame = frame.with_columns(
        # On an instrument's first row (no previous close) this is the bar's range; no seed uses it.
        (pl.max_horizontal(high, prev_close) - pl.min_horizontal(low, prev_close)).alias("_tr"),
        change.clip(lower_bound=0.0).alias("_gain"),
        (-change).clip(lower_bound=0.0).alias("_loss"),
        pl.when((up > 0.0) & (up > down)).then(up).otherwise(0.0).alias("_plus_dm"),
        pl.when((down > 0.0) & (up < down)).then(down).otherwise(0.0).alias("_minus_dm"),
        (close / prev_close).log().alias("_log_return"),
        _seeded("close", _mean_of_rows("close", 0, p.ema_fast, grouped), p.ema_fast - 1).alias(
            "_ema_fast_in"
        ),
        _seeded("close", _mean_of_rows("close", 0, p.ema_slow, grouped), slow_row).alias(
            "_ema_slow_in"
        ),
        _seeded(
            "close",
            _mean_of_rows("close", slow_row + 1 - p.ema_fast, p.ema_fast, grouped),
            slow_row,
        ).alias("_macd_fast_in"),
        pl.when(pl.col("_roc_base") == 0.0)
        .then(0.0)
        .otherwise((close / pl.col("_roc_base") - 1.0) * 100.0)
        .alias("roc"),
    )
    w = _Windows(grouped)
    bb_middle = w.mean("close", p.bollinger)
    bb_spread = p.bollinger_width * w.std("close", p.bollinger)
    windowed = (
        (bb_middle + bb_spread).alias("bb_upper"),
        bb_middle.alias("bb_middle"),
        (bb_middle - bb_spread).alias("bb_lower"),
        w.mean("close", p.zscore).alias("zscore_mean"),
        w.std("close", p.zscore).alias("zscore_std"),
        w.std("close", p.stddev).alias("stddev"),
        w.std("_log_return", p.hv).alias("log_return_std"),  # returns start on row 1
        w.mean("volume", p.volume).alias("volume_mean"),
        w.std("volume", p.volume).alias("volume_std"),
    )
    n = p.adx
    frame = frame.with_columns(
        *w.exprs,
        _seeded("_gain", _mean_of_rows("_gain", 1, p.rsi, grouped), p.rsi).alias("_gain_in"),
        _seeded("_loss", _mean_of_rows("_loss", 1, p.rsi, grouped), p.rsi).alias("_loss_in"),
        _seeded("_tr", _mean_of_rows("_tr", 1, p.atr, grouped), p.atr).alias("_atr_in"),
        # Wilder's running sum S += x - S/n is n times an EMA with k = 1/n, seeded with the sum
        # of the first n-1 values over n; DI is a ratio of two such sums, so n cancels there.
        *(
            _seeded(name, _sum_of_rows(name, 1, n - 1, grouped) * (1.0 / n), n - 1).alias(
                f"{name}_in"
            )
            for name in ("_plus_dm", "_minus_dm", "_tr")
        ),
    )
    frame = frame.with_columns(
        *windowed,
        _recursion("_ema_fast_in", 2.0 / (p.ema_fast + 1), grouped).alias("ema_fast"),
        _recursion("_ema_slow_in", 2.0 / (p.ema_slow + 1), grouped).alias("ema_slow"),
        _recursion("_macd_fast_in", 2.0 / (p.ema_fast + 1), grouped).alias("_macd_fast"),
        _recursion("_gain_in", 1.0 / p.rsi, grouped).alias("_avg_gain"),
        _recursion("_loss_in", 1.0 / p.rsi, grouped).alias("_avg_loss"),
        _recursion("_atr_in", 1.0 / p.atr, grouped).alias("atr"),
        _recursion("_plus_dm_in", 1.0 / n, grouped).alias("_plus_dm_sum"),
        _recursion("_minus_dm_in", 1.0 / n, grouped).alias("_minus_dm_sum"),
        _recursion("_tr_in", 1.0 / n, grouped).alias("_tr_sum"),
    )
    gain, loss = pl.col("_avg_gain"), pl.col("_avg_loss")
    tr_sum = pl.col("_tr_sum")
    has_range = (tr_sum * n).abs() >= TALIB_ZERO  # TA-Lib tests the sum itself
    done = ("ema_fast", "ema_slow", "atr", "roc", *(expr.meta.output_name() for expr in windowed))
    frame = frame.select(
        *keep,
        ROW,
        *done,
        (pl.col("_macd_fast") - pl.col("ema_slow")).alias("macd"),
        pl.when((gain + loss).abs() < TALIB_ZERO)
        .then(0.0)
        .otherwise(100.0 * gain / (gain + loss))
        .alias("rsi"),
        pl.when(has_range).then(100.0 * (pl.col("_plus_dm_sum") / tr_sum)).alias("_plus_di"),
        pl.when(has_range).then(100.0 * (pl.col("_minus_dm_sum") / tr_sum)).alias("_minus_di"),
    )
    plus_di, minus_di = pl.col("_plus_di"), pl.col("_minus_di")
    di_sum = minus_di + plus_di
    frame = frame.with_columns(
        pl.when(_row_at_least(n) & (di_sum.abs() >= TALIB_ZERO))
        .then(100.0 * ((minus_di - plus_di).abs() / di_sum))
        .alias("_dx")
    )
    signal_row = slow_row + p.macd_signal - 1
    adx_row = 2 * n - 1
    frame = frame.with_columns(
        _seeded("macd", _mean_of_rows("macd", slow_row, p.macd_signal, grouped), signal_row).alias(
            "_signal_in"
        ),
        # A DX that TA-Lib skips counts as 0 in the first ADX.
        _seeded("_dx", _sum_of_rows("_dx", n, n, grouped) * (1.0 / n), adx_row).alias("_adx_in"),
    )
    frame = frame.with_columns(
        _recursion("_signal_in", 2.0 / (p.macd_signal + 1), grouped).alias("macd_signal"),
        _recursion("_adx_in", 1.0 / n, grouped).alias("_adx"),
    )
    return frame.select(
        *keep,
        ROW,
        *(name for name in INDICATOR_COLUMNS if name not in {"macd_signal", "macd_hist", "adx"}),
        "macd_signal",
        (pl.col("macd") - pl.col("macd_signal")).alias("macd_hist"),
        # A bar without DX holds the last ADX; the fill never crosses into the next instrument
        # because every instrument's seed row (before which the mask is null) is non-null.
        pl.when(_row_at_least(adx_row)).then(pl.col("_adx").forward_fill()).alias("adx"),
    )
