"""The written analysis from numbers (``models.analysis``): each reading follows its stated
thresholds, and a trade idea needs agreement, a model probability and room in the budget."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from data_contracts.enums import Side
from data_contracts.errors import ContractError
from models.analysis import (
    BEARISH,
    BULLISH,
    NEUTRAL,
    NOT_AVAILABLE,
    RiskBudget,
    TechnicalSnapshot,
    model_section,
    momentum_section,
    options_section,
    render_markdown,
    risk_section,
    trade_idea,
    trend_section,
    volatility_section,
)
from models.features import CANDLE_FEATURES


def _snapshot(**overrides: float) -> TechnicalSnapshot:
    values: dict[str, float] = {
        "close": 1500.0,
        "ema_fast_rel": 0.002,
        "ema_slow_rel": 0.004,
        "macd_rel": 0.001,
        "macd_signal_rel": 0.0008,
        "macd_hist_rel": 0.0002,
        "rsi": 62.0,
        "adx": 31.0,
        "bb_position": 0.8,
        "zscore": 1.2,
        "roc": 0.5,
        "atr_rel": 0.002,  # ATR 3.00
        "std_rel": 0.0015,
        "hv": 0.22,
        "volume_ratio": 1.4,
    }
    return TechnicalSnapshot(**(values | overrides))


def _budget(**overrides: Any) -> RiskBudget:
    values: dict[str, Any] = {
        "per_trade_risk": 500.0,
        "max_symbol_exposure": 6000.0,
        "loss_room_left": 1000.0,
        "kill_switch_engaged": False,
        "proposals_paused": False,
        "open_trades": 0,
        "max_concurrent_positions": 2,
        "stop_atr": 1.0,
        "target_atr": 2.0,
    }
    return RiskBudget(**(values | overrides))


def _bearish() -> TechnicalSnapshot:
    return _snapshot(
        ema_fast_rel=-0.002,
        ema_slow_rel=-0.004,
        macd_rel=-0.001,
        macd_signal_rel=-0.0008,
        macd_hist_rel=-0.0002,
        rsi=38.0,
        roc=-0.5,
    )


def test_snapshot_from_a_feature_row_reads_every_column_by_its_meaning() -> None:
    row: dict[str, object] = dict.fromkeys(CANDLE_FEATURES.columns, 0.5) | {"close": 100.0}
    row["rsi_14"] = 70.0

    snapshot = TechnicalSnapshot.from_row(row)

    assert (snapshot.close, snapshot.rsi, snapshot.atr) == (100.0, 70.0, 50.0)
    with pytest.raises(ContractError, match="rsi_14"):
        TechnicalSnapshot.from_row(row | {"rsi_14": None})


def test_trend_is_bullish_above_both_emas_with_a_positive_macd_and_says_adx_strength() -> None:
    bullish = trend_section(_snapshot())
    bearish = trend_section(_bearish())
    mixed = trend_section(_snapshot(ema_slow_rel=-0.001, adx=15.0))

    assert (bullish.stance, bearish.stance, mixed.stance) == (BULLISH, BEARISH, NEUTRAL)
    assert any("above 25: a trend is in force" in line for line in bullish.lines)
    assert any("below 20: no clear trend" in line for line in mixed.lines)


@pytest.mark.parametrize(
    ("rsi", "hist", "roc", "stance", "words"),
    [
        (62.0, 0.0002, 0.5, BULLISH, "positive momentum"),
        (75.0, 0.0002, 0.5, BULLISH, "overbought"),
        (38.0, -0.0002, -0.5, BEARISH, "negative momentum"),
        (25.0, -0.0002, -0.5, BEARISH, "oversold"),
        (50.0, 0.0002, -0.1, NEUTRAL, "no momentum either way"),
    ],
)
def test_momentum_reads_rsi_bands_with_the_macd_histogram(
    rsi: float, hist: float, roc: float, stance: str, words: str
) -> None:
    section = momentum_section(_snapshot(rsi=rsi, macd_hist_rel=hist, roc=roc))

    assert section.stance == stance
    assert words in section.lines[0]


@pytest.mark.parametrize(("hv", "level"), [(0.1, "low"), (0.2, "moderate"), (0.45, "high")])
def test_volatility_level_follows_historical_volatility(hv: float, level: str) -> None:
    section = volatility_section(_snapshot(hv=hv, bb_position=1.3))

    assert section.stance == level
    assert "above the upper Bollinger band" in section.lines[2]
    assert "ATR 3.00" in section.lines[1]


def test_options_positioning_reads_the_put_call_ratio_and_the_oi_walls() -> None:
    summary = {
        "atm_iv": 0.14,
        "put_call_oi_ratio": 1.35,
        "call_oi_wall_strike": 24500.0,
        "put_oi_wall_strike": 24000.0,
        "skew_25d": 0.02,
    }

    section = options_section(summary, "NIFTY")
    missing = options_section(None, "INFY")

    assert section.stance == BULLISH
    assert "ATM implied volatility 14.0%" in section.lines[0]
    assert "24500 (resistance)" in section.lines[2]
    assert "puts are priced richer" in section.lines[3]
    assert (missing.stance, missing.lines) == (
        NOT_AVAILABLE,
        ("No option chain of INFY was available.",),
    )


def test_model_view_says_whether_p_win_clears_min_confidence() -> None:
    view = {"model": "m v3", "p_win": 0.84, "expected_return_pct": 0.12, "top_reasons": ["rsi"]}

    confident = model_section(view, 0.8)
    shy = model_section(view | {"p_win": 0.6}, 0.8)

    assert confident.stance == "confident"
    assert "at or above the 0.80 confidence" in confident.lines[1]
    assert shy.stance == "not confident"
    assert model_section(None, 0.8).stance == NOT_AVAILABLE


def test_risk_section_sizes_the_atr_stop_by_risk_and_by_exposure() -> None:
    section = risk_section(_budget(), _snapshot())

    assert section.stance == "room"
    assert "allows 166 units, the ₹6,000 exposure limit 4" in section.lines[2]
    assert risk_section(_budget(kill_switch_engaged=True), None).stance == "blocked"


def test_trade_idea_when_trend_and_momentum_agree_is_sized_by_the_tighter_limit() -> None:
    snapshot = _snapshot()

    idea, why_not = trade_idea(
        snapshot,
        trend_section(snapshot),
        momentum_section(snapshot),
        p_win=0.7,
        entry=1500.0,
        lot_size=1,
        budget=_budget(),
    )

    assert why_not == ""
    assert idea is not None
    assert (idea.side, idea.lots, idea.quantity) == (Side.BUY, 4, 4)
    assert (idea.stop_loss, idea.take_profit) == (1497.0, 1506.0)


def test_trade_idea_bearish_is_a_sell_with_the_stop_above() -> None:
    snapshot = _bearish()

    idea, _ = trade_idea(
        snapshot,
        trend_section(snapshot),
        momentum_section(snapshot),
        p_win=0.7,
        entry=1500.0,
        lot_size=1,
        budget=_budget(),
    )

    assert idea is not None
    assert (idea.side, idea.stop_loss, idea.take_profit) == (Side.SELL, 1503.0, 1494.0)


@pytest.mark.parametrize(
    ("snapshot", "p_win", "budget", "reason"),
    [
        (_snapshot(rsi=50.0, roc=-0.1), 0.7, _budget(), "do not agree"),
        (_snapshot(), None, _budget(), "no model probability"),
        (_snapshot(), 0.7, _budget(kill_switch_engaged=True), "kill switch"),
        (_snapshot(), 0.7, _budget(max_symbol_exposure=100.0), "one lot of 1 exceeds"),
        (_snapshot(), 0.7, None, "no risk status"),
    ],
)
def test_no_trade_idea_says_why(
    snapshot: TechnicalSnapshot, p_win: float | None, budget: RiskBudget | None, reason: str
) -> None:
    idea, why_not = trade_idea(
        snapshot,
        trend_section(snapshot),
        momentum_section(snapshot),
        p_win=p_win,
        entry=1500.0,
        lot_size=1,
        budget=budget,
    )

    assert idea is None
    assert reason in why_not


def test_render_markdown_has_every_section_the_idea_and_the_notes() -> None:
    snapshot = _snapshot()
    sections = [trend_section(snapshot), momentum_section(snapshot)]
    idea, _ = trade_idea(
        snapshot, sections[0], sections[1], p_win=0.7, entry=1500.0, lot_size=1, budget=_budget()
    )
    assert idea is not None

    text = render_markdown("Analysis of NSE:INFY", sections, replace(idea, lots=2), "", ["n1"])

    assert text.startswith("# Analysis of NSE:INFY\n")
    assert "## Trend — bullish" in text
    assert "## Momentum — bullish" in text
    assert "- BUY 2 lot(s)" in text
    assert text.endswith("- n1\n")
