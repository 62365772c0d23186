"""Benchmark: the backtest engine against vectorbt and backtrader on the same bars and signals.

Default size: 20 instruments x 50,000 one-minute bars = 1 M bars (random walk on a 0.05 tick grid,
real NSE session times, a wider gap at every session open), ~9,500 signals with a fixed
take-profit (+0.6 %) and stop-loss (-0.4 %) of the entry and a 60-bar maximum hold. Configure
with arguments or the environment::

    python -m bench.backtest [instruments] [bars_per_instrument] [repeats]
    KITEPILOT_BENCH_BT_INSTRUMENTS=2 python -m bench.backtest   # instruments backtrader runs

First the three engines must produce the SAME trades (:func:`parity`): entry and exit bars,
entry and exit prices, gross P&L. Only then are they timed. Our engine runs with spread and
slippage 0 (the libraries have no bid/ask model); the signals are spaced so that a trade always
ends before the next signal of its instrument (no portfolio interaction to emulate). Targets
(issue #4): our ``run_backtest`` at most 2x vectorbt's time and at least 500x faster than
backtrader. Method and results: docs/PERFORMANCE.md.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from bench.features import _session_minutes
from data_contracts.schemas import UTC_TIMESTAMP
from models.backtest import BacktestResult, FillModel, Portfolio, run_backtest, simulate_trades
from models.backtest.fills import round_down, round_up

DEFAULT_INSTRUMENTS = 20
DEFAULT_BARS = 50_000
DEFAULT_REPEATS = 5
DEFAULT_BACKTRADER_INSTRUMENTS = 2  # 2 x 50k = 100k bars, extrapolated linearly to the full size
TICK = 0.05
TAKE_PROFIT = 0.006  # of the entry price
STOP_LOSS = 0.004
MAX_HOLD = 60  # bars: the time exit is at the close of the 60th bar after the entry
QUANTITY = 100
SESSION_BARS = 375
# Absolute tolerances of the parity check (per unit price, rupees of P&L per trade).
PRICE_TOLERANCE = 1e-6
PNL_TOLERANCE = 1e-4
NO_COSTS = FillModel(spread_bps=0.0, slippage_bps=0.0, limit_buffer_bps=10.0)
# Capital never binds: every signal is a trade in all three engines.
UNLIMITED = Portfolio(capital=1e12, per_trade_risk=1.0, max_concurrent=None)


@dataclass(frozen=True)
class Case:
    """One benchmark input, in the long form our engine takes and the wide form the libraries
    take (rows = bars, columns = instruments; every instrument has the same bar times)."""

    bars: pl.DataFrame  # CandleFrame-like, sorted by (instrument, time)
    entries: pl.DataFrame  # our entries frame
    ts: np.ndarray  # (bars,) int64 epoch microseconds, the bar closes
    tokens: np.ndarray  # (instruments,) int64
    open: np.ndarray  # (bars, instruments) float64, on the tick grid
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    direction: np.ndarray  # (bars, instruments) int8: +1 / -1 at a signal bar, else 0
    stop_loss: np.ndarray  # (bars, instruments) float64 price level at a signal bar, else NaN
    take_profit: np.ndarray

    @property
    def size(self) -> int:
        return int(self.close.size)

    def subset(self, columns: Sequence[int]) -> Case:
        """The same case restricted to some instruments (column numbers)."""
        picked = list(columns)
        tokens = self.tokens[picked]
        return Case(
            bars=self.bars.filter(pl.col("instrument_token").is_in(tokens.tolist())),
            entries=self.entries.filter(pl.col("instrument_token").is_in(tokens.tolist())),
            ts=self.ts,
            tokens=tokens,
            **{
                name: getattr(self, name)[:, picked]
                for name in (
                    "open",
                    "high",
                    "low",
                    "close",
                    "direction",
                    "stop_loss",
                    "take_profit",
                )
            },
        )


def synthetic_case(instruments: int, bars: int, seed: int = 11) -> Case:
    """Random-walk bars on the tick grid and spaced signals with grid TP/SL levels."""
    rng = np.random.default_rng(seed)
    ts = _session_minutes(bars)
    shape = (bars, instruments)
    base = rng.uniform(100.0, 3000.0, instruments)
    step = rng.normal(0.0, 0.0008, shape)
    session_open = np.arange(bars) % SESSION_BARS == 0
    gap = np.where(session_open[:, None], rng.normal(0.0, 0.004, shape), 0.0)
    log_close = np.log(base) + np.cumsum(step + gap, axis=0)
    close = _grid(np.exp(log_close))
    # The open: the previous close moved by the gap (bigger at a session's first bar) and noise.
    previous = np.vstack([close[:1], close[:-1]])
    open_ = _grid(previous * np.exp(gap + rng.normal(0.0, 0.0001, shape)))
    # Wider wicks at a session's first bar: some reach both levels (the stop-first rule decides).
    wick_scale = np.where(session_open, 0.004, 0.0006)[:, None]
    wick = np.abs(rng.normal(0.0, 1.0, (2, *shape))) * wick_scale
    high = _grid(np.maximum(open_, close) * (1 + wick[0]), up=True)
    low = np.maximum(_grid(np.minimum(open_, close) * (1 - wick[1]), down=True), TICK)

    direction = np.zeros(shape, dtype=np.int8)
    for column in range(instruments):
        # Signals spaced so that every trade (at most MAX_HOLD bars) ends before the next one.
        gaps = rng.integers(MAX_HOLD + 2, 2 * MAX_HOLD + 30, bars // (MAX_HOLD + 2) + 1)
        rows = np.cumsum(gaps) + rng.integers(0, MAX_HOLD)
        rows = rows[rows < bars - MAX_HOLD - 2]
        direction[rows, column] = rng.choice(np.array([-1, 1], dtype=np.int8), rows.size)
    long = direction == 1
    below = round_down(close * (1 - STOP_LOSS), TICK)
    above = round_up(close * (1 + TAKE_PROFIT), TICK)
    short_above = round_up(close * (1 + STOP_LOSS), TICK)
    short_below = round_down(close * (1 - TAKE_PROFIT), TICK)
    signal = direction != 0
    stop_loss = np.where(signal, np.where(long, below, short_above), np.nan)
    take_profit = np.where(signal, np.where(long, above, short_below), np.nan)

    tokens = np.arange(1, instruments + 1, dtype=np.int64) * 256 + 1
    bars_frame = pl.DataFrame(
        {
            "instrument_token": np.repeat(tokens, bars),
            "ts_event": np.tile(ts, instruments),
            "open": open_.T.ravel(),
            "high": high.T.ravel(),
            "low": low.T.ravel(),
            "close": close.T.ravel(),
        }
    ).with_columns(pl.col("ts_event").cast(pl.Datetime("us", "UTC")).cast(UTC_TIMESTAMP))
    bar, column = np.nonzero(signal)
    order = np.lexsort((bar, column))
    bar, column = bar[order], column[order]
    n = bar.size
    entries = pl.DataFrame(
        {
            "instrument_token": tokens[column],
            "ts_decision": ts[bar],
            "direction": direction[bar, column],
            "take_profit": take_profit[bar, column],
            "stop_loss": stop_loss[bar, column],
            "exit_deadline": ts[bar + MAX_HOLD],
            "deadline_reason": np.full(n, "time"),
            "lot_size": np.ones(n, dtype=np.int64),
            "tick_size": np.full(n, TICK),
            "segment": np.full(n, "intraday"),
            "lots": np.full(n, QUANTITY, dtype=np.int64),
        }
    ).with_columns(
        pl.col("ts_decision", "exit_deadline").cast(pl.Datetime("us", "UTC")).cast(UTC_TIMESTAMP),
        pl.col("direction").cast(pl.Int8),
    )
    return Case(
        bars=bars_frame,
        entries=entries,
        ts=ts,
        tokens=tokens,
        open=open_,
        high=high,
        low=low,
        close=close,
        direction=direction,
        stop_loss=stop_loss,
        take_profit=take_profit,
    )


def _grid(price: np.ndarray, *, up: bool = False, down: bool = False) -> np.ndarray:
    """Prices on the tick grid (nearest, or up / down), written with 2 decimals."""
    steps = price / TICK
    steps = np.ceil(steps) if up else np.floor(steps) if down else np.rint(steps)
    return np.round(steps * TICK, 2)


# --- the three engines, each returning the same trade table ----------------------------------

TRADE_SCHEMA = {
    "column": pl.Int64,
    "entry_bar": pl.Int64,
    "exit_bar": pl.Int64,
    "direction": pl.Int64,
    "entry_price": pl.Float64,
    "exit_price": pl.Float64,
    "pnl": pl.Float64,
}


def run_ours(case: Case) -> BacktestResult:
    return run_backtest(case.bars, case.entries, fills=NO_COSTS, portfolio=UNLIMITED)


def ours_trades(case: Case, result: BacktestResult) -> pl.DataFrame:
    t = result.trades
    column = np.searchsorted(case.tokens, t["instrument_token"].to_numpy())
    entry_us = t["ts_entry"].dt.epoch("us").to_numpy()
    exit_us = t["ts_exit"].dt.epoch("us").to_numpy()
    return _trade_frame(
        column=column,
        entry_bar=np.searchsorted(case.ts, entry_us),
        exit_bar=np.searchsorted(case.ts, exit_us),
        direction=t["direction"].to_numpy(),
        entry_price=t["entry_price"].to_numpy(),
        exit_price=t["exit_price"].to_numpy(),
        pnl=t["gross_pnl"].to_numpy(),
    )


def vectorbt_inputs(case: Case) -> dict[str, Any]:
    """``Portfolio.from_signals`` arguments reproducing our rules (prices at the close, stops as
    fractions of the entry close, time exit as an exit signal at the deadline bar)."""
    long = case.direction == 1
    short = case.direction == -1
    deadline_long = np.zeros_like(long)
    deadline_short = np.zeros_like(short)
    deadline_long[MAX_HOLD:] = long[:-MAX_HOLD]
    deadline_short[MAX_HOLD:] = short[:-MAX_HOLD]
    with np.errstate(invalid="ignore"):
        sl_stop = _stop_fraction(case.close, case.stop_loss, np.where(long, -1.0, 1.0))
        tp_stop = _stop_fraction(case.close, case.take_profit, np.where(long, 1.0, -1.0))
    return {
        "close": case.close,
        "entries": long,
        "exits": deadline_long,
        "short_entries": short,
        "short_exits": deadline_short,
        "open": case.open,
        "high": case.high,
        "low": case.low,
        "price": case.close,
        "size": float(QUANTITY),
        "size_type": "amount",
        "sl_stop": sl_stop,
        "tp_stop": tp_stop,
        "fees": 0.0,
        "slippage": 0.0,
        "accumulate": False,
        "init_cash": 1e12,
        "freq": "1min",
    }


def _stop_fraction(close: np.ndarray, level: np.ndarray, sign: np.ndarray) -> np.ndarray:
    """vectorbt takes a stop as a fraction ``f`` of the entry and computes the level as
    ``close x (1 + sign x f)``. Pick the multiplier ``1 + sign x f`` (exact in float, so that
    vectorbt recomputes the same one) whose level is on the grid level or just inside it (towards
    the entry), so that a bar touching the level exactly triggers in both engines."""
    multiplier = level / close
    for _ in range(8):
        beyond = np.where(sign > 0, close * multiplier > level, close * multiplier < level)
        multiplier = np.where(beyond, np.nextafter(multiplier, 1.0), multiplier)
    return np.where(np.isnan(level), np.nan, np.abs(multiplier - 1.0))


def run_vectorbt(inputs: dict[str, Any]) -> Any:
    import vectorbt as vbt  # `make bench` installs it (dependency group `bench`)

    return vbt.Portfolio.from_signals(**inputs)


def vectorbt_trades(portfolio: Any) -> pl.DataFrame:
    records = portfolio.trades.records
    return _trade_frame(
        column=records["col"],
        entry_bar=records["entry_idx"],
        exit_bar=records["exit_idx"],
        direction=np.where(records["direction"] == 0, 1, -1),
        entry_price=records["entry_price"],
        exit_price=records["exit_price"],
        pnl=records["pnl"],
    )


def run_backtrader(case: Case) -> pl.DataFrame:
    """One Cerebro per instrument (positions never interact): a market order filled at the
    signal bar's close (cheat-on-close), a resting stop and a take-profit limit (one cancels the
    other; the stop is submitted first, so it wins a bar that reaches both) and, at the deadline
    bar, the two cancelled and the position closed at that bar's close."""
    import backtrader as bt  # `make bench` installs it (dependency group `bench`)
    import pandas as pd

    index = pd.DatetimeIndex(case.ts.astype("datetime64[us]"))
    rows: list[pl.DataFrame] = []
    for column in range(case.close.shape[1]):
        frame = pd.DataFrame(
            {
                "open": case.open[:, column],
                "high": case.high[:, column],
                "low": case.low[:, column],
                "close": case.close[:, column],
                "volume": np.zeros(len(index)),
            },
            index=index,
        )
        cerebro = bt.Cerebro(stdstats=False)
        cerebro.broker.setcash(1e12)
        cerebro.broker.set_coc(True)
        cerebro.adddata(bt.feeds.PandasData(dataname=frame))
        cerebro.addstrategy(
            _strategy_class(bt),
            direction=case.direction[:, column],
            stop_loss=case.stop_loss[:, column],
            take_profit=case.take_profit[:, column],
        )
        strategy = cerebro.run()[0]
        rows.append(_backtrader_frame(strategy.fills, column))
    return pl.concat(rows) if rows else _trade_frame(*(np.empty(0),) * 7)


