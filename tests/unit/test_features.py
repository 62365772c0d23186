"""The candle feature set: TA-Lib parity, look-ahead, warm-up, time features, version, inputs."""

from __future__ import annotations

import datetime as dt
import math
import re

import numpy as np
import polars as pl
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from data_contracts.errors import ContractError
from data_contracts.nse_calendar import NseCalendar
from data_contracts.schemas import UTC_TIMESTAMP, CandleFrame, FeatureFrame
from data_contracts.timeutil import IST
from models.features import CANDLE_FEATURES, CandleFeatureParams, FeatureSet
from models.features.definition import FEATURE_CODE_VERSION, SETTLE_TOLERANCE, settle_bars
from models.features.indicators import INDICATOR_COLUMNS, classic_indicators

MINUTE = dt.timedelta(minutes=1)
BARS = 1_200


def _session_closes(first_day: dt.date, bars: int) -> list[dt.datetime]:
    """Close times of consecutive 1-minute bars on real NSE sessions from ``first_day``."""
    calendar = NseCalendar.default()
    closes: list[dt.datetime] = []
    day = first_day
    while len(closes) < bars:
        session = calendar.session(day)
        if session is not None and session.is_trading_day:
            minutes = int((session.close - session.open) / MINUTE)
            closes.extend(session.open + MINUTE * (i + 1) for i in range(minutes))
        day += dt.timedelta(days=1)
    return closes[:bars]


def _candles(
    instruments: int = 6,
    bars: int = BARS,
    seed: int = 3,
    first_day: dt.date = dt.date(2026, 2, 2),
) -> pl.DataFrame:
    """Random-walk candles with realistic levels: from penny stocks to an index, some on a tick
    grid (ties in highs/lows), one opening with a flat stretch (TA-Lib's zero-division paths)."""
    rng = np.random.default_rng(seed)
    closes = _session_closes(first_day, bars)
    frames = []
    for i in range(instruments):
        level = [8.0, 95.0, 730.0, 2_400.0, 24_000.0, 130_000.0][i % 6]
        close = level * np.exp(np.cumsum(rng.normal(0.0, 0.0009, bars)))
        open_ = np.concatenate(([close[0]], close[:-1]))
        high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.0004, bars)))
        low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.0004, bars)))
        if i % 2 == 1:  # on the 0.05 tick grid
            open_, high, low, close = (np.round(a / 0.05) * 0.05 for a in (open_, high, low, close))
            high = np.maximum.reduce([high, open_, close])
            low = np.minimum.reduce([low, open_, close])
        if i == 2:  # the first 60 bars do not move at all
            for a in (open_, high, low, close):
                a[:60] = close[0]
        frames.append(
            pl.DataFrame(
                {
                    "instrument_token": np.full(bars, 1000 + i, dtype=np.int64),
                    "ts_event": closes,
                    "open": open_,
                    "high": high,
                    "low": low,
                    "close": close,
                    "volume": rng.integers(0, 50_000, bars, dtype=np.int64),
                    "oi": [None] * bars,
                },
                schema_overrides={"ts_event": UTC_TIMESTAMP, "oi": pl.Int64},
            )
        )
    return pl.concat(frames)


@pytest.fixture(scope="module")
def candles() -> pl.DataFrame:
    return CandleFrame.validate(_candles())


@pytest.fixture(scope="module")
def built(candles: pl.DataFrame) -> pl.DataFrame:
    return CANDLE_FEATURES.build(candles)


def _per_instrument(frame: pl.DataFrame) -> list[pl.DataFrame]:
    return [g for _, g in frame.group_by("instrument_token", maintain_order=True)]


def _talib_indicators(g: pl.DataFrame, p: CandleFeatureParams) -> dict[str, np.ndarray]:
    c, h, lo = (g[n].to_numpy() for n in ("close", "high", "low"))
    v = g["volume"].to_numpy().astype(np.float64)
    macd, signal, hist = talib.MACD(c, p.ema_fast, p.ema_slow, p.macd_signal)
    upper, middle, lower = talib.BBANDS(c, p.bollinger, p.bollinger_width, p.bollinger_width)
    log_return = np.concatenate(([np.nan], np.log(c[1:] / c[:-1])))
    return {
        "ema_fast": talib.EMA(c, p.ema_fast),
        "ema_slow": talib.EMA(c, p.ema_slow),
        "macd": macd,
        "macd_signal": signal,
        "macd_hist": hist,
        "rsi": talib.RSI(c, p.rsi),
        "adx": talib.ADX(h, lo, c, p.adx),
        "atr": talib.ATR(h, lo, c, p.atr),
        "bb_upper": upper,
        "bb_middle": middle,
        "bb_lower": lower,
        "zscore_mean": talib.SMA(c, p.zscore),
        "zscore_std": talib.STDDEV(c, p.zscore, 1.0),
        "roc": talib.ROC(c, p.roc),
        "stddev": talib.STDDEV(c, p.stddev, 1.0),
        # TA_STDDEV zeroes variances below 1e-8, which per-bar returns have; TA_VAR does not.
        "log_return_std": np.sqrt(np.maximum(talib.VAR(log_return, p.hv, 1.0), 0.0)),
        "volume_mean": talib.SMA(v, p.volume),
        "volume_std": talib.STDDEV(v, p.volume, 1.0),
    }


