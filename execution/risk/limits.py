"""The numbers the risk engine enforces, read once from the configuration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from data_contracts.config import KitepilotConfig
from data_contracts.errors import ContractError
from data_contracts.validation import integer, non_negative, positive

__all__ = ["MAX_ORDER_SLICES", "RiskLimits"]

MAX_ORDER_SLICES: Final = 10
"""The most child orders one entry may be sliced into under the freeze quantity (a bigger entry is
vetoed). Not a config key: ten freeze-sized orders is already far above any capital we size for."""

_OWNER = "RiskLimits"


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Every limit the risk engine checks, in rupees, percent, counts and milliseconds.

    Build it with :meth:`from_config`. Limits are inclusive: a value equal to its limit passes.
    """

    capital: float
    daily_loss_limit: float
    max_drawdown_pct: float
    margin_buffer_pct: float
    max_concurrent_positions: int
    per_trade_risk: float
    max_symbol_exposure: float
    max_total_exposure: float
    max_price_drift_pct: float
    max_exceptions_per_minute: int
    broker_api_p95_ms: float
    intraday_leverage: float
    max_order_slices: int = MAX_ORDER_SLICES

    def __post_init__(self) -> None:
        for name in (
            "capital",
            "daily_loss_limit",
            "max_drawdown_pct",
            "per_trade_risk",
            "max_symbol_exposure",
            "max_total_exposure",
            "max_price_drift_pct",
            "broker_api_p95_ms",
        ):
            positive(_OWNER, name, getattr(self, name))
        non_negative(_OWNER, "margin_buffer_pct", self.margin_buffer_pct)
        if self.margin_buffer_pct >= 100:
            raise ContractError(
                _OWNER, "margin_buffer_pct", self.margin_buffer_pct, "must be < 100"
            )
        for name in ("max_drawdown_pct", "max_price_drift_pct"):
            if getattr(self, name) > 100:
                raise ContractError(_OWNER, name, getattr(self, name), "must be <= 100")
        if positive(_OWNER, "intraday_leverage", self.intraday_leverage) < 1:
            raise ContractError(_OWNER, "intraday_leverage", self.intraday_leverage, "must be >= 1")
        integer(_OWNER, "max_concurrent_positions", self.max_concurrent_positions, minimum=1)
        integer(_OWNER, "max_exceptions_per_minute", self.max_exceptions_per_minute, minimum=1)
        integer(_OWNER, "max_order_slices", self.max_order_slices, minimum=1)

    @classmethod
    def from_config(cls, config: KitepilotConfig) -> RiskLimits:
        """``risk.*`` plus ``capital``, ``latency.broker_api_p95_ms`` and
        ``backtest.intraday_leverage`` (the MIS equity leverage the margin check assumes)."""
        risk = config.risk
        return cls(
            capital=config.capital,
            daily_loss_limit=risk.daily_loss_limit,
            max_drawdown_pct=risk.max_drawdown_pct,
            margin_buffer_pct=risk.margin_buffer_pct,
            max_concurrent_positions=risk.max_concurrent_positions,
            per_trade_risk=risk.per_trade_risk,
            max_symbol_exposure=risk.max_symbol_exposure,
            max_total_exposure=risk.max_total_exposure,
            max_price_drift_pct=risk.max_price_drift_pct,
            max_exceptions_per_minute=risk.max_exceptions_per_minute,
            broker_api_p95_ms=config.latency.broker_api_p95_ms,
            intraday_leverage=config.backtest.intraday_leverage,
        )
