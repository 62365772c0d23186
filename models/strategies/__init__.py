"""Strategies shared by labels, the backtest and (later) streaming: where to enter, which side, and
the exits of the trade the strategy would take.

See ``docs/models.md`` (labels and strategies).
"""

from models.strategies.equity import EquityIntradayParams, equity_intraday_entries
from models.strategies.options import (
    OPTION_STRATEGIES,
    LongOptionParams,
    OptionTrades,
    live_option_entries,
    long_option_trades,
    underlying_signals,
)
from models.strategies.rules import macd_rsi_signals, trend_direction
from models.strategies.swing import SWING_STRATEGIES, EquitySwingParams, equity_swing_entries

__all__ = [
    "OPTION_STRATEGIES",
    "SWING_STRATEGIES",
    "EquityIntradayParams",
    "EquitySwingParams",
    "LongOptionParams",
    "OptionTrades",
    "equity_intraday_entries",
    "equity_swing_entries",
    "live_option_entries",
    "long_option_trades",
    "macd_rsi_signals",
    "trend_direction",
    "underlying_signals",
]