def _strategy_class(bt: Any) -> Any:
    class Signals(bt.Strategy):  # type: ignore[misc,name-defined]
        params = (("direction", None), ("stop_loss", None), ("take_profit", None))

        def __init__(self) -> None:
            self.fills: list[tuple[int, float, float]] = []  # (bar, signed size, price)
            self.exits: list[Any] = []
            self.deadline = -1

        def notify_order(self, order: Any) -> None:
            if order.status == order.Completed:
                bar = len(self) - 1
                if order.exectype == order.Market:  # cheat-on-close: the previous bar's close
                    bar -= 1
                self.fills.append((bar, order.executed.size, order.executed.price))

        def next(self) -> None:
            bar = len(self) - 1
            if self.position and bar == self.deadline:
                for order in self.exits:
                    self.cancel(order)
                self.close()
                return
            side = int(self.p.direction[bar])
            if side == 0 or self.position:
                return
            stop, target = float(self.p.stop_loss[bar]), float(self.p.take_profit[bar])
            if side > 0:
                self.buy(size=QUANTITY)
                stop_order = self.sell(size=QUANTITY, exectype=bt.Order.Stop, price=stop)
                target_order = self.sell(
                    size=QUANTITY, exectype=bt.Order.Limit, price=target, oco=stop_order
                )
            else:
                self.sell(size=QUANTITY)
                stop_order = self.buy(size=QUANTITY, exectype=bt.Order.Stop, price=stop)
                target_order = self.buy(
                    size=QUANTITY, exectype=bt.Order.Limit, price=target, oco=stop_order
                )
            self.exits = [stop_order, target_order]
            self.deadline = bar + MAX_HOLD

    return Signals


