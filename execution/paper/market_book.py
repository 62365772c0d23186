"""The quotes of one replayed day as columns: every tick of every instrument, with its book.

:func:`build_quote_table` turns the day's ticks (``execution.simulator.ticks`` frames, one per
instrument, each in time order) into a :class:`QuoteTable`: flat arrays sorted by exchange time
(ties by token) holding, per tick, everything a :class:`~execution.paper.types.Quote` needs:

* ``last_price``/``last_quantity``/``volume`` as the tick has them (``volume`` is the day's
  cumulative traded quantity); ``average_price`` is the day's VWAP so far (0 before any volume);
* ``open/high/low``: the day's first, highest and lowest last price so far; ``close``: the previous
  session's close (the day's first price when there is none);
* ``oi`` with its running day high/low (0 for instruments without open interest);
* a five-level book per side: level one is the tick's best bid/ask; deeper levels step away one
  tick (a quarter of the time two). Each level's quantity is drawn around the instrument's mean
  trade size so far today times ``1 + level/2`` (in whole lots), with 1-30 orders. Bid levels that
  would fall to zero or below are left out (a cheap option shows fewer than five bids).
  ``buy_quantity``/``sell_quantity`` are the sums of the five levels.

Non-tradable instruments (indices) have no book, no volume and no average price. The day's
columns are built vectorised; the book is not stored (five levels a side for millions of ticks
would be hundreds of MB): it is derived, vectorised, for the rows turned into Quote objects
(:meth:`QuoteTable.quotes`), from a counter-based hash of ``(seed, day, token, timestamp)``, so a
row's book is the same whenever it is asked for and never depends on which other instruments are
replayed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl

from data_contracts.errors import ContractError
from execution.paper.types import DEPTH_LEVELS, DepthLevel, Quote
from execution.simulator.grid import FloatArray, IntArray, ticks_per_unit

__all__ = ["Book", "InstrumentTicks", "QuoteTable", "build_quote_table"]

_OWNER: Final = "QuoteTable"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
# Key of the book's random streams; outside execution.simulator.rng.Purpose's values on purpose.
_BOOK_STREAM: Final = 0x5042  # "PB": paper book
_WIDE_GAP_SHARE: Final = 0.25  # share of deeper levels two ticks from the one before
_MAX_ORDERS: Final = 30
_BOOL = npt.NDArray[np.bool_]
_TICK_COLUMNS: Final = (
    "instrument_token",
    "ts_event",
    "last_price",
    "last_quantity",
    "volume",
    "bid",
    "ask",
    "oi",
)


@dataclass(frozen=True, slots=True)
class InstrumentTicks:
    """One instrument's ticks of the day (a ``TickFrame``, time order) and what the book needs."""

    instrument_token: int
    ticks: pl.DataFrame
    tick_size: float
    lot_size: int
    tradable: bool
    previous_close: float | None


