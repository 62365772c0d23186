"""The vectorized backtest: fills, sizing, exits and charges for many entries at once, then a
portfolio that takes some of them, the equity curve and the metrics.

    trades = simulate_trades(bars, entries, fills=FillModel(), portfolio=Portfolio(1e6, 5e3))
    result = run_backtest(bars, entries, fills=FillModel(), portfolio=Portfolio(1e6, 5e3))

Rules (fills, exits, sizing, charges, metrics): ``docs/backtest.md``.
"""

from models.backtest.engine import (
    EXIT_REASONS,
    SKIP_REASONS_ALL,
    BacktestResult,
    Trades,
    run_backtest,
    simulate_trades,
)
from models.backtest.fills import FillModel
from models.backtest.inputs import ENTRY_SCHEMA
from models.backtest.metrics import METRIC_NAMES
from models.backtest.portfolio import Portfolio, size_lots

__all__ = [
    "ENTRY_SCHEMA",
    "EXIT_REASONS",
    "METRIC_NAMES",
    "SKIP_REASONS_ALL",
    "BacktestResult",
    "FillModel",
    "Portfolio",
    "Trades",
    "run_backtest",
    "simulate_trades",
    "size_lots",
]
