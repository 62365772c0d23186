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
from models.backtest import ENTRY_SCHEMA, FillModel, Portfolio, simulate_trades
from models.strategies import OptionTrades

__all__ = [
    "ENTRY_INPUTS",
    "ENTRY_PASSTHROUGH",
    "LABEL_COLUMNS",
    "OPTION_CONTRACT_COLUMNS",
    "OUTCOME_COLUMNS",
    "label_entries",
    "label_option_trades",
]

LABEL_COLUMNS: Final = (
    "instrument_token",
    "ts_event",
    "exit_ts",
    "net_pnl",
    "net_return_pct",
    "charges",
    "win",
)
# What a label's trade did (the backtest re-derives these; they are not entry inputs).
OUTCOME_COLUMNS: Final = ("quantity", "entry_price", "exit_price", "exit_reason")
# The entry's own columns (besides its keys), so evaluation can re-run exactly that trade.
ENTRY_INPUTS: Final = tuple(c for c in ENTRY_SCHEMA if c not in ("instrument_token", "ts_decision"))
ENTRY_PASSTHROUGH: Final = (*ENTRY_INPUTS, *OUTCOME_COLUMNS)
# Which contract a long-option label bought, and at what delta (from the chain snapshot).
OPTION_CONTRACT_COLUMNS: Final = ("underlying_token", "expiry", "strike", "option_type", "delta")


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


def label_option_trades(
    trades: OptionTrades,
    *,
    fills: FillModel,
    portfolio: Portfolio,
    charges: ChargesModel | None = None,
) -> pl.DataFrame:
    """Labels of the long-options strategy's trades (on the contracts' minute bars), with the
    contract each one bought (``OPTION_CONTRACT_COLUMNS``)."""
    labels = label_entries(
        trades.bars, trades.entries, fills=fills, portfolio=portfolio, charges=charges
    )
    contracts = trades.contracts.select(
        "instrument_token", pl.col("ts_decision").alias("ts_event"), *OPTION_CONTRACT_COLUMNS
    )
    return labels.join(contracts, on=["instrument_token", "ts_event"], how="left")