@dataclass(frozen=True, slots=True)
class QuoteTable:
    """Every quote update of a day as columns, sorted by ``ts_us`` then token.

    Per row: ``instrument`` (an index into the per-instrument arrays), the tick and the running day
    statistics. Per instrument: token, day open, previous close, lot, ticks per rupee, tradable.
    The book is not stored: :meth:`quotes` derives it for the rows asked for.
    """

    seed: int
    day: date
    tokens: IntArray
    day_open: FloatArray
    previous_close: FloatArray
    lot: IntArray
    per_unit: IntArray
    tradable: _BOOL
    instrument: IntArray
    ts_us: IntArray
    last_price: FloatArray
    last_quantity: IntArray
    volume: IntArray
    average_price: FloatArray
    high: FloatArray
    low: FloatArray
    oi: IntArray
    oi_day_high: IntArray
    oi_day_low: IntArray
    bid: FloatArray  # NaN without a book
    ask: FloatArray
    mean_lots: FloatArray

    @property
    def size(self) -> int:
        return int(self.ts_us.size)

    def book(self, rows: npt.ArrayLike) -> tuple[Book, Book]:
        """Five levels a side for ``rows`` as ``(price, quantity, orders)`` arrays of shape
        ``(len(rows), 5)``; absent levels have quantity 0."""
        index = np.asarray(rows, dtype=np.int64)
        inst = self.instrument[index]
        per_unit = self.per_unit[inst].astype(np.float64)
        draws = _uniforms(_row_keys(self.seed, self.day, self.tokens[inst], self.ts_us[index]))
        gaps = 1 + (draws[:, 0] < _WIDE_GAP_SHARE).astype(np.int64)  # (rows, side, level)
        gaps[:, :, 0] = 0
        steps = np.cumsum(gaps, axis=2)
        growth = 1 + np.arange(DEPTH_LEVELS) / 2
        scale = self.mean_lots[index][:, None, None] * (0.5 + 1.5 * draws[:, 1]) * growth
        sizes = np.ceil(scale).astype(np.int64)
        orders = 1 + np.floor(draws[:, 2] * np.minimum(sizes, _MAX_ORDERS)).astype(np.int64)
        lots = self.lot[inst][:, None]
        books: list[Book] = []
        for side, best_price, sign in ((0, self.bid[index], -1), (1, self.ask[index], 1)):
            has_book = ~np.isnan(best_price)
            best = np.round(np.nan_to_num(best_price) * per_unit).astype(np.int64)
            prices = best[:, None] + sign * steps[:, side]
            present = has_book[:, None] & (prices > 0)
            books.append(
                (
                    np.where(present, prices / per_unit[:, None], 0.0),
                    np.where(present, sizes[:, side] * lots, 0),
                    np.where(present, orders[:, side], 0),
                )
            )
        return books[0], books[1]

    def quotes(self, rows: npt.ArrayLike) -> list[Quote]:
        """The :class:`Quote` of each row (in the order given)."""
        index = np.asarray(rows, dtype=np.int64)
        if index.size == 0:
            return []
        inst = self.instrument[index]
        per_instrument = (self.tokens, self.day_open, self.previous_close, self.tradable)
        per_row = (
            self.ts_us,
            self.last_price,
            self.last_quantity,
            self.volume,
            self.average_price,
            self.high,
            self.low,
            self.oi,
            self.oi_day_high,
            self.oi_day_low,
        )
        values = [c[inst].tolist() for c in per_instrument] + [c[index].tolist() for c in per_row]
        bids, asks = self.book(index)
        # Absent levels are always the last ones (prices only fall below zero going deeper).
        bid_depth = [(bids[1] > 0).sum(axis=1).tolist(), *(a.tolist() for a in bids)]
        ask_depth = [(asks[1] > 0).sum(axis=1).tolist(), *(a.tolist() for a in asks)]
        buy_totals = bids[1].sum(axis=1).tolist()
        sell_totals = asks[1].sum(axis=1).tolist()
        out: list[Quote] = []
        for n, row in enumerate(zip(*values, strict=True)):
            token, day_open, close, tradable, ts, last, qty, vol, avg, hi, lo, oi, oi_hi, oi_lo = (
                row
            )
            stamp = _EPOCH + timedelta(microseconds=ts)
            out.append(
                Quote(
                    instrument_token=token,
                    ts_event=stamp,
                    last_price=last,
                    last_quantity=qty,
                    last_trade_time=stamp,
                    average_price=avg,
                    volume=vol,
                    buy_quantity=buy_totals[n],
                    sell_quantity=sell_totals[n],
                    open=day_open,
                    high=hi,
                    low=lo,
                    close=close,
                    oi=oi,
                    oi_day_high=oi_hi,
                    oi_day_low=oi_lo,
                    bids=_levels(bid_depth, n),
                    asks=_levels(ask_depth, n),
                    tradable=tradable,
                )
            )
        return out


Book = tuple[FloatArray, IntArray, IntArray]


def _levels(depth: list[Any], n: int) -> tuple[DepthLevel, ...]:
    count = depth[0][n]
    if count == 0:
        return ()
    prices, quantities, orders = depth[1][n], depth[2][n], depth[3][n]
    if count < DEPTH_LEVELS:
        prices, quantities, orders = prices[:count], quantities[:count], orders[:count]
    return tuple(map(DepthLevel, prices, quantities, orders))


