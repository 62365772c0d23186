"""The streaming worker's per-key state machine: ticks in; dead letters, scored decision points,
proposals and exits out. Pure logic (no Bytewax): ``streaming/`` wraps it in a keyed step.

A *group* is an instrument and, for an underlying with options, its option contracts: the option
ticks are keyed by their underlying, so the underlying's decision sees the live chain. Per group:
one :class:`~models.live.candles.CandleBuilder` per instrument, a feature
:class:`~models.live.window.CandleWindow` (the carried feature state) per decided instrument
(equities, underlyings), the
latest quote of each option, and the filters' memory (the F&O cool-down, the proposals still live
for de-duplication). :class:`GroupState` is plain data, so the worker snapshots and restores it.

Shared, process-wide pieces are in :class:`LiveContext` (the strategy, the champion, the trade book,
history for warm-up) and are never snapshotted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from data_contracts.enums import Exchange, InstrumentType
from data_contracts.feed import DeadLetter
from data_contracts.instruments import Instrument
from data_contracts.market import Candle, Tick
from data_contracts.ports import Scorer, TradeBook
from data_contracts.schemas import OPTION_CHAIN_SCHEMA
from data_contracts.trading import ExitProposal, OpenTrade, Proposal
from models.features import FeatureSet
from models.live.candles import CandleBuilder
from models.live.champion import ChampionScorer
from models.live.exits import exit_for
from models.live.history import History
from models.live.strategy import OPTIONS_STRATEGY, Candidate, LiveStrategy, ScoredPoint
from models.live.window import CandleWindow

__all__ = [
    "SHARDS",
    "SHARD_LAYOUT",
    "ClockMark",
    "Closed",
    "FeatureRow",
    "GroupProcessor",
    "GroupState",
    "LiveContext",
    "Output",
    "Suppressed",
    "decide",
    "group_of",
    "shard_of",
]

_INDEX_SEGMENT: Final = "INDICES"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
_KEY_SCHEMA: Final = {
    "instrument_token": pl.Int64,
    "ts_event": pl.Int64,
    "feature_version": pl.String,
}


@dataclass(frozen=True, slots=True)
class ClockMark:
    """The feed's market clock passing ``now``: closes the bars of a quiet instrument.

    ``ts_init`` is when the feed made the mark (the wall clock for a live feed; None: ``now``),
    the ``ts_init`` of what it closes — so a live proposal's latency is measured from it, not
    from the market time of a replayed session.
    """

    now: datetime
    ts_init: datetime | None = None


@dataclass(frozen=True, slots=True)
class FeatureRow:
    """The feature row computed at a closed candle (emitted for parity checks and research)."""

    instrument_token: int
    ts_event: datetime
    feature_version: str
    values: tuple[tuple[str, float], ...]


@dataclass(frozen=True, slots=True)
class Suppressed:
    """A point that cleared the filters but made no proposal, and why (repeat, cool-down, ...)."""

    point: ScoredPoint
    reason: str


Output = DeadLetter | FeatureRow | ScoredPoint | Proposal | ExitProposal | Suppressed


@dataclass
class LiveContext:
    """Process-wide collaborators of every group (see the module docstring)."""

    strategy: LiveStrategy
    champion: ChampionScorer
    underlying_of: Mapping[int, int]  # option token -> its underlying's token
    trades: TradeBook | None = None
    history: History | None = None
    candle_timeout: timedelta = timedelta(seconds=5)
    out_of_order_tolerance: timedelta = timedelta(seconds=2)
    fno_cooldown: timedelta = timedelta(hours=48)
    max_concurrent: int = 2
    started_at: datetime | None = None  # bars that opened before this are partial
    emit_features: bool = False
    source: str = "kite"


def group_of(token: int, underlying_of: Mapping[int, int]) -> int:
    """The group a token belongs to: its underlying's for an option, else its own."""
    return underlying_of.get(token, token)


# Groups are spread over this many keys of the worker's keyed step: enough keys for Bytewax to
# balance a few processes, few enough that a shard's bars closing together are decided in one
# feature build and one model call. Changing it (or ``shard_of``) makes earlier recovery
# snapshots unusable (they are per shard): ``SHARD_LAYOUT`` names the layout they were taken with.
SHARDS: Final = 16
SHARD_LAYOUT: Final = 2  # 1: group token % 16; 2: splitmix64(group token) % 16
_MASK64: Final = (1 << 64) - 1


