"""The compiled feature kernel and the streaming feature state: chunking, parity with the build,
the warm-up contract, pickling and inputs."""

from __future__ import annotations

import datetime as dt
import pickle

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_contracts.errors import ContractError
from data_contracts.nse_calendar import NseCalendar
from data_contracts.schemas import UTC_TIMESTAMP
from models.features import CANDLE_FEATURES, FeatureState, kernels
from models.features.indicators import kernel_bars

MINUTE = dt.timedelta(minutes=1)
WARMUP = CANDLE_FEATURES.warmup_bars
BARS = WARMUP + 160  # crosses a session boundary and two IST days


def _closes(bars: int) -> list[dt.datetime]:
    calendar = NseCalendar.default()
    closes: list[dt.datetime] = []
    day = dt.date(2026, 2, 26)  # Thursday: the bars cross a weekend and an expiry
    while len(closes) < bars:
        session = calendar.session(day)
        if session is not None and session.is_trading_day:
            minutes = int((session.close - session.open) / MINUTE)
            closes.extend(session.open + MINUTE * (i + 1) for i in range(minutes))
        day += dt.timedelta(days=1)
    return closes[:bars]


def _candles(
    token: int = 11, bars: int = BARS, seed: int = 5, level: float = 730.0
) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    close = np.round(level * np.exp(np.cumsum(rng.normal(0.0, 0.001, bars))) / 0.05) * 0.05
    open_ = np.concatenate(([close[0]], close[:-1]))
    high = np.maximum(open_, close) + 0.05 * rng.integers(0, 3, bars)
    low = np.minimum(open_, close) - 0.05 * rng.integers(0, 3, bars)
    close[:40] = close[0]  # a flat opening stretch: TA-Lib's zero-division paths
    high[:40], low[:40] = close[0], close[0]
    return pl.DataFrame(
        {
            "instrument_token": np.full(bars, token, dtype=np.int64),
            "ts_event": _closes(bars),
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": rng.integers(0, 5_000, bars, dtype=np.int64),
        },
        schema_overrides={"ts_event": UTC_TIMESTAMP},
    )


@pytest.fixture(scope="module")
def candles() -> pl.DataFrame:
    return _candles()


@pytest.fixture(scope="module")
def built(candles: pl.DataFrame) -> np.ndarray:
    """The build's feature rows as a (bars, features) matrix (NaN where the build has null)."""
    frame = CANDLE_FEATURES.build(candles)
    return frame.select(CANDLE_FEATURES.columns).to_numpy()


def _bits(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)


def _run(candles: pl.DataFrame, cuts: list[int]) -> tuple[np.ndarray, ...]:
    """The kernel over ``candles`` in chunks ending at ``cuts``, carrying the state."""
    minutes = candles["ts_event"].dt.epoch("us").to_numpy() // 60_000_000 + 330
    bars = kernel_bars(candles, minutes)
    days = minutes // 1440
    expiry = CANDLE_FEATURES._expiry.table(int(days[0]), int(days[-1]))
    params = CANDLE_FEATURES._kernel
    states, rings = kernels.fresh_state(CANDLE_FEATURES.params, 1)
    indicators = np.empty((kernels.INDICATORS, candles.height))
    features = np.empty((kernels.FEATURES, candles.height))
    begin = 0
    for end in [*cuts, candles.height]:
        ind = np.empty((kernels.INDICATORS, end - begin))
        feat = np.empty((kernels.FEATURES, end - begin))
        chunk = np.ascontiguousarray(bars[:, begin:end])
        starts = np.array([0, end - begin], dtype=np.int64)
        kernels.advance(chunk, starts, params, *expiry, states, rings, ind, feat)
        indicators[:, begin:end], features[:, begin:end] = ind, feat
        begin = end
    return indicators, features, states, rings


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=BARS), max_size=6).map(sorted))
def test_kernel_chunked_runs_equal_one_run_bit_for_bit(
    candles: pl.DataFrame, cuts: list[int]
) -> None:
    # Act
    whole = _run(candles, [])
    chunked = _run(candles, cuts)

    # Assert: every output and the final state, bit for bit (NaNs included).
    for one, many in zip(whole, chunked, strict=True):
        assert np.array_equal(_bits(one), _bits(many))