def build_quote_table(
    instruments: Sequence[InstrumentTicks], *, seed: int, day: date
) -> QuoteTable:
    """The day's quote table from each instrument's ticks (see the module docstring)."""
    parts = [i for i in instruments if i.ticks.height]
    if not parts:
        raise ContractError(_OWNER, "instruments", len(instruments), "must have at least one tick")
    info = pl.DataFrame(
        {
            "instrument_token": [i.instrument_token for i in parts],
            "_instrument": list(range(len(parts))),
            "_tradable": [i.tradable for i in parts],
            "_lot": [max(i.lot_size, 1) for i in parts],
        },
        schema={
            "instrument_token": pl.Int64,
            "_instrument": pl.Int32,
            "_tradable": pl.Boolean,
            "_lot": pl.Int64,
        },
    )
    ticks = pl.concat([i.ticks.select(_TICK_COLUMNS) for i in parts], rechunk=True)
    frame = _day_stats(ticks.join(info, on="instrument_token", how="left", maintain_order="left"))
    order = np.lexsort((frame["instrument_token"].to_numpy(), frame["_ts"].to_numpy()))
    frame = frame[order]
    firsts = [float(i.ticks["last_price"][0]) for i in parts]

    def col(name: str) -> npt.NDArray[Any]:
        return frame[name].to_numpy()

    return QuoteTable(
        seed=seed,
        day=day,
        tokens=np.array([i.instrument_token for i in parts], dtype=np.int64),
        day_open=np.array(firsts, dtype=np.float64),
        previous_close=np.array(
            [
                first if i.previous_close is None else i.previous_close
                for i, first in zip(parts, firsts, strict=True)
            ],
            dtype=np.float64,
        ),
        lot=np.array([max(i.lot_size, 1) for i in parts], dtype=np.int64),
        per_unit=np.array([ticks_per_unit(i.tick_size) for i in parts], dtype=np.int64),
        tradable=np.array([i.tradable for i in parts], dtype=np.bool_),
        instrument=col("_instrument").astype(np.int64),
        ts_us=col("_ts"),
        last_price=col("last_price"),
        last_quantity=col("last_quantity"),
        volume=col("volume"),
        average_price=col("_average"),
        high=col("_high"),
        low=col("_low"),
        oi=col("_oi"),
        oi_day_high=col("_oi_high"),
        oi_day_low=col("_oi_low"),
        bid=col("_bid"),
        ask=col("_ask"),
        mean_lots=col("_mean_lots"),
    )


def _day_stats(frame: pl.DataFrame) -> pl.DataFrame:
    """Running day high/low, VWAP and OI extremes per instrument (rows are instrument blocks in
    time order); no volume and no book for instruments that do not trade."""
    by = "instrument_token"
    price, traded = pl.col("last_price"), pl.col("_tradable")
    oi = pl.col("oi").fill_null(0)
    turnover = (price * pl.col("last_quantity")).cum_sum().over(by)
    no_book = pl.lit(float("nan"))
    return frame.with_columns(
        pl.col("ts_event").dt.epoch("us").alias("_ts"),
        price.cum_max().over(by).alias("_high"),
        price.cum_min().over(by).alias("_low"),
        pl.when(traded).then(pl.col("volume")).otherwise(0).alias("volume"),
        pl.when(traded).then(pl.col("last_quantity")).otherwise(0).alias("last_quantity"),
        pl.when(traded & (pl.col("volume") > 0))
        .then((turnover / pl.col("volume")).round(2))
        .otherwise(0.0)
        .alias("_average"),
        oi.alias("_oi"),
        oi.cum_max().over(by).alias("_oi_high"),
        oi.cum_min().over(by).alias("_oi_low"),
        pl.when(traded).then(pl.col("bid").fill_null(no_book)).otherwise(no_book).alias("_bid"),
        pl.when(traded).then(pl.col("ask").fill_null(no_book)).otherwise(no_book).alias("_ask"),
        # Mean trade size so far today, in lots (at least one): what the book's sizes scale with.
        (pl.col("volume") / pl.col("_lot") / (pl.int_range(pl.len()).over(by) + 1))
        .clip(lower_bound=1.0)
        .alias("_mean_lots"),
    )


# -- the book's random numbers: a counter-based hash, so any row's book is computed on its own ----

_MASK: Final = (1 << 64) - 1
_GOLDEN: Final = 0x9E3779B97F4A7C15
_DRAWS: Final = 3 * 2 * DEPTH_LEVELS  # (gap, size, orders) x (bid, ask) x levels


def _row_keys(seed: int, day: date, tokens: IntArray, ts_us: IntArray) -> npt.NDArray[np.uint64]:
    base = np.uint64(
        (((seed * 1_000_003 + _BOOK_STREAM) * 1_000_003 + day.toordinal()) * _GOLDEN) & _MASK
    )
    with np.errstate(over="ignore"):
        state = _mix(tokens.astype(np.uint64) * np.uint64(_GOLDEN) + base)
        keys: npt.NDArray[np.uint64] = _mix(state ^ ts_us.astype(np.uint64))
    return keys


def _uniforms(keys: npt.NDArray[np.uint64]) -> FloatArray:
    """``(rows, 3, 2, 5)`` uniforms in [0, 1) from each row's key (SplitMix64 stream)."""
    with np.errstate(over="ignore"):
        counters = np.arange(1, _DRAWS + 1, dtype=np.uint64) * np.uint64(_GOLDEN)
        mixed = _mix(keys[:, None] + counters[None, :])
    uniforms: FloatArray = (mixed >> np.uint64(11)).astype(np.float64) / 2.0**53
    return uniforms.reshape(-1, 3, 2, DEPTH_LEVELS)


def _mix(z: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """SplitMix64's finaliser (wrapping uint64 arithmetic)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    out: npt.NDArray[np.uint64] = z ^ (z >> np.uint64(31))
    return out
