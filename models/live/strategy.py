"""A closed candle's decision, the streaming way: the *same* strategy functions, fill model and
sizing rule as the backtest, applied to one feature row, then scored by the champion and turned
into a :class:`~data_contracts.trading.Proposal` when it clears the filters.

* Equity intraday (MIS): the batch entry rule's own numpy core,
  :func:`models.strategies.equity.equity_entry_levels`, over a round's rows gives the side, the
  ATR stop/target and the deadline; the entry is the fill model's marketable LIMIT; lots come from
  :func:`models.backtest.size_lots` — all over the round's arrays, no frame per bar. The expected
  net profit is the regressor's expected net return (after charges) times the position's notional
  — exactly the walk-forward study's ``model`` strategy, so a replayed day makes the backtest's
  entry decisions. The round's tradable rows are scored in one model call (as a float32 matrix
  when the scorer takes one) and only the points that pass the filters are explained (SHAP).
* Long options (F&O): on an underlying with a live chain, the trend's side picks CE/PE and
  :func:`models.strategies.live_option_entries` the contract (delta band, liquidity, expiry),
  premium exits and deadline. The champion scores the *underlying's* features (no options model is
  registered yet: its p_win is the model's view of the underlying's move); the expected net profit
  is the bracket's expectation: p_win x the target's gain - (1 - p_win) x the stop's loss, minus
  the round trip's charges.
* Equity swing (CNC, off unless enabled): at the day's decision bar, the batch swing rule's numpy
  core, :func:`models.strategies.swing.swing_entry_levels` (long in an uptrend, stop and target in
  session ATRs, a time exit sessions later), priced and sized as the intraday entries at delivery's
  leverage of 1; the champion's p_win and the bracket's expectation after the delivery round
  trip's charges (the DP charge included), as for options.

A decision point that cannot be traded (levels on the wrong side, a limit that would not fill,
not one lot affordable) is not a decision point, as in the labels and the backtest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from data_contracts.charges import ChargesModel
from data_contracts.enums import (
    ChargeSegment,
    Exchange,
    InstrumentType,
    Product,
    ProposalOrigin,
    Side,
)
from data_contracts.errors import ContractError
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
from models.live.champion import (
    MatrixScorer,
    ranked_contributions,
    top_contributions,
    top_contributions_many,
)
from models.strategies import (
    EquityIntradayParams,
    EquitySwingParams,
    LongOptionParams,
    trend_direction,
)
from models.strategies.equity import equity_entry_levels
from models.strategies.intraday import IST_OFFSET_US, US_PER_DAY, square_off_us
from models.strategies.options import live_option_entries
from models.strategies.swing import swing_entry_levels, swing_exit_us

__all__ = [
    "EQUITY_STRATEGY",
    "OPTIONS_STRATEGY",
    "SWING_STRATEGY",
    "Candidate",
    "LiveStrategy",
    "LiveStrategySettings",
    "ScoredPoint",
    "proposal_id",
]

EQUITY_STRATEGY: Final = StrategyId("equity-intraday")
OPTIONS_STRATEGY: Final = StrategyId("fno-long-options")
SWING_STRATEGY: Final = StrategyId("equity-swing")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Explained = tuple[FeatureContribution, ...]


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
    swing: EquitySwingParams = field(default_factory=EquitySwingParams)


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


@dataclass(frozen=True, slots=True)
class _Levels:
    """An equity strategy's rule over a batch of bars (arrays aligned with the bars)."""

    strategy: StrategyId
    segment: ChargeSegment
    taken: npt.NDArray[np.bool_]
    direction: npt.NDArray[np.int8]
    take_profit: Floats
    stop_loss: Floats
    exit_deadline_us: Ints


