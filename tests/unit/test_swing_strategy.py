"""Equity swing (CNC) entries: one decision a day at the decision bar, long only, levels in session
ATRs on the tick grid, a time exit on the n-th trading session after."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from data_contracts.errors import ContractError
from data_contracts.nse_calendar import NseCalendar
from data_contracts.timeutil import IST
from models.features import CANDLE_FEATURES
from models.strategies.swing import (
    NO_EXIT,
    EquitySwingParams,
    equity_swing_entries,
    swing_entry_levels,
    swing_exit_us,
)
from tests.factories import RULE_INDEX, RULE_STOCK, equity_rule_frames

STOCK, INDEX = RULE_STOCK, RULE_INDEX
TUESDAY = dt.date(2026, 8, 18)
CALENDAR = NseCalendar.default()


def _at(day: dt.date, hour: int, minute: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=IST).astimezone(dt.UTC)


def _us(when: dt.datetime) -> int:
    return (when - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)


def _entries(
    features: pl.DataFrame,
    candles: pl.DataFrame,
    instruments: pl.DataFrame,
    params: EquitySwingParams | None = None,
) -> pl.DataFrame:
    return equity_swing_entries(
        features,
        candles,
        instruments,
        feature_set=CANDLE_FEATURES,
        params=params or EquitySwingParams(enabled=True),
        calendar=CALENDAR,
    )


def test_the_decision_bar_of_an_uptrend_is_one_delivery_long_with_session_atr_levels() -> None:
    times = [_at(TUESDAY, 15, m) for m in (9, 10, 11)]
    entries = _entries(*equity_rule_frames(times, [0.2, 0.2, 0.2]))

    assert entries.height == 1
    row = entries.row(0, named=True)
    assert row["ts_decision"] == _at(TUESDAY, 15, 10)
    assert (row["direction"], row["segment"], row["deadline_reason"]) == (1, "delivery", "time")
    # one session ATR = 1500 x 0.001 x sqrt(375) = 29.047...; target 2 of them up, stop 1 down,
    # each rounded to the nearest 0.05
    assert (row["take_profit"], row["stop_loss"]) == (1558.10, 1470.95)
    assert row["lots"] is None


def test_a_downtrend_at_the_decision_bar_is_no_entry_there_is_no_swing_short() -> None:
    assert _entries(*equity_rule_frames([_at(TUESDAY, 15, 10)], [-0.2])).is_empty()


def test_the_time_exit_is_exit_time_on_the_nth_trading_session_after() -> None:
    entries = _entries(*equity_rule_frames([_at(TUESDAY, 15, 10)], [0.2]))
    # Wed 19, Thu 20, Fri 21, Mon 24, Tue 25 August 2026: the fifth session after
    assert entries["exit_deadline"].to_list() == [_at(dt.date(2026, 8, 25), 15, 15)]


@pytest.mark.parametrize(
    ("decided", "sessions", "exits"),
    [
        # Fri 6, Mon 9, (Tue 10 Diwali-Balipratipada is a holiday), Wed 11 November 2026
        pytest.param(dt.date(2026, 11, 5), 3, dt.date(2026, 11, 11), id="over-a-holiday"),
        # Tue 21 October 2025 had only the Muhurat hour (not a trading day), Wed 22 was shut
        pytest.param(dt.date(2025, 10, 20), 1, dt.date(2025, 10, 23), id="not-on-muhurat"),
    ],
)
def test_holidays_and_muhurat_sessions_do_not_count_as_held_sessions(
    decided: dt.date, sessions: int, exits: dt.date
) -> None:
    params = EquitySwingParams(enabled=True, max_hold_sessions=sessions)
    exit_us = swing_exit_us(np.array([_us(_at(decided, 15, 10))]), CALENDAR, params)
    assert exit_us.tolist() == [_us(_at(exits, 15, 15))]


def test_a_day_without_a_session_has_no_decision_point() -> None:
    saturday = dt.date(2026, 8, 22)
    entries = _entries(*equity_rule_frames([_at(saturday, 15, 10)], [0.2]))
    assert entries.is_empty()
    decided = np.array([_us(_at(saturday, 15, 10))])
    assert swing_exit_us(decided, CALENDAR, EquitySwingParams()).tolist() == [NO_EXIT]


def test_levels_over_arrays_are_the_frame_rule() -> None:
    times = [_at(TUESDAY, 15, m) for m in range(5, 16)]
    hist = [0.1, -0.1] * 5 + [0.3]
    features, candles, instruments = equity_rule_frames(times, hist, close=812.35, atr=0.0007)
    entries = _entries(features, candles, instruments)
    ts_us = features["ts_event"].dt.epoch("us").to_numpy()
    params = EquitySwingParams(enabled=True)
    levels = swing_entry_levels(
        ts_us,
        candles["close"].to_numpy(),
        features["atr_14_rel"].to_numpy(),
        features["macd_hist_rel"].to_numpy(),
        np.full(len(times), 0.05),
        swing_exit_us(ts_us, CALENDAR, params),
        params,
    )
    taken = np.flatnonzero(levels.taken)
    assert [times[n] for n in taken] == entries["ts_decision"].to_list()
    assert levels.take_profit[taken].tolist() == entries["take_profit"].to_list()
    assert levels.stop_loss[taken].tolist() == entries["stop_loss"].to_list()


def test_instruments_that_are_not_nse_equities_are_never_swung() -> None:
    features, candles, instruments = equity_rule_frames([_at(TUESDAY, 15, 10)], [0.2])
    index_rows = features.with_columns(pl.lit(INDEX).alias("instrument_token"))
    index_candles = candles.with_columns(pl.lit(INDEX).alias("instrument_token"))
    assert _entries(index_rows, index_candles, instruments).is_empty()


def test_missing_features_are_not_decision_points_and_a_missing_column_is_named() -> None:
    features, candles, instruments = equity_rule_frames(
        [_at(TUESDAY, 15, 10)], [0.2], atr=float("nan")
    )
    assert _entries(features, candles, instruments).is_empty()
    with pytest.raises(ContractError, match="atr_14_rel"):
        _entries(features.drop("atr_14_rel"), candles, instruments)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("take_profit_atr", 0.0),
        ("stop_loss_atr", -1.0),
        ("max_hold_sessions", 0),
        ("decision_time", dt.time(15, 10, 30)),
        ("exit_time", dt.time(15, 15, tzinfo=IST)),
        ("enabled", "yes"),
    ],
)
def test_params_out_of_range_raise_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ContractError, match=field):
        EquitySwingParams(**{field: value})  # type: ignore[arg-type]