def _backtrader_frame(fills: list[tuple[int, float, float]], column: int) -> pl.DataFrame:
    """Pair the fills (entry, exit, entry, exit, ...) into trades."""
    entries, exits = fills[0::2], fills[1::2]
    if len(entries) != len(exits):
        raise AssertionError(f"backtrader left a position open in column {column}")
    entry = np.array(entries, dtype=np.float64).reshape(-1, 3)
    exit_ = np.array(exits, dtype=np.float64).reshape(-1, 3)
    sign = np.sign(entry[:, 1])
    return _trade_frame(
        column=np.full(len(entry), column),
        entry_bar=entry[:, 0],
        exit_bar=exit_[:, 0],
        direction=sign,
        entry_price=entry[:, 2],
        exit_price=exit_[:, 2],
        pnl=sign * (exit_[:, 2] - entry[:, 2]) * QUANTITY,
    )


def _trade_frame(
    column: Any,
    entry_bar: Any,
    exit_bar: Any,
    direction: Any,
    entry_price: Any,
    exit_price: Any,
    pnl: Any,
) -> pl.DataFrame:
    data = {
        "column": column,
        "entry_bar": entry_bar,
        "exit_bar": exit_bar,
        "direction": direction,
        "entry_price": entry_price,
        "exit_price": exit_price,
        "pnl": pnl,
    }
    return pl.DataFrame(
        {name: np.asarray(values) for name, values in data.items()}, schema=TRADE_SCHEMA
    ).sort("column", "entry_bar")