def shard_of(token: int, underlying_of: Mapping[int, int]) -> int:
    """The shard (the worker's key) a token's ticks are processed under: a fixed mixing hash
    of its group's token (the same in every process and Python run, unlike ``hash``).

    Not ``token % SHARDS``: a Kite instrument token is ``exchange_token << 8 | segment``, so its
    low byte is the segment and every NSE equity would share one shard. The hash (splitmix64's
    finaliser) mixes every bit of the token; an option goes with its underlying's group."""
    z = (group_of(token, underlying_of) + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (z ^ (z >> 31)) % SHARDS


@dataclass
class _Quote:
    ts: datetime
    last_price: float
    bid: float | None
    ask: float | None
    oi: int | None
    volume: int = 0


@dataclass
class GroupState:
    """Everything a group remembers (snapshotted by the worker for recovery)."""

    key: int
    builders: dict[int, CandleBuilder] = field(default_factory=dict)
    windows: dict[int, CandleWindow] = field(default_factory=dict)
    quotes: dict[int, _Quote] = field(default_factory=dict)
    last_fno_proposal_at: datetime | None = None
    live: dict[str, datetime] = field(default_factory=dict)  # de-duplication key -> expires_at
    exited: set[str] = field(default_factory=set)
    market_time: datetime | None = None


class GroupProcessor:
    """Runs one group's :class:`GroupState` with the shared :class:`LiveContext`."""

    def __init__(self, context: LiveContext, state: GroupState) -> None:
        self._ctx = context
        self.state = state
        self._has_options = any(u == state.key for u in context.underlying_of.values())

    def on_tick(self, tick: Tick) -> list[Output]:
        """Fold ``tick`` in and decide the bar it closed (if any) at once."""
        out, closed = self.advance(tick)
        return out if closed is None else out + decide([(self, closed, tick.ts_init)])

    def on_clock(self, now: datetime, ts_init: datetime | None = None) -> list[Output]:
        """Close and decide the bars the market clock ``now`` has left behind by the timeout
        (made at ``ts_init``, default ``now``)."""
        return decide([(self, candle, ts_init or now) for candle in self.due(now)])

    def advance(self, tick: Tick) -> tuple[list[Output], Candle | None]:
        """Fold ``tick`` in: what was refused, and the bar it closed (to :func:`decide`)."""
        state, token = self.state, tick.instrument_token
        builder = state.builders.get(token)
        if builder is None:
            builder = CandleBuilder(
                token, tolerance=self._ctx.out_of_order_tolerance, source=self._ctx.source
            )
            state.builders[token] = builder
        closed, refused = builder.add(tick)
        if refused is not None:
            return [refused], None
        if state.market_time is None or tick.ts_event > state.market_time:
            state.market_time = tick.ts_event
        if token in self._ctx.underlying_of:
            self._quote(tick)
        return [], closed

    def due(self, now: datetime) -> list[Candle]:
        """The bars the market clock ``now`` closes (to :func:`decide`)."""
        closed = (
            builder.close_due(now, self._ctx.candle_timeout)
            for builder in list(self.state.builders.values())
        )
        return [candle for candle in closed if candle is not None]

    # --- a closed candle (see decide) ---------------------------------------------------------

    def _features_row(self, candle: Candle) -> npt.NDArray[np.float64] | None:
        """The feature row ``candle`` is decided on, or None when it is not decided on (not a
        decided instrument, a partial bar, still warming up)."""
        instrument = self._ctx.strategy.instrument(candle.instrument_token)
        if instrument is None or not self._decided(instrument):
            return None
        partial = self._ctx.started_at is not None and candle.ts_open < self._ctx.started_at
        window = self._window(candle, partial)
        if partial or window.last_close_at != candle.ts_event:
            return None
        return window.latest_features()

    def _is_equity(self, token: int) -> bool:
        instrument = self._ctx.strategy.instrument(token)
        return (
            instrument is not None
            and instrument.instrument_type is InstrumentType.EQ
            and instrument.segment != _INDEX_SEGMENT
        )

    def _decided(self, instrument: Instrument) -> bool:
        if instrument.instrument_type is not InstrumentType.EQ:
            return False
        if instrument.segment == _INDEX_SEGMENT:
            return self._has_options and instrument.instrument_token == self.state.key
        return instrument.exchange is Exchange.NSE

    def _window(self, candle: Candle, partial: bool) -> CandleWindow:
        """The instrument's window with ``candle`` in it — unless it is a partial bar (the
        worker started inside it), which is never used: history has the whole bar, or the
        window goes without it."""
        state, token = self.state, candle.instrument_token
        window = state.windows.get(token)
        if window is not None:
            if not partial:
                window.append(candle)
            return window
        feature_set = self._ctx.strategy.settings.feature_set
        size = feature_set.warmup_bars + 1
        window = CandleWindow(token, feature_set)
        state.windows[token] = window
        history = self._ctx.history
        if history is not None:
            past = history.candles_before(token, candle.ts_event, size)
            if past.height:
                window.prefill(past)
        if not partial:
            window.append(candle)  # no-op when the history already had this bar
        return window

    def _filtered(
        self, point: ScoredPoint, proposal: Proposal, open_trades: Sequence[OpenTrade] | None
    ) -> Proposal | Suppressed:
        state, ctx = self.state, self._ctx
        key = f"{point.strategy_id.value}:{point.decision_token}:{point.direction}"
        live_until = state.live.get(key)
        if live_until is not None and point.ts_event < live_until:
            return Suppressed(point, "repeat of a proposal still awaiting a decision")
        if point.strategy_id == OPTIONS_STRATEGY and state.last_fno_proposal_at is not None:
            since = point.ts_event - state.last_fno_proposal_at
            if since < ctx.fno_cooldown:
                return Suppressed(point, f"F&O cool-down ({since} since the last entry proposal)")
        if open_trades is not None:
            if any(t.instrument_token == proposal.instrument_token for t in open_trades):
                return Suppressed(point, "a position in this instrument is open")
            if len(open_trades) >= ctx.max_concurrent:
                return Suppressed(point, f"{len(open_trades)} positions open (max concurrent)")
        state.live = {k: v for k, v in state.live.items() if v > point.ts_event}
        state.live[key] = proposal.expires_at
        if point.strategy_id == OPTIONS_STRATEGY:
            state.last_fno_proposal_at = point.ts_event
        return proposal

    def _exits(
        self, candle: Candle, now: datetime, open_trades: Sequence[OpenTrade]
    ) -> list[ExitProposal]:
        settings = self._ctx.strategy.settings
        out = []
        for trade in open_trades:
            if (
                trade.instrument_token != candle.instrument_token
                or trade.proposal_id.value in self.state.exited
            ):
                continue
            exit_ = exit_for(
                trade, candle, now=now, fills=settings.fills, calendar=settings.calendar
            )
            if exit_ is not None:
                self.state.exited.add(trade.proposal_id.value)
                out.append(exit_)
        return out

    # --- the live option chain ------------------------------------------------------------------

    def _quote(self, tick: Tick) -> None:
        previous = self.state.quotes.get(tick.instrument_token)
        if previous is None or tick.ts_event >= previous.ts:
            self.state.quotes[tick.instrument_token] = _Quote(
                tick.ts_event, tick.last_price, tick.bid, tick.ask, tick.oi, tick.volume
            )

    def _chain(self, at: datetime) -> pl.DataFrame:
        """The live chain of this group's underlying as one snapshot at ``at``: each contract's
        latest quote, if it is fresh enough and two-sided."""
        strategy = self._ctx.strategy
        max_age = timedelta(minutes=strategy.settings.options.max_snapshot_age_minutes)
        rows = []
        for token, quote in self.state.quotes.items():
            instrument = strategy.instrument(token)
            if (
                instrument is None
                or instrument.expiry is None
                or instrument.strike is None
                or quote.bid is None
                or quote.ask is None
                or at - quote.ts > max_age
                or quote.ts > at
            ):
                continue
            rows.append(
                {
                    "ts_event": at,
                    "underlying_token": self.state.key,
                    "instrument_token": token,
                    "expiry": instrument.expiry,
                    "strike": instrument.strike,
                    "option_type": instrument.instrument_type.value,
                    "last_price": quote.last_price,
                    "bid": quote.bid,
                    "ask": quote.ask,
                    "oi": quote.oi or 0,
                    "tradingsymbol": instrument.tradingsymbol,
                    "volume": quote.volume,
                }
            )
        return pl.DataFrame(rows, schema=dict(OPTION_CHAIN_SCHEMA))


def _feature_frame(
    feature_set: FeatureSet, rows: Sequence[tuple[Candle, npt.NDArray[np.float64]]]
) -> pl.DataFrame:
    """The rows as the feature set's frame (``instrument_token, ts_event, feature_version,
    <columns>``), one per candle, in order: what the strategies and the scorer read."""
    keys = pl.DataFrame(
        {
            "instrument_token": [candle.instrument_token for candle, _ in rows],
            "ts_event": [(candle.ts_event - _EPOCH) // _MICROSECOND for candle, _ in rows],
            "feature_version": [feature_set.version] * len(rows),
        },
        schema=_KEY_SCHEMA,
    )
    values = pl.from_numpy(np.stack([row for _, row in rows]), schema=list(feature_set.columns))
    return pl.concat([keys, values], how="horizontal").with_columns(
        pl.col("ts_event").cast(pl.Datetime("us", "UTC"))
    )


def _feature_row(
    candle: Candle, row: npt.NDArray[np.float64], feature_set: FeatureSet
) -> FeatureRow:
    return FeatureRow(
        instrument_token=int(candle.instrument_token),
        ts_event=candle.ts_event,
        feature_version=feature_set.version,
        values=tuple(zip(feature_set.columns, row.tolist(), strict=True)),
    )


Closed = tuple[GroupProcessor, Candle, datetime]
"""A bar a group closed, and the ``ts_init`` of what closed it (a tick, a clock mark)."""


def decide(closed: Sequence[Closed]) -> list[Output]:
    """Exits, features, scores and proposals for bars closed by any groups of one worker, in
    as few model and feature calls as possible.

    The bars are taken in rounds — each instrument's first bar, then its second, … — and each
    bar's features are one update of its instrument's carried feature state, in time order,
    exactly as if it were decided alone (the result does not depend on how the bars were
    batched). A bar's entry, score and proposal depend only on its own row, so the equity bars
    of every round go through one :meth:`LiveStrategy.equity_rows` call (one model call per
    champion), and one :meth:`LiveStrategy.swing_rows` (the swing strategy's decision bars);
    the filters (de-duplication, cool-down) then run round by round, in the same
    order as if each round were decided alone, and the outputs keep that order.
    """
    if not closed:
        return []
    ctx = closed[0][0]._ctx
    open_trades = list(ctx.trades.open_trades()) if ctx.trades is not None else None
    out: list[Output] = []
    for processor, candle, now in closed:
        out += processor._exits(candle, now, open_trades or ())
    # Per round: its outputs so far (feature rows, option decisions) and its scored equities.
    rounds = [_prepare_round(ctx, round_, open_trades) for round_ in _rounds(closed)]
    equities = [equity for _, round_equities in rounds for equity in round_equities]
    items = [(candle, row, scorer, now) for _, candle, now, row, scorer in equities]
    intraday = ctx.strategy.equity_rows(items) if items else []
    swing = ctx.strategy.swing_rows(items) if items else []
    at = 0
    for made, round_equities in rounds:
        out += made
        for n, (processor, *_) in enumerate(round_equities, start=at):
            out += _candidate(processor, intraday[n], open_trades)
            out += _candidate(processor, swing[n], open_trades)
        at += len(round_equities)
    return out


def _rounds(closed: Sequence[Closed]) -> list[list[Closed]]:
    seen: dict[int, int] = {}
    rounds: list[list[Closed]] = []
    for item in closed:
        token = item[1].instrument_token
        n = seen.get(token, 0)
        seen[token] = n + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(item)
    return rounds


_Equity = tuple[GroupProcessor, Candle, datetime, npt.NDArray[np.float64], Scorer]


def _prepare_round(
    ctx: LiveContext, round_: list[Closed], open_trades: Sequence[OpenTrade] | None
) -> tuple[list[Output], list[_Equity]]:
    """A round's feature rows (state updates, in order), its option decisions (made here, as
    they come), and its equity bars with the champion that scores each — decided later, with
    every round's, in one :meth:`LiveStrategy.equity_rows` call."""
    strategy = ctx.strategy
    feature_set = strategy.settings.feature_set
    ready = [(p, c, now, r) for p, c, now in round_ if (r := p._features_row(c)) is not None]
    if not ready:
        return [], []
    out: list[Output] = []
    equities: list[tuple[GroupProcessor, Candle, datetime, npt.NDArray[np.float64]]] = []
    for processor, candle, now, row in ready:
        if ctx.emit_features:
            out.append(_feature_row(candle, row, feature_set))
        if processor._is_equity(candle.instrument_token):
            equities.append((processor, candle, now, row))
            continue
        scorer = ctx.champion.scorer(candle.ts_event)
        if scorer is not None:
            if not processor.state.quotes:
                continue  # no live chain: no option to choose (LiveStrategy.option says None)
            chain = processor._chain(candle.ts_event)
            features = _feature_frame(feature_set, [(candle, row)])
            candidate = strategy.option(features, candle, chain, scorer, now)
            out += _candidate(processor, candidate, open_trades)
    scorers = [ctx.champion.scorer(candle.ts_event) for _, candle, _, _ in equities]
    scored = [(*e, sc) for e, sc in zip(equities, scorers, strict=True) if sc is not None]
    return out, scored


def _candidate(
    processor: GroupProcessor,
    candidate: Candidate | None,
    open_trades: Sequence[OpenTrade] | None,
) -> list[Output]:
    if candidate is None:
        return []
    if candidate.proposal is None:
        return [candidate.point]
    return [candidate.point, processor._filtered(candidate.point, candidate.proposal, open_trades)]
