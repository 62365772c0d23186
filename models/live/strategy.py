"""A closed candle's decision, the streaming way: the *same* strategy functions, fill model and
sizing rule as the backtest, applied to one feature row, then scored by the champion and turned
into a :class:`~data_contracts.trading.Proposal` when it clears the filters.

* Equity intraday (MIS): :func:`models.strategies.equity_intraday_entries` on the row gives the
  side and the ATR stop/target; the entry is the fill model's marketable LIMIT; lots come from
  :func:`models.backtest.size_lots`. The expected net profit is the regressor's expected net
  return (after charges) times the position's notional — exactly the walk-forward study's
  ``model`` strategy, so a replayed day makes the backtest's entry decisions.
* Long options (F&O): on an underlying with a live chain, the trend's side picks CE/PE and
  :func:`models.strategies.live_option_entries` the contract (delta band, liquidity, expiry),
  premium exits and deadline. The champion scores the *underlying's* features (no options model is
  registered yet: its p_win is the model's view of the underlying's move); the expected net profit
  is the bracket's expectation: p_win x the target's gain - (1 - p_win) x the stop's loss, minus
  the round trip's charges.

A decision point that cannot be traded (levels on the wrong side, a limit that would not fill,
not one lot affordable) is not a decision point, as in the labels and the backtest.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Final

import numpy as np
import polars as pl

from data_contracts.charges import ChargesModel
from data_contracts.enums import ChargeSegment, Exchange, Product, ProposalOrigin, Side
from data_contracts.ids import InstrumentToken, ProposalId, StrategyId
from data_contracts.instruments import Instrument, instruments_to_frame
from data_contracts.market import Candle
from data_contracts.nse_calendar import NseCalendar
from data_contracts.ports import Scorer
from data_contracts.timeutil import IST
from data_contracts.trading import FeatureContribution, Proposal
from models.backtest import FillModel, Portfolio, size_lots
from models.features import FeatureSet
from models.features.options import OptionFeatureSet
from models.live.champion import top_contributions, top_contributions_many
from models.strategies import (
    EquityIntradayParams,
    LongOptionParams,
    equity_intraday_entries,
    trend_direction,
)
from models.strategies.options import live_option_entries

__all__ = [
    "EQUITY_STRATEGY",
    "OPTIONS_STRATEGY",
    "Candidate",
    "LiveStrategy",
    "LiveStrategySettings",
    "ScoredPoint",
    "proposal_id",
]

EQUITY_STRATEGY: Final = StrategyId("equity-intraday")
OPTIONS_STRATEGY: Final = StrategyId("fno-long-options")


def proposal_id(strategy: StrategyId, instrument_token: int, ts_event: datetime) -> ProposalId:
    """The stable id of the proposal a strategy makes at a decision bar: the same bar gives the
    same id in any process, after any restart, whatever model scored it."""
    return ProposalId(f"{strategy.value}:{instrument_token}:{ts_event:%Y%m%dT%H%MZ}")


@dataclass(frozen=True)
class LiveStrategySettings:
    """Everything a decision needs besides the data (mapped from the config by orchestration)."""

    feature_set: FeatureSet
    equity: EquityIntradayParams
    options: LongOptionParams
    fills: FillModel
    portfolio: Portfolio
    min_confidence: float
    min_expected_net_profit: float
    proposal_ttl: timedelta
    max_price_drift_pct: float
    calendar: NseCalendar
    charges: ChargesModel
    option_features: OptionFeatureSet = field(default_factory=OptionFeatureSet)
    explain_top: int = 3


@dataclass(frozen=True, slots=True)
class ScoredPoint:
    """A tradable decision point, scored: what the parity test compares with the backtest."""

    strategy_id: StrategyId
    decision_token: int  # whose candle decided (the underlying for options)
    instrument_token: int  # what would be traded
    ts_event: datetime
    direction: int
    p_win: float
    expected_return: float
    entry_price: float  # the fill model's expected fill
    limit_price: float
    lots: int
    quantity: int
    expected_net_profit: float
    expected_charges: float
    model_version: str
    feature_version: str
    passed: bool = False  # cleared the confidence and expected-profit filters

    def passes(self, settings: LiveStrategySettings) -> bool:
        """The confidence and expected-profit filters."""
        return (
            self.p_win >= settings.min_confidence
            and self.expected_net_profit >= settings.min_expected_net_profit
        )


@dataclass(frozen=True, slots=True)
class Candidate:
    """A scored point and, when it clears the filters, the proposal it makes."""

    point: ScoredPoint
    proposal: Proposal | None
    why_not: str = ""  # why a passing point made no proposal


@dataclass(frozen=True, slots=True)
class _Entry:
    token: int
    direction: int
    take_profit: float
    stop_loss: float
    exit_deadline: datetime
    lot_size: int
    tick_size: float
    segment: ChargeSegment
    reference: float  # the price the entry is priced from (close, or the option's mid)
    bid: float
    ask: float


class LiveStrategy:
    """Decides on closed candles (see the module docstring). Holds the instruments it trades."""

    def __init__(self, settings: LiveStrategySettings, instruments: Mapping[int, Instrument]):
        self._settings = settings
        self._instruments = dict(instruments)
        self._frames: dict[int, pl.DataFrame] = {}

    @property
    def settings(self) -> LiveStrategySettings:
        return self._settings

    def instrument(self, token: int) -> Instrument | None:
        return self._instruments.get(token)

    def equity(
        self, features: pl.DataFrame, candle: Candle, scorer: Scorer, now: datetime
    ) -> Candidate | None:
        """The equity intraday decision at ``candle`` (its one feature row ``features``)."""
        return self.equity_many([(candle, features, scorer, now)])[0]

    def equity_many(
        self, items: Sequence[tuple[Candle, pl.DataFrame, Scorer, datetime]]
    ) -> list[Candidate | None]:
        """:meth:`equity` for many bars at once — one entries computation and one model call per
        scorer — with the same answer for each bar as alone. ``items``: the closed candle, its
        one feature row, the model to score it with and the ``ts_init`` of its decision."""
        if not items:
            return []
        s = self._settings
        features = pl.concat([row for _, row, _, _ in items])
        candles = pl.DataFrame(
            {
                "instrument_token": [c.instrument_token for c, *_ in items],
                "ts_event": [c.ts_event for c, *_ in items],
                "close": [c.close for c, *_ in items],
            },
            schema={
                "instrument_token": pl.Int64,
                "ts_event": features.schema["ts_event"],
                "close": pl.Float64,
            },
        )
        tokens = sorted({c.instrument_token for c, *_ in items})
        entries = equity_intraday_entries(
            features,
            candles,
            pl.concat([self._frame(t) for t in tokens]),
            feature_set=s.feature_set,
            params=s.equity,
            calendar=s.calendar,
        )
        by_bar = {
            (r["instrument_token"], r["ts_decision"]): r for r in entries.iter_rows(named=True)
        }
        entries_of = [
            _equity_entry(by_bar.get((c.instrument_token, c.ts_event)), c) for c, *_ in items
        ]
        prices = [None if e is None else self._priced(e) for e in entries_of]
        scores = iter(
            self._scores(
                [
                    (row, scorer)
                    for (_, row, scorer, _), price in zip(items, prices, strict=True)
                    if price is not None
                ]
            )
        )
        out: list[Candidate | None] = []
        for (candle, row, scorer, now), entry, price in zip(items, entries_of, prices, strict=True):
            if entry is None or price is None:
                out.append(None)
                continue
            scored, explained = next(scores)
            out.append(
                self._decide(
                    EQUITY_STRATEGY,
                    candle.instrument_token,
                    row,
                    entry,
                    candle.ts_event,
                    scorer,
                    now,
                    priced=price,
                    scored=scored,
                    explained=explained,
                )
            )
        return out

    def _priced(self, entry: _Entry) -> tuple[float, float, int] | None:
        """(expected fill, limit, lots) of the entry, or None when it cannot be traded — levels
        on the wrong side, a limit the fill would break, not one lot: as in the backtest, the
        model is never asked about such a trade."""
        s = self._settings
        long = entry.direction > 0
        fill_a, limit_a = s.fills.entry_prices(
            np.array([long]),
            np.array([entry.reference]),
            np.array([entry.bid]),
            np.array([entry.ask]),
            np.array([entry.tick_size]),
        )
        fill, limit = float(fill_a[0]), float(limit_a[0])
        close = entry.reference
        levels_ok = (
            entry.stop_loss < close < entry.take_profit
            if long
            else entry.take_profit < close < entry.stop_loss
        )
        filled = fill <= limit if long else fill >= limit
        leverage = s.portfolio.leverage_of(entry.segment.value)
        lots = int(
            size_lots([limit], [entry.stop_loss], [entry.lot_size], [leverage], s.portfolio)[0]
        )
        if not (levels_ok and filled and lots >= 1):
            return None
        return fill, limit, lots

    def _scores(
        self, rows: Sequence[tuple[pl.DataFrame, Scorer]]
    ) -> list[tuple[tuple[float, float], tuple[FeatureContribution, ...]]]:
        """Each row's (p_win, expected return) and explanation: one model call and one SHAP call
        per distinct scorer."""
        s = self._settings
        found: list[tuple[tuple[float, float], tuple[FeatureContribution, ...]]] = [
            ((0.0, 0.0), ())
        ] * len(rows)
        by_scorer: dict[int, list[int]] = {}
        for n, (_, scorer) in enumerate(rows):
            by_scorer.setdefault(id(scorer), []).append(n)
        for indices in by_scorer.values():
            scorer = rows[indices[0]][1]
            features = pl.concat([rows[n][0] for n in indices])
            scores = scorer.score(features)
            explained = top_contributions_many(
                scorer, features, s.feature_set.columns, s.explain_top
            )
            for k, n in enumerate(indices):
                scored = (float(scores.p_win[k]), float(scores.expected_return[k]))
                found[n] = (scored, explained[k])
        return found

    def option(
        self,
        features: pl.DataFrame,
        candle: Candle,
        chain: pl.DataFrame,
        scorer: Scorer,
        now: datetime,
    ) -> Candidate | None:
        """The long-option decision of the underlying's ``candle`` on the live ``chain``."""
        s = self._settings
        if chain.is_empty():
            return None
        direction = int(features.select(trend_direction()).item())
        signals = pl.DataFrame(
            {
                "instrument_token": [candle.instrument_token],
                "ts_event": [candle.ts_event],
                "direction": [direction],
            },
            schema={
                "instrument_token": pl.Int64,
                "ts_event": features.schema["ts_event"],
                "direction": pl.Int8,
            },
        )
        tokens = chain["instrument_token"].unique().to_list()
        entries, contracts = live_option_entries(
            signals,
            chain,
            instruments_to_frame(i for t in tokens if (i := self._instruments.get(t)) is not None),
            params=s.options,
            calendar=s.calendar,
            option_features=s.option_features,
        )
        if entries.is_empty():
            return None
        row = entries.row(0, named=True)
        quote = contracts.filter(pl.col("instrument_token") == row["instrument_token"]).row(
            0, named=True
        )
        entry = _Entry(
            token=int(row["instrument_token"]),
            direction=1,  # a long option is always bought
            take_profit=float(row["take_profit"]),
            stop_loss=float(row["stop_loss"]),
            exit_deadline=row["exit_deadline"],
            lot_size=int(row["lot_size"]),
            tick_size=float(row["tick_size"]),
            segment=ChargeSegment.OPTIONS,
            reference=(float(quote["bid"]) + float(quote["ask"])) / 2,
            bid=float(quote["bid"]),
            ask=float(quote["ask"]),
        )
        return self._decide(
            OPTIONS_STRATEGY, candle.instrument_token, features, entry, candle.ts_event, scorer, now
        )

    def _decide(
        self,
        strategy: StrategyId,
        decision_token: int,
        features: pl.DataFrame,
        entry: _Entry,
        ts_event: datetime,
        scorer: Scorer,
        now: datetime,
        priced: tuple[float, float, int] | None = None,
        scored: tuple[float, float] | None = None,
        explained: tuple[FeatureContribution, ...] | None = None,
    ) -> Candidate | None:
        s = self._settings
        priced = priced or self._priced(entry)
        if priced is None:
            return None
        fill, limit, lots = priced
        if scored is None:
            scores = scorer.score(features)
            scored = float(scores.p_win[0]), float(scores.expected_return[0])
        p_win, expected_return = scored
        quantity = lots * entry.lot_size
        day = ts_event.astimezone(IST).date()
        if strategy == OPTIONS_STRATEGY:
            net, charges = self._bracket_expectation(entry, fill, quantity, p_win, day)
        else:
            net = expected_return / 100.0 * fill * quantity
            charges = self._charges(
                entry, fill, fill * (1 + entry.direction * expected_return / 100.0), quantity, day
            )
        point = ScoredPoint(
            strategy_id=strategy,
            decision_token=decision_token,
            instrument_token=entry.token,
            ts_event=ts_event,
            direction=entry.direction,
            p_win=p_win,
            expected_return=expected_return,
            entry_price=fill,
            limit_price=limit,
            lots=lots,
            quantity=quantity,
            expected_net_profit=net,
            expected_charges=charges,
            model_version=scorer.model_version,
            feature_version=scorer.feature_version,
        )
        point = replace(point, passed=point.passes(s))
        if not point.passed:
            return Candidate(point, None)
        explanation = (
            explained
            if explained is not None
            else top_contributions(scorer, features, s.feature_set.columns, s.explain_top)
        )
        return self._proposal(point, entry, explanation, now)

    def _proposal(
        self,
        point: ScoredPoint,
        entry: _Entry,
        explanation: tuple[FeatureContribution, ...],
        now: datetime,
    ) -> Candidate:
        s = self._settings
        instrument = self._instruments[entry.token]
        side = Side.BUY if entry.direction > 0 else Side.SELL
        rationale = (
            f"{'bullish' if entry.direction > 0 else 'bearish'} trend; p_win {point.p_win:.2f} "
            f">= {s.min_confidence:.2f}; expected net ₹{point.expected_net_profit:,.0f} >= "
            f"₹{s.min_expected_net_profit:,.0f} after ₹{point.expected_charges:,.0f} charges"
        )
        try:
            proposal = Proposal(
                proposal_id=proposal_id(point.strategy_id, point.decision_token, point.ts_event),
                ts_event=point.ts_event,
                ts_init=max(now, point.ts_event),
                origin=ProposalOrigin.STRATEGY,
                strategy_id=point.strategy_id,
                instrument_token=InstrumentToken(entry.token),
                exchange=Exchange(instrument.exchange),
                tradingsymbol=instrument.tradingsymbol,
                side=side,
                product=Product.MIS,
                lots=point.lots,
                lot_size=entry.lot_size,
                tick_size=entry.tick_size,
                limit_price=point.limit_price,
                stop_loss=entry.stop_loss,
                take_profit=entry.take_profit,
                time_exit=entry.exit_deadline,
                expires_at=point.ts_event + s.proposal_ttl,
                max_price_drift_pct=s.max_price_drift_pct,
                p_win=point.p_win,
                expected_return=point.expected_return,
                expected_net_profit=point.expected_net_profit,
                expected_charges=point.expected_charges,
                model_version=point.model_version,
                feature_version=point.feature_version,
                explanation=explanation,
                rationale=rationale,
            )
        except ValueError as exc:  # ContractError: e.g. the limit beyond the target
            return Candidate(point, None, why_not=str(exc))
        return Candidate(point, proposal)

    def _bracket_expectation(
        self, entry: _Entry, fill: float, quantity: int, p_win: float, day: date
    ) -> tuple[float, float]:
        win_charges = self._charges(entry, fill, entry.take_profit, quantity, day)
        loss_charges = self._charges(entry, fill, entry.stop_loss, quantity, day)
        charges = p_win * win_charges + (1 - p_win) * loss_charges
        gain = (entry.take_profit - fill) * quantity
        loss = (fill - entry.stop_loss) * quantity
        return p_win * gain - (1 - p_win) * loss - charges, charges

    def _charges(
        self, entry: _Entry, fill: float, exit_price: float, quantity: int, day: date
    ) -> float:
        buy, sell = (fill, exit_price) if entry.direction > 0 else (exit_price, fill)
        breakdown = self._settings.charges.round_trip(
            entry.segment, max(buy, entry.tick_size), max(sell, entry.tick_size), quantity, day
        )
        return float(breakdown.total)

    def _frame(self, token: int) -> pl.DataFrame:
        frame = self._frames.get(token)
        if frame is None:
            instrument = self._instruments.get(token)
            frame = instruments_to_frame([instrument] if instrument is not None else [])
            self._frames[token] = frame
        return frame


def _equity_entry(row: Mapping[str, Any] | None, candle: Candle) -> _Entry | None:
    """The entry of an ``equity_intraday_entries`` row, priced from the candle's close."""
    if row is None:
        return None
    return _Entry(
        token=candle.instrument_token,
        direction=int(row["direction"]),
        take_profit=float(row["take_profit"]),
        stop_loss=float(row["stop_loss"]),
        exit_deadline=row["exit_deadline"],
        lot_size=int(row["lot_size"]),
        tick_size=float(row["tick_size"]),
        segment=ChargeSegment(row["segment"]),
        reference=candle.close,
        bid=math.nan,
        ask=math.nan,
    )
