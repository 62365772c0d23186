"""The live equity swing decision: the batch swing rule at the decision bar, priced and sized for
delivery (no leverage), its expected net profit the bracket's after the delivery round trip's
charges (DP included), proposed as a CNC BUY — and nothing at all while the strategy is off."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import polars as pl
import pytest

from data_contracts.enums import ChargeSegment, Exchange, Product, Side
from data_contracts.ids import InstrumentToken
from data_contracts.instruments import instruments_to_frame
from data_contracts.market import Candle
from data_contracts.nse_calendar import NseCalendar
from data_contracts.ports import Scores
from data_contracts.timeutil import IST
from models.backtest import size_lots
from models.features import FeatureSet
from models.live import SWING_STRATEGY, Candidate, LiveStrategySettings, proposal_id
from models.live.strategy import LiveStrategy
from models.strategies import EquitySwingParams, equity_swing_entries
from tests.factories import candle, infy_instrument, live_settings, session_bars

CALENDAR = NseCalendar.default()
FEATURES = FeatureSet()
INFY = infy_instrument()
TOKEN = int(INFY.instrument_token)
DAY = date(2026, 8, 18)  # a Tuesday
DECISION = datetime.combine(DAY, time(15, 10), tzinfo=IST).astimezone(UTC)
SWING = EquitySwingParams(enabled=True)
ON = live_settings(swing=SWING)


@dataclass
class FixedScorer:
    p_win: float = 0.7
    expected_return: float = 0.2
    model_version: str = "7"
    feature_version: str = FEATURES.version

    def score(self, features: pl.DataFrame) -> Scores:
        rows = features.height
        return Scores(p_win=[self.p_win] * rows, expected_return=[self.expected_return] * rows)


@pytest.fixture(scope="module")
def bars() -> pl.DataFrame:
    frame: pl.DataFrame = session_bars(TOKEN, DECISION, FEATURES.warmup_bars + 1)
    return frame


@pytest.fixture(scope="module")
def row(bars: pl.DataFrame) -> pl.DataFrame:
    """The decision bar's feature row, in an uptrend."""
    return FEATURES.latest(bars).with_columns(pl.lit(2e-4).alias("macd_hist_rel"))


def _bar(bars: pl.DataFrame, at: datetime = DECISION) -> Candle:
    last = bars.row(-1, named=True)
    return candle(
        instrument_token=InstrumentToken(TOKEN),
        ts_event=at,
        ts_init=at,
        open=last["open"],
        high=last["high"],
        low=last["low"],
        close=last["close"],
        volume=last["volume"],
    )


def _swing(
    row: pl.DataFrame,
    bar: Candle,
    settings: LiveStrategySettings = ON,
    scorer: FixedScorer | None = None,
) -> Candidate | None:
    values = np.asarray(row.select(FEATURES.columns).row(0), dtype=np.float64)
    strategy = LiveStrategy(settings, {TOKEN: INFY})
    return strategy.swing_rows([(bar, values, scorer or FixedScorer(), bar.ts_event)])[0]


def test_swing_is_off_by_default_and_decides_nothing(row: pl.DataFrame, bars: pl.DataFrame) -> None:
    assert live_settings().swing.enabled is False
    assert _swing(row, _bar(bars), settings=live_settings()) is None


