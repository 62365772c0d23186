"""The replay's quote table: book invariants for any bars, the price floor, lazily derived books."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from data_contracts.errors import ContractError
from execution.paper.market_book import InstrumentTicks, build_quote_table
from execution.paper.types import DEPTH_LEVELS
from execution.simulator.ticks import TICK_FRAME_SCHEMA, bar_ticks, ticks_frame

DAY = date(2026, 6, 3)
MINUTE_US = 60_000_000
FIRST_CLOSE_US = 1_780_458_960_000_000  # 2026-06-03 09:16 IST
TOKEN = 12073986


def _instrument(
    prices_in_ticks: list[tuple[int, int, int, int]],
    volumes: list[int],
    *,
    tick_size: float = 0.05,
    lot: int = 65,
    seed: int = 1,
    spread: int = 1,
) -> InstrumentTicks:
    o, h, lo, c = (np.array([p[i] for p in prices_in_ticks]) * tick_size for i in range(4))
    close_us = FIRST_CLOSE_US + MINUTE_US * np.arange(len(volumes))
    ticks = bar_ticks(
        np.random.default_rng(seed),
        close_us,
        o,
        h,
        lo,
        c,
        volumes,
        tick_size=tick_size,
        quantity_unit=lot,
        spread_ticks=np.full(len(volumes), spread),
    )
    return InstrumentTicks(
        instrument_token=TOKEN,
        ticks=ticks_frame(TOKEN, ticks),
        tick_size=tick_size,
        lot_size=lot,
        tradable=True,
        previous_close=None,
    )


@st.composite
def day_bars(draw: st.DrawFn) -> tuple[list[tuple[int, int, int, int]], list[int]]:
    """1-6 bars in whole ticks (any level from one tick up) with volumes in lots."""
    bars, volumes = [], []
    for _ in range(draw(st.integers(1, 6))):
        low = draw(st.integers(1, 200_000))
        high = low + draw(st.integers(0, 40))
        bars.append((draw(st.integers(low, high)), high, low, draw(st.integers(low, high))))
        volumes.append(draw(st.integers(0, 500)))
    return bars, volumes


@given(
    day_bars(),
    st.sampled_from([0.05, 0.01, 0.1]),
    st.sampled_from([1, 65]),
    st.integers(0, 2**32 - 1),
    st.integers(1, 3),
)
def test_book_invariants_hold_for_any_bars(
    bars: tuple[list[tuple[int, int, int, int]], list[int]],
    tick_size: float,
    lot: int,
    seed: int,
    spread: int,
) -> None:
    prices, units = bars
    part = _instrument(
        prices, [u * lot for u in units], tick_size=tick_size, lot=lot, seed=seed, spread=spread
    )
    table = build_quote_table([part], seed=seed, day=DAY)

    quotes = table.quotes(np.arange(table.size))

    per_rupee = round(1 / tick_size)
    for q in quotes:
        bids, asks = [b.price for b in q.bids], [a.price for a in q.asks]
        assert bids[0] <= q.last_price <= asks[0]
        assert len(asks) == DEPTH_LEVELS
        assert bids == sorted(bids, reverse=True)
        assert len(set(bids)) == len(bids)
        assert asks == sorted(asks)
        assert len(set(asks)) == len(asks)
        # Only the price floor cuts bid levels: a missing level would have been <= 0.
        assert len(bids) == DEPTH_LEVELS or round(bids[-1] * per_rupee) <= 2
        for level in (*q.bids, *q.asks):
            assert level.price > 0
            assert abs(level.price * per_rupee - round(level.price * per_rupee)) < 1e-6
            assert level.quantity > 0
            assert level.quantity % lot == 0
            assert 1 <= level.orders <= level.quantity // lot
        assert q.low <= q.last_price <= q.high


def test_book_of_a_one_tick_option_has_fewer_bids() -> None:
    part = _instrument([(1, 2, 1, 1), (2, 2, 1, 1)], [650, 1300])
    table = build_quote_table([part], seed=3, day=DAY)

    quotes = table.quotes(np.arange(table.size))

    assert min(len(q.bids) for q in quotes) < DEPTH_LEVELS
    assert all(q.bids[-1].price > 0 and len(q.asks) == DEPTH_LEVELS for q in quotes)


def test_quotes_of_a_row_do_not_depend_on_which_rows_are_asked() -> None:
    part = _instrument([(2000, 2010, 1990, 2005)] * 4, [6500] * 4)
    table = build_quote_table([part], seed=3, day=DAY)
    everything = table.quotes(np.arange(table.size))
    picked = [table.size - 1, 3, 0]

    assert table.quotes(picked) == [everything[i] for i in picked]


def test_book_depends_on_the_seed() -> None:
    part = _instrument([(2000, 2010, 1990, 2005)] * 2, [6500] * 2)

    first = build_quote_table([part], seed=3, day=DAY).quotes([0])[0]
    second = build_quote_table([part], seed=4, day=DAY).quotes([0])[0]

    assert first.last_price == second.last_price
    assert first.bids != second.bids or first.asks != second.asks


def test_build_quote_table_without_ticks_raises() -> None:
    empty = InstrumentTicks(
        instrument_token=TOKEN,
        ticks=pl.DataFrame(schema=TICK_FRAME_SCHEMA),
        tick_size=0.05,
        lot_size=65,
        tradable=True,
        previous_close=None,
    )

    with pytest.raises(ContractError, match="at least one tick"):
        build_quote_table([empty], seed=0, day=DAY)
