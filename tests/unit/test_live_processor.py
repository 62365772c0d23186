"""The per-group state machine: ticks in; dead letters, feature rows, scored points, proposals,
suppressions and exits out — with a fake registry, trade book and history behind the ports."""

from __future__ import annotations

import pickle
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl
import pytest

from data_contracts.enums import DeadLetterReason, Exchange, ExitReason, Product, Side
from data_contracts.feed import DeadLetter
from data_contracts.ids import InstrumentToken, ProposalId
from data_contracts.instruments import Instrument, underlying_tokens
from data_contracts.market import Tick
from data_contracts.ports import RegisteredModel, Scores
from data_contracts.trading import ExitProposal, OpenTrade, Proposal
from models.features import FeatureSet
from models.live import (
    EQUITY_STRATEGY,
    OPTIONS_STRATEGY,
    ChampionScorer,
    FeatureRow,
    GroupProcessor,
    GroupState,
    LiveContext,
    LiveStrategy,
    Output,
    ScoredPoint,
    Suppressed,
    proposal_id,
)
from tests.factories import (
    NIFTY_INDEX_TOKEN,
    T0,
    infy_instrument,
    live_settings,
    nifty_index_instrument,
    nifty_option_chain,
    open_trade,
    session_bars,
    tick,
)

FEATURES = FeatureSet()
SIZE = FEATURES.warmup_bars + 1
INFY = infy_instrument()
INFY_TOKEN = int(INFY.instrument_token)
NIFTY = int(NIFTY_INDEX_TOKEN)
MINUTE = timedelta(minutes=1)
LIVE_FROM = T0 + timedelta(minutes=30)  # 10:00 IST, Tue 2026-08-18: the last history bar
LIVE_BARS = 6
OPTION_CHAIN = nifty_option_chain(LIVE_FROM, date(2026, 8, 25))
OPTIONS: list[Instrument] = OPTION_CHAIN[0]
INSTRUMENTS = [INFY, nifty_index_instrument(), *OPTIONS]
SETTINGS = live_settings()


# --- fakes behind the ports ---------------------------------------------------------------------


@dataclass
class FakeScorer:
    model_version: str = "7"
    feature_version: str = FEATURES.version
    p_win: float = 0.7
    expected_return: float = 0.2

    def score(self, features: pl.DataFrame) -> Scores:
        rows = features.height
        return Scores(p_win=[self.p_win] * rows, expected_return=[self.expected_return] * rows)


@dataclass
class FakeRegistry:
    current: RegisteredModel | None = field(
        default_factory=lambda: RegisteredModel("kitepilot", "7", FEATURES.version, T0)
    )

    def champion(self) -> RegisteredModel | None:
        return self.current

    def load(self, model: RegisteredModel) -> FakeScorer:
        return FakeScorer(model.version, model.feature_version)

    def promote(self, version: str) -> RegisteredModel:
        raise NotImplementedError


@dataclass
class FakeTradeBook:
    trades: list[OpenTrade] = field(default_factory=list)

    def open_trade(self, trade: OpenTrade) -> bool:
        self.trades.append(trade)
        return True

    def close_trade(self, proposal_id: ProposalId, ts_event: datetime) -> None:
        self.trades = [t for t in self.trades if t.proposal_id != proposal_id]

    def open_trades(self, instrument_token: int | None = None) -> list[OpenTrade]:
        return [
            t
            for t in self.trades
            if instrument_token is None or t.instrument_token == instrument_token
        ]


@dataclass
class FakeHistory:
    """The lake's (or Kite's) candles: a frame, cut at ``end``."""

    candles: pl.DataFrame
    asked: list[tuple[int, datetime, int]] = field(default_factory=list)

    def candles_before(self, instrument_token: int, end: datetime, bars: int) -> pl.DataFrame:
        self.asked.append((instrument_token, end, bars))
        mine = (pl.col("instrument_token") == instrument_token) & (pl.col("ts_event") <= end)
        return self.candles.filter(mine).sort("ts_event").tail(bars)


# --- data ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def infy_bars() -> pl.DataFrame:
    """History up to LIVE_FROM, then LIVE_BARS live bars (closing 10:01, 10:02, ...)."""
    bars: pl.DataFrame = session_bars(INFY_TOKEN, LIVE_FROM + LIVE_BARS * MINUTE, SIZE + LIVE_BARS)
    return bars


