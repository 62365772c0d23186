"""Ticks inside 1-minute bars, consistent with them, for the streaming side and the paper exchange.

For each bar ``(open, high, low, close, volume)`` closing at ``t`` the ticks satisfy:

* the first tick's price is the open and the last one's the close; the highest is the high and
  the lowest the low (so a candle rebuilt from the ticks is the bar);
* timestamps are strictly increasing and strictly inside ``(t - 1 min, t]``;
* ``last_quantity`` sums to the bar's volume, in whole multiples of ``quantity_unit`` (the lot for
  options); ``volume`` is the day's cumulative traded quantity, as Kite sends it;
* ``bid <= last_price <= ask`` with ``ask - bid`` the bar's spread in ticks; instruments without
  a book (the index) get no bid/ask.

Everything is vectorised over all the ticks of a day; no per-tick Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from data_contracts.errors import ContractError
from data_contracts.ids import InstrumentToken
from data_contracts.market import Tick
from data_contracts.schemas import UTC_TIMESTAMP
from execution.simulator.grid import FloatArray, IntArray, from_ticks, to_ticks

__all__ = [
    "MEAN_TICKS_PER_BAR",
    "TICK_FRAME_SCHEMA",
    "TickArrays",
    "bar_ticks",
    "frame_to_ticks",
    "ticks_frame",
]

_MIN_TICKS = 4  # open, high, low, close
_MAX_TICKS = 40  # at the default mean; a denser feed may have up to 3 x its mean
# Ticks in a 1-minute bar on average: 4 (open, high, low, close) plus a Poisson number more.
MEAN_TICKS_PER_BAR = 12.0
_BAR_US = 60_000_000

TICK_FRAME_SCHEMA: dict[str, pl.DataType] = {
    "instrument_token": pl.Int64(),
    "ts_event": UTC_TIMESTAMP,
    "ts_init": UTC_TIMESTAMP,
    "last_price": pl.Float64(),
    "last_quantity": pl.Int64(),
    "volume": pl.Int64(),
    "bid": pl.Float64(),
    "ask": pl.Float64(),
    "bid_quantity": pl.Int64(),
    "ask_quantity": pl.Int64(),
    "oi": pl.Int64(),
}


@dataclass(frozen=True, slots=True)
class TickArrays:
    """The ticks of consecutive bars as flat arrays (``bar`` says which bar each tick is in)."""

    bar: IntArray
    ts_us: IntArray
    price: FloatArray
    quantity: IntArray
    volume: IntArray
    bid: FloatArray | None
    ask: FloatArray | None
    bid_quantity: IntArray
    ask_quantity: IntArray

    @property
    def size(self) -> int:
        return int(self.ts_us.size)


def bar_ticks(
    rng: np.random.Generator,
    close_us: npt.ArrayLike,
    open_: npt.ArrayLike,
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    volume: npt.ArrayLike,
    *,
    tick_size: float,
    quantity_unit: int = 1,
    spread_ticks: npt.ArrayLike | None = None,
    mean_ticks: float = MEAN_TICKS_PER_BAR,
) -> TickArrays:
    """Ticks for consecutive bars (prices on the ``tick_size`` grid, volumes in multiples of
    ``quantity_unit``); ``spread_ticks`` None means no order book (bid/ask absent). A bar has
    ``mean_ticks`` ticks on average (at least 4; a benchmark sets a live feed's density)."""
    if isinstance(mean_ticks, bool) or not _MIN_TICKS <= mean_ticks < 10_000:
        raise ContractError("bar_ticks", "mean_ticks", mean_ticks, "must be in [4, 10000)")
    o, h, lo, c = (to_ticks(p, tick_size) for p in (open_, high, low, close))
    volumes = np.asarray(volume, dtype=np.int64)
    bars = o.size
    most = max(_MAX_TICKS, int(3 * mean_ticks))
    counts = np.minimum(_MIN_TICKS + rng.poisson(mean_ticks - _MIN_TICKS, bars), most)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    total = int(counts.sum())
    bar = np.repeat(np.arange(bars), counts)
    position = np.arange(total) - starts[bar]
    # Interior prices anywhere in [low, high]; then open first, close last, and high and low at
    # two distinct interior positions.
    span = (h - lo)[bar]
    price = lo[bar] + np.floor(rng.random(total) * (span + 1)).astype(np.int64)
    price = np.minimum(price, h[bar])
    first_pick = rng.integers(0, counts - 2)
    second_pick = rng.integers(0, counts - 3)
    second_pick += second_pick >= first_pick
    high_first = rng.random(bars) < 0.5
    price[starts + 1 + np.where(high_first, first_pick, second_pick)] = h
    price[starts + 1 + np.where(high_first, second_pick, first_pick)] = lo
    price[starts] = o
    price[starts + counts - 1] = c
    ts_us = (
        np.asarray(close_us, dtype=np.int64)[bar] - _BAR_US + _offsets(rng, counts, bar, position)
    )
    quantity = _split(rng, volumes // quantity_unit, counts, bar, starts) * quantity_unit
    bid, ask, bid_quantity, ask_quantity = _book(rng, price, bar, spread_ticks, quantity_unit)
    return TickArrays(
        bar=bar,
        ts_us=ts_us,
        price=from_ticks(price, tick_size),
        quantity=quantity,
        volume=np.cumsum(quantity),
        bid=None if bid is None else from_ticks(bid, tick_size),
        ask=None if ask is None else from_ticks(ask, tick_size),
        bid_quantity=bid_quantity,
        ask_quantity=ask_quantity,
    )


def _offsets(
    rng: np.random.Generator, counts: IntArray, bar: IntArray, position: IntArray
) -> IntArray:
    """Strictly increasing microsecond offsets in ``[1, 60 s]`` within each bar."""
    gaps = rng.exponential(size=bar.size)
    cumulative = np.cumsum(gaps)
    bar_end = np.cumsum(counts) - 1
    before = np.concatenate([[0.0], cumulative[bar_end][:-1]])[bar]
    # One more exponential gap after the last tick, so the last tick is not pinned to the close.
    closing = rng.exponential(size=counts.size)[bar]
    share = (cumulative - before) / (cumulative[bar_end][bar] - before + closing)
    room = _BAR_US - counts[bar]
    offsets: IntArray = np.floor(share * room).astype(np.int64) + position + 1
    return offsets


def _split(
    rng: np.random.Generator, units: IntArray, counts: IntArray, bar: IntArray, starts: IntArray
) -> IntArray:
    """Split each bar's ``units`` over its ticks (random cut points; zeros allowed)."""
    cuts = np.floor(rng.random(bar.size) * (units[bar] + 1)).astype(np.int64)
    last = starts + counts - 1
    cuts[last] = units  # each bar's cumulative total ends at its units
    order = np.lexsort((cuts, bar))
    cumulative = cuts[order]
    previous = np.concatenate([[0], cumulative[:-1]])
    previous[starts] = 0
    split: IntArray = cumulative - previous
    return split


def _book(
    rng: np.random.Generator,
    price: IntArray,
    bar: IntArray,
    spread_ticks: npt.ArrayLike | None,
    unit: int,
) -> tuple[IntArray | None, IntArray | None, IntArray, IntArray]:
    """Best bid/ask in ticks around each price (``spread`` ticks apart), with queue sizes."""
    zeros = np.zeros(price.size, dtype=np.int64)
    if spread_ticks is None:
        return None, None, zeros, zeros
    spread = np.maximum(np.asarray(spread_ticks, dtype=np.int64), 1)[bar]
    below = np.floor(rng.random(price.size) * (spread + 1)).astype(np.int64)
    bid = np.maximum(price - below, 1)
    ask = bid + spread
    sizes = rng.integers(1, 60, size=(2, price.size)) * unit
    return bid, ask, sizes[0], sizes[1]


def ticks_frame(token: int, ticks: TickArrays, oi: IntArray | None = None) -> pl.DataFrame:
    """The ticks as a ``schemas.TickFrame`` (``ts_init`` = ``ts_event``: simulated, no latency);
    ``oi`` is per bar (None for instruments without open interest)."""
    stamps = pl.Series("ts_event", ticks.ts_us).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    no_book = pl.Series([None] * ticks.size, dtype=pl.Float64)
    return pl.DataFrame(
        {
            "instrument_token": pl.Series([token] * ticks.size, dtype=pl.Int64),
            "ts_event": stamps,
            "ts_init": stamps,
            "last_price": ticks.price,
            "last_quantity": ticks.quantity,
            "volume": ticks.volume,
            "bid": no_book if ticks.bid is None else pl.Series(ticks.bid),
            "ask": no_book if ticks.ask is None else pl.Series(ticks.ask),
            "bid_quantity": ticks.bid_quantity,
            "ask_quantity": ticks.ask_quantity,
            "oi": pl.Series([None] * ticks.size if oi is None else oi[ticks.bar], dtype=pl.Int64),
        },
        schema=TICK_FRAME_SCHEMA,
    )


def frame_to_ticks(frame: pl.DataFrame) -> list[Tick]:
    """Validated :class:`~data_contracts.market.Tick` objects from a tick frame (row order)."""
    return [
        Tick(
            instrument_token=InstrumentToken(row["instrument_token"]),
            ts_event=row["ts_event"],
            ts_init=row["ts_init"],
            last_price=row["last_price"],
            last_quantity=row["last_quantity"],
            volume=row["volume"],
            bid=row["bid"],
            ask=row["ask"],
            bid_quantity=row["bid_quantity"],
            ask_quantity=row["ask_quantity"],
            oi=row["oi"],
        )
        for row in frame.iter_rows(named=True)
    ]