@settings(max_examples=10, deadline=None)
@given(st.integers(min_value=0, max_value=BARS - 1))
def test_feature_state_rows_equal_the_build_bit_for_bit(
    candles: pl.DataFrame, built: np.ndarray, prefill: int
) -> None:
    # Arrange: a state prefilled with the first `prefill` bars, the rest streamed one by one.
    state = CANDLE_FEATURES.stream_state(candles.head(prefill))

    # Act
    rows = [
        state.update(r["ts_event"], r["high"], r["low"], r["close"], float(r["volume"]))
        for r in candles.slice(prefill).iter_rows(named=True)
    ]

    # Assert
    streamed = np.array(rows)
    assert np.array_equal(_bits(streamed), _bits(built[prefill:]))
    assert state.rows == BARS
    assert state.row is not None
    assert np.array_equal(_bits(state.row), _bits(built[-1]))


@pytest.mark.parametrize("start", [0, 37, 150])
def test_feature_state_from_a_warmup_window_equals_longer_history_within_tolerance(
    candles: pl.DataFrame, built: np.ndarray, start: int
) -> None:
    # Arrange: a state that only saw the warm-up window starting at `start` (what the streaming
    # worker prefills from history), not the bars before it.
    window = candles.slice(start, WARMUP)
    state = CANDLE_FEATURES.stream_state(window)

    # Act
    rows = [
        state.update(r["ts_event"], r["high"], r["low"], r["close"], float(r["volume"]))
        for r in candles.slice(start + WARMUP).iter_rows(named=True)
    ]

    # Assert: the warm-up contract, 1e-9 of max(|value|, 1).
    expected = built[start + WARMUP :]
    assert state.ready
    assert np.all(np.abs(np.array(rows) - expected) <= 1e-9 * np.maximum(np.abs(expected), 1.0))


def test_feature_state_is_ready_after_warmup_bars(candles: pl.DataFrame) -> None:
    state = CANDLE_FEATURES.stream_state(candles.head(WARMUP))
    before = (state.ready, state.row)

    r = candles.row(WARMUP, named=True)
    state.update(r["ts_event"], r["high"], r["low"], r["close"], float(r["volume"]))

    assert before == (False, None)
    assert state.ready
    assert state.row is not None
    assert np.isfinite(state.row).all()


def test_feature_state_pickled_continues_identically(candles: pl.DataFrame) -> None:
    # Arrange
    state = CANDLE_FEATURES.stream_state(candles.head(WARMUP + 3))
    copy = pickle.loads(pickle.dumps(state))  # noqa: S301 - our own bytes
    bar = candles.row(WARMUP + 3, named=True)
    args = (bar["ts_event"], bar["high"], bar["low"], bar["close"], float(bar["volume"]))

    # Act
    original, restored = state.update(*args), copy.update(*args)

    # Assert
    assert isinstance(copy, FeatureState)
    assert np.array_equal(_bits(original), _bits(restored))


@pytest.mark.parametrize("offset", [dt.timedelta(0), -MINUTE])
def test_feature_state_update_not_after_the_last_bar_raises(
    candles: pl.DataFrame, offset: dt.timedelta
) -> None:
    state = CANDLE_FEATURES.stream_state(candles.head(5))
    last = candles["ts_event"][4]

    with pytest.raises(ContractError, match="after the last bar"):
        state.update(last + offset, 10.0, 10.0, 10.0, 0.0)
    assert state.rows == 5


def test_feature_state_update_with_naive_time_raises() -> None:
    state = CANDLE_FEATURES.stream_state()

    with pytest.raises(ContractError, match="timezone-aware"):
        state.update(dt.datetime(2026, 3, 2, 4, 0), 10.0, 10.0, 10.0, 0.0)  # noqa: DTZ001 - the naive time is the point


def test_feature_state_extend_of_two_instruments_raises(candles: pl.DataFrame) -> None:
    two = pl.concat([candles.head(3), _candles(token=12, bars=3)])

    with pytest.raises(ContractError, match="one instrument"):
        CANDLE_FEATURES.stream_state(two)


def test_feature_state_extend_before_the_last_bar_raises(candles: pl.DataFrame) -> None:
    state = CANDLE_FEATURES.stream_state(candles.slice(10, 5))

    with pytest.raises(ContractError, match="after the last bar"):
        state.extend(candles.head(3))
