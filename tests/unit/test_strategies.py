"""Equity intraday entries and the MACD/RSI rules baseline."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from data_contracts.errors import ContractError
from data_contracts.nse_calendar import NseCalendar
from data_contracts.schemas import UTC_TIMESTAMP
from data_contracts.timeutil import IST
from models.features import CANDLE_FEATURES
from models.strategies import (
    EquityIntradayParams,
    equity_intraday_entries,
    macd_rsi_signals,
    trend_direction,
)
from models.strategies.equity import equity_entry_levels
from models.strategies.intraday import NO_SQUARE_OFF, square_off_us
from models.strategies.rules import trend_sign
from tests.factories import RULE_INDEX, RULE_STOCK, equity_rule_frames

DAY = dt.date(2026, 8, 18)  # a regular Tuesday session
STOCK, INDEX = RULE_STOCK, RULE_INDEX


def _at(hour: int, minute: int) -> dt.datetime:
    return dt.datetime.combine(DAY, dt.time(hour, minute), tzinfo=IST).astimezone(dt.UTC)


def _entries(times, hist):
    features, candles, instruments = equity_rule_frames(times, hist)
    return equity_intraday_entries(
        features,
        candles,
        instruments,
        feature_set=CANDLE_FEATURES,
        params=EquityIntradayParams(),
        calendar=NseCalendar.default(),
    )


def test_entries_long_on_positive_histogram_take_atr_multiples_on_the_tick_grid():
    entries = _entries([_at(10, 0)], [0.0002])

    row = entries.row(0, named=True)
    # ATR = 0.001 x 1500 = 1.5: TP = 1500 + 2 x 1.5, SL = 1500 - 1 x 1.5
    assert (row["direction"], row["take_profit"], row["stop_loss"]) == (1, 1503.0, 1498.5)
    assert row["exit_deadline"] == _at(10, 30)
    assert row["deadline_reason"] == "time"
    assert (row["segment"], row["lot_size"], row["lots"]) == ("intraday", 1, None)


def test_entries_short_on_negative_histogram_mirror_the_exits():
    row = _entries([_at(10, 0)], [-0.0002]).row(0, named=True)

    assert (row["direction"], row["take_profit"], row["stop_loss"]) == (-1, 1497.0, 1501.5)


def test_entries_near_the_close_end_at_the_mis_square_off():
    row = _entries([_at(15, 0)], [0.1]).row(0, named=True)

    assert row["exit_deadline"] == _at(15, 20)
    assert row["deadline_reason"] == "square_off"


def test_entries_after_the_last_entry_time_are_not_decision_points():
    entries = _entries([_at(15, 1), _at(15, 10)], [0.1, 0.1])

    assert entries.is_empty()


def test_entries_on_a_day_without_a_session_are_not_decision_points():
    sunday = dt.datetime.combine(dt.date(2026, 8, 16), dt.time(10, 0), tzinfo=IST)

    entries = _entries([sunday.astimezone(dt.UTC)], [0.1])

    assert entries.is_empty()


def _us(moment: dt.datetime) -> int:
    return (moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)


def test_entry_levels_over_arrays_are_the_entries_of_the_frame_rule():
    times = [_at(9, 16), _at(10, 0), _at(15, 0), _at(15, 1)]
    hist = [0.0002, -0.0002, 0.1, 0.1]
    entries = _entries(times, hist)
    ts = np.array([_us(t) for t in times], dtype=np.int64)

    levels = equity_entry_levels(
        ts,
        np.full(4, 1500.0),
        np.full(4, 0.001),
        np.array(hist),
        np.full(4, 0.05),
        square_off_us(ts, NseCalendar.default(), derivatives=False),
        EquityIntradayParams(),
    )

    taken = np.flatnonzero(levels.taken)
    assert taken.tolist() == [0, 1, 2]  # 15:01 is after the last entry time
    assert levels.direction[taken].tolist() == entries["direction"].to_list()
    assert levels.take_profit[taken].tolist() == entries["take_profit"].to_list()
    assert levels.stop_loss[taken].tolist() == entries["stop_loss"].to_list()
    assert levels.exit_deadline_us[taken].tolist() == [_us(t) for t in entries["exit_deadline"]]
    assert levels.deadline_by_hold[taken].tolist() == [True, True, False]


def test_square_off_of_a_day_without_mis_is_before_any_decision():
    sunday = dt.datetime.combine(dt.date(2026, 8, 16), dt.time(10, 0), tzinfo=IST)

    found = square_off_us(
        np.array([_us(sunday), _us(_at(10, 0))]), NseCalendar.default(), derivatives=False
    )

    assert found[0] == NO_SQUARE_OFF
    assert found[1] == _us(_at(15, 20))


def test_trend_side_is_one_rule_for_arrays_and_frames_missing_values_short():
    hist = [0.0, -0.0, 1e-300, -1e-300, float("nan"), None]
    frame = pl.DataFrame({"macd_hist_rel": hist}, schema={"macd_hist_rel": pl.Float64})

    from_frame = frame.select(trend_direction()).to_series().to_list()
    from_arrays = trend_sign(np.array([np.nan if v is None else v for v in hist])).tolist()

    assert from_frame == from_arrays == [1, 1, 1, -1, -1, -1]


def test_entries_skip_instruments_that_are_not_nse_equities():
    features, candles, instruments = equity_rule_frames([_at(10, 0)], [0.1])
    features = features.with_columns(pl.lit(INDEX).alias("instrument_token"))
    candles = candles.with_columns(pl.lit(INDEX).alias("instrument_token"))

    entries = equity_intraday_entries(
        features,
        candles,
        instruments,
        feature_set=CANDLE_FEATURES,
        params=EquityIntradayParams(),
        calendar=NseCalendar.default(),
    )

    assert entries.is_empty()


def test_entries_without_the_atr_feature_raise_naming_it():
    features, candles, instruments = equity_rule_frames([_at(10, 0)], [0.1])

    with pytest.raises(ContractError, match="atr_14_rel"):
        equity_intraday_entries(
            features.drop("atr_14_rel"),
            candles,
            instruments,
            feature_set=CANDLE_FEATURES,
            params=EquityIntradayParams(),
            calendar=NseCalendar.default(),
        )


@pytest.mark.parametrize(
    ("field", "value"),
    [("take_profit_atr", 0.0), ("stop_loss_atr", -1.0), ("max_hold_minutes", 0)],
)
def test_params_out_of_range_raise_naming_the_field(field, value):
    with pytest.raises(ContractError, match=field):
        EquityIntradayParams(**{field: value})


@pytest.mark.parametrize(
    ("hist", "rsi", "expected"),
    [
        ([-0.1, 0.1], [55.0, 60.0], [False, True]),  # crosses up, RSI in 50-70
        ([-0.1, 0.1], [75.0, 75.0], [False, False]),  # crosses up, overbought
        ([0.1, -0.1], [45.0, 40.0], [False, True]),  # crosses down, RSI in 30-50
        ([0.1, -0.1], [20.0, 20.0], [False, False]),  # crosses down, oversold
        ([0.1, 0.2], [60.0, 60.0], [False, False]),  # no crossing
    ],
)
def test_macd_rsi_signals_fire_only_on_a_confirmed_crossing(hist, rsi, expected):
    features = pl.DataFrame(
        {
            "instrument_token": [STOCK, STOCK],
            "ts_event": [_at(10, 0), _at(10, 1)],
            "macd_hist_rel": hist,
            "rsi_14": rsi,
        },
        schema_overrides={"ts_event": UTC_TIMESTAMP},
    )

    signals = macd_rsi_signals(features, CANDLE_FEATURES)

    assert signals["rules_signal"].to_list() == expected


def test_macd_rsi_signals_never_cross_between_instruments():
    features = pl.DataFrame(
        {
            "instrument_token": [STOCK, INDEX],
            "ts_event": [_at(10, 0), _at(10, 0)],
            "macd_hist_rel": [0.1, -0.1],
            "rsi_14": [40.0, 40.0],
        },
        schema_overrides={"ts_event": UTC_TIMESTAMP},
    )

    assert not macd_rsi_signals(features, CANDLE_FEATURES)["rules_signal"].any()