# The scale each indicator's error is measured against: its own magnitude, or at least this
# (a MACD crossing zero has no magnitude; its rounding is that of the prices).
_OSCILLATORS = {"rsi": 100.0, "adx": 100.0, "roc": 1.0}


def _scale(name: str, close: np.ndarray, volume: np.ndarray) -> np.ndarray:
    if name in _OSCILLATORS:
        return np.full(close.shape, _OSCILLATORS[name])
    if name == "log_return_std":
        return np.full(close.shape, 1e-3)
    if name.startswith("volume"):
        return np.asarray(np.maximum(volume, 1.0))
    return close


@pytest.mark.parametrize("name", INDICATOR_COLUMNS)
def test_classic_indicators_equal_talib_after_lookback(candles: pl.DataFrame, name: str) -> None:
    # Arrange
    p = CANDLE_FEATURES.params

    # Act
    indicators = classic_indicators(_prepared(candles), p)

    # Assert: wherever TA-Lib has a value, ours is equal to 1e-9 of the indicator's scale.
    for ours, raw in zip(_per_instrument(indicators), _per_instrument(candles), strict=True):
        expected = _talib_indicators(raw, p)[name]
        actual = ours[name].to_numpy().astype(np.float64)
        defined = ~np.isnan(expected)
        scale = _scale(name, raw["close"].to_numpy(), raw["volume"].to_numpy().astype(float))
        bound = 1e-9 * np.maximum(np.abs(expected), scale)
        assert np.isfinite(actual[defined]).all(), f"{name} missing where TA-Lib has a value"
        assert (np.abs(actual - expected)[defined] <= bound[defined]).all(), name
        if name != "macd":  # our MACD line exists from the slow EMA's seed, TA-Lib shows it later
            assert np.isnan(actual[~defined]).all(), f"{name} has values inside its look-back"


def _prepared(candles: pl.DataFrame) -> pl.DataFrame:
    return candles.select(
        "instrument_token",
        "ts_event",
        "high",
        "low",
        "close",
        pl.col("volume").cast(pl.Float64),
    )


def _reference_features(raw: pl.DataFrame, p: CandleFeatureParams) -> dict[str, np.ndarray]:
    """The feature columns written out from TA-Lib's indicators (docs/features.md)."""
    t = _talib_indicators(raw, p)
    c = raw["close"].to_numpy()
    v = raw["volume"].to_numpy().astype(np.float64)
    band = t["bb_upper"] - t["bb_lower"]
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "ema_12_rel": c / t["ema_fast"] - 1,
            "ema_26_rel": c / t["ema_slow"] - 1,
            "macd_rel": t["macd"] / c,
            "macd_signal_rel": t["macd_signal"] / c,
            "macd_hist_rel": t["macd_hist"] / c,
            "rsi_14": t["rsi"],
            "adx_14": t["adx"],
            "bb_position_20": np.where(band > 0, (c - t["bb_lower"]) / band, 0.5),
            "zscore_20": np.where(
                t["zscore_std"] > 0, (c - t["zscore_mean"]) / t["zscore_std"], 0.0
            ),
            "roc_20": t["roc"],
            "atr_14_rel": t["atr"] / c,
            "std_20_rel": t["stddev"] / c,
            "hv_20": t["log_return_std"] * math.sqrt(252 * 375),
            "volume_ratio_20": np.where(t["volume_mean"] > 0, v / t["volume_mean"], 1.0),
            "volume_zscore_20": np.where(
                t["volume_std"] > 0, (v - t["volume_mean"]) / t["volume_std"], 0.0
            ),
        }


def test_feature_set_features_equal_talib_derivation_after_warmup(
    candles: pl.DataFrame, built: pl.DataFrame
) -> None:
    features = CANDLE_FEATURES
    for ours, raw in zip(_per_instrument(built), _per_instrument(candles), strict=True):
        reference = _reference_features(raw, features.params)
        after = slice(features.warmup_bars, None)
        for name, expected in reference.items():
            actual = ours[name].to_numpy()[after]
            tolerance = 1e-9 * np.maximum(np.abs(expected[after]), 1.0)
            assert (np.abs(actual - expected[after]) <= tolerance).all(), name


