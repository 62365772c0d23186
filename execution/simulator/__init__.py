"""The embedded market simulator (issue #3): a seeded, deterministic NSE market on the real NSE
calendar — NIFTY 50, a universe of F&O stocks, NIFTY options, ticks and an instruments dump.

Simulated data is for building and testing the system; it is never market evidence. What it
models, its parameters and its deliberate predictable component are in ``docs/simulator.md``.
"""

from execution.simulator.config import OptionParams, RegimeParams, ReturnParams, SimulatorConfig
from execution.simulator.options import OPTION_CHAIN_COLUMNS, OPTION_CHAIN_SCHEMA, OptionContract
from execution.simulator.paths import DayBars, DayPlan, Regime
from execution.simulator.source import CANDLE_SCHEMA, SimulatedMarket
from execution.simulator.universe import IndexSpec, StockSpec, Universe, load_universe

__all__ = [
    "CANDLE_SCHEMA",
    "OPTION_CHAIN_COLUMNS",
    "OPTION_CHAIN_SCHEMA",
    "DayBars",
    "DayPlan",
    "IndexSpec",
    "OptionContract",
    "OptionParams",
    "Regime",
    "RegimeParams",
    "ReturnParams",
    "SimulatedMarket",
    "SimulatorConfig",
    "StockSpec",
    "Universe",
    "load_universe",
]
