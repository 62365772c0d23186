"""Object mothers: a valid domain object with a default for every field; override what you need."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
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


def exit_of(
    trade: OpenTrade,
    now: datetime,
    *,
    reference_price: float,
    limit_price: float,
    reason: ExitReason = ExitReason.TAKE_PROFIT,
) -> ExitProposal:
    """The exit closing the whole of ``trade`` at ``now``."""
    return ExitProposal.closing(
        trade,
        ts_event=now,
        ts_init=now,
        reason=reason,
        reference_price=reference_price,
        limit_price=limit_price,
    )


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


NIFTY_INDEX_TOKEN = InstrumentToken(256265)


def nifty_index_instrument() -> Instrument:
    """NIFTY 50 as Kite's dump lists it: an EQ in segment INDICES, tick and lot 0."""
    return Instrument(
        instrument_token=NIFTY_INDEX_TOKEN,
        exchange_token=1001,
        tradingsymbol="NIFTY 50",
        name="NIFTY 50",
        exchange=Exchange.NSE,
        segment="INDICES",
        instrument_type=InstrumentType.EQ,
        expiry=None,
        strike=None,
        tick_size=0.0,
        lot_size=0,
    )


NIFTY_STRIKES = tuple(float(strike) for strike in range(23_500, 24_600, 100))


def nifty_option_chain(
    at: datetime,
    expiry: Any,
    *,
    spot: float = 24_000.0,
    strikes: tuple[float, ...] = NIFTY_STRIKES,
    vol: float = 0.14,
    spread: float = 1.0,
    oi: int = 500_000,
    rate: float = 0.065,
) -> tuple[list[Instrument], Any]:
    """A NIFTY option chain snapshot at ``at``: a CE and a PE of ``expiry`` at every strike, as
    (instruments, chain frame). Mids are Black-76 premiums at one flat ``vol`` and a forward of
    ``spot`` (on the 0.05 grid); bid/ask sit ``spread`` apart around them. The frame has the
    columns of a live chain (``ts_event, underlying_token, instrument_token, expiry, strike,
    option_type, last_price, bid, ask, oi``)."""
    import math

    import polars as pl  # heavy; only the streaming tests need chain frames here

    from data_contracts.enums import SegmentId
    from data_contracts.instruments import instrument_token
    from data_contracts.schemas import UTC_TIMESTAMP
    from models.option_math import black76_price

    years = (datetime(expiry.year, expiry.month, expiry.day, 10, tzinfo=UTC) - at) / timedelta(
        days=365
    )
    instruments: list[Instrument] = []
    mids: list[float] = []
    for n, (strike, kind) in enumerate((k, t) for k in strikes for t in ("CE", "PE")):
        exchange_token = 60_000 + n
        instruments.append(
            Instrument(
                instrument_token=instrument_token(exchange_token, SegmentId.NFO),
                exchange_token=exchange_token,
                tradingsymbol=f"NIFTY{expiry:%y}{expiry.month}{expiry:%d}{strike:.0f}{kind}",
                name="NIFTY",
                exchange=Exchange.NFO,
                segment="NFO-OPT",
                instrument_type=InstrumentType(kind),
                expiry=expiry,
                strike=strike,
                tick_size=0.05,
                lot_size=65,
            )
        )
        premium = black76_price(spot, strike, years, vol, kind == "CE", math.exp(-rate * years))
        mids.append(round(round(premium / 0.05) * 0.05, 2))
    chain = pl.DataFrame(
        {
            "ts_event": [at] * len(instruments),
            "underlying_token": [int(NIFTY_INDEX_TOKEN)] * len(instruments),
            "instrument_token": [int(i.instrument_token) for i in instruments],
            "expiry": [expiry] * len(instruments),
            "strike": [i.strike for i in instruments],
            "option_type": [i.instrument_type.value for i in instruments],
            "last_price": mids,
            "bid": [round(m - spread / 2, 2) for m in mids],
            "ask": [round(m + spread / 2, 2) for m in mids],
            "oi": [oi] * len(instruments),
        },
        schema={
            "ts_event": UTC_TIMESTAMP,
            "underlying_token": pl.Int64,
            "instrument_token": pl.Int64,
            "expiry": pl.Date,
            "strike": pl.Float64,
            "option_type": pl.String,
            "last_price": pl.Float64,
            "bid": pl.Float64,
            "ask": pl.Float64,
            "oi": pl.Int64,
        },
    )
    return instruments, chain


