"""Strategies shared by labels, the backtest and (later) streaming: where to enter, which side, and
the exits of the trade the strategy would take.

See ``docs/strategies.md``.
"""

from models.strategies.equity import EquityIntradayParams, equity_intraday_entries
from models.strategies.rules import macd_rsi_signals

__all__ = ["EquityIntradayParams", "equity_intraday_entries", "macd_rsi_signals"]
