"""Specification of the equity curve and the metrics, on hand-computed examples."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from data_contracts.schemas import UTC_TIMESTAMP
from models.backtest import METRIC_NAMES, FillModel, Portfolio, run_backtest
from models.backtest.metrics import distinct_times, equity_curve, summarise

DAY0 = dt.datetime(2025, 6, 16, 3, 46, tzinfo=dt.UTC)  # 09:16 IST, Monday
US = 1_000_000
CAPITAL = 10_000.0


def at(day: int, minute: int) -> dt.datetime:
    return DAY0 + dt.timedelta(days=day, minutes=minute)


def micros(when: dt.datetime) -> int:
    return int(when.timestamp() * US)


def trades_frame(
    rows: list[tuple[dt.datetime, dt.datetime, float, float, float, int]],
) -> pl.DataFrame:
    """(ts_entry, ts_exit, entry_price, exit_price, net_pnl, bars_held); charges 1 each."""
    return pl.DataFrame(
        {
            "ts_entry": [r[0] for r in rows],
            "ts_exit": [r[1] for r in rows],
            "entry_price": [r[2] for r in rows],
            "exit_price": [r[3] for r in rows],
            "quantity": [10] * len(rows),
            "net_pnl": [r[4] for r in rows],
            "gross_pnl": [r[4] + 1.0 for r in rows],
            "charges": [1.0] * len(rows),
            "bars_held": [r[5] for r in rows],
        },
        schema_overrides={
            "ts_entry": UTC_TIMESTAMP,
            "ts_exit": UTC_TIMESTAMP,
            **dict.fromkeys(("entry_price", "exit_price", "net_pnl", "gross_pnl"), pl.Float64),
            "charges": pl.Float64,
            "quantity": pl.Int64,
            "bars_held": pl.Int64,
        },
    )


# Three days with bars at minutes 0..9; trades: +300 (day 0), -500 and +100 (day 1), +200 (day 2).
ROWS = [
    (at(0, 0), at(0, 2), 100.0, 130.0, 300.0, 2),
    (at(1, 0), at(1, 4), 100.0, 50.0, -500.0, 4),
    (at(1, 5), at(1, 6), 100.0, 110.0, 100.0, 1),
    (at(2, 1), at(2, 3), 100.0, 120.0, 200.0, 2),
]
BAR_TIMES = np.array([micros(at(d, m)) for d in range(3) for m in range(10)], dtype=np.int64)
BAR_DAYS = np.repeat(np.arange(3) + 20255, 10).astype(np.int64)  # 2025-06-16 = day 20255


@given(
    runs=st.lists(st.lists(st.integers(-(2**62), 2**62), max_size=30), max_size=6),
    presorted=st.booleans(),
)
def test_distinct_times_any_runs_equal_numpy_unique(runs: list[list[int]], presorted: bool) -> None:
    # Bar closes sorted by (instrument, time) are ascending runs; any order must still work.
    parts = [sorted(run) if presorted else run for run in runs]
    ts = np.array([t for part in parts for t in part], dtype=np.int64)

    distinct = distinct_times(ts)

    assert distinct.dtype == np.int64
    assert distinct.tolist() == np.unique(ts).tolist()


def test_equity_curve_starts_at_capital_then_adds_each_exit() -> None:
    trades = trades_frame(ROWS)

    equity = equity_curve(
        CAPITAL,
        micros(at(0, 0)),
        trades["ts_exit"].cast(pl.Int64).to_numpy(),
        trades["net_pnl"].to_numpy(),
    )

    assert equity["equity"].to_list() == [10_000.0, 10_300.0, 9_800.0, 9_900.0, 10_100.0]
    assert equity["ts"].to_list() == [at(0, 0), at(0, 2), at(1, 4), at(1, 6), at(2, 3)]


def test_equity_curve_exits_at_same_time_make_one_point() -> None:
    equity = equity_curve(CAPITAL, 0, np.array([5, 5, 9]), np.array([10.0, -4.0, 1.0]))

    assert equity["equity"].to_list() == [10_000.0, 10_006.0, 10_007.0]


def test_summarise_hand_example_gives_hand_computed_metrics() -> None:
    trades = trades_frame(ROWS)
    equity = equity_curve(
        CAPITAL, 0, trades["ts_exit"].cast(pl.Int64).to_numpy(), trades["net_pnl"].to_numpy()
    )

    metrics = summarise(trades, equity, CAPITAL, BAR_TIMES, BAR_DAYS)

    # Daily returns: +0.03, -0.04, +0.02; mean 0.00333, sample std 0.03786.
    daily = np.array([0.03, -0.04, 0.02])
    sharpe = daily.mean() / daily.std(ddof=1) * math.sqrt(252)
    sortino = daily.mean() / math.sqrt((0.04**2) / 3) * math.sqrt(252)
    assert metrics == pytest.approx(
        {
            "net_pnl": 100.0,
            "gross_pnl": 104.0,
            "charges": 4.0,
            "trades": 4.0,
            "win_rate": 0.75,
            "sharpe": sharpe,
            "sortino": sortino,
            # Peak 10,300 -> trough 9,800.
            "max_drawdown": 500.0,
            "max_drawdown_pct": 500 / 10_300 * 100,
            # Bars held open (ts_entry < t <= ts_exit): 2 + 4 + 1 + 2 of 30 bar closes.
            "exposure": 9 / 30,
            # (130 + 50 + 110 + 120 + 4 x 100) x 10 / 10,000.
            "turnover": 0.81,
            "avg_bars_held": 2.25,
        }
    )
    assert metrics["sharpe"] > 0
    assert tuple(metrics) == METRIC_NAMES


def test_summarise_losing_days_give_negative_sharpe_and_sortino() -> None:
    losing = [(a, b, p, q, -abs(pnl) * (i + 1), h) for i, (a, b, p, q, pnl, h) in enumerate(ROWS)]
    trades = trades_frame(losing)
    equity = equity_curve(
        CAPITAL, 0, trades["ts_exit"].cast(pl.Int64).to_numpy(), trades["net_pnl"].to_numpy()
    )

    metrics = summarise(trades, equity, CAPITAL, BAR_TIMES, BAR_DAYS)

    assert (metrics["sharpe"] < 0, metrics["sortino"] < 0, metrics["win_rate"]) == (True, True, 0.0)


def test_summarise_no_trades_gives_zeros_not_nan() -> None:
    trades = trades_frame([])
    equity = equity_curve(CAPITAL, 0, np.zeros(0, dtype=np.int64), np.zeros(0))

    metrics = summarise(trades, equity, CAPITAL, BAR_TIMES, BAR_DAYS)

    assert metrics == dict.fromkeys(METRIC_NAMES, 0.0)


def test_run_backtest_metrics_and_equity_agree_with_its_trades() -> None:
    minutes = [at(0, m) for m in range(6)]
    closes = [100.0, 100.5, 101.0, 100.0, 99.0, 99.5]
    bars = pl.DataFrame(
        {
            "instrument_token": 5,
            "ts_event": minutes,
            "open": closes,
            "high": [c + 0.2 for c in closes],
            "low": [c - 0.2 for c in closes],
            "close": closes,
        },
        schema_overrides={"ts_event": UTC_TIMESTAMP},
    )
    entries = pl.DataFrame(
        {
            "instrument_token": 5,
            "ts_decision": [minutes[0], minutes[2]],
            "direction": [1, -1],
            "take_profit": [110.0, 90.0],
            "stop_loss": [90.0, 110.0],
            "exit_deadline": [minutes[2], minutes[4]],
            "deadline_reason": "time",
            "lot_size": 1,
            "tick_size": 0.05,
            "segment": "intraday",
            "lots": 100,
        },
        schema_overrides={
            "ts_decision": UTC_TIMESTAMP,
            "exit_deadline": UTC_TIMESTAMP,
            "direction": pl.Int8,
            "lots": pl.Int64,
        },
    )

    result = run_backtest(
        bars, entries, fills=FillModel(), portfolio=Portfolio(capital=CAPITAL, per_trade_risk=1e3)
    )

    net = result.trades["net_pnl"].sum()
    assert result.trades.height == 2
    assert result.metrics["net_pnl"] == pytest.approx(net)
    assert result.metrics["win_rate"] == 1.0
    assert result.equity["equity"].to_list() == pytest.approx(
        [CAPITAL, CAPITAL + result.trades["net_pnl"][0], CAPITAL + net]
    )
    # Held over minutes 1..4 of the 6 bar closes.
    assert result.metrics["exposure"] == pytest.approx(4 / 6)