def test_swing_decision_bar_proposes_a_delivery_buy_on_the_batch_rules_levels(
    row: pl.DataFrame, bars: pl.DataFrame
) -> None:
    bar = _bar(bars)
    entry = equity_swing_entries(
        row,
        pl.DataFrame(
            {"instrument_token": [TOKEN], "ts_event": [DECISION], "close": [bar.close]},
            schema_overrides={"ts_event": row.schema["ts_event"]},
        ),
        instruments_to_frame([INFY]),
        feature_set=FEATURES,
        params=SWING,
        calendar=CALENDAR,
    ).row(0, named=True)
    _, limit = ON.fills.entry_prices(
        np.array([True]),
        np.array([bar.close]),
        np.array([np.nan]),
        np.array([np.nan]),
        np.array([INFY.tick_size]),
    )
    # paid in full: the delivery segment has no leverage
    lots = size_lots(limit, [entry["stop_loss"]], [1], [1.0], ON.portfolio)[0]

    result = _swing(row, bar)

    assert result is not None
    assert result.proposal is not None
    proposal = result.proposal
    assert proposal.proposal_id == proposal_id(SWING_STRATEGY, TOKEN, DECISION)
    assert (proposal.side, proposal.product, proposal.exchange) == (
        Side.BUY,
        Product.CNC,
        Exchange.NSE,
    )
    assert (proposal.stop_loss, proposal.take_profit, proposal.time_exit) == (
        entry["stop_loss"],
        entry["take_profit"],
        entry["exit_deadline"],
    )
    assert proposal.time_exit == datetime(2026, 8, 25, 15, 15, tzinfo=IST)
    assert (proposal.limit_price, proposal.lots) == (limit[0], lots)
    assert "delivery (CNC) swing" in proposal.rationale


def test_swing_expected_net_profit_is_the_bracket_after_delivery_charges_not_the_regressor(
    row: pl.DataFrame, bars: pl.DataFrame
) -> None:
    p_win = 0.66
    bar = _bar(bars)

    one = _swing(row, bar, scorer=FixedScorer(p_win=p_win, expected_return=0.1))
    other = _swing(row, bar, scorer=FixedScorer(p_win=p_win, expected_return=9.0))

    assert one is not None
    assert other is not None
    assert one.proposal is not None
    point, proposal = one.point, one.proposal
    sell_day = date(2026, 8, 25)

    def charges(exit_price: float) -> float:
        return float(
            ON.charges.round_trip(
                ChargeSegment.DELIVERY,
                point.entry_price,
                exit_price,
                point.quantity,
                DAY,
                sell_on=sell_day,
            ).total
        )

    win, loss = charges(proposal.take_profit), charges(proposal.stop_loss)
    dp = float(ON.charges.dp_charge(sell_day).total)
    assert dp > 0
    assert win > dp
    assert loss > dp
    expected_charges = p_win * win + (1 - p_win) * loss
    gain = (proposal.take_profit - point.entry_price) * point.quantity
    lost = (point.entry_price - proposal.stop_loss) * point.quantity
    assert point.expected_charges == pytest.approx(expected_charges, rel=1e-12)
    assert point.expected_net_profit == pytest.approx(
        p_win * gain - (1 - p_win) * lost - expected_charges, rel=1e-12
    )
    assert other.point.expected_net_profit == point.expected_net_profit


@pytest.mark.parametrize(
    ("minutes", "hist"),
    [
        pytest.param(-1, 2e-4, id="the-bar-before"),
        pytest.param(1, 2e-4, id="the-bar-after"),
        pytest.param(0, -2e-4, id="a-downtrend"),
    ],
)
def test_swing_is_no_decision_off_the_decision_bar_or_in_a_downtrend(
    row: pl.DataFrame, bars: pl.DataFrame, minutes: int, hist: float
) -> None:
    at = DECISION + timedelta(minutes=minutes)
    moved = row.with_columns(pl.lit(hist).alias("macd_hist_rel"))
    assert _swing(moved, _bar(bars, at)) is None


def test_swing_low_confidence_is_a_point_without_a_proposal(
    row: pl.DataFrame, bars: pl.DataFrame
) -> None:
    result = _swing(row, _bar(bars), scorer=FixedScorer(p_win=0.55))
    assert result is not None
    assert (result.point.passed, result.proposal) == (False, None)
    assert result.point.strategy_id == SWING_STRATEGY


def test_swing_decision_time_is_configurable(row: pl.DataFrame, bars: pl.DataFrame) -> None:
    at = datetime.combine(DAY, time(11, 30), tzinfo=IST).astimezone(UTC)
    settings = replace(ON, swing=replace(SWING, decision_time=time(11, 30)))
    assert _swing(row, _bar(bars, at), settings=settings) is not None
    assert _swing(row, _bar(bars), settings=settings) is None
