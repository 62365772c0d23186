"""The model side's settings, mapped once from the user config (one place, shared by the Dagster
assets and the CLI)."""

from __future__ import annotations

from datetime import timedelta

from assets.models import ModelPipeline
from data_contracts.charges import ChargesModel
from data_contracts.config import KitepilotConfig
from data_contracts.enums import ChargeSegment
from data_contracts.nse_calendar import NseCalendar
from models.backtest import FillModel, Portfolio
from models.features import FeatureSet
from models.live import LiveStrategySettings
from models.promotion import PromotionCriteria
from models.research import ResearchSettings
from models.strategies import EquityIntradayParams, EquitySwingParams, LongOptionParams
from models.training import TrainingConfig
from models.walkforward import WalkForwardConfig

__all__ = ["live_settings", "model_pipeline"]


def model_pipeline(config: KitepilotConfig, calendar: NseCalendar) -> ModelPipeline:
    """Everything labels, training, evaluation and promotion need from ``config``."""
    strategy, training, backtest = config.strategy, config.training, config.backtest
    research = ResearchSettings(
        feature_set=FeatureSet(calendar=calendar),
        walk_forward=WalkForwardConfig(
            window=training.window.value,
            train_days=training.train_days,
            test_days=training.test_days,
            embargo_minutes=training.embargo_minutes,
        ),
        training=TrainingConfig(
            seed=training.seed,
            n_estimators=training.n_estimators,
            learning_rate=training.learning_rate,
            max_depth=training.max_depth,
            early_stopping_rounds=training.early_stopping_rounds,
            validation_fraction=training.validation_fraction,
            calibration_fraction=training.calibration_fraction,
            calibration=training.calibration.value,
            embargo_minutes=training.embargo_minutes,
        ),
        fills=FillModel(
            spread_bps=backtest.spread_bps,
            slippage_bps=backtest.slippage_bps,
            limit_buffer_bps=backtest.limit_buffer_bps,
        ),
        portfolio=Portfolio(
            capital=config.capital,
            per_trade_risk=config.risk.per_trade_risk,
            max_concurrent=config.risk.max_concurrent_positions,
            leverage={ChargeSegment.INTRADAY.value: backtest.intraday_leverage},
            max_position_notional=min(
                config.risk.max_symbol_exposure, config.risk.max_total_exposure
            ),
        ),
        threshold=strategy.min_confidence,
        min_expected_net_profit=strategy.min_expected_net_profit,
    )
    return ModelPipeline(
        research=research,
        equity=EquityIntradayParams(
            take_profit_atr=strategy.equity_take_profit_atr,
            stop_loss_atr=strategy.equity_stop_loss_atr,
            max_hold_minutes=strategy.equity_max_hold_minutes,
            last_entry_time=strategy.last_entry_time,
        ),
        options=LongOptionParams(
            take_profit_pct=strategy.option_take_profit_pct,
            stop_loss_pct=strategy.option_stop_loss_pct,
            delta_min=strategy.option_delta_min,
            delta_max=strategy.option_delta_max,
            max_hold_minutes=strategy.option_max_hold_minutes,
            exit_days_before_expiry=strategy.option_exit_days_before_expiry,
            last_entry_time=strategy.last_entry_time,
            min_oi=strategy.option_min_oi,
            max_spread_pct=strategy.option_max_spread_pct,
        ),
        promotion=PromotionCriteria(
            primary_metric=config.promotion.primary_metric.value,
            min_improvement=config.promotion.min_improvement,
            min_auc=config.promotion.min_auc,
            max_calibration_error=config.promotion.max_calibration_error,
            min_net_pnl=config.promotion.min_net_pnl,
        ),
        data_source=config.data.source.value,
        swing=EquitySwingParams(
            enabled=strategy.swing_enabled,
            take_profit_atr=strategy.swing_take_profit_atr,
            stop_loss_atr=strategy.swing_stop_loss_atr,
            max_hold_sessions=strategy.swing_max_hold_sessions,
            decision_time=strategy.swing_decision_time,
            exit_time=strategy.swing_exit_time,
        ),
    )


def live_settings(config: KitepilotConfig, calendar: NseCalendar) -> LiveStrategySettings:
    """The strategy settings, from the same mapping the batch side uses (one definition)."""
    pipeline = model_pipeline(config, calendar)
    research = pipeline.research
    return LiveStrategySettings(
        feature_set=research.feature_set,
        equity=pipeline.equity,
        options=pipeline.options,
        swing=pipeline.swing,
        fills=research.fills,
        portfolio=research.portfolio,
        min_confidence=research.threshold,
        min_expected_net_profit=research.min_expected_net_profit,
        proposal_ttl=timedelta(seconds=config.strategy.proposal_ttl_seconds),
        max_price_drift_pct=config.risk.max_price_drift_pct,
        calendar=calendar,
        charges=ChargesModel.default(),
    )