def rule_coverage(case: Case, result: BacktestResult) -> dict[str, int]:
    """How often the delicate rules decided a trade: a gap through a level (filled at the
    open) and an exit bar that reached both levels (the stop is taken)."""
    t = result.trades
    column = np.searchsorted(case.tokens, t["instrument_token"].to_numpy())
    bar = np.searchsorted(case.ts, t["ts_exit"].dt.epoch("us").to_numpy())
    long = t["direction"].to_numpy() == 1
    stop, target = t["stop_loss"].to_numpy(), t["take_profit"].to_numpy()
    low, high, open_ = case.low[bar, column], case.high[bar, column], case.open[bar, column]
    level_hit = t["exit_reason"].is_in(["stop_loss", "take_profit"]).to_numpy()
    gapped = np.where(
        long,
        (open_ <= stop) | (open_ >= target),
        (open_ >= stop) | (open_ <= target),
    )
    both = np.where(long, (low <= stop) & (high >= target), (high >= stop) & (low <= target))
    return {
        "gap_fills_at_open": int((level_hit & gapped).sum()),
        "bars_reaching_both_levels": int((level_hit & both).sum()),
    }


# --- parity -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Parity:
    """How two engines' trades compare."""

    other: str
    ours: int  # trades
    theirs: int
    matched: int  # same (instrument, entry bar) in both
    same_exit_bar: int
    max_price_difference: float
    max_pnl_difference: float

    @property
    def ok(self) -> bool:
        return (
            self.ours == self.theirs == self.matched == self.same_exit_bar
            and self.max_price_difference <= PRICE_TOLERANCE
            and self.max_pnl_difference <= PNL_TOLERANCE
        )

    def describe(self) -> str:
        verdict = "MATCH" if self.ok else "MISMATCH"
        return (
            f"{verdict} vs {self.other}: {self.ours} trades (ours) / {self.theirs} (theirs), "
            f"{self.matched} same entries, {self.same_exit_bar} same exit bar, max |price| "
            f"difference {self.max_price_difference:.2e}, max |gross P&L| difference "
            f"{self.max_pnl_difference:.2e}"
        )


