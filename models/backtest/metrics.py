"""What a backtest made: the equity curve and the summary metrics (``docs/backtest.md``)."""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from data_contracts.schemas import UTC_TIMESTAMP

__all__ = ["METRIC_NAMES", "distinct_times", "equity_curve", "summarise"]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

_TRADING_DAYS_PER_YEAR: Final = 252
METRIC_NAMES: Final = (
    "net_pnl",
    "gross_pnl",
    "charges",
    "trades",
    "win_rate",
    "sharpe",
    "sortino",
    "max_drawdown",
    "max_drawdown_pct",
    "exposure",
    "turnover",
    "avg_bars_held",
)


def distinct_times(ts: Ints) -> Ints:
    """The distinct values of ``ts``, ascending (``np.unique``). Fast when ``ts`` is a few
    ascending runs, like bar closes sorted by (instrument, time): a stable sort merges runs."""
    ordered = np.sort(ts, kind="stable")
    distinct: Ints = ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if len(ordered) else ordered
    return distinct


def equity_curve(capital: float, start: int, exit_ts: Ints, net_pnl: Floats) -> pl.DataFrame:
    """``ts, equity``: capital at ``start`` (microseconds, UTC), then capital plus realised net
    P&L after each exit time (exits at the same time make one point)."""
    order = np.argsort(exit_ts, kind="stable")
    ts, pnl = exit_ts[order], net_pnl[order]
    equity = capital + np.cumsum(pnl)
    last_of_time = np.r_[ts[1:] != ts[:-1], True] if len(ts) else np.zeros(0, dtype=bool)
    times = np.r_[min(start, ts[0]) if len(ts) else start, ts[last_of_time]].astype(np.int64)
    values = np.r_[capital, equity[last_of_time]]
    return pl.DataFrame(
        {"ts": pl.Series(times).cast(UTC_TIMESTAMP), "equity": values},
        schema={"ts": UTC_TIMESTAMP, "equity": pl.Float64},
    )


def summarise(
    trades: pl.DataFrame, equity: pl.DataFrame, capital: float, bar_times: Ints, bar_days: Ints
) -> dict[str, float]:
    """The metrics of accepted ``trades`` (a trades table) over the bars' timeline.

    ``bar_times``: every distinct bar close (µs, ascending); ``bar_days``: the IST day number of
    each. Sharpe and Sortino use daily net P&L / capital over every day with bars (days without
    exits count as 0), annualised by sqrt(252); 0 when undefined.
    """
    net = trades["net_pnl"].to_numpy()
    daily = _daily_returns(trades, capital, bar_days)
    drawdown, drawdown_pct = _drawdowns(equity["equity"].to_numpy())
    notional = (trades["entry_price"] + trades["exit_price"]) * trades["quantity"]
    return {
        "net_pnl": float(net.sum()),
        "gross_pnl": float(trades["gross_pnl"].sum()),
        "charges": float(trades["charges"].sum()),
        "trades": float(len(net)),
        "win_rate": float((net > 0).mean()) if len(net) else 0.0,
        "sharpe": _ratio(daily, float(np.std(daily, ddof=1)) if len(daily) > 1 else 0.0),
        "sortino": _ratio(daily, float(np.sqrt(np.mean(np.minimum(daily, 0.0) ** 2)))),
        "max_drawdown": drawdown,
        "max_drawdown_pct": drawdown_pct,
        "exposure": _exposure(trades, bar_times),
        "turnover": float(notional.sum()) / capital,
        "avg_bars_held": float(trades["bars_held"].to_numpy().mean()) if len(net) else 0.0,
    }


def _daily_returns(trades: pl.DataFrame, capital: float, bar_days: Ints) -> Floats:
    days = np.unique(bar_days)
    if len(days) == 0:
        return np.zeros(0)
    exit_days = _ist_day_numbers(trades["ts_exit"])
    pnl = np.zeros(len(days))
    np.add.at(pnl, np.searchsorted(days, exit_days), trades["net_pnl"].to_numpy())
    result: Floats = pnl / capital
    return result


def _ratio(daily: Floats, spread: float) -> float:
    if len(daily) < 2 or not spread > 0 or not math.isfinite(spread):
        return 0.0
    return float(np.mean(daily) / spread * math.sqrt(_TRADING_DAYS_PER_YEAR))


def _drawdowns(equity: Floats) -> tuple[float, float]:
    """Largest fall from a running peak, in rupees and as a percent of that peak (both >= 0)."""
    if len(equity) == 0:
        return 0.0, 0.0
    peak = np.maximum.accumulate(equity)
    fall = peak - equity
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(peak > 0, fall / peak, 0.0)
    return float(fall.max()), float(share.max() * 100)


def _exposure(trades: pl.DataFrame, bar_times: Ints) -> float:
    """Share of the distinct bar closes at which at least one position is open, i.e. the bar
    closes t with ts_entry < t <= ts_exit for some trade."""
    if len(bar_times) == 0 or trades.is_empty():
        return 0.0
    entries = trades["ts_entry"].cast(pl.Int64).to_numpy()
    exits = trades["ts_exit"].cast(pl.Int64).to_numpy()
    change = np.zeros(len(bar_times) + 1, dtype=np.int64)
    np.add.at(change, np.searchsorted(bar_times, entries, side="right"), 1)
    np.add.at(change, np.searchsorted(bar_times, exits, side="right"), -1)
    held = np.cumsum(change[:-1]) > 0
    return float(held.mean())


def _ist_day_numbers(ts: pl.Series) -> Ints:
    days: Ints = (
        ts.dt.convert_time_zone("Asia/Kolkata").dt.date().cast(pl.Int32).cast(pl.Int64).to_numpy()
    )
    return days
