"""No trade uses a price from after its decision time: the entry depends only on the decision bar,
the exit only on the bars in (decision, exit]. Checked by changing the other bars at random."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from data_contracts.schemas import UTC_TIMESTAMP
from models.backtest import FillModel, Portfolio, simulate_trades
from models.backtest.exits import MinTable

T0 = dt.datetime(2025, 6, 16, 3, 46, tzinfo=dt.UTC)
TOKENS = (11, 22)
BARS = 30
FILLS = FillModel(spread_bps=4, slippage_bps=3, limit_buffer_bps=25)
PORTFOLIO = Portfolio(capital=500_000, per_trade_risk=2_000)
ENTRY_SIDE = ("entry_price", "lots", "quantity", "take_profit", "stop_loss", "ts_entry")


def random_bars(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Consistent OHLC bars around 100 (low <= open, close <= high, all > 0)."""
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.004, n)))
    open_ = close * np.exp(rng.normal(0, 0.003, n))
    high = np.maximum(open_, close) * (1 + rng.exponential(0.002, n))
    low = np.minimum(open_, close) * (1 - rng.exponential(0.002, n))
    return {"open": open_, "high": high, "low": low, "close": close}


def market(seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    times = [T0 + dt.timedelta(minutes=i) for i in range(BARS)]
    frames, rows = [], []
    for token in TOKENS:
        prices = random_bars(rng, BARS)
        frames.append(pl.DataFrame({"instrument_token": token, "ts_event": times, **prices}))
        for at in rng.choice(BARS, size=6, replace=False):
            direction = int(rng.choice([-1, 1]))
            close = prices["close"][at]
            rows.append(
                {
                    "instrument_token": token,
                    "ts_decision": times[at],
                    "direction": direction,
                    "take_profit": round(close * (1 + direction * rng.uniform(0.002, 0.02)), 2),
                    "stop_loss": round(close * (1 - direction * rng.uniform(0.002, 0.02)), 2),
                    "exit_deadline": times[at] + dt.timedelta(minutes=int(rng.integers(1, 15))),
                    "deadline_reason": "time",
                    "lot_size": 1,
                    "tick_size": 0.01,
                    "segment": "intraday",
                    "lots": None if rng.random() < 0.5 else int(rng.integers(1, 50)),
                }
            )
    bars = pl.concat(frames).with_columns(pl.col("ts_event").cast(UTC_TIMESTAMP))
    entries = pl.DataFrame(
        rows,
        schema_overrides={
            "ts_decision": UTC_TIMESTAMP,
            "exit_deadline": UTC_TIMESTAMP,
            "direction": pl.Int8,
            "lots": pl.Int64,
        },
    ).with_row_index("entry")
    return bars, entries


def perturbed(bars: pl.DataFrame, change: pl.Expr, seed: int) -> pl.DataFrame:
    """``bars`` with fresh random prices on the rows where ``change`` holds."""
    fresh = random_bars(np.random.default_rng(seed), bars.height)
    return bars.with_columns(
        pl.when(change).then(pl.Series(fresh[c])).otherwise(pl.col(c)).alias(c)
        for c in ("open", "high", "low", "close")
    )


def simulate(bars: pl.DataFrame, entries: pl.DataFrame) -> pl.DataFrame:
    result = simulate_trades(bars, entries, fills=FILLS, portfolio=PORTFOLIO)
    return result.trades


@settings(max_examples=60)
@given(seed=st.integers(0, 2**32 - 1), other=st.integers(0, 2**32 - 1), pick=st.integers(0, 11))
def test_simulate_trades_bars_outside_decision_to_exit_change_nothing(
    seed: int, other: int, pick: int
) -> None:
    bars, entries = market(seed)
    trades = simulate(bars, entries)
    if trades.is_empty():
        return
    trade = trades.row(pick % trades.height, named=True)
    window = (pl.col("instrument_token") == trade["instrument_token"]) & pl.col(
        "ts_event"
    ).is_between(trade["ts_decision"], trade["ts_exit"])

    again = simulate(perturbed(bars, ~window, other), entries)

    assert again.filter(pl.col("entry") == trade["entry"]).row(0, named=True) == trade


@settings(max_examples=60)
@given(seed=st.integers(0, 2**32 - 1), other=st.integers(0, 2**32 - 1), pick=st.integers(0, 11))
def test_simulate_trades_bars_after_decision_never_change_entry_price_size_or_levels(
    seed: int, other: int, pick: int
) -> None:
    bars, entries = market(seed)
    entry = entries.row(pick, named=True)
    later = (pl.col("instrument_token") == entry["instrument_token"]) & (
        pl.col("ts_event") > entry["ts_decision"]
    )
    before = simulate_trades(bars, entries, fills=FILLS, portfolio=PORTFOLIO)

    after = simulate_trades(
        perturbed(bars, later, other), entries, fills=FILLS, portfolio=PORTFOLIO
    )

    mine = pl.col("entry") == entry["entry"]
    assert after.skipped.filter(mine).equals(before.skipped.filter(mine))
    assert (
        after.trades.filter(mine)
        .select(ENTRY_SIDE)
        .equals(before.trades.filter(mine).select(ENTRY_SIDE))
    )


@given(
    values=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=70),
    windows=st.lists(
        st.tuples(st.integers(0, 69), st.integers(-1, 69), st.floats(-1e6, 1e6)), max_size=30
    ),
)
def test_min_table_first_at_or_below_equals_a_scan(
    values: list[float], windows: list[tuple[int, int, float]]
) -> None:
    n = len(values)
    starts = np.array([min(s, n - 1) for s, _, _ in windows], dtype=np.int64)
    # Windows [start, last] with last >= start - 1 (empty) and inside the array.
    lasts = np.array(
        [max(min(last, n - 1), s - 1) for s, (_, last, _) in zip(starts, windows, strict=True)],
        dtype=np.int64,
    )
    levels = np.array([level for *_, level in windows])
    longest = int((lasts - starts + 1).max()) if len(windows) else 1

    found = MinTable(np.array(values), longest).first_at_or_below(starts, lasts, levels)

    expected = [
        next((j for j in range(s, last + 1) if values[j] <= level), last + 1)
        for s, last, level in zip(starts, lasts, levels, strict=True)
    ]
    assert found.tolist() == expected
