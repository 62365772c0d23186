"""Frame contracts: each schema accepts a clean frame and rejects each kind of corruption."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandera.polars as pa
import polars as pl
import pytest

from data_contracts.schemas import CandleFrame, FeatureFrame, LabelFrame, TickFrame

T0 = datetime(2026, 8, 18, 3, 46, tzinfo=UTC)


def _candles(**columns: list[Any]) -> pl.DataFrame:
    base: dict[str, list[Any]] = {
        "instrument_token": [256265, 256265],
        "ts_event": [T0, T0 + timedelta(minutes=1)],
        "open": [100.0, 101.0],
        "high": [102.0, 103.0],
        "low": [99.0, 100.5],
        "close": [101.0, 102.0],
        "volume": [10, 20],
        "oi": [None, None],
    }
    return pl.DataFrame(base | columns, schema_overrides={"oi": pl.Int64})


def _ticks(**columns: list[Any]) -> pl.DataFrame:
    base: dict[str, list[Any]] = {
        "instrument_token": [408065],
        "ts_event": [T0],
        "ts_init": [T0],
        "last_price": [1573.7],
        "last_quantity": [7],
        "volume": [1192471],
        "bid": [1573.6],
        "ask": [1573.7],
        "bid_quantity": [100],
        "ask_quantity": [172],
        "oi": [None],
    }
    return pl.DataFrame(base | columns, schema_overrides={"oi": pl.Int64})


def _failed_checks(schema: type[pa.DataFrameModel], frame: pl.DataFrame) -> set[str]:
    with pytest.raises(pa.errors.SchemaErrors) as caught:
        schema.validate(frame, lazy=True)
    return {str(case) for case in caught.value.failure_cases["check"].to_list()}


def test_candle_frame_accepts_clean_bars() -> None:
    assert CandleFrame.validate(_candles()).height == 2


@pytest.mark.parametrize(
    ("columns", "check"),
    [
        ({"high": [100.5, 103.0]}, "high must be >= open, close and low"),
        ({"low": [101.5, 100.5]}, "low must be <= open and close"),
        ({"close": [-1.0, 102.0]}, "greater_than(0)"),
        ({"open": [float("nan"), 101.0]}, "prices must be finite"),
        ({"ts_event": [T0, T0]}, "multiple_fields_uniqueness"),
        ({"volume": [-1, 20]}, "greater_than_or_equal_to(0)"),
    ],
)
def test_candle_frame_rejects_corruption(columns: dict[str, list[Any]], check: str) -> None:
    assert check in _failed_checks(CandleFrame, _candles(**columns))


def test_candle_frame_rejects_naive_timestamps() -> None:
    naive = _candles().with_columns(pl.col("ts_event").dt.replace_time_zone(None))

    with pytest.raises(pa.errors.SchemaError, match="ts_event"):
        CandleFrame.validate(naive)


def test_candle_frame_rejects_unknown_columns() -> None:
    with pytest.raises(pa.errors.SchemaError, match="extra"):
        CandleFrame.validate(_candles().with_columns(pl.lit(1).alias("extra")))


@pytest.mark.parametrize("column", ["last_price", "bid", "ask"])
@pytest.mark.parametrize("bad", [float("inf"), float("nan")])
def test_tick_frame_rejects_non_finite_prices(column: str, bad: float) -> None:
    frame = _ticks(**{column: [bad]})

    assert "prices must be finite" in _failed_checks(TickFrame, frame)


def test_tick_frame_one_sided_book_is_valid() -> None:
    frame = _ticks(bid=[None]).with_columns(pl.col("bid").cast(pl.Float64))

    assert TickFrame.validate(frame).height == 1


def test_tick_frame_accepts_clean_and_rejects_crossed_book() -> None:
    assert TickFrame.validate(_ticks()).height == 1
    assert "bid must be <= ask (crossed book)" in _failed_checks(
        TickFrame, _ticks(bid=[1574.0], ask=[1573.0])
    )


def _features(**columns: list[Any]) -> pl.DataFrame:
    base: dict[str, list[Any]] = {
        "instrument_token": [256265],
        "ts_event": [T0],
        "feature_version": ["f1"],
        "ret_5m": [0.01],
        "rsi_14": [55.0],
    }
    return pl.DataFrame(base | columns)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), None])
def test_feature_frame_rejects_non_finite_or_null_features(bad: float | None) -> None:
    frame = _features(rsi_14=[bad]).with_columns(pl.col("rsi_14").cast(pl.Float64))

    assert "feature columns must be Float64, finite and non-null" in _failed_checks(
        FeatureFrame, frame
    )


@pytest.mark.parametrize("column", [pl.Series("f", ["1.5"]), pl.Series("f", [True])])
def test_feature_frame_rejects_non_float_feature_columns(column: pl.Series) -> None:
    frame = _features().with_columns(column)

    assert "feature columns must be Float64, finite and non-null" in _failed_checks(
        FeatureFrame, frame
    )


def test_feature_frame_accepts_declared_features() -> None:
    assert FeatureFrame.validate(_features()).columns[-2:] == ["ret_5m", "rsi_14"]


def _labels(**columns: list[Any]) -> pl.DataFrame:
    base: dict[str, list[Any]] = {
        "instrument_token": [256265, 256265],
        "ts_event": [T0, T0 + timedelta(minutes=1)],
        "exit_ts": [T0 + timedelta(minutes=30), T0 + timedelta(minutes=31)],
        "net_pnl": [120.0, -65.1],
        "net_return_pct": [1.8, -1.0],
        "charges": [65.1, 65.1],
        "win": [True, False],
    }
    return pl.DataFrame(base | columns)


def test_label_frame_accepts_consistent_labels() -> None:
    assert LabelFrame.validate(_labels()).height == 2


@pytest.mark.parametrize(
    ("columns", "check"),
    [
        ({"win": [True, True]}, "win must equal net_pnl > 0"),
        ({"exit_ts": [T0, T0]}, "exit_ts must be after ts_event"),
        ({"charges": [-1.0, 65.1]}, "greater_than_or_equal_to(0)"),
        ({"net_pnl": [float("inf"), -65.1]}, "net_pnl, net_return_pct and charges must be finite"),
    ],
)
def test_label_frame_rejects_inconsistent_labels(columns: dict[str, list[Any]], check: str) -> None:
    assert check in _failed_checks(LabelFrame, _labels(**columns))