def test_feature_set_after_warmup_is_a_valid_feature_frame(built: pl.DataFrame) -> None:
    # Act
    kept = CANDLE_FEATURES.drop_warmup(built)

    # Assert
    FeatureFrame.validate(kept)
    assert kept.columns == [
        "instrument_token",
        "ts_event",
        "feature_version",
        *CANDLE_FEATURES.columns,
    ]
    assert kept.height == built.height - 6 * CANDLE_FEATURES.warmup_bars
    assert kept["feature_version"].unique().to_list() == [CANDLE_FEATURES.version]
    assert all(built.schema[name] == pl.Float64 for name in CANDLE_FEATURES.columns)


@settings(max_examples=15, deadline=None)
@given(st.integers(min_value=0, max_value=BARS - 2))
def test_feature_set_deleting_later_rows_changes_nothing_before(
    candles: pl.DataFrame, built: pl.DataFrame, t: int
) -> None:
    # Arrange: cut every instrument after the t-th bar's close.
    cutoff = candles["ts_event"].unique().sort()[t]

    # Act
    truncated = CANDLE_FEATURES.build(candles.filter(pl.col("ts_event") <= cutoff))

    # Assert
    assert truncated.equals(built.filter(pl.col("ts_event") <= cutoff))


@settings(max_examples=15, deadline=None)
@given(st.integers(min_value=CANDLE_FEATURES.warmup_bars, max_value=BARS - 1))
def test_feature_set_warmup_window_gives_full_history_last_row(
    candles: pl.DataFrame, built: pl.DataFrame, end: int
) -> None:
    # Arrange: each instrument's last warmup_bars + 1 bars up to row `end`, as streaming holds.
    row = pl.int_range(pl.len()).over("instrument_token")
    window = candles.filter(row.is_between(end - CANDLE_FEATURES.warmup_bars, end))

    # Act
    latest = CANDLE_FEATURES.latest(window)

    # Assert
    full = built.filter(row == end)
    assert latest.select("instrument_token", "ts_event").equals(
        full.select("instrument_token", "ts_event")
    )
    for name in CANDLE_FEATURES.columns:
        expected = full[name].to_numpy()
        tolerance = 1e-9 * np.maximum(np.abs(expected), 1.0)
        assert (np.abs(latest[name].to_numpy() - expected) <= tolerance).all(), name


def test_feature_set_latest_before_warmup_is_empty(candles: pl.DataFrame) -> None:
    window = candles.filter(
        pl.int_range(pl.len()).over("instrument_token") < CANDLE_FEATURES.warmup_bars
    )
    assert CANDLE_FEATURES.latest(window).is_empty()


def test_feature_set_instrument_alone_equals_instrument_among_others(
    candles: pl.DataFrame, built: pl.DataFrame
) -> None:
    token = candles["instrument_token"][-1]
    alone = CANDLE_FEATURES.build(candles.filter(pl.col("instrument_token") == token))
    assert alone.equals(built.filter(pl.col("instrument_token") == token))


@pytest.mark.parametrize("slice_rows", [1, 1_000, 2_500])
def test_feature_set_slicing_by_instrument_changes_nothing(
    candles: pl.DataFrame, built: pl.DataFrame, slice_rows: int
) -> None:
    assert CANDLE_FEATURES.build(candles, slice_rows=slice_rows).equals(built)


def test_feature_set_unsorted_input_gives_sorted_same_result(
    candles: pl.DataFrame, built: pl.DataFrame
) -> None:
    shuffled = candles.sample(fraction=1.0, shuffle=True, seed=1)
    assert CANDLE_FEATURES.build(shuffled).equals(built)


def test_feature_set_flat_market_features_stay_finite() -> None:
    # Arrange: a price that never moves and never trades.
    closes = _session_closes(dt.date(2026, 2, 2), CANDLE_FEATURES.warmup_bars + 50)
    n = len(closes)
    flat = pl.DataFrame(
        {
            "instrument_token": [7] * n,
            "ts_event": closes,
            "high": [100.0] * n,
            "low": [100.0] * n,
            "close": [100.0] * n,
            "volume": [0] * n,
        },
        schema_overrides={"ts_event": UTC_TIMESTAMP},
    )

    # Act
    row = CANDLE_FEATURES.drop_warmup(CANDLE_FEATURES.build(flat)).row(-1, named=True)

    # Assert: TA-Lib's conventions (RSI 0, ADX held at 0) and ours for empty ratios.
    assert row["bb_position_20"] == 0.5
    assert row["zscore_20"] == 0.0
    assert row["volume_ratio_20"] == 1.0
    assert row["volume_zscore_20"] == 0.0
    assert row["rsi_14"] == 0.0
    assert row["adx_14"] == 0.0
    assert row["hv_20"] == 0.0