class LiveStrategy:
    """Decides on closed candles (see the module docstring). Holds the instruments it trades."""

    def __init__(self, settings: LiveStrategySettings, instruments: Mapping[int, Instrument]):
        self._settings = settings
        self._instruments = dict(instruments)
        self._equity_facts: dict[int, tuple[float, int] | None] = {}
        columns = settings.feature_set.columns
        self._column_at = {c: n for n, c in enumerate(columns)}
        p = settings.feature_set.params
        self._atr = self._column_at[f"atr_{p.atr}_rel"]
        self._macd_hist = self._column_at["macd_hist_rel"]

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
        """:meth:`equity` for many bars at once, each bar's one feature row as a frame (its
        ``feature_version`` column says which version computed it): :meth:`equity_rows`."""
        if not items:
            return []
        columns = list(self._settings.feature_set.columns)
        versions = {str(row.get_column("feature_version")[0]) for _, row, _, _ in items}
        if len(versions) != 1:
            raise ContractError(
                "LiveStrategy", "feature_version", sorted(versions), "must be one version"
            )
        rows = [
            (candle, np.asarray(row.select(columns).row(0), dtype=np.float64), scorer, now)
            for candle, row, scorer, now in items
        ]
        return self.equity_rows(rows, feature_version=versions.pop())

    def equity_rows(
        self,
        items: Sequence[tuple[Candle, Floats, Scorer, datetime]],
        *,
        feature_version: str | None = None,
    ) -> list[Candidate | None]:
        """The equity intraday decisions of many closed bars at once — one pass of the entry rule
        over arrays, one model call and one SHAP call per scorer — with the same answer for each
        bar as alone. ``items``: the closed candle, its feature row (``feature_set.columns``
        order, computed by ``feature_version``, default the settings' feature set's), the model
        to score it with and the ``ts_init`` of its decision.

        The entry is the batch rule itself (:func:`models.strategies.equity.equity_entry_levels`),
        priced by the fill model and sized by :func:`models.backtest.size_lots` over the same
        arrays as the backtest's; a bar the rule does not take, or that cannot be traded, is
        None and is never scored.
        """
        return self._equity_kind_rows(items, feature_version, self._intraday_levels)

    def swing_rows(
        self,
        items: Sequence[tuple[Candle, Floats, Scorer, datetime]],
        *,
        feature_version: str | None = None,
    ) -> list[Candidate | None]:
        """:meth:`equity_rows` for the equity swing strategy (CNC): the batch rule
        (:func:`models.strategies.swing.swing_entry_levels`) takes only the bar closing at the
        decision time, long only; None for every bar while the strategy is off."""
        out: list[Candidate | None] = [None] * len(items)
        swing = self._settings.swing
        if not swing.enabled:
            return out
        # one bar a day is a decision point: only those go through the rule (the hot path of a
        # worker closing thousands of bars a minute pays one comparison per bar)
        at = [
            n
            for n, (candle, *_) in enumerate(items)
            if ((candle.ts_event - _EPOCH) // _MICROSECOND + IST_OFFSET_US) % US_PER_DAY
            == swing.decision_us
        ]
        decided = self._equity_kind_rows(
            [items[n] for n in at], feature_version, self._swing_levels
        )
        for n, candidate in zip(at, decided, strict=True):
            out[n] = candidate
        return out

    def _intraday_levels(self, ts_us: Ints, close: Floats, rows: Floats, tick: Floats) -> _Levels:
        s = self._settings
        levels = equity_entry_levels(
            ts_us,
            close,
            rows[:, self._atr],
            rows[:, self._macd_hist],
            tick,
            square_off_us(ts_us, s.calendar, derivatives=False),
            s.equity,
        )
        return _Levels(
            EQUITY_STRATEGY,
            ChargeSegment.INTRADAY,
            levels.taken,
            levels.direction,
            levels.take_profit,
            levels.stop_loss,
            levels.exit_deadline_us,
        )

    def _swing_levels(self, ts_us: Ints, close: Floats, rows: Floats, tick: Floats) -> _Levels:
        s = self._settings
        exit_us = swing_exit_us(ts_us, s.calendar, s.swing)
        levels = swing_entry_levels(
            ts_us, close, rows[:, self._atr], rows[:, self._macd_hist], tick, exit_us, s.swing
        )
        return _Levels(
            SWING_STRATEGY,
            ChargeSegment.DELIVERY,
            levels.taken,
            np.ones(len(ts_us), dtype=np.int8),
            levels.take_profit,
            levels.stop_loss,
            levels.exit_deadline_us,
        )

    def _equity_kind_rows(
        self,
        items: Sequence[tuple[Candle, Floats, Scorer, datetime]],
        feature_version: str | None,
        rule: Callable[[Ints, Floats, Floats, Floats], _Levels],
    ) -> list[Candidate | None]:
        """An equity strategy's decisions of many bars (:meth:`equity_rows`), its ``rule`` giving
        the levels over the arrays."""
        if not items:
            return []
        s = self._settings
        version = feature_version or s.feature_set.version
        rows = np.stack([row for _, row, _, _ in items])
        candles = [candle for candle, *_ in items]
        ts_us = np.array([(c.ts_event - _EPOCH) // _MICROSECOND for c in candles], dtype=np.int64)
        close = np.array([c.close for c in candles], dtype=np.float64)
        facts = [self._equity_fact(c.instrument_token) for c in candles]
        equity = np.array([f is not None for f in facts])
        tick = np.array([f[0] if f is not None else 1.0 for f in facts], dtype=np.float64)
        lot = np.array([f[1] if f is not None else 1 for f in facts], dtype=np.int64)
        levels = rule(ts_us, close, rows, tick)
        long = levels.direction > 0
        nan = np.full(len(items), np.nan)
        fill, limit = s.fills.entry_prices(long, close, nan, nan, tick)
        take_profit, stop_loss = levels.take_profit, levels.stop_loss
        leverage = np.full(len(items), s.portfolio.leverage_of(levels.segment.value))
        with np.errstate(invalid="ignore"):
            levels_ok = np.where(
                long,
                (stop_loss < close) & (close < take_profit),
                (take_profit < close) & (close < stop_loss),
            )
            filled = np.where(long, fill <= limit, fill >= limit)
            lots = size_lots(limit, stop_loss, lot, leverage, s.portfolio)
        # As in the backtest, the model is never asked about a trade that cannot be made:
        # levels on the wrong side, a limit the fill would break, not one lot.
        tradable_at = np.flatnonzero(equity & levels.taken & levels_ok & filled & (lots >= 1))
        tradable = [int(n) for n in tradable_at]
        scored = self._scores(rows, [items[n][2] for n in tradable], tradable_at, version)
        out: list[Candidate | None] = [None] * len(items)
        points: list[tuple[int, _Entry, ScoredPoint]] = []
        for n in tradable:
            candle, _, scorer, _ = items[n]
            entry = _Entry(
                token=candle.instrument_token,
                direction=int(levels.direction[n]),
                take_profit=float(take_profit[n]),
                stop_loss=float(stop_loss[n]),
                exit_deadline=_EPOCH + int(levels.exit_deadline_us[n]) * _MICROSECOND,
                lot_size=int(lot[n]),
                tick_size=float(tick[n]),
                segment=levels.segment,
                reference=candle.close,
                bid=float("nan"),
                ask=float("nan"),
            )
            priced = (float(fill[n]), float(limit[n]), int(lots[n]))
            point = self._point(
                levels.strategy,
                candle.instrument_token,
                entry,
                candle.ts_event,
                scorer,
                priced,
                scored[n],
            )
            points.append((n, entry, point))
        explained = self._explanations(rows, items, [n for n, _, p in points if p.passed], version)
        for n, entry, point in points:
            out[n] = (
                self._proposal(point, entry, explained[n], items[n][3])
                if point.passed
                else Candidate(point, None)
            )
        return out

    def _equity_fact(self, token: int) -> tuple[float, int] | None:
        """(tick size, lot size) of an NSE equity (the batch rule's instruments filter), else
        None."""
        if token in self._equity_facts:
            return self._equity_facts[token]
        instrument = self._instruments.get(token)
        fact = (
            (float(instrument.tick_size), int(instrument.lot_size))
            if instrument is not None
            and instrument.instrument_type is InstrumentType.EQ
            and instrument.segment == Exchange.NSE.value
            else None
        )
        self._equity_facts[token] = fact
        return fact

    def _scores(
        self, rows: Floats, scorers: Sequence[Scorer], at: npt.NDArray[np.intp], version: str
    ) -> dict[int, tuple[float, float]]:
        """(p_win, expected return) of the rows ``at`` (each with its scorer): one model call
        per distinct scorer, on the rows in matrix form when the scorer takes them so."""
        found: dict[int, tuple[float, float]] = {}
        for scorer, indices in _by_scorer(scorers, at):
            p_win, expected = _score(scorer, rows[indices], version, self._column_at)
            for k, n in enumerate(indices):
                found[int(n)] = (float(p_win[k]), float(expected[k]))
        return found

    def _explanations(
        self,
        rows: Floats,
        items: Sequence[tuple[Candle, Floats, Scorer, datetime]],
        at: Sequence[int],
        version: str,
    ) -> dict[int, Explained]:
        """The top contributions of the rows ``at`` (the points that passed the filters): one
        SHAP call per distinct scorer."""
        s = self._settings
        found: dict[int, Explained] = {}
        indices_at = np.asarray(at, dtype=np.intp)
        for scorer, indices in _by_scorer([items[n][2] for n in at], indices_at):
            explained = _explain(
                scorer,
                rows[indices],
                version,
                s.feature_set.columns,
                s.explain_top,
                self._column_at,
            )
            for k, n in enumerate(indices):
                found[int(n)] = explained[k]
        return found

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
    ) -> Candidate | None:
        s = self._settings
        priced = self._priced(entry)
        if priced is None:
            return None
        scores = scorer.score(features)
        scored = float(scores.p_win[0]), float(scores.expected_return[0])
        point = self._point(strategy, decision_token, entry, ts_event, scorer, priced, scored)
        if not point.passed:
            return Candidate(point, None)
        explanation = top_contributions(scorer, features, s.feature_set.columns, s.explain_top)
        return self._proposal(point, entry, explanation, now)

    def _point(
        self,
        strategy: StrategyId,
        decision_token: int,
        entry: _Entry,
        ts_event: datetime,
        scorer: Scorer,
        priced: tuple[float, float, int],
        scored: tuple[float, float],
    ) -> ScoredPoint:
        """The scored decision point of a priced entry (``passed``: it clears the filters)."""
        s = self._settings
        fill, limit, lots = priced
        p_win, expected_return = scored
        quantity = lots * entry.lot_size
        day = ts_event.astimezone(IST).date()
        if entry.segment is ChargeSegment.INTRADAY:
            # the regressor was trained on these very trades' net returns (the walk-forward
            # study's ``model`` strategy); the other strategies' trades are not its labels, so
            # they take the bracket's expectation at the classifier's p_win
            net = expected_return / 100.0 * fill * quantity
            charges = self._charges(
                entry, fill, fill * (1 + entry.direction * expected_return / 100.0), quantity, day
            )
        else:
            net, charges = self._bracket_expectation(entry, fill, quantity, p_win, day)
        return ScoredPoint(
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
            # ScoredPoint.passes, without building the point twice
            passed=p_win >= s.min_confidence and net >= s.min_expected_net_profit,
        )

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
        held = (
            f"delivery (CNC) swing, time exit {entry.exit_deadline.astimezone(IST):%d %b %H:%M} "
            "IST; "
            if entry.segment is ChargeSegment.DELIVERY
            else ""
        )
        rationale = (
            f"{held}{'bullish' if entry.direction > 0 else 'bearish'} trend; "
            f"p_win {point.p_win:.2f} "
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
                product=Product.CNC if entry.segment is ChargeSegment.DELIVERY else Product.MIS,
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
        """The round trip's charges; a delivery trade's exit leg is charged on the day of its
        time exit (the latest it sells)."""
        buy, sell = (fill, exit_price) if entry.direction > 0 else (exit_price, fill)
        sell_on = (
            entry.exit_deadline.astimezone(IST).date()
            if entry.segment is ChargeSegment.DELIVERY
            else None
        )
        breakdown = self._settings.charges.round_trip(
            entry.segment,
            max(buy, entry.tick_size),
            max(sell, entry.tick_size),
            quantity,
            day,
            sell_on=sell_on,
        )
        return float(breakdown.total)


def _by_scorer(
    scorers: Sequence[Scorer], at: npt.NDArray[np.intp]
) -> list[tuple[Scorer, npt.NDArray[np.intp]]]:
    """The rows ``at`` grouped by their scorer (``scorers[k]`` scores ``at[k]``), in order."""
    groups: dict[int, tuple[Scorer, list[int]]] = {}
    for scorer, n in zip(scorers, at, strict=True):
        groups.setdefault(id(scorer), (scorer, []))[1].append(int(n))
    return [(scorer, np.asarray(ns, dtype=np.intp)) for scorer, ns in groups.values()]


def _model_matrix(
    scorer: MatrixScorer, rows: Floats, column_at: Mapping[str, int]
) -> npt.NDArray[np.float32]:
    """The rows as the scorer's model reads them: float32, its feature columns in its order."""
    try:
        order = [column_at[c] for c in scorer.feature_columns]
    except KeyError as exc:
        raise ContractError(
            "LiveStrategy", "feature_columns", exc.args[0], "must be a column of the feature set"
        ) from exc
    picked = rows if order == list(range(rows.shape[1])) else rows[:, order]
    return np.ascontiguousarray(picked, dtype=np.float32)


def _rows_frame(rows: Floats, version: str, columns: Sequence[str]) -> pl.DataFrame:
    """Rows as a feature frame (for a scorer that only scores frames)."""
    return pl.from_numpy(rows, schema=list(columns), orient="row").with_columns(
        pl.lit(version, dtype=pl.String).alias("feature_version")
    )


def _score(
    scorer: Scorer, rows: Floats, version: str, column_at: Mapping[str, int]
) -> tuple[Floats, Floats]:
    if isinstance(scorer, MatrixScorer):
        return scorer.score_matrix(_model_matrix(scorer, rows, column_at), version)
    scores = scorer.score(_rows_frame(rows, version, list(column_at)))
    return (
        np.asarray(scores.p_win, dtype=np.float64),
        np.asarray(scores.expected_return, dtype=np.float64),
    )


def _explain(
    scorer: Scorer,
    rows: Floats,
    version: str,
    columns: tuple[str, ...],
    count: int,
    column_at: Mapping[str, int],
) -> list[Explained]:
    if isinstance(scorer, MatrixScorer):
        shap = scorer.contributions_matrix(_model_matrix(scorer, rows, column_at), version)
        if shap is None:
            return [() for _ in range(rows.shape[0])]
        shap_at = {c: n for n, c in enumerate(scorer.feature_columns)}
        in_shap = [(c, shap_at[c]) for c in columns if c in shap_at]
        in_rows = [(c, column_at[c]) for c in columns]
        # Python floats of the rows once (``tolist``: the same values as ``float`` of each item)
        return [
            ranked_contributions(
                columns,
                {c: shap_row[n] for c, n in in_shap},
                {c: values[n] for c, n in in_rows},
                count,
            )
            for shap_row, values in zip(shap.tolist(), rows.tolist(), strict=True)
        ]
    return top_contributions_many(scorer, _rows_frame(rows, version, columns), columns, count)
