"""The rules-only baseline: the seed's MACD/RSI strategy, with no model.

Long when the MACD histogram crosses above zero while RSI is between 50 and 70 (momentum, not yet
overbought); short when it crosses below zero while RSI is between 30 and 50. The side always
agrees with the trend side of :func:`models.strategies.equity_intraday_entries`, so the baseline
is a subset of the decision points the model chooses from.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from data_contracts.schemas import ist_date
from models.features import FeatureSet

__all__ = ["RSI_BANDS", "macd_rsi_signals", "trend_direction", "trend_sign"]

# (long lower, long upper, short lower, short upper) RSI bounds.
RSI_BANDS: Final = (50.0, 70.0, 30.0, 50.0)


def macd_rsi_signals(features: pl.DataFrame, feature_set: FeatureSet) -> pl.DataFrame:
    """``instrument_token, ts_event, rules_signal``: True where the rules take the trade.

    The crossing compares each bar with the same instrument's previous bar of the same IST day in
    ``features`` (sorted by time here); a day's first bar has no previous bar and never signals.
    """
    rsi = f"rsi_{feature_set.params.rsi}"
    long_low, long_high, short_low, short_high = RSI_BANDS
    hist = pl.col("macd_hist_rel")
    # A crossing is between consecutive bars of one session: the overnight gap is not a signal.
    previous = hist.shift(1).over("instrument_token", ist_date())
    crossed_up = (previous < 0) & (hist >= 0)
    crossed_down = (previous >= 0) & (hist < 0)
    signal = (crossed_up & pl.col(rsi).is_between(long_low, long_high)) | (
        crossed_down & pl.col(rsi).is_between(short_low, short_high)
    )
    return features.sort("instrument_token", "ts_event").select(
        "instrument_token", "ts_event", signal.fill_null(False).alias("rules_signal")
    )


def trend_sign(macd_hist_rel: npt.NDArray[np.float64]) -> npt.NDArray[np.int8]:
    """The trend's side at each bar: +1 where the MACD histogram is at or above zero, -1 below
    it — and -1 where it is missing (NaN), which no decision point has after the warm-up. The
    one definition of the side: :func:`trend_direction` is this over a frame."""
    return np.where(np.asarray(macd_hist_rel, dtype=np.float64) >= 0, 1, -1).astype(np.int8)


def trend_direction() -> pl.Expr:
    """The trend's side at a bar, as an Int8 ``direction`` (:func:`trend_sign` of the
    ``macd_hist_rel`` column; a null is missing): the side every strategy offers the model at a
    decision point."""
    return pl.col("macd_hist_rel").map_batches(
        _trend_series, return_dtype=pl.Int8, is_elementwise=True
    )


def _trend_series(hist: pl.Series) -> pl.Series:
    return pl.Series(hist.name, trend_sign(hist.cast(pl.Float64).to_numpy()), dtype=pl.Int8)