@pytest.mark.parametrize(
    ("close_ist", "minute_of_day", "day_of_week", "days_to_expiry"),
    [
        # 2026-03-03 (Tue) is a holiday, so that week's NIFTY expiry is Monday 2026-03-02.
        (dt.datetime(2026, 2, 25, 9, 16, tzinfo=IST), 1.0, 2.0, 3.0),  # Wed: Thu, Fri, Mon
        (dt.datetime(2026, 2, 27, 15, 30, tzinfo=IST), 375.0, 4.0, 1.0),  # Fri: Mon
        (dt.datetime(2026, 3, 2, 12, 0, tzinfo=IST), 165.0, 0.0, 0.0),  # Mon: expiry day
        (
            dt.datetime(2026, 3, 4, 10, 0, tzinfo=IST),
            45.0,
            2.0,
            4.0,
        ),  # Wed: Thu, Fri, Mon, Tue 10th
        (dt.datetime(2026, 3, 10, 9, 30, tzinfo=IST), 15.0, 1.0, 0.0),  # Tue: expiry day
    ],
)
def test_feature_set_time_features_on_ist_clock_and_nse_calendar(
    close_ist: dt.datetime, minute_of_day: float, day_of_week: float, days_to_expiry: float
) -> None:
    # Arrange: one bar closing at close_ist.
    ts = close_ist
    bar = pl.DataFrame(
        {
            "instrument_token": [1],
            "ts_event": [ts.astimezone(dt.UTC)],
            "high": [10.0],
            "low": [10.0],
            "close": [10.0],
            "volume": [1],
        },
        schema_overrides={"ts_event": UTC_TIMESTAMP},
    )

    # Act
    row = CANDLE_FEATURES.build(bar).row(0, named=True)

    # Assert
    assert (row["minute_of_day"], row["day_of_week"], row["days_to_expiry"]) == (
        minute_of_day,
        day_of_week,
        days_to_expiry,
    )


def test_feature_set_version_is_stable_and_follows_parameters() -> None:
    # Act
    again = FeatureSet()
    shorter = FeatureSet(params=CandleFeatureParams(rsi=7))

    # Assert
    assert again.version == CANDLE_FEATURES.version
    assert re.fullmatch(r"candles-[0-9a-f]{12}", CANDLE_FEATURES.version)
    assert shorter.version != CANDLE_FEATURES.version
    assert "rsi_7" in shorter.columns
    assert FeatureSet(name="other").version.startswith("other-")
    assert FEATURE_CODE_VERSION >= 1


@pytest.mark.parametrize("alpha", [1 / 14, 2 / 27, 2 / 13, 2 / 10])
def test_settle_bars_is_the_first_bar_below_tolerance(alpha: float) -> None:
    bars = settle_bars(alpha)
    decay = 1.0 - alpha
    assert (bars + 1) * decay**bars <= SETTLE_TOLERANCE < bars * decay ** (bars - 1)


def test_feature_set_warmup_covers_slowest_recursion() -> None:
    p = CANDLE_FEATURES.params
    assert CANDLE_FEATURES.warmup_bars == 2 * p.adx - 1 + settle_bars(1 / p.adx)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ema_fast": 26}, "ema_fast"),
        ({"rsi": 1}, "rsi"),
        ({"bollinger_width": 0.0}, "bollinger_width"),
        ({"adx": 14.0}, "adx"),
    ],
)
def test_candle_feature_params_invalid_raise(change: dict[str, object], field: str) -> None:
    with pytest.raises(ContractError, match=field):
        CandleFeatureParams(**change)  # type: ignore[arg-type]  # deliberately wrong


def test_feature_set_duplicate_bars_raise(candles: pl.DataFrame) -> None:
    doubled = pl.concat([candles.head(3), candles.head(1)])
    with pytest.raises(ContractError, match="unique"):
        CANDLE_FEATURES.build(doubled)


@pytest.mark.parametrize(
    ("frame_change", "message"),
    [
        (lambda f: f.drop("volume"), "columns"),
        (lambda f: f.with_columns(pl.col("ts_event").dt.replace_time_zone(None)), "tz-aware"),
    ],
)
def test_feature_set_malformed_candles_raise(
    candles: pl.DataFrame, frame_change: object, message: str
) -> None:
    broken = frame_change(candles.head(5))  # type: ignore[operator]  # a lambda from the table
    with pytest.raises(ContractError, match=message):
        CANDLE_FEATURES.build(broken)
