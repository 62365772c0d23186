"""The streaming worker's per-key state machine: ticks in; dead letters, scored decision points,
proposals and exits out. Pure logic (no Bytewax): ``streaming/`` wraps it in a keyed step.

A *group* is an instrument and, for an underlying with options, its option contracts: the option
ticks are keyed by their underlying, so the underlying's decision sees the live chain. Per group:
one :class:`~models.live.candles.CandleBuilder` per instrument, a feature
:class:`~models.live.window.CandleWindow` per decided instrument (equities, underlyings), the
latest quote of each option, and the filters' memory (the F&O cool-down, the proposals still live
for de-duplication). :class:`GroupState` is plain data, so the worker snapshots and restores it.

Shared, process-wide pieces are in :class:`LiveContext` (the strategy, the champion, the trade book,
history for warm-up) and are never snapshotted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

import polars as pl

from data_contracts.enums import Exchange, InstrumentType
from data_contracts.feed import DeadLetter
from data_contracts.instruments import Instrument
from data_contracts.market import Candle, Tick
from data_contracts.ports import TradeBook
from data_contracts.schemas import UTC_TIMESTAMP
from data_contracts.trading import ExitProposal, Proposal
from models.live.candles import CandleBuilder
from models.live.champion import ChampionScorer
from models.live.exits import exit_for
from models.live.history import History
from models.live.strategy import OPTIONS_STRATEGY, LiveStrategy, ScoredPoint
from models.live.window import CandleWindow

__all__ = [
    "ClockMark",
    "FeatureRow",
    "GroupProcessor",
    "GroupState",
    "LiveContext",
    "Output",
    "Suppressed",
    "group_of",
]

_INDEX_SEGMENT: Final = "INDICES"


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
    """The key a token's ticks are processed under: its underlying's for an option."""
    return underlying_of.get(token, token)


@dataclass
class _Quote:
    ts: datetime
    last_price: float
    bid: float | None
    ask: float | None
    oi: int | None


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
        state, token = self.state, tick.instrument_token
        builder = state.builders.get(token)
        if builder is None:
            builder = CandleBuilder(
                token, tolerance=self._ctx.out_of_order_tolerance, source=self._ctx.source
            )
            state.builders[token] = builder
        closed, refused = builder.add(tick)
        if refused is not None:
            return [refused]
        if state.market_time is None or tick.ts_event > state.market_time:
            state.market_time = tick.ts_event
        if token in self._ctx.underlying_of:
            self._quote(tick)
        return [] if closed is None else self._on_candle(closed, tick.ts_init)

    def on_clock(self, now: datetime, ts_init: datetime | None = None) -> list[Output]:
        """Close the bars the market clock ``now`` has left behind by the timeout (made at
        ``ts_init``, default ``now``)."""
        out: list[Output] = []
        for builder in list(self.state.builders.values()):
            closed = builder.close_due(now, self._ctx.candle_timeout)
            if closed is not None:
                out += self._on_candle(closed, ts_init or now)
        return out

    # --- a closed candle ------------------------------------------------------------------------

    def _on_candle(self, candle: Candle, now: datetime) -> list[Output]:
        out: list[Output] = list(self._exits(candle, now))
        strategy = self._ctx.strategy
        instrument = strategy.instrument(candle.instrument_token)
        if instrument is None or not self._decided(instrument):
            return out
        partial = self._ctx.started_at is not None and candle.ts_open < self._ctx.started_at
        window = self._window(candle, partial)
        if partial:
            return out
        features = window.latest_features(strategy.settings.feature_set)
        if features is None:
            return out
        if self._ctx.emit_features:
            out.append(_feature_row(features, strategy.settings.feature_set.columns))
        scorer = self._ctx.champion.scorer(candle.ts_event)
        if scorer is None:
            return out
        if instrument.instrument_type is InstrumentType.EQ and instrument.segment != _INDEX_SEGMENT:
            candidate = strategy.equity(features, candle, scorer, now)
        else:
            candidate = strategy.option(features, candle, self._chain(candle.ts_event), scorer, now)
        if candidate is None:
            return out
        out.append(candidate.point)
        if candidate.proposal is not None:
            out.append(self._filtered(candidate.point, candidate.proposal))
        return out

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
        size = self._ctx.strategy.settings.feature_set.warmup_bars + 1
        window = CandleWindow(token, size)
        state.windows[token] = window
        history = self._ctx.history
        if history is not None:
            past = history.candles_before(token, candle.ts_event, size)
            if past.height:
                window.prefill(past)
        if not partial:
            window.append(candle)  # no-op when the history already had this bar
        return window

    def _filtered(self, point: ScoredPoint, proposal: Proposal) -> Proposal | Suppressed:
        state, ctx = self.state, self._ctx
        key = f"{point.strategy_id.value}:{point.decision_token}:{point.direction}"
        live_until = state.live.get(key)
        if live_until is not None and point.ts_event < live_until:
            return Suppressed(point, "repeat of a proposal still awaiting a decision")
        if point.strategy_id == OPTIONS_STRATEGY and state.last_fno_proposal_at is not None:
            since = point.ts_event - state.last_fno_proposal_at
            if since < ctx.fno_cooldown:
                return Suppressed(point, f"F&O cool-down ({since} since the last entry proposal)")
        if ctx.trades is not None:
            open_trades = ctx.trades.open_trades()
            if any(t.instrument_token == proposal.instrument_token for t in open_trades):
                return Suppressed(point, "a position in this instrument is open")
            if len(open_trades) >= ctx.max_concurrent:
                return Suppressed(point, f"{len(open_trades)} positions open (max concurrent)")
        state.live = {k: v for k, v in state.live.items() if v > point.ts_event}
        state.live[key] = proposal.expires_at
        if point.strategy_id == OPTIONS_STRATEGY:
            state.last_fno_proposal_at = point.ts_event
        return proposal

    def _exits(self, candle: Candle, now: datetime) -> list[ExitProposal]:
        trades = self._ctx.trades
        if trades is None:
            return []
        settings = self._ctx.strategy.settings
        out = []
        for trade in trades.open_trades(candle.instrument_token):
            if trade.proposal_id.value in self.state.exited:
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
                tick.ts_event, tick.last_price, tick.bid, tick.ask, tick.oi
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
                }
            )
        return pl.DataFrame(rows, schema=_CHAIN_SCHEMA)


_CHAIN_SCHEMA: Final = {
    "ts_event": UTC_TIMESTAMP,
    "underlying_token": pl.Int64(),
    "instrument_token": pl.Int64(),
    "expiry": pl.Date(),
    "strike": pl.Float64(),
    "option_type": pl.String(),
    "last_price": pl.Float64(),
    "bid": pl.Float64(),
    "ask": pl.Float64(),
    "oi": pl.Int64(),
}


def _feature_row(features: pl.DataFrame, columns: tuple[str, ...]) -> FeatureRow:
    row = features.row(0, named=True)
    return FeatureRow(
        instrument_token=int(row["instrument_token"]),
        ts_event=row["ts_event"],
        feature_version=str(row["feature_version"]),
        values=tuple((c, float(row[c])) for c in columns),
    )