def parity(ours: pl.DataFrame, theirs: pl.DataFrame, other: str) -> Parity:
    joined = ours.join(theirs, on=["column", "entry_bar"], how="inner", suffix="_theirs")
    same_direction = joined.filter(pl.col("direction") == pl.col("direction_theirs"))
    prices = same_direction.select(
        pl.max_horizontal(
            (pl.col("entry_price") - pl.col("entry_price_theirs")).abs(),
            (pl.col("exit_price") - pl.col("exit_price_theirs")).abs(),
        ).max()
    ).item()
    pnl = same_direction.select((pl.col("pnl") - pl.col("pnl_theirs")).abs().max()).item()
    return Parity(
        other=other,
        ours=ours.height,
        theirs=theirs.height,
        matched=same_direction.height,
        same_exit_bar=same_direction.filter(pl.col("exit_bar") == pl.col("exit_bar_theirs")).height,
        max_price_difference=float(prices or 0.0),
        max_pnl_difference=float(pnl or 0.0),
    )


def vectorbt_parity(case: Case) -> Parity:
    """Our trades against vectorbt's on the whole case."""
    portfolio = run_vectorbt(vectorbt_inputs(case))
    return parity(ours_trades(case, run_ours(case)), vectorbt_trades(portfolio), "vectorbt")