@pytest.fixture(scope="module")
def nifty_bars() -> pl.DataFrame:
    bars: pl.DataFrame = session_bars(
        NIFTY, LIVE_FROM + LIVE_BARS * MINUTE, SIZE + LIVE_BARS, close=24_000.0, tick_size=0.01
    )
    return bars


def _history(*frames: pl.DataFrame) -> FakeHistory:
    return FakeHistory(pl.concat([f.filter(pl.col("ts_event") <= LIVE_FROM) for f in frames]))


def _live_ticks(bars: pl.DataFrame, n: int) -> list[Tick]:
    """The ticks of the n-th live bar (1 = closing 10:01): open, high, low, close at 50, 40, 30
    and 10 s before the close; quantities sum to the bar's volume, and the cumulative volume
    continues from the bars before (the day had traded 10,000 before the first live bar)."""
    live = bars.filter(pl.col("ts_event") > LIVE_FROM).sort("ts_event")
    bar = live.row(n - 1, named=True)
    volume_before = 10_000 + int(live["volume"].head(n - 1).sum())
    close_at = bar["ts_event"]
    volume = bar["volume"]
    quantities = [volume // 4] * 3 + [volume - 3 * (volume // 4)]
    out, cumulative = [], volume_before
    for seconds, price, quantity in zip(
        (50, 40, 30, 10),
        (bar["open"], bar["high"], bar["low"], bar["close"]),
        quantities,
        strict=True,
    ):
        cumulative += quantity
        at = close_at - timedelta(seconds=seconds)
        out.append(
            tick(
                instrument_token=InstrumentToken(bar["instrument_token"]),
                ts_event=at,
                ts_init=at,
                last_price=price,
                last_quantity=quantity,
                volume=cumulative,
                bid=None,
                ask=None,
                oi=None,
            )
        )
    return out


def _option_ticks(at: datetime) -> list[Tick]:
    chain = OPTION_CHAIN[1]
    return [
        tick(
            instrument_token=InstrumentToken(row["instrument_token"]),
            ts_event=at,
            ts_init=at,
            last_price=row["last_price"],
            last_quantity=65,
            volume=6_500,
            bid=row["bid"],
            ask=row["ask"],
            oi=row["oi"],
        )
        for row in chain.iter_rows(named=True)
    ]


def _context(history: FakeHistory | None, **overrides: Any) -> LiveContext:
    values: dict[str, Any] = {
        "strategy": LiveStrategy(SETTINGS, {int(i.instrument_token): i for i in INSTRUMENTS}),
        "champion": ChampionScorer(
            FakeRegistry(), feature_version=FEATURES.version, recheck=timedelta(minutes=5)
        ),
        "underlying_of": underlying_tokens(INSTRUMENTS),
        "trades": FakeTradeBook(),
        "history": history,
        "source": "test",
    }
    return LiveContext(**(values | overrides))


def _run(processor: GroupProcessor, ticks: Iterable[Tick]) -> list[Output]:
    out: list[Output] = []
    for item in ticks:
        out += processor.on_tick(item)
    return out


def _infy(infy_bars: pl.DataFrame, **overrides: Any) -> tuple[GroupProcessor, LiveContext]:
    context = _context(_history(infy_bars), **overrides)
    return GroupProcessor(context, GroupState(key=INFY_TOKEN)), context


def _bars_ticks(bars: pl.DataFrame, first: int, last: int) -> list[Tick]:
    """The ticks of live bars ``first..last``, with one more tick that closes the last bar."""
    ticks = [t for n in range(first, last + 1) for t in _live_ticks(bars, n)]
    return [*ticks, _live_ticks(bars, last + 1)[0]]


def _of(kind: type, out: Iterable[object]) -> list[Any]:
    return [item for item in out if isinstance(item, kind)]


def _reasons(decisions: Iterable[object]) -> list[str]:
    return [d.reason if isinstance(d, Suppressed) else "" for d in decisions]


# --- dead letters and closing candles ------------------------------------------------------------


def test_processor_out_of_order_tick_is_a_dead_letter_and_nothing_else(
    infy_bars: pl.DataFrame,
) -> None:
    processor, _ = _infy(infy_bars)
    ticks = _live_ticks(infy_bars, 1)
    _run(processor, ticks)
    market_time = processor.state.market_time
    late = tick(
        instrument_token=INFY.instrument_token,
        ts_event=ticks[-1].ts_event - timedelta(seconds=10),
        ts_init=ticks[-1].ts_event,
        last_price=9_999.0,
        bid=None,
        ask=None,
    )

    out = processor.on_tick(late)

    assert len(out) == 1
    assert isinstance(out[0], DeadLetter)
    assert (out[0].reason, out[0].source) == (DeadLetterReason.OUT_OF_ORDER, "test")
    assert processor.state.market_time == market_time


def test_processor_candle_closed_by_the_next_tick_gives_the_batch_feature_row(
    infy_bars: pl.DataFrame,
) -> None:
    processor, _ = _infy(infy_bars, emit_features=True)

    out = _run(processor, _bars_ticks(infy_bars, 1, 1))

    rows = _of(FeatureRow, out)
    batch = FEATURES.latest(infy_bars.filter(pl.col("ts_event") <= LIVE_FROM + MINUTE))
    assert len(rows) == 1
    row = rows[0]
    assert (row.instrument_token, row.ts_event, row.feature_version) == (
        INFY_TOKEN,
        LIVE_FROM + MINUTE,
        FEATURES.version,
    )
    assert [name for name, _ in row.values] == list(FEATURES.columns)
    for name, value in row.values:
        assert value == pytest.approx(batch[name][0], rel=1e-9, abs=1e-12), name


@pytest.mark.parametrize(("after_close", "closes"), [(4.999, False), (5.0, True)])
def test_processor_on_clock_closes_a_quiet_bar_after_the_timeout(
    infy_bars: pl.DataFrame, after_close: float, closes: bool
) -> None:
    processor, _ = _infy(infy_bars, emit_features=True, candle_timeout=timedelta(seconds=5))
    _run(processor, _live_ticks(infy_bars, 1))

    out = processor.on_clock(LIVE_FROM + MINUTE + timedelta(seconds=after_close))

    assert [r.ts_event for r in _of(FeatureRow, out)] == ([LIVE_FROM + MINUTE] if closes else [])


@pytest.mark.parametrize("emit", [True, False])
def test_processor_features_are_emitted_only_when_asked(
    infy_bars: pl.DataFrame, emit: bool
) -> None:
    processor, _ = _infy(infy_bars, emit_features=emit)

    out = _run(processor, _bars_ticks(infy_bars, 1, 1))

    assert len(_of(FeatureRow, out)) == (1 if emit else 0)
    assert len(_of(ScoredPoint, out)) == 1


def test_processor_without_a_champion_scores_nothing(infy_bars: pl.DataFrame) -> None:
    champion = ChampionScorer(
        FakeRegistry(current=None), feature_version=FEATURES.version, recheck=MINUTE
    )
    processor, _ = _infy(infy_bars, champion=champion, emit_features=True)

    out = _run(processor, _bars_ticks(infy_bars, 1, 1))

    assert [type(item) for item in out] == [FeatureRow]


# --- proposals and their filters ---------------------------------------------------------------


def test_processor_decides_a_closed_bar_into_a_point_and_a_proposal(
    infy_bars: pl.DataFrame,
) -> None:
    processor, _ = _infy(infy_bars)

    out = _run(processor, _bars_ticks(infy_bars, 1, 1))

    assert [type(item) for item in out] == [ScoredPoint, Proposal]
    point, proposal = out
    assert isinstance(proposal, Proposal)
    assert proposal.proposal_id == proposal_id(EQUITY_STRATEGY, INFY_TOKEN, LIVE_FROM + MINUTE)
    assert isinstance(point, ScoredPoint)
    assert (proposal.side, proposal.product) == (Side.BUY, Product.MIS)
    assert (point.instrument_token, point.ts_event, point.model_version) == (
        INFY_TOKEN,
        LIVE_FROM + MINUTE,
        "7",
    )


def test_processor_suppresses_a_repeat_while_the_proposal_is_live_then_proposes_again(
    infy_bars: pl.DataFrame,
) -> None:
    """TTL 2 min: the 10:01 proposal is live at 10:02 and has expired at 10:03."""
    processor, _ = _infy(infy_bars)

    out = _run(processor, _bars_ticks(infy_bars, 1, 3))

    decisions = [item for item in out if isinstance(item, Proposal | Suppressed)]
    assert [type(d) for d in decisions] == [Proposal, Suppressed, Proposal]
    assert "repeat" in _reasons(decisions)[1]
    assert [d.ts_event for d in _of(Proposal, decisions)] == [
        LIVE_FROM + MINUTE,
        LIVE_FROM + 3 * MINUTE,
    ]


def _infy_trade(**overrides: Any) -> OpenTrade:
    values: dict[str, Any] = {
        "proposal_id": ProposalId("equity-intraday:408065:20260818T0400Z"),
        "strategy_id": EQUITY_STRATEGY,
        "instrument_token": INFY.instrument_token,
        "exchange": Exchange.NSE,
        "tradingsymbol": "INFY",
        "product": Product.MIS,
        "quantity": 10,
        "lot_size": 1,
        "entry_price": 1_400.0,
        "stop_loss": 1.0,
        "take_profit": 99_999.0,
        "opened_at": T0,
    }
    return open_trade(**(values | overrides))


def _other_trade(token: int, n: int) -> OpenTrade:
    return open_trade(proposal_id=ProposalId(f"other-{n}"), instrument_token=InstrumentToken(token))


@pytest.mark.parametrize(
    ("trades", "reason"),
    [
        ([_infy_trade()], "a position in this instrument is open"),
        (
            [
                _other_trade(OPTIONS[0].instrument_token, 1),
                _other_trade(OPTIONS[1].instrument_token, 2),
            ],
            "max concurrent",
        ),
        ([_other_trade(OPTIONS[0].instrument_token, 1)], None),
    ],
)
def test_processor_open_positions_suppress_a_proposal(
    infy_bars: pl.DataFrame, trades: list[OpenTrade], reason: str | None
) -> None:
    processor, _ = _infy(infy_bars, trades=FakeTradeBook(list(trades)), max_concurrent=2)

    out = _run(processor, _bars_ticks(infy_bars, 1, 1))

    if reason is None:
        assert len(_of(Proposal, out)) == 1
    else:
        (suppressed,) = _of(Suppressed, out)
        assert _of(Proposal, out) == []
        assert reason in suppressed.reason


def test_processor_exit_is_emitted_once_per_trade_though_the_rule_fires_again(
    infy_bars: pl.DataFrame,
) -> None:
    trade = _infy_trade(take_profit=1_000.0, stop_loss=1.0)  # every live bar is above target
    book = FakeTradeBook([trade])
    processor, _ = _infy(infy_bars, trades=book)

    out = _run(processor, _bars_ticks(infy_bars, 1, 3))

    exits = _of(ExitProposal, out)
    assert len(exits) == 1
    assert (exits[0].exit_id, exits[0].reason, exits[0].side) == (
        ExitProposal.id_for(trade.proposal_id),
        ExitReason.TAKE_PROFIT,
        Side.SELL,
    )
    assert exits[0].ts_event == LIVE_FROM + MINUTE


def test_processor_partial_first_bar_is_not_decided_and_the_window_keeps_the_full_bar(
    infy_bars: pl.DataFrame,
) -> None:
    """Started at 10:00:30: the bar closing 10:01 is partial (its first ticks were missed); the
    history has it whole, so the 10:02 decision uses the full bar."""
    started = LIVE_FROM + timedelta(seconds=30)
    history = FakeHistory(infy_bars.filter(pl.col("ts_event") <= LIVE_FROM + 2 * MINUTE))
    context = _context(history, started_at=started, emit_features=True)
    processor = GroupProcessor(context, GroupState(key=INFY_TOKEN))
    partial = [t for t in _live_ticks(infy_bars, 1) if t.ts_event > started]

    first = _run(processor, partial)
    out = _run(processor, [*_live_ticks(infy_bars, 2), _live_ticks(infy_bars, 3)[0]])

    assert _of(ScoredPoint, first) == []
    assert _of(FeatureRow, first) == []
    assert [p.ts_event for p in _of(ScoredPoint, out)] == [LIVE_FROM + 2 * MINUTE]
    batch = FEATURES.latest(infy_bars.filter(pl.col("ts_event") <= LIVE_FROM + 2 * MINUTE))
    (row,) = _of(FeatureRow, out)
    for name, value in row.values:
        assert value == pytest.approx(batch[name][0], rel=1e-9, abs=1e-12), name


def test_processor_group_state_pickled_mid_stream_behaves_as_the_original(
    infy_bars: pl.DataFrame,
) -> None:
    context = _context(_history(infy_bars), emit_features=True)
    processor = GroupProcessor(context, GroupState(key=INFY_TOKEN))
    ticks = _bars_ticks(infy_bars, 1, 4)
    _run(processor, ticks[:6])  # mid-way through the second live bar, one proposal live
    snapshot = pickle.dumps(processor.state, protocol=pickle.HIGHEST_PROTOCOL)
    restored = GroupProcessor(context, pickle.loads(snapshot))  # noqa: S301 - our own bytes

    original = _run(processor, ticks[6:])
    recovered = _run(restored, ticks[6:])

    assert recovered == original
    assert len(_of(ScoredPoint, original)) == 3


# --- F&O: the underlying's group with its live chain ------------------------------------------


def _nifty(nifty_bars: pl.DataFrame, **overrides: Any) -> GroupProcessor:
    context = _context(_history(nifty_bars), **overrides)
    return GroupProcessor(context, GroupState(key=NIFTY))


def _with_chain(nifty_bars: pl.DataFrame, first: int, last: int) -> list[Tick]:
    """Option quotes 20 s into the first bar, then the index ticks of bars first..last."""
    quotes = _option_ticks(LIVE_FROM + (first - 1) * MINUTE + timedelta(seconds=20))
    index = _bars_ticks(nifty_bars, first, last)
    return sorted([*quotes, *index], key=lambda t: t.ts_event)


def test_processor_underlying_bar_proposes_a_call_from_the_live_chain(
    nifty_bars: pl.DataFrame,
) -> None:
    processor = _nifty(nifty_bars)

    out = _run(processor, _with_chain(nifty_bars, 1, 1))

    (proposal,) = _of(Proposal, out)
    assert proposal.strategy_id == OPTIONS_STRATEGY
    assert proposal.exchange is Exchange.NFO
    assert proposal.tradingsymbol.endswith("CE")
    assert proposal.proposal_id == proposal_id(OPTIONS_STRATEGY, NIFTY, LIVE_FROM + MINUTE)


@pytest.mark.parametrize(
    ("cooldown", "third"), [(timedelta(hours=48), Suppressed), (timedelta(0), Proposal)]
)
def test_processor_fno_cooldown_suppresses_the_next_entry_proposal(
    nifty_bars: pl.DataFrame, cooldown: timedelta, third: type
) -> None:
    """10:01 proposes; 10:02 repeats a live proposal; at 10:03 (TTL over) only the cool-down
    can hold it back."""
    processor = _nifty(nifty_bars, fno_cooldown=cooldown)

    out = _run(processor, _with_chain(nifty_bars, 1, 3))

    decisions = [item for item in out if isinstance(item, Proposal | Suppressed)]
    assert [type(d) for d in decisions] == [Proposal, Suppressed, third]
    reasons = _reasons(decisions)
    assert "repeat" in reasons[1]
    assert ("cool-down" in reasons[2]) is (third is Suppressed)


def test_processor_option_group_without_quotes_makes_no_option_decision(
    nifty_bars: pl.DataFrame,
) -> None:
    processor = _nifty(nifty_bars)

    out = _run(processor, _bars_ticks(nifty_bars, 1, 1))

    assert _of(ScoredPoint, out) == []
    assert _of(Proposal, out) == []


def test_processor_index_without_options_is_not_decided(nifty_bars: pl.DataFrame) -> None:
    processor = _nifty(nifty_bars, underlying_of={}, emit_features=True)

    out = _run(processor, _bars_ticks(nifty_bars, 1, 1))

    assert out == []
