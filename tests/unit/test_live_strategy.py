"""The live decision on a closed candle: the same entries, fills, sizing and charges as the
backtest, scored by a (fake) champion, and the proposal it makes when it clears the filters."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import polars as pl
import pytest

from data_contracts.enums import ChargeSegment, Exchange, Product, Side
from data_contracts.ids import InstrumentToken
from data_contracts.instruments import Instrument, instruments_to_frame
from data_contracts.market import Candle
from data_contracts.nse_calendar import NseCalendar
from data_contracts.ports import Scores
from data_contracts.timeutil import IST
from models.backtest import Portfolio, size_lots
from models.features import FeatureSet
from models.features.options import OptionFeatureSet
from models.live import (
    EQUITY_STRATEGY,
    OPTIONS_STRATEGY,
    Candidate,
    LiveStrategy,
    LiveStrategySettings,
    proposal_id,
    top_contributions,
)
from models.strategies import EquityIntradayParams, equity_intraday_entries
from tests.factories import (
    NIFTY_INDEX_TOKEN,
    T0,
    candle,
    infy_instrument,
    live_settings,
    nifty_index_instrument,
    nifty_option_chain,
    session_bars,
)

CALENDAR = NseCalendar.default()
FEATURES = FeatureSet()
INFY = infy_instrument()
TOKEN = int(INFY.instrument_token)
DECISION = T0 + timedelta(minutes=30)  # 10:00 IST, Tue 2026-08-18
SETTINGS = live_settings()


@dataclass
class FakeExplainer:
    shap: dict[str, float]

    def contributions(self, features: pl.DataFrame) -> pl.DataFrame:
        return pl.DataFrame({c: [v] * features.height for c, v in self.shap.items()})


@dataclass
class FakeScorer:
    """Scores every row with the chosen p_win and expected return (%); counts the calls."""

    p_win: float = 0.7
    expected_return: float = 0.2
    model_version: str = "7"
    feature_version: str = FEATURES.version
    model: FakeExplainer | None = None
    calls: list[int] = field(default_factory=list)

    def score(self, features: pl.DataFrame) -> Scores:
        self.calls.append(features.height)
        rows = features.height
        return Scores(p_win=[self.p_win] * rows, expected_return=[self.expected_return] * rows)


def _at_ist(day: date, hour: int, minute: int) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=IST).astimezone(UTC)


def _candle_of(bars: pl.DataFrame) -> Candle:
    row = bars.row(-1, named=True)
    return candle(
        instrument_token=InstrumentToken(row["instrument_token"]),
        ts_event=row["ts_event"],
        ts_init=row["ts_event"],
        open=row["open"],
        high=row["high"],
        low=row["low"],
        close=row["close"],
        volume=row["volume"],
    )


@pytest.fixture(scope="module")
def bars() -> pl.DataFrame:
    frame: pl.DataFrame = session_bars(TOKEN, DECISION, FEATURES.warmup_bars + 1)
    return frame


@pytest.fixture(scope="module")
def features(bars: pl.DataFrame) -> pl.DataFrame:
    return FEATURES.latest(bars)


def _moved(features: pl.DataFrame, bar: Candle, at: datetime) -> tuple[pl.DataFrame, Candle]:
    """The same decision row and bar, as if they closed at ``at``."""
    return (
        features.with_columns(pl.lit(at).cast(features.schema["ts_event"]).alias("ts_event")),
        replace(bar, ts_event=at, ts_init=at),
    )


def _equity(
    features: pl.DataFrame,
    bar: Candle,
    scorer: FakeScorer | None = None,
    settings: LiveStrategySettings = SETTINGS,
    now: datetime | None = None,
) -> Candidate | None:
    strategy = LiveStrategy(settings, {TOKEN: INFY})
    return strategy.equity(features, bar, scorer or FakeScorer(), now or bar.ts_event)


def _with_hist(features: pl.DataFrame, value: float) -> pl.DataFrame:
    return features.with_columns(pl.lit(value).alias("macd_hist_rel"))


# --- equity: the entry is the backtest's --------------------------------------------------------


@pytest.mark.parametrize(
    ("hist", "direction", "side"),
    [(1e-4, 1, Side.BUY), (0.0, 1, Side.BUY), (-1e-4, -1, Side.SELL)],
)
def test_equity_side_follows_the_macd_histogram_sign(
    features: pl.DataFrame, bars: pl.DataFrame, hist: float, direction: int, side: Side
) -> None:
    result = _equity(_with_hist(features, hist), _candle_of(bars))

    assert result is not None
    assert result.proposal is not None
    assert (result.point.direction, result.proposal.side) == (direction, side)


@pytest.mark.parametrize("hist", [1e-4, -1e-4])
def test_equity_levels_fill_and_lots_are_the_backtest_rules_on_the_same_row(
    features: pl.DataFrame, bars: pl.DataFrame, hist: float
) -> None:
    rows = _with_hist(features, hist)
    bar = _candle_of(bars)
    entry = equity_intraday_entries(
        rows,
        bars.select("instrument_token", "ts_event", "close"),
        instruments_to_frame([INFY]),
        feature_set=FEATURES,
        params=SETTINGS.equity,
        calendar=CALENDAR,
    ).row(0, named=True)
    long = entry["direction"] > 0
    fill, limit = SETTINGS.fills.entry_prices(
        np.array([long]),
        np.array([bar.close]),
        np.array([np.nan]),
        np.array([np.nan]),
        np.array([INFY.tick_size]),
    )
    lots = size_lots(
        limit,
        [entry["stop_loss"]],
        [1],
        [SETTINGS.portfolio.leverage_of("intraday")],
        SETTINGS.portfolio,
    )[0]

    result = _equity(rows, bar)

    assert result is not None
    assert result.proposal is not None
    point, proposal = result.point, result.proposal
    assert (proposal.stop_loss, proposal.take_profit, proposal.time_exit) == (
        entry["stop_loss"],
        entry["take_profit"],
        entry["exit_deadline"],
    )
    assert (point.entry_price, point.limit_price, proposal.limit_price) == (
        fill[0],
        limit[0],
        limit[0],
    )
    assert lots >= 1
    assert (point.lots, point.quantity, proposal.lots) == (lots, lots, lots)
    assert (proposal.product, proposal.exchange, proposal.tradingsymbol) == (
        Product.MIS,
        Exchange.NSE,
        "INFY",
    )


def test_equity_expected_net_profit_is_the_expected_return_on_the_notional(
    features: pl.DataFrame, bars: pl.DataFrame
) -> None:
    scorer = FakeScorer(p_win=0.7, expected_return=0.25)

    result = _equity(features, _candle_of(bars), scorer)

    assert result is not None
    point = result.point
    assert point.expected_net_profit == pytest.approx(
        0.25 / 100 * point.entry_price * point.quantity
    )
    exit_price = point.entry_price * (1 + 0.25 / 100)
    charges = SETTINGS.charges.round_trip(
        ChargeSegment.INTRADAY, point.entry_price, exit_price, point.quantity, DECISION.date()
    ).total
    assert point.expected_charges == pytest.approx(float(charges))
    assert (point.p_win, point.expected_return, point.model_version, point.feature_version) == (
        0.7,
        0.25,
        "7",
        FEATURES.version,
    )
    assert scorer.calls == [1]


@pytest.mark.parametrize(
    ("p_win", "passes"), [(0.6 - 1e-9, False), (0.6, True), (0.6 + 1e-9, True)]
)
def test_equity_confidence_threshold_inclusive(
    features: pl.DataFrame, bars: pl.DataFrame, p_win: float, passes: bool
) -> None:
    result = _equity(features, _candle_of(bars), FakeScorer(p_win=p_win))

    assert result is not None
    assert result.point.passes(SETTINGS) is passes
    assert (result.proposal is not None) is passes


@pytest.mark.parametrize(("shift", "passes"), [(-0.01, True), (0.0, True), (0.01, False)])
def test_equity_expected_net_profit_threshold_inclusive(
    features: pl.DataFrame, bars: pl.DataFrame, shift: float, passes: bool
) -> None:
    bar = _candle_of(bars)
    reference = _equity(features, bar)
    assert reference is not None
    settings = replace(
        SETTINGS, min_expected_net_profit=reference.point.expected_net_profit + shift
    )

    result = _equity(features, bar, settings=settings)

    assert result is not None
    assert result.point.passes(settings) is passes
    assert (result.proposal is not None) is passes


def test_equity_proposal_id_is_stable_for_the_same_bar(
    features: pl.DataFrame, bars: pl.DataFrame
) -> None:
    bar = _candle_of(bars)

    first = _equity(features, bar, FakeScorer(model_version="7"), now=DECISION)
    second = _equity(
        features, bar, FakeScorer(model_version="8"), now=DECISION + timedelta(seconds=3)
    )
    later, later_bar = _moved(features, bar, DECISION + timedelta(minutes=1))
    third = _equity(later, later_bar)

    assert first is not None
    assert second is not None
    assert third is not None
    assert first.proposal is not None
    assert second.proposal is not None
    assert third.proposal is not None
    assert first.proposal.proposal_id == second.proposal.proposal_id
    assert first.proposal.proposal_id == proposal_id(EQUITY_STRATEGY, TOKEN, DECISION)
    assert third.proposal.proposal_id != first.proposal.proposal_id


@pytest.mark.parametrize(
    ("now", "ts_init"),
    [
        (DECISION - timedelta(seconds=1), DECISION),  # a clock behind the bar never goes first
        (DECISION + timedelta(milliseconds=40), DECISION + timedelta(milliseconds=40)),
    ],
)
def test_equity_proposal_expires_a_ttl_after_its_bar(
    features: pl.DataFrame, bars: pl.DataFrame, now: datetime, ts_init: datetime
) -> None:
    result = _equity(features, _candle_of(bars), now=now)

    assert result is not None
    assert result.proposal is not None
    assert result.proposal.expires_at == DECISION + SETTINGS.proposal_ttl
    assert (result.proposal.ts_event, result.proposal.ts_init) == (DECISION, ts_init)


@pytest.mark.parametrize(
    ("hour", "minute", "last_entry", "decides"),
    [
        (15, 0, time(15, 0), True),  # at the last entry time
        (15, 1, time(15, 0), False),  # after it
        (15, 19, time(15, 29), True),
        (15, 20, time(15, 29), False),  # at the MIS square-off (15:20 for equity)
        (15, 25, time(15, 29), False),
    ],
)
def test_equity_no_decision_after_last_entry_time_or_square_off(
    features: pl.DataFrame,
    bars: pl.DataFrame,
    hour: int,
    minute: int,
    last_entry: time,
    decides: bool,
) -> None:
    rows, bar = _moved(features, _candle_of(bars), _at_ist(DECISION.date(), hour, minute))
    settings = replace(SETTINGS, equity=EquityIntradayParams(last_entry_time=last_entry))
    scorer = FakeScorer()

    result = _equity(rows, bar, scorer, settings=settings)

    assert (result is not None) is decides
    assert bool(scorer.calls) is decides


def test_equity_no_lot_affordable_is_not_a_decision_point(
    features: pl.DataFrame, bars: pl.DataFrame
) -> None:
    settings = replace(SETTINGS, portfolio=Portfolio(capital=1_000.0, per_trade_risk=0.5))
    scorer = FakeScorer()

    result = _equity(features, _candle_of(bars), scorer, settings=settings)

    assert result is None
    assert scorer.calls == []


def test_equity_explanation_is_the_scorer_top_contributions(
    features: pl.DataFrame, bars: pl.DataFrame
) -> None:
    shap = {c: 0.0 for c in FEATURES.columns} | {"rsi_14": 0.3, "macd_hist_rel": -0.5}
    scorer = FakeScorer(model=FakeExplainer(shap))

    explained = _equity(features, _candle_of(bars), scorer)
    plain = _equity(features, _candle_of(bars), FakeScorer())

    assert explained is not None
    assert explained.proposal is not None
    assert plain is not None
    assert plain.proposal is not None
    assert [c.feature for c in explained.proposal.explanation] == ["macd_hist_rel", "rsi_14"]
    assert explained.proposal.explanation == top_contributions(
        scorer, features, FEATURES.columns, SETTINGS.explain_top
    )
    assert plain.proposal.explanation == ()
    assert explained.proposal.rationale != ""


def test_equity_of_an_unknown_instrument_is_none(
    features: pl.DataFrame, bars: pl.DataFrame
) -> None:
    strategy = LiveStrategy(SETTINGS, {})

    assert strategy.equity(features, _candle_of(bars), FakeScorer(), DECISION) is None


# --- long options ---------------------------------------------------------------------------

OPTION_DAY = date(2026, 8, 19)  # Wednesday; the weekly expiry is Tue 2026-08-25
EXPIRY = date(2026, 8, 25)
OPTION_DECISION = _at_ist(OPTION_DAY, 10, 0)
SPOT = 24_000.0
PARAMS = SETTINGS.options


def _index_candle() -> Candle:
    return candle(
        instrument_token=NIFTY_INDEX_TOKEN,
        ts_event=OPTION_DECISION,
        ts_init=OPTION_DECISION,
        open=SPOT - 5,
        high=SPOT + 10,
        low=SPOT - 10,
        close=SPOT,
        volume=0,
    )


def _index_features(hist: float) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "instrument_token": [int(NIFTY_INDEX_TOKEN)],
            "ts_event": [OPTION_DECISION],
            "feature_version": [FEATURES.version],
            "macd_hist_rel": [hist],
        }
    ).with_columns(pl.col("ts_event").dt.cast_time_unit("us"))


def _option(
    chain: pl.DataFrame,
    instruments: list[Instrument],
    hist: float = 1e-4,
    scorer: FakeScorer | None = None,
) -> Candidate | None:
    known = {int(i.instrument_token): i for i in [nifty_index_instrument(), *instruments]}
    strategy = LiveStrategy(SETTINGS, known)
    return strategy.option(
        _index_features(hist), _index_candle(), chain, scorer or FakeScorer(), OPTION_DECISION
    )


def _chosen_type_and_delta(chain: pl.DataFrame, token: int) -> tuple[str, float]:
    greeks = OptionFeatureSet().build(chain).select("instrument_token", "delta")
    row = chain.join(greeks, on="instrument_token").filter(pl.col("instrument_token") == token)
    return str(row["option_type"][0]), float(row["delta"][0])


def _best_in_band(chain: pl.DataFrame, option_type: str) -> int:
    greeks = OptionFeatureSet().build(chain).select("instrument_token", "delta")
    middle = (PARAMS.delta_min + PARAMS.delta_max) / 2
    liquid = chain.join(greeks, on="instrument_token").filter(
        (pl.col("option_type") == option_type)
        & pl.col("delta").abs().is_between(PARAMS.delta_min, PARAMS.delta_max)
        & (pl.col("oi") >= PARAMS.min_oi)
        & ((pl.col("ask") - pl.col("bid")) / ((pl.col("ask") + pl.col("bid")) / 2) * 100 <= 5)
    )
    return int(liquid.sort((pl.col("delta").abs() - middle).abs())["instrument_token"][0])


@pytest.mark.parametrize(("hist", "option_type"), [(1e-4, "CE"), (0.0, "CE"), (-1e-4, "PE")])
def test_option_buys_a_call_when_bullish_a_put_when_bearish_in_the_delta_band(
    hist: float, option_type: str
) -> None:
    instruments, chain = nifty_option_chain(OPTION_DECISION, EXPIRY, spot=SPOT)

    result = _option(chain, instruments, hist)

    assert result is not None
    assert result.proposal is not None
    chosen_type, delta = _chosen_type_and_delta(chain, result.point.instrument_token)
    assert chosen_type == option_type
    assert PARAMS.delta_min <= abs(delta) <= PARAMS.delta_max
    assert result.point.instrument_token == _best_in_band(chain, option_type)
    assert (result.point.strategy_id, result.point.decision_token) == (
        OPTIONS_STRATEGY,
        NIFTY_INDEX_TOKEN,
    )
    proposal = result.proposal
    assert (proposal.side, proposal.product, proposal.exchange, proposal.lot_size) == (
        Side.BUY,
        Product.MIS,
        Exchange.NFO,
        65,
    )
    assert proposal.proposal_id == proposal_id(OPTIONS_STRATEGY, NIFTY_INDEX_TOKEN, OPTION_DECISION)


@pytest.mark.parametrize("illiquid", ["low_oi", "wide_spread"])
def test_option_never_chooses_an_illiquid_contract(illiquid: str) -> None:
    instruments, chain = nifty_option_chain(OPTION_DECISION, EXPIRY, spot=SPOT)
    liquid_choice = _best_in_band(chain, "CE")
    target = pl.col("instrument_token") == liquid_choice
    if illiquid == "low_oi":
        chain = chain.with_columns(
            pl.when(target).then(PARAMS.min_oi - 1).otherwise(pl.col("oi")).alias("oi")
        )
    else:  # a spread of 20 % of the mid (the limit is 5 %)
        mid = (pl.col("bid") + pl.col("ask")) / 2
        chain = chain.with_columns(
            pl.when(target).then(mid * 0.9).otherwise(pl.col("bid")).alias("bid"),
            pl.when(target).then(mid * 1.1).otherwise(pl.col("ask")).alias("ask"),
        )

    result = _option(chain, instruments)

    assert result is not None
    assert result.point.instrument_token != liquid_choice
    chosen_type, delta = _chosen_type_and_delta(chain, result.point.instrument_token)
    assert chosen_type == "CE"
    assert PARAMS.delta_min <= abs(delta) <= PARAMS.delta_max


def test_option_with_every_call_illiquid_makes_no_decision() -> None:
    instruments, chain = nifty_option_chain(OPTION_DECISION, EXPIRY, spot=SPOT)
    chain = chain.with_columns(
        pl.when(pl.col("option_type") == "CE").then(0).otherwise(pl.col("oi")).alias("oi")
    )

    assert _option(chain, instruments, hist=1e-4) is None


def test_option_expected_net_profit_is_the_bracket_expectation_after_charges() -> None:
    instruments, chain = nifty_option_chain(OPTION_DECISION, EXPIRY, spot=SPOT)
    p_win = 0.65

    result = _option(chain, instruments, scorer=FakeScorer(p_win=p_win))

    assert result is not None
    assert result.proposal is not None
    point, proposal = result.point, result.proposal
    quote = chain.filter(pl.col("instrument_token") == point.instrument_token).row(0, named=True)
    mid = (quote["bid"] + quote["ask"]) / 2
    take_profit = np.ceil(round(mid * 1.5 / 0.05, 9)) * 0.05
    stop_loss = np.floor(round(mid * 0.6 / 0.05, 9)) * 0.05
    assert proposal.take_profit == pytest.approx(take_profit)
    assert proposal.stop_loss == pytest.approx(stop_loss)
    fill, limit = SETTINGS.fills.entry_prices(
        np.array([True]),
        np.array([mid]),
        np.array([quote["bid"]]),
        np.array([quote["ask"]]),
        np.array([0.05]),
    )
    assert (point.entry_price, point.limit_price) == (fill[0], limit[0])
    lots = size_lots(limit, [proposal.stop_loss], [65], [1.0], SETTINGS.portfolio)[0]
    quantity = int(lots) * 65
    assert (point.lots, point.quantity) == (lots, quantity)

    def charges(exit_price: float) -> float:
        return float(
            SETTINGS.charges.round_trip(
                ChargeSegment.OPTIONS, point.entry_price, exit_price, quantity, OPTION_DAY
            ).total
        )

    expected_charges = p_win * charges(proposal.take_profit) + (1 - p_win) * charges(
        proposal.stop_loss
    )
    gain = (proposal.take_profit - point.entry_price) * quantity
    loss = (point.entry_price - proposal.stop_loss) * quantity
    assert point.expected_charges == pytest.approx(expected_charges, rel=1e-12)
    assert point.expected_net_profit == pytest.approx(
        p_win * gain - (1 - p_win) * loss - expected_charges, rel=1e-12
    )
    # Intraday: the hold limit (240 min) ends before the F&O square-off at 15:25.
    assert proposal.time_exit == OPTION_DECISION + timedelta(minutes=PARAMS.max_hold_minutes)


def test_option_on_an_empty_chain_is_none() -> None:
    instruments, chain = nifty_option_chain(OPTION_DECISION, EXPIRY, spot=SPOT)
    scorer = FakeScorer()

    result = _option(chain.clear(), instruments, scorer=scorer)

    assert result is None
    assert scorer.calls == []


@pytest.mark.parametrize(("day", "decides"), [(date(2026, 8, 24), True), (EXPIRY, False)])
def test_option_contract_is_entered_until_exit_days_before_its_expiry(
    day: date, decides: bool
) -> None:
    """exit_days_before_expiry=1: the 25-Aug contracts can be bought on Mon 24th, not on 25th."""
    at = _at_ist(day, 10, 0)
    instruments, chain = nifty_option_chain(at, EXPIRY, spot=SPOT)
    known = {int(i.instrument_token): i for i in [nifty_index_instrument(), *instruments]}
    features = _index_features(1e-4).with_columns(
        pl.lit(at).cast(pl.Datetime("us", "UTC")).alias("ts_event")
    )
    bar = replace(_index_candle(), ts_event=at, ts_init=at)

    result = LiveStrategy(SETTINGS, known).option(features, bar, chain, FakeScorer(), at)

    assert (result is not None) is decides
