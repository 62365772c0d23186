"""Object mothers: a valid domain object with a default for every field; override what you need."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from data_contracts.enums import (
    DeadLetterReason,
    Direction,
    Exchange,
    ExitReason,
    InstrumentType,
    OrderStatus,
    OrderType,
    Product,
    ProposalOrigin,
    Side,
    Verdict,
)
from data_contracts.feed import DeadLetter
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
    ExitProposal,
    FeatureContribution,
    Fill,
    OpenTrade,
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


def open_trade(**overrides: Any) -> OpenTrade:
    """The trade opened by filling ``proposal()`` at its limit price a second after approval."""
    values: dict[str, Any] = {
        "proposal_id": ProposalId("p-20260818-0930-nifty"),
        "strategy_id": StrategyId("fno-long-options"),
        "instrument_token": NIFTY_CE_TOKEN,
        "exchange": Exchange.NFO,
        "tradingsymbol": NIFTY_CE_SYMBOL,
        "product": Product.NRML,
        "side": Side.BUY,
        "quantity": 65,
        "lot_size": 65,
        "tick_size": 0.05,
        "entry_price": 100.0,
        "stop_loss": 60.0,
        "take_profit": 150.0,
        "time_exit": T0 + timedelta(hours=5),
        "opened_at": T0 + timedelta(seconds=31),
    }
    return OpenTrade(**(values | overrides))


def exit_proposal(**overrides: Any) -> ExitProposal:
    """The take-profit exit of ``open_trade()``: SELL the 65 at 150."""
    entry = ProposalId("p-20260818-0930-nifty")
    values: dict[str, Any] = {
        "exit_id": ExitProposal.id_for(entry),
        "entry_proposal_id": entry,
        "ts_event": T0 + timedelta(minutes=20),
        "ts_init": T0 + timedelta(minutes=20, milliseconds=3),
        "reason": ExitReason.TAKE_PROFIT,
        "strategy_id": StrategyId("fno-long-options"),
        "instrument_token": NIFTY_CE_TOKEN,
        "exchange": Exchange.NFO,
        "tradingsymbol": NIFTY_CE_SYMBOL,
        "product": Product.NRML,
        "side": Side.SELL,
        "quantity": 65,
        "lot_size": 65,
        "tick_size": 0.05,
        "reference_price": 150.2,
        "limit_price": 149.5,
    }
    return ExitProposal(**(values | overrides))


def dead_letter(**overrides: Any) -> DeadLetter:
    """A tick refused for a crossed book."""
    values: dict[str, Any] = {
        "source": "kite",
        "reason": DeadLetterReason.CROSSED_BOOK,
        "ts_init": T0 + timedelta(milliseconds=5),
        "payload": '{"instrument_token": 12073986, "bid": 101.0, "ask": 100.5}',
        "detail": "bid 101.0 > ask 100.5",
        "instrument_token": NIFTY_CE_TOKEN,
        "ts_event": T0,
    }
    return DeadLetter(**(values | overrides))


def session_bars(
    instrument_token: int,
    last_close: datetime,
    count: int,
    *,
    close: float = 1500.0,
    growth: float = 0.001,
    tick_size: float = 0.05,
) -> Any:
    """``count`` CandleFrame bars (a polars frame) of one instrument on consecutive NSE session
    minutes, the last closing at ``last_close``. Closes move geometrically by ``growth`` per bar
    to end near ``close`` (on such a path the MACD histogram is steadily positive, rising or
    falling); every price is on the ``tick_size`` grid and the high/low sit two ticks outside
    the body, so the ATR is never 0."""
    import polars as pl  # heavy; only the streaming tests need candle frames here

    from data_contracts.nse_calendar import NseCalendar
    from data_contracts.schemas import UTC_TIMESTAMP

    calendar = NseCalendar.default()
    closes: list[datetime] = []
    session = calendar.session(last_close.date())
    at = last_close
    while len(closes) < count:
        if session is None or at <= session.open:
            session = calendar.previous_session(session.date if session else last_close.date())
            at = session.close
            continue
        closes.append(at)
        at -= timedelta(minutes=1)
    closes.reverse()
    prices = [close * (1 + growth) ** (n - count + 1) for n in range(count)]
    grid = [round(round(p / tick_size) * tick_size, 6) for p in prices]
    opens = [grid[0], *grid[:-1]]
    two = 2 * tick_size
    return pl.DataFrame(
        {
            "instrument_token": [instrument_token] * count,
            "ts_event": closes,
            "open": opens,
            "high": [round(max(o, c) + two, 6) for o, c in zip(opens, grid, strict=True)],
            "low": [round(min(o, c) - two, 6) for o, c in zip(opens, grid, strict=True)],
            "close": grid,
            "volume": [1000 + 10 * (n % 7) for n in range(count)],
            "oi": [None] * count,
        },
        schema={
            "instrument_token": pl.Int64,
            "ts_event": UTC_TIMESTAMP,
            "open": pl.Float64,
            "high": pl.Float64,
            "low": pl.Float64,
            "close": pl.Float64,
            "volume": pl.Int64,
            "oi": pl.Int64,
        },
    )