# --- timing -----------------------------------------------------------------------------------


def best_of(repeats: int, work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def main(argv: Sequence[str] = ()) -> int:
    args = [int(a) for a in argv]
    instruments = args[0] if args else _env_int("KITEPILOT_BENCH_INSTRUMENTS", DEFAULT_INSTRUMENTS)
    bars = args[1] if len(args) > 1 else _env_int("KITEPILOT_BENCH_BARS", DEFAULT_BARS)
    repeats = args[2] if len(args) > 2 else _env_int("KITEPILOT_BENCH_REPEATS", DEFAULT_REPEATS)
    bt_instruments = min(
        instruments,
        _env_int("KITEPILOT_BENCH_BT_INSTRUMENTS", DEFAULT_BACKTRADER_INSTRUMENTS),
    )
    print(
        f"backtest bench — Python {platform.python_version()}, {os.cpu_count()} cores, "
        f"{dt.date.today()}"  # noqa: DTZ011 - a report label, not core logic
    )
    case = synthetic_case(instruments, bars)
    print(
        f"{instruments} instruments x {bars:,} bars = {case.size:,} bars, "
        f"{case.entries.height:,} signals (TP +{TAKE_PROFIT:.1%}, SL -{STOP_LOSS:.1%}, "
        f"time exit after {MAX_HOLD} bars, {QUANTITY} units)"
    )

    result = run_ours(case)
    ours = ours_trades(case, result)
    reasons = result.trades["exit_reason"].value_counts(sort=True)
    print("our exits:", dict(zip(reasons["exit_reason"], reasons["count"], strict=True)))
    print("rules exercised:", rule_coverage(case, result))

    inputs = vectorbt_inputs(case)
    started = time.perf_counter()
    portfolio = run_vectorbt(inputs)  # the first call compiles vectorbt's numba kernels
    print(f"vectorbt first call (numba JIT compile + run): {time.perf_counter() - started:.2f} s")
    vbt_parity = parity(ours, vectorbt_trades(portfolio), "vectorbt")
    print(vbt_parity.describe())

    subset = case.subset(range(bt_instruments))
    bt_trades = run_backtrader(subset)
    bt_parity = parity(ours.filter(pl.col("column") < bt_instruments), bt_trades, "backtrader")
    print(f"on {bt_instruments} instruments ({subset.size:,} bars): {bt_parity.describe()}")
    if not (vbt_parity.ok and bt_parity.ok):
        print("parity failed: timings would compare different work; not timed")
        return 1

    ours_s = best_of(repeats, lambda: run_ours(case))
    simulate_s = best_of(
        repeats,
        lambda: simulate_trades(case.bars, case.entries, fills=NO_COSTS, portfolio=UNLIMITED),
    )
    vbt_s = best_of(repeats, lambda: run_vectorbt(inputs))
    vbt_trades_s = best_of(repeats, lambda: run_vectorbt(inputs).trades.records_readable)
    bt_s = best_of(1, lambda: run_backtrader(subset))
    bt_full = bt_s * case.size / subset.size
    print(f"ours  run_backtest (best of {repeats}): {ours_s:.3f} s")
    print(f"ours  simulate_trades, no portfolio/metrics (best of {repeats}): {simulate_s:.3f} s")
    print(f"vectorbt from_signals, compiled (best of {repeats}): {vbt_s:.3f} s")
    print(f"vectorbt from_signals + trades table (best of {repeats}): {vbt_trades_s:.3f} s")
    print(
        f"backtrader on {subset.size:,} bars (1 run): {bt_s:.2f} s -> "
        f"{bt_full:.1f} s for {case.size:,} bars (linear)"
    )
    print(
        f"ours / vectorbt = {ours_s / vbt_s:.2f} (target <= 2), "
        f"vs vectorbt + trades table = {ours_s / vbt_trades_s:.2f}; "
        f"backtrader / ours = {bt_full / ours_s:,.0f}x (target >= 500x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