def live_settings(**overrides: Any) -> Any:
    """The live strategy's settings for tests: a ₹10 lakh account risking ₹5,000 a trade, low
    thresholds (p_win ≥ 0.6, ₹100), default fills, charges and calendar."""
    from data_contracts.charges import ChargesModel
    from data_contracts.nse_calendar import NseCalendar
    from models.backtest import FillModel, Portfolio
    from models.features import FeatureSet
    from models.live import LiveStrategySettings
    from models.strategies import EquityIntradayParams, LongOptionParams

    values: dict[str, Any] = {
        "feature_set": FeatureSet(),
        "equity": EquityIntradayParams(),
        "options": LongOptionParams(min_oi=100_000),
        "fills": FillModel(),
        "portfolio": Portfolio(capital=1_000_000.0, per_trade_risk=5_000.0),
        "min_confidence": 0.6,
        "min_expected_net_profit": 100.0,
        "proposal_ttl": timedelta(minutes=2),
        "max_price_drift_pct": 1.0,
        "calendar": NseCalendar.default(),
        "charges": ChargesModel.default(),
    }
    return LiveStrategySettings(**(values | overrides))


def nifty_ce_instrument(**overrides: Any) -> Instrument:
    """The NIFTY 24400 CE of the 2026-08-18 weekly expiry (lot 65, tick 0.05, freeze 1,800)."""
    values: dict[str, Any] = {
        "instrument_token": NIFTY_CE_TOKEN,
        "exchange_token": NIFTY_CE_TOKEN // 256,
        "tradingsymbol": NIFTY_CE_SYMBOL,
        "name": "NIFTY",
        "exchange": Exchange.NFO,
        "segment": "NFO-OPT",
        "instrument_type": InstrumentType.CE,
        "expiry": date(2026, 8, 18),
        "strike": 24_400.0,
        "tick_size": 0.05,
        "lot_size": 65,
        "freeze_quantity": 1_800,
    }
    return Instrument(**(values | overrides))


def risk_limits(**overrides: Any) -> Any:
    """Generous limits (₹10 lakh capital) under which a one-lot option entry passes."""
    from execution.risk import RiskLimits  # tests of the contracts layer need not import it

    values: dict[str, Any] = {
        "capital": 1_000_000,
        "daily_loss_limit": 50_000,
        "max_drawdown_pct": 20,
        "margin_buffer_pct": 10,
        "max_concurrent_positions": 3,
        "per_trade_risk": 10_000,
        "max_symbol_exposure": 200_000,
        "max_total_exposure": 400_000,
        "max_price_drift_pct": 2,
        "max_exceptions_per_minute": 5,
        "broker_api_p95_ms": 2_000,
        "intraday_leverage": 5,
    }
    return RiskLimits(**(values | overrides))


RULE_STOCK, RULE_INDEX = 738561, 256265  # an NSE equity and the NIFTY index (Kite: EQ, INDICES)


def equity_rule_frames(
    times: list[datetime], hist: list[float], *, close: float = 1500.0, atr: float = 0.001
) -> tuple[Any, Any, Any]:
    """``(features, candles, instruments)`` frames an equity entry rule decides on: RULE_STOCK's
    rows at ``times`` with ``atr_14_rel`` = ``atr``, the given MACD histogram and ``close``; the
    instruments list the stock and the index (which Kite lists as EQ, segment INDICES)."""
    import polars as pl

    from data_contracts.schemas import UTC_TIMESTAMP

    tokens = [RULE_STOCK] * len(times)
    features = pl.DataFrame(
        {
            "instrument_token": tokens,
            "ts_event": times,
            "atr_14_rel": [atr] * len(times),
            "macd_hist_rel": hist,
        },
        schema_overrides={"ts_event": UTC_TIMESTAMP},
    )
    candles = pl.DataFrame(
        {"instrument_token": tokens, "ts_event": times, "close": [close] * len(times)},
        schema_overrides={"ts_event": UTC_TIMESTAMP},
    )
    instruments = pl.DataFrame(
        {
            "instrument_token": [RULE_STOCK, RULE_INDEX],
            "instrument_type": ["EQ", "EQ"],
            "segment": ["NSE", "INDICES"],
            "tick_size": [0.05, 0.05],
            "lot_size": [1, 1],
        }
    )
    return features, candles, instruments
