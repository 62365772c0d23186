"""The look-back lengths of the candle feature set (part of its version hash)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from data_contracts.errors import ContractError
from data_contracts.validation import integer, positive

__all__ = ["CandleFeatureParams"]


@dataclass(frozen=True, slots=True)
class CandleFeatureParams:
    """Look-back lengths (in bars) of the candle features; the defaults are the classic ones."""

    ema_fast: int = 12
    ema_slow: int = 26
    macd_signal: int = 9
    rsi: int = 14
    adx: int = 14
    atr: int = 14
    bollinger: int = 20
    bollinger_width: float = 2.0
    zscore: int = 20
    roc: int = 20
    stddev: int = 20
    hv: int = 20
    volume: int = 20
    # Bars in a trading year, to annualise historical volatility: 252 sessions x 375 minutes.
    bars_per_year: float = 252 * 375

    def __post_init__(self) -> None:
        owner = "CandleFeatureParams"
        for name, value in asdict(self).items():
            if name in {"bollinger_width", "bars_per_year"}:
                positive(owner, name, value)
            else:
                integer(owner, name, value, minimum=2)
        if self.ema_fast >= self.ema_slow:
            raise ContractError(
                owner, "ema_fast", self.ema_fast, f"must be < ema_slow ({self.ema_slow})"
            )
