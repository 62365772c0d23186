"""The vectorized backtest: every entry simulated on its own, then a portfolio that takes some.

:func:`simulate_trades` prices each entry's fill, size, exit and charges with numpy passes over
all entries at once (no loop over bars); labels use it. :func:`run_backtest` adds portfolio
acceptance, the equity curve and the metrics. Rules: ``docs/backtest.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from data_contracts.charges import ChargesModel
from data_contracts.enums import ChargeSegment, Side
from data_contracts.schemas import UTC_TIMESTAMP
from models.backtest.exits import MinTable
from models.backtest.fills import FillModel, take_profit_fills, take_profit_levels
from models.backtest.inputs import (
    DEADLINE_REASONS,
    SEGMENTS,
    Bars,
    Entries,
    ist_days,
    read_bars,
    read_entries,
)
from models.backtest.metrics import distinct_times, equity_curve, summarise
from models.backtest.portfolio import (
    ACCEPTED,
    SKIP_REASONS,
    Candidates,
    Portfolio,
    accept,
    size_lots,
)

__all__ = [
    "EXIT_REASONS",
    "SKIP_REASONS_ALL",
    "BacktestResult",
    "Trades",
    "run_backtest",
    "simulate_trades",
]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

EXIT_REASONS: Final = ("take_profit", "stop_loss", *DEADLINE_REASONS, "end_of_data")
_TAKE_PROFIT, _STOP_LOSS = 0, 1
_DEADLINE_BASE = 2  # + index into DEADLINE_REASONS
_END_OF_DATA = len(EXIT_REASONS) - 1
# Why an entry is not a trade: first the simulation's reasons, then the portfolio's.
_SIMULATION_SKIPS: Final = ("invalid_levels", "limit_not_filled", "too_small_for_one_lot")
SKIP_REASONS_ALL: Final = (*_SIMULATION_SKIPS, *SKIP_REASONS)
_INVALID_LEVELS, _LIMIT_NOT_FILLED, _TOO_SMALL = range(3)
_NOT_SKIPPED: Final = -1


@dataclass(frozen=True, slots=True)
class Trades:
    """Entries simulated one by one. ``trades``: the filled ones (input order), every entry
    column passed through (``lots`` = the lots traded) plus the outcome columns; ``skipped``: the
    others, every entry column plus ``reason``."""

    trades: pl.DataFrame
    skipped: pl.DataFrame


@dataclass(frozen=True, slots=True)
class BacktestResult:
    """A portfolio backtest: the trades taken (input order), the entries not taken with the
    reason, the equity curve (``ts, equity``) and the metrics (``docs/backtest.md``)."""

    trades: pl.DataFrame
    skipped: pl.DataFrame
    equity: pl.DataFrame
    metrics: dict[str, float]


def simulate_trades(
    bars: pl.DataFrame,
    entries: pl.DataFrame,
    *,
    fills: FillModel,
    portfolio: Portfolio,
    charges: ChargesModel | None = None,
) -> Trades:
    """Every entry on its own (no interaction between trades): fill, size, exit, charges.

    ``charges=None`` uses :meth:`ChargesModel.default`. Raises ContractError (naming the frame and
    column) on bars or entries that break the contract.
    """
    simulation = _Simulation.run(bars, entries, fills, portfolio, charges)
    skipped = simulation.skip >= 0
    return Trades(simulation.trades, simulation.skipped_frame(skipped, simulation.skip))


def run_backtest(
    bars: pl.DataFrame,
    entries: pl.DataFrame,
    *,
    fills: FillModel,
    portfolio: Portfolio,
    charges: ChargesModel | None = None,
) -> BacktestResult:
    """:func:`simulate_trades`, then portfolio acceptance in entry-time order (one position per
    instrument, ``max_concurrent``, margin within cash), the equity curve and the metrics."""
    simulation = _Simulation.run(bars, entries, fills, portfolio, charges)
    outcome = accept(simulation.candidates(), portfolio)
    reason = simulation.skip.copy()
    refused = outcome != ACCEPTED
    reason[simulation.taken[refused]] = len(_SIMULATION_SKIPS) + outcome[refused]
    trades = simulation.trades.filter(pl.Series(~refused))
    bar_times = distinct_times(simulation.market.ts)
    equity = equity_curve(
        portfolio.capital,
        int(bar_times[0]) if len(bar_times) else 0,
        simulation.exit_ts[~refused],
        simulation.net_pnl[~refused],
    )
    bar_days = ist_days(bar_times).astype(np.int64)
    metrics = summarise(trades, equity, portfolio.capital, bar_times, bar_days)
    return BacktestResult(trades, simulation.skipped_frame(reason >= 0, reason), equity, metrics)


@dataclass(frozen=True, slots=True)
class _Simulation:
    market: Bars
    book: Entries
    skip: npt.NDArray[np.int64]  # per entry: index into SKIP_REASONS_ALL, or -1 (a trade)
    taken: Ints  # the entries that became trades, ascending
    margin: Floats  # per trade: capital blocked while it is open
    exit_ts: Ints  # per trade
    net_pnl: Floats  # per trade
    trades: pl.DataFrame

    @classmethod
    def run(
        cls,
        bars: pl.DataFrame,
        entries: pl.DataFrame,
        fills: FillModel,
        portfolio: Portfolio,
        charges: ChargesModel | None,
    ) -> _Simulation:
        market = read_bars(bars)
        book = read_entries(entries, market)
        d, long, tick = book.decision, book.long, book.tick
        close = market.close[d]
        entry, limit = fills.entry_prices(long, close, market.bid[d], market.ask[d], tick)
        levels_ok = np.where(
            long,
            (book.stop_loss < close) & (close < book.take_profit),
            (book.take_profit < close) & (close < book.stop_loss),
        )
        filled = np.where(long, entry <= limit, entry >= limit)
        leverage = np.array([portfolio.leverage_of(s) for s in SEGMENTS])[book.segment]
        lots = _lots(book, limit, leverage, portfolio)
        skip = np.full(len(book), _NOT_SKIPPED, dtype=np.int64)
        skip[lots < 1] = _TOO_SMALL
        skip[~filled] = _LIMIT_NOT_FILLED
        skip[~levels_ok] = _INVALID_LEVELS
        taken = np.flatnonzero(skip == _NOT_SKIPPED)
        trade = _Trade.of(taken, book, entry, lots)
        exit_bar, reason, exit_price = _exits(market, trade, fills)
        gross = np.where(trade.long, 1.0, -1.0) * (exit_price - trade.entry) * trade.quantity
        cost = _charges(
            charges or ChargesModel.default(),
            trade,
            exit_price,
            ist_days(market.ts[trade.decision]),
            ist_days(market.ts[exit_bar]),
        )
        exit_ts = market.ts[exit_bar]
        columns = {
            "ts_exit": pl.Series(exit_ts, dtype=pl.Int64).cast(UTC_TIMESTAMP),
            "quantity": pl.Series(trade.quantity, dtype=pl.Int64),
            "entry_price": pl.Series(trade.entry, dtype=pl.Float64),
            "exit_price": pl.Series(exit_price, dtype=pl.Float64),
            "exit_reason": pl.Series(reason, dtype=pl.Int64).replace_strict(
                dict(enumerate(EXIT_REASONS)), return_dtype=pl.String
            ),
            "bars_held": pl.Series(exit_bar - trade.decision, dtype=pl.Int64),
            "gross_pnl": pl.Series(gross, dtype=pl.Float64),
            "charges": pl.Series(cost, dtype=pl.Float64),
            "net_pnl": pl.Series(gross - cost, dtype=pl.Float64),
            "net_return_pct": pl.Series(
                (gross - cost) / (trade.entry * trade.quantity) * 100, dtype=pl.Float64
            ),
        }
        trades = entries[taken].with_columns(
            pl.Series("lots", trade.lots, dtype=pl.Int64),
            pl.col("ts_decision").dt.cast_time_unit("us").alias("ts_entry"),
            **columns,
        )
        margin = trade.entry * trade.quantity / leverage[taken]
        return cls(market, book, skip, taken, margin, exit_ts, gross - cost, trades)

    def candidates(self) -> Candidates:
        d = self.book.decision[self.taken]
        # The instrument of each trade, as its block number in the sorted bars.
        instrument = np.searchsorted(self.market.starts, d, side="right") - 1
        return Candidates(
            entry_ts=self.market.ts[d],
            exit_ts=self.exit_ts,
            instrument=instrument.astype(np.int64),
            margin=self.margin,
            net_pnl=self.net_pnl,
        )

    def skipped_frame(
        self, rows: npt.NDArray[np.bool_], reason: npt.NDArray[np.int64]
    ) -> pl.DataFrame:
        mapping = dict(enumerate(SKIP_REASONS_ALL))
        text = pl.Series("reason", reason[rows], dtype=pl.Int64)
        return self.book.frame.filter(pl.Series(rows)).with_columns(
            text.replace_strict(mapping, return_dtype=pl.String)
        )


@dataclass(frozen=True, slots=True)
class _Trade:
    """The entries that became trades, one element each."""

    decision: Ints
    last: Ints  # the last bar the exit search may reach
    deadline: npt.NDArray[np.bool_]  # that bar is the deadline's (else data ends first)
    long: npt.NDArray[np.bool_]
    entry: Floats
    stop_loss: Floats
    take_profit: Floats  # on the grid
    tick: Floats
    lots: Ints
    quantity: Ints
    segment: npt.NDArray[np.int8]
    deadline_reason: npt.NDArray[np.int8]

    @classmethod
    def of(cls, taken: Ints, book: Entries, entry: Floats, lots: Ints) -> _Trade:
        deadline_bar = book.deadline_bar[taken]
        long, tick = book.long[taken], book.tick[taken]
        return cls(
            decision=book.decision[taken],
            last=np.where(deadline_bar >= 0, deadline_bar, book.last_bar[taken]),
            deadline=deadline_bar >= 0,
            long=long,
            entry=entry[taken],
            stop_loss=book.stop_loss[taken],
            take_profit=take_profit_levels(long, book.take_profit[taken], tick),
            tick=tick,
            lots=lots[taken],
            quantity=lots[taken] * book.lot_size[taken],
            segment=book.segment[taken],
            deadline_reason=book.deadline_reason[taken],
        )


def _lots(book: Entries, limit: Floats, leverage: Floats, portfolio: Portfolio) -> Ints:
    """Given lots, or the sizing rule's lots (:func:`size_lots`) at the order's limit price."""
    sized = size_lots(limit, book.stop_loss, book.lot_size, leverage, portfolio)
    return np.where(book.lots > 0, book.lots, sized)


def _exits(market: Bars, trade: _Trade, fills: FillModel) -> tuple[Ints, Ints, Floats]:
    """Per trade: the exit bar, the exit reason (index into EXIT_REASONS) and the exit price.

    Stops and take-profits are searched in the bars after the decision bar up to the deadline
    bar (or the last bar); the stop wins a bar where both are reached.
    """
    n = len(trade.decision)
    start = trade.decision + 1
    stop_bar = np.empty(n, dtype=np.int64)
    target_bar = np.empty(n, dtype=np.int64)
    if n:
        longest = int((trade.last - start + 1).max())
        lows = MinTable(market.low, longest)
        negated_highs = MinTable(-market.high, longest)  # min(-high) <= -x  <=>  max(high) >= x
        for side, adverse, favourable, sign in (
            (trade.long, lows, negated_highs, 1.0),
            (~trade.long, negated_highs, lows, -1.0),
        ):
            first, last = start[side], trade.last[side]
            stop_bar[side] = adverse.first_at_or_below(first, last, sign * trade.stop_loss[side])
            target_bar[side] = favourable.first_at_or_below(
                first, last, -sign * trade.take_profit[side]
            )
    hit_bar = np.minimum(stop_bar, target_bar)
    hit = hit_bar <= trade.last
    stopped = hit & (stop_bar <= target_bar)
    exit_bar = np.where(hit, hit_bar, trade.last)
    reason = np.where(
        hit,
        np.where(stopped, _STOP_LOSS, _TAKE_PROFIT),
        np.where(trade.deadline, _DEADLINE_BASE + trade.deadline_reason, _END_OF_DATA),
    ).astype(np.int64)
    at_open = market.open[exit_bar]
    price = np.where(
        stopped,
        fills.stop_fills(trade.long, at_open, trade.stop_loss, trade.tick),
        np.where(
            hit,
            take_profit_fills(trade.long, at_open, trade.take_profit),
            fills.market_exits(
                trade.long,
                market.close[exit_bar],
                market.bid[exit_bar],
                market.ask[exit_bar],
                trade.tick,
            ),
        ),
    )
    return exit_bar, reason, price


def _charges(
    model: ChargesModel,
    trade: _Trade,
    exit_price: Floats,
    entry_day: npt.NDArray[np.datetime64],
    exit_day: npt.NDArray[np.datetime64],
) -> Floats:
    """Every leg priced by the one charges model on its own IST day: a long buys at entry and
    sells at exit, a short the reverse; a delivery sell adds one DP charge."""
    buy_price = np.where(trade.long, trade.entry, exit_price)
    sell_price = np.where(trade.long, exit_price, trade.entry)
    buy_day = np.where(trade.long, entry_day, exit_day)
    sell_day = np.where(trade.long, exit_day, entry_day)
    total = np.zeros(len(trade.entry))
    for code, segment in enumerate(SEGMENTS):
        rows = trade.segment == code
        if not rows.any():
            continue
        quantity = trade.quantity[rows]
        total[rows] = model.leg_totals(
            ChargeSegment(segment), Side.BUY, buy_price[rows] * quantity, buy_day[rows]
        ) + model.leg_totals(
            ChargeSegment(segment), Side.SELL, sell_price[rows] * quantity, sell_day[rows]
        )
        if segment == ChargeSegment.DELIVERY.value:
            total[rows] += model.dp_totals(sell_day[rows])
    return total
