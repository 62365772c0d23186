"""The written analysis of one instrument, from numbers: trend, momentum, volatility, options
positioning, the model's view and risk, and (when they agree) a trade idea sized to the risk
budget. Pure functions: the analysis agent (``agents.agent``) gathers the numbers through the MCP
tools and these turn them into sentences, so the same numbers always give the same words.

The thresholds are the textbook readings of each indicator (RSI 30/70, ADX 20/25, ...), stated in
every sentence that uses them; they describe, they do not decide. Only the trade idea decides,
and only when trend and momentum agree and a model probability is there (see :func:`trade_idea`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from data_contracts.enums import Side
from data_contracts.errors import ContractError
from models.features.params import CandleFeatureParams

__all__ = [
    "BEARISH",
    "BULLISH",
    "NEUTRAL",
    "NOT_AVAILABLE",
    "RiskBudget",
    "Section",
    "TechnicalSnapshot",
    "TradeIdea",
    "model_section",
    "momentum_section",
    "options_section",
    "render_markdown",
    "risk_section",
    "trade_idea",
    "trend_section",
    "volatility_section",
]

BULLISH: Final = "bullish"
BEARISH: Final = "bearish"
NEUTRAL: Final = "neutral"
NOT_AVAILABLE: Final = "n/a"

_ADX_TRENDING: Final = 25.0
_ADX_WEAK: Final = 20.0
_RSI_OVERBOUGHT: Final = 70.0
_RSI_OVERSOLD: Final = 30.0
_RSI_POSITIVE: Final = 55.0
_RSI_NEGATIVE: Final = 45.0
_HV_LOW: Final = 0.15
_HV_HIGH: Final = 0.30
_PCR_PUT_HEAVY: Final = 1.2
_PCR_CALL_HEAVY: Final = 0.8


@dataclass(frozen=True, slots=True)
class Section:
    """One part of the analysis: a title, its reading (bullish, bearish, neutral, n/a, or a
    level such as high volatility) and the sentences behind it."""

    title: str
    stance: str
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TechnicalSnapshot:
    """The latest row of the candle feature set (``models.features``), by meaning."""

    close: float
    ema_fast_rel: float
    ema_slow_rel: float
    macd_rel: float
    macd_signal_rel: float
    macd_hist_rel: float
    rsi: float
    adx: float
    bb_position: float
    zscore: float
    roc: float
    atr_rel: float
    std_rel: float
    hv: float
    volume_ratio: float

    @classmethod
    def from_row(
        cls, row: Mapping[str, object], params: CandleFeatureParams | None = None
    ) -> TechnicalSnapshot:
        """From a feature row (the columns of ``FeatureSet(params)``; a ``close`` besides)."""
        p = params or CandleFeatureParams()
        names = {
            "close": "close",
            "ema_fast_rel": f"ema_{p.ema_fast}_rel",
            "ema_slow_rel": f"ema_{p.ema_slow}_rel",
            "macd_rel": "macd_rel",
            "macd_signal_rel": "macd_signal_rel",
            "macd_hist_rel": "macd_hist_rel",
            "rsi": f"rsi_{p.rsi}",
            "adx": f"adx_{p.adx}",
            "bb_position": f"bb_position_{p.bollinger}",
            "zscore": f"zscore_{p.zscore}",
            "roc": f"roc_{p.roc}",
            "atr_rel": f"atr_{p.atr}_rel",
            "std_rel": f"std_{p.stddev}_rel",
            "hv": f"hv_{p.hv}",
            "volume_ratio": f"volume_ratio_{p.volume}",
        }
        values: dict[str, float] = {}
        for name, column in names.items():
            value = row.get(column)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ContractError("TechnicalSnapshot", column, value, "must be a number")
            if not math.isfinite(value):
                raise ContractError("TechnicalSnapshot", column, value, "must be finite")
            values[name] = float(value)
        return cls(**values)

    @property
    def atr(self) -> float:
        """The average true range in price units."""
        return self.atr_rel * self.close


def _pct(fraction: float) -> str:
    return f"{fraction * 100:+.2f}%"


def trend_section(s: TechnicalSnapshot) -> Section:
    """Where the close is against its fast and slow EMAs and the MACD line, and how strong the
    trend is by ADX (below 20 weak, 20-25 forming, above 25 trending)."""
    above = s.ema_fast_rel > 0 and s.ema_slow_rel > 0
    below = s.ema_fast_rel < 0 and s.ema_slow_rel < 0
    if above and s.macd_rel > 0:
        stance = BULLISH
    elif below and s.macd_rel < 0:
        stance = BEARISH
    else:
        stance = NEUTRAL
    if s.adx >= _ADX_TRENDING:
        strength = f"ADX {s.adx:.1f} (above {_ADX_TRENDING:g}: a trend is in force)"
    elif s.adx >= _ADX_WEAK:
        strength = f"ADX {s.adx:.1f} ({_ADX_WEAK:g}-{_ADX_TRENDING:g}: a trend may be forming)"
    else:
        strength = f"ADX {s.adx:.1f} (below {_ADX_WEAK:g}: no clear trend)"
    lines = (
        f"Close {s.close:,.2f} is {_pct(s.ema_fast_rel)} from the fast EMA and "
        f"{_pct(s.ema_slow_rel)} from the slow EMA.",
        f"MACD line {_pct(s.macd_rel)} of price, "
        f"{'above' if s.macd_rel > s.macd_signal_rel else 'below'} its signal line.",
        strength + ".",
        f"Reading: {stance}.",
    )
    return Section("Trend", stance, lines)


def momentum_section(s: TechnicalSnapshot) -> Section:
    """RSI (30/45/55/70), the MACD histogram and the rate of change."""
    if s.rsi >= _RSI_OVERBOUGHT:
        rsi = f"RSI {s.rsi:.1f}: overbought (>= {_RSI_OVERBOUGHT:g}), momentum may be stretched"
    elif s.rsi <= _RSI_OVERSOLD:
        rsi = f"RSI {s.rsi:.1f}: oversold (<= {_RSI_OVERSOLD:g}), selling may be stretched"
    elif s.rsi >= _RSI_POSITIVE:
        rsi = f"RSI {s.rsi:.1f}: positive momentum (>= {_RSI_POSITIVE:g})"
    elif s.rsi <= _RSI_NEGATIVE:
        rsi = f"RSI {s.rsi:.1f}: negative momentum (<= {_RSI_NEGATIVE:g})"
    else:
        rsi = f"RSI {s.rsi:.1f}: no momentum either way ({_RSI_NEGATIVE:g}-{_RSI_POSITIVE:g})"
    rising = s.macd_hist_rel > 0
    up = s.rsi > _RSI_POSITIVE or (s.rsi > 50 and rising and s.roc > 0)
    down = s.rsi < _RSI_NEGATIVE or (s.rsi < 50 and not rising and s.roc < 0)
    stance = BULLISH if up and rising else BEARISH if down and not rising else NEUTRAL
    lines = (
        rsi + ".",
        f"MACD histogram {_pct(s.macd_hist_rel)} of price: momentum "
        f"{'building up' if rising else 'fading or building down'}.",
        f"Rate of change over the look-back: {s.roc:+.2f}%.",
        f"Reading: {stance}.",
    )
    return Section("Momentum", stance, lines)


def volatility_section(s: TechnicalSnapshot) -> Section:
    """Annualised historical volatility (below 15 % low, above 30 % high), ATR, Bollinger
    position and the z-score."""
    if s.hv >= _HV_HIGH:
        level = "high"
    elif s.hv >= _HV_LOW:
        level = "moderate"
    else:
        level = "low"
    if s.bb_position > 1:
        band = "above the upper Bollinger band"
    elif s.bb_position < 0:
        band = "below the lower Bollinger band"
    else:
        band = f"{s.bb_position:.2f} of the way from the lower to the upper Bollinger band"
    lines = (
        f"Historical volatility {s.hv * 100:.1f}% a year: {level} "
        f"(low below {_HV_LOW * 100:g}%, high above {_HV_HIGH * 100:g}%).",
        f"ATR {s.atr:,.2f} a bar ({s.atr_rel * 100:.3f}% of price); "
        f"standard deviation {s.std_rel * 100:.3f}% of price.",
        f"Price is {band}; z-score {s.zscore:+.2f}.",
        f"Volume is {s.volume_ratio:.2f}x its recent average.",
    )
    return Section("Volatility", level, lines)


def options_section(summary: Mapping[str, object] | None, underlying: str) -> Section:
    """The option chain's positioning: ATM IV, put/call OI ratio (above 1.2 put-heavy, below 0.8
    call-heavy), the largest call and put OI strikes and the 25-delta skew."""
    if not summary:
        return Section(
            "Options positioning",
            NOT_AVAILABLE,
            (f"No option chain of {underlying} was available.",),
        )
    lines: list[str] = []
    atm_iv = _number(summary.get("atm_iv"))
    if atm_iv is not None:
        lines.append(f"ATM implied volatility {atm_iv * 100:.1f}% a year.")
    pcr = _number(summary.get("put_call_oi_ratio"))
    stance = NEUTRAL
    if pcr is not None:
        if pcr >= _PCR_PUT_HEAVY:
            reading = "put-heavy: writers see support below (often read as bullish)"
            stance = BULLISH
        elif pcr <= _PCR_CALL_HEAVY:
            reading = "call-heavy: writers see resistance above (often read as bearish)"
            stance = BEARISH
        else:
            reading = f"balanced ({_PCR_CALL_HEAVY:g}-{_PCR_PUT_HEAVY:g})"
        lines.append(f"Put/call open-interest ratio {pcr:.2f}: {reading}.")
    call_wall = _number(summary.get("call_oi_wall_strike"))
    put_wall = _number(summary.get("put_oi_wall_strike"))
    if call_wall is not None and put_wall is not None:
        lines.append(
            f"Largest call open interest at {call_wall:g} (resistance), largest put open "
            f"interest at {put_wall:g} (support)."
        )
    skew = next((_number(v) for k, v in summary.items() if k.startswith("skew_")), None)
    if skew is not None:
        side = "puts" if skew > 0 else "calls"
        lines.append(f"25-delta skew {skew * 100:+.2f} vol points: {side} are priced richer.")
    if not lines:
        return Section("Options positioning", NOT_AVAILABLE, ("The chain had no usable numbers.",))
    lines.append(f"Reading: {stance}.")
    return Section("Options positioning", stance, tuple(lines))


def model_section(view: Mapping[str, object] | None, min_confidence: float) -> Section:
    """The champion's calibrated p_win of the strategy's trade at the latest bar."""
    p_win = None if view is None else _number(view.get("p_win"))
    if view is None or p_win is None:
        return Section("Model view", NOT_AVAILABLE, ("No champion model view was available.",))
    expected = _number(view.get("expected_return_pct"))
    clears = p_win >= min_confidence
    lines = [
        f"{view.get('model', 'The champion')} gives p_win {p_win:.2f} for the strategy's trade "
        f"at the bar closing {view.get('bar_close', '?')}.",
        f"That is {'at or above' if clears else 'below'} the {min_confidence:.2f} confidence the "
        "strategies need to propose.",
    ]
    if expected is not None:
        lines.append(f"Expected net return after charges {expected:+.3f}%.")
    reasons = view.get("top_reasons")
    if isinstance(reasons, Sequence) and not isinstance(reasons, str) and reasons:
        lines.append("Driven by: " + "; ".join(str(r) for r in reasons) + ".")
    stance = "confident" if clears else "not confident"
    return Section("Model view", stance, tuple(lines))


@dataclass(frozen=True, slots=True)
class RiskBudget:
    """What the risk engine allows a new trade (from ``get_risk_status``)."""

    per_trade_risk: float
    max_symbol_exposure: float
    loss_room_left: float
    kill_switch_engaged: bool
    proposals_paused: bool
    open_trades: int
    max_concurrent_positions: int
    stop_atr: float
    target_atr: float


def risk_section(budget: RiskBudget | None, s: TechnicalSnapshot | None) -> Section:
    """The room for a new trade: kill switch, pause, loss room, open trades, and the ATR stop
    the equity strategy would use with the quantity the per-trade risk allows."""
    if budget is None:
        return Section("Risk", NOT_AVAILABLE, ("The risk status was not available.",))
    blocked = budget.kill_switch_engaged or budget.loss_room_left <= 0
    full = budget.open_trades >= budget.max_concurrent_positions
    lines = [
        f"Kill switch {'ENGAGED: no new entries' if budget.kill_switch_engaged else 'armed'}; "
        f"new proposals {'paused' if budget.proposals_paused else 'not paused'}.",
        f"Room before the daily loss limit: ₹{budget.loss_room_left:,.2f}; open trades "
        f"{budget.open_trades} of {budget.max_concurrent_positions}.",
    ]
    if s is not None and s.atr > 0:
        stop = budget.stop_atr * s.atr
        by_risk = budget.per_trade_risk / stop
        by_exposure = budget.max_symbol_exposure / s.close
        lines.append(
            f"An ATR stop ({budget.stop_atr:g} x ATR) is {stop:,.2f} away: ₹"
            f"{budget.per_trade_risk:,.0f} of risk allows {math.floor(by_risk)} units, the "
            f"₹{budget.max_symbol_exposure:,.0f} exposure limit {math.floor(by_exposure)}."
        )
    stance = "blocked" if blocked else "full" if full else "room"
    return Section("Risk", stance, tuple(lines))


@dataclass(frozen=True, slots=True)
class TradeIdea:
    """A bracketed intraday trade the analysis supports, sized to the risk budget."""

    side: Side
    entry: float
    stop_loss: float
    take_profit: float
    quantity: int
    lots: int
    p_win: float
    reasons: tuple[str, ...] = field(default=())


def trade_idea(
    s: TechnicalSnapshot,
    trend: Section,
    momentum: Section,
    *,
    p_win: float | None,
    entry: float,
    lot_size: int,
    budget: RiskBudget | None,
) -> tuple[TradeIdea | None, str]:
    """A trade when trend and momentum agree, the model gave a probability, and the budget
    allows at least one lot: entry at ``entry``, stop and target at the equity strategy's ATR
    multiples, quantity the smaller of what the per-trade risk and the exposure limit allow.
    Otherwise None and why not."""
    if budget is None:
        return None, "no risk status: nothing is sized without it"
    if budget.kill_switch_engaged:
        return None, "the kill switch is engaged"
    if trend.stance != momentum.stance or trend.stance not in (BULLISH, BEARISH):
        return None, f"trend is {trend.stance} and momentum {momentum.stance}: they do not agree"
    if p_win is None:
        return None, "no model probability: the agent proposes only with the champion's p_win"
    if s.atr <= 0 or entry <= 0:
        return None, "no usable ATR or price"
    side = Side.BUY if trend.stance == BULLISH else Side.SELL
    stop_distance = budget.stop_atr * s.atr
    target_distance = budget.target_atr * s.atr
    units = math.floor(
        min(budget.per_trade_risk / stop_distance, budget.max_symbol_exposure / entry)
    )
    lots = units // lot_size
    if lots < 1:
        return None, (
            f"one lot of {lot_size} exceeds the budget (risk ₹{budget.per_trade_risk:,.0f}, "
            f"exposure ₹{budget.max_symbol_exposure:,.0f})"
        )
    sign = side.sign
    idea = TradeIdea(
        side=side,
        entry=entry,
        stop_loss=entry - sign * stop_distance,
        take_profit=entry + sign * target_distance,
        quantity=lots * lot_size,
        lots=lots,
        p_win=p_win,
        reasons=(
            f"trend and momentum both {trend.stance}",
            f"stop {budget.stop_atr:g} x ATR, target {budget.target_atr:g} x ATR",
            f"p_win {p_win:.2f} from the champion model",
        ),
    )
    return idea, ""


def render_markdown(
    title: str,
    sections: Sequence[Section],
    idea: TradeIdea | None,
    why_not: str,
    notes: Sequence[str] = (),
) -> str:
    """The analysis as Markdown."""
    parts = [f"# {title}", ""]
    for section in sections:
        parts.append(f"## {section.title} — {section.stance}")
        parts.extend(f"- {line}" for line in section.lines)
        parts.append("")
    parts.append("## Trade idea")
    if idea is None:
        parts.append(f"- None: {why_not}.")
    else:
        parts.append(
            f"- {idea.side.value} {idea.lots} lot(s) ({idea.quantity} units) at {idea.entry:,.2f}, "
            f"stop {idea.stop_loss:,.2f}, target {idea.take_profit:,.2f}, p_win {idea.p_win:.2f}."
        )
        parts.extend(f"- {reason}." for reason in idea.reasons)
    if notes:
        parts += ["", "## Notes"]
        parts.extend(f"- {note}" for note in notes)
    return "\n".join(parts).rstrip() + "\n"


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None
