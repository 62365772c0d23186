"""Object mothers: a valid domain object with a default for every field; override what you need."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from data_contracts.enums import (
    Direction,
    Exchange,
    InstrumentType,
    OrderStatus,
    OrderType,
    Product,
    ProposalOrigin,
    Side,
    Verdict,
)
from data_contracts.ids import (
    ClientTag,
    DecisionId,
    InstrumentToken,
    OrderId,
    ProposalId,
    StrategyId,
    TradeId,
)
from data_contracts.instruments import Instrument
from data_contracts.market import Candle, Tick
from data_contracts.trading import (
    Decision,
    FeatureContribution,
    Fill,
    OrderEvent,
    OrderIntent,
    Position,
    Proposal,
    Signal,
)

T0 = datetime(2026, 8, 18, 4, 0, tzinfo=UTC)  # 09:30 IST on a trading Tuesday
NIFTY_CE_TOKEN = InstrumentToken(12073986)
NIFTY_CE_SYMBOL = "NIFTY2681824400CE"


def tick(**overrides: Any) -> Tick:
    values: dict[str, Any] = {
        "instrument_token": NIFTY_CE_TOKEN,
        "ts_event": T0,
        "ts_init": T0 + timedelta(milliseconds=5),
        "last_price": 100.0,
        "last_quantity": 65,
        "volume": 6500,
        "bid": 99.95,
        "ask": 100.05,
        "bid_quantity": 650,
        "ask_quantity": 325,
        "oi": 120000,
    }
    return Tick(**(values | overrides))


def candle(**overrides: Any) -> Candle:
    values: dict[str, Any] = {
        "instrument_token": NIFTY_CE_TOKEN,
        "ts_event": T0,
        "ts_init": T0 + timedelta(seconds=1),
        "interval": timedelta(minutes=1),
        "open": 100.0,
        "high": 102.0,
        "low": 99.0,
        "close": 101.0,
        "volume": 1300,
        "oi": None,
    }
    return Candle(**(values | overrides))


def signal(**overrides: Any) -> Signal:
    values: dict[str, Any] = {
        "instrument_token": InstrumentToken(256265),
        "ts_event": T0,
        "ts_init": T0,
        "strategy_id": StrategyId("fno-long-options"),
        "direction": Direction.BULLISH,
        "p_win": 0.83,
        "expected_return": 12.5,
        "model_version": "7",
        "feature_version": "f1",
    }
    return Signal(**(values | overrides))


def proposal(**overrides: Any) -> Proposal:
    values: dict[str, Any] = {
        "proposal_id": ProposalId("p-20260818-0930-nifty"),
        "ts_event": T0,
        "ts_init": T0 + timedelta(milliseconds=40),
        "origin": ProposalOrigin.STRATEGY,
        "strategy_id": StrategyId("fno-long-options"),
        "instrument_token": NIFTY_CE_TOKEN,
        "exchange": Exchange.NFO,
        "tradingsymbol": NIFTY_CE_SYMBOL,
        "side": Side.BUY,
        "product": Product.NRML,
        "lots": 1,
        "lot_size": 65,
        "tick_size": 0.05,
        "limit_price": 100.0,
        "stop_loss": 60.0,
        "take_profit": 150.0,
        "time_exit": T0 + timedelta(hours=5),
        "expires_at": T0 + timedelta(minutes=2),
        "max_price_drift_pct": 2.0,
        "p_win": 0.83,
        "expected_return": 12.5,
        "expected_net_profit": 480.0,
        "expected_charges": 65.11,
        "model_version": "7",
        "feature_version": "f1",
        "explanation": (FeatureContribution("ret_15m", 0.8, 0.12),),
    }
    return Proposal(**(values | overrides))


def decision(**overrides: Any) -> Decision:
    values: dict[str, Any] = {
        "decision_id": DecisionId("d-1"),
        "proposal_id": ProposalId("p-20260818-0930-nifty"),
        "verdict": Verdict.APPROVE,
        "decided_by": "operator",
        "ts_event": T0 + timedelta(seconds=30),
    }
    return Decision(**(values | overrides))


def order_intent(**overrides: Any) -> OrderIntent:
    values: dict[str, Any] = {
        "client_tag": ClientTag("KP0000000000000001"),
        "proposal_id": ProposalId("p-20260818-0930-nifty"),
        "instrument_token": NIFTY_CE_TOKEN,
        "exchange": Exchange.NFO,
        "tradingsymbol": NIFTY_CE_SYMBOL,
        "side": Side.BUY,
        "quantity": 65,
        "lot_size": 65,
        "tick_size": 0.05,
        "order_type": OrderType.LIMIT,
        "product": Product.NRML,
        "ts_init": T0,
        "price": 100.05,
    }
    return OrderIntent(**(values | overrides))


def order_event(**overrides: Any) -> OrderEvent:
    values: dict[str, Any] = {
        "client_tag": ClientTag("KP0000000000000001"),
        "order_id": OrderId("1953341975595868160"),
        "status": OrderStatus.OPEN,
        "ts_event": T0,
        "ts_init": T0,
        "quantity": 65,
    }
    return OrderEvent(**(values | overrides))


def fill(**overrides: Any) -> Fill:
    values: dict[str, Any] = {
        "trade_id": TradeId("T1"),
        "order_id": OrderId("1953341975595868160"),
        "client_tag": ClientTag("KP0000000000000001"),
        "instrument_token": NIFTY_CE_TOKEN,
        "side": Side.BUY,
        "product": Product.NRML,
        "quantity": 65,
        "price": 100.0,
        "ts_event": T0,
        "ts_init": T0,
        "charges": 20.0,
    }
    return Fill(**(values | overrides))


def position(**overrides: Any) -> Position:
    values: dict[str, Any] = {
        "instrument_token": NIFTY_CE_TOKEN,
        "tradingsymbol": NIFTY_CE_SYMBOL,
        "product": Product.NRML,
    }
    return Position(**(values | overrides))


def infy_instrument() -> Instrument:
    """INFY on NSE as Kite's dump lists it (token 408065, tick 0.05, lot 1)."""
    return Instrument(
        instrument_token=InstrumentToken(408065),
        exchange_token=1594,
        tradingsymbol="INFY",
        name="INFOSYS",
        exchange=Exchange.NSE,
        segment="NSE",
        instrument_type=InstrumentType.EQ,
        expiry=None,
        strike=None,
        tick_size=0.05,
        lot_size=1,
    )
