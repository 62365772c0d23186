"""The rules-only baseline: the seed's MACD/RSI strategy, with no model.

Long when the MACD histogram crosses above zero while RSI is between 50 and 70 (momentum, not yet
overbought); short when it crosses below zero while RSI is between 30 and 50. The side always
agrees with the trend side of :func:`models.strategies.equity_intraday_entries`, so the baseline
is a subset of the decision points the model chooses from.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from data_contracts.schemas import ist_date
from models.features import FeatureSet

__all__ = ["RSI_BANDS", "macd_rsi_signals", "trend_direction"]

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


def trend_direction() -> pl.Expr:
    """The trend's side at a bar, as an Int8 ``direction``: +1 when the MACD histogram is at or
    above zero, -1 below it (the side every strategy offers the model at a decision point)."""
    return pl.when(pl.col("macd_hist_rel") >= 0).then(1).otherwise(-1).cast(pl.Int8)
