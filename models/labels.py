"""Fee-aware labels: the only code allowed to look ahead.

For each decision point, the label is the net outcome of the trade the strategy would take there
(its entry, exits and sizing from :mod:`models.strategies`), simulated by the one trade simulation
of the code base (:func:`models.backtest.simulate_trades`) with all Zerodha charges. Classifier
target: ``win`` (net P&L > 0). Regressor target: ``net_return_pct``.

Decision points the strategy could not take (a limit not filled, a stop too wide for one lot) have
no label: the model is never asked about trades that cannot happen.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from data_contracts.charges import ChargesModel
from models.backtest import FillModel, Portfolio, simulate_trades

__all__ = ["ENTRY_PASSTHROUGH", "LABEL_COLUMNS", "label_entries"]

LABEL_COLUMNS: Final = (
    "instrument_token",
    "ts_event",
    "exit_ts",
    "net_pnl",
    "net_return_pct",
    "charges",
    "win",
)
# Kept with each label: the entry the label belongs to (so evaluation can re-run exactly that
# trade in the backtest) and what happened to it.
ENTRY_PASSTHROUGH: Final = (
    "direction",
    "take_profit",
    "stop_loss",
    "exit_deadline",
    "deadline_reason",
    "lot_size",
    "tick_size",
    "segment",
    "lots",
    "quantity",
    "entry_price",
    "exit_price",
    "exit_reason",
)


def label_entries(
    bars: pl.DataFrame,
    entries: pl.DataFrame,
    *,
    fills: FillModel,
    portfolio: Portfolio,
    charges: ChargesModel | None = None,
) -> pl.DataFrame:
    """One label per entry the strategy could take: a ``LabelFrame`` plus the entry's columns.

    ``lots`` is the size the strategy chose (the sizing rule's result), so re-running the row as an
    entry reproduces the trade exactly.
    """
    simulated = simulate_trades(bars, entries, fills=fills, portfolio=portfolio, charges=charges)
    return simulated.trades.select(
        pl.col("instrument_token"),
        pl.col("ts_decision").alias("ts_event"),
        pl.col("ts_exit").alias("exit_ts"),
        pl.col("net_pnl"),
        pl.col("net_return_pct"),
        pl.col("charges"),
        (pl.col("net_pnl") > 0).alias("win"),
        *(pl.col(c) for c in ENTRY_PASSTHROUGH),
    ).sort("instrument_token", "ts_event")
