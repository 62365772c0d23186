"""Specification of portfolio acceptance: one position per instrument, max_concurrent, capital;
the event loop equals judging every signal in time order, and the numpy pass (taken when no limit
binds) equals the event loop."""

from __future__ import annotations

import datetime as dt
import heapq

import numpy as np
import polars as pl
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from data_contracts.schemas import UTC_TIMESTAMP
from models.backtest import FillModel, Portfolio, run_backtest, size_lots
from models.backtest.portfolio import (
    ACCEPTED,
    SKIP_REASONS,
    Candidates,
    accept,
    accept_in_order,
    accept_unlimited,
)

T0 = dt.datetime(2025, 6, 16, 3, 46, tzinfo=dt.UTC)
NO_COSTS = FillModel(spread_bps=0, slippage_bps=0, limit_buffer_bps=10)


def reference(c: Candidates, portfolio: Portfolio) -> list[int]:
    """Every candidate judged in (entry time, input order) on the state at that time."""
    outcome = [ACCEPTED] * len(c.entry_ts)
    exits: list[tuple[int, int]] = []
    busy_until: dict[int, int] = {}
    cash = portfolio.capital
    for i in sorted(range(len(c.entry_ts)), key=lambda k: (c.entry_ts[k], k)):
        while exits and exits[0][0] <= c.entry_ts[i]:
            _, j = heapq.heappop(exits)
            cash += c.margin[j] + c.net_pnl[j]
        if busy_until.get(int(c.instrument[i]), -1) > c.entry_ts[i]:
            outcome[i] = SKIP_REASONS.index("position_open")
        elif portfolio.max_concurrent is not None and len(exits) >= portfolio.max_concurrent:
            outcome[i] = SKIP_REASONS.index("max_concurrent")
        elif c.margin[i] > cash:
            outcome[i] = SKIP_REASONS.index("insufficient_capital")
        else:
            heapq.heappush(exits, (int(c.exit_ts[i]), i))
            busy_until[int(c.instrument[i])] = int(c.exit_ts[i])
            cash -= c.margin[i]
    return outcome


@given(
    trades=st.lists(
        st.tuples(
            st.integers(0, 40),  # entry time
            st.integers(0, 8),  # holding time
            st.integers(0, 3),  # instrument
            st.sampled_from([10.0, 25.0, 40.0, 70.0]),  # margin
            st.sampled_from([-30.0, -5.0, 0.0, 8.0, 20.0]),  # net P&L
        ),
        max_size=60,
    ),
    max_concurrent=st.none() | st.integers(1, 3),
    capital=st.sampled_from([50.0, 100.0, 1e9]),
)
def test_accept_any_candidates_equals_judging_every_signal_in_time_order(
    trades: list[tuple[int, int, int, float, float]], max_concurrent: int | None, capital: float
) -> None:
    candidates = from_rows(trades)
    portfolio = Portfolio(capital=capital, per_trade_risk=1.0, max_concurrent=max_concurrent)

    outcome = accept(candidates, portfolio)
    in_order = accept_in_order(candidates, portfolio)
    fast = accept_unlimited(candidates, portfolio)

    expected = reference(candidates, portfolio)
    assert outcome.tolist() == expected
    assert in_order.tolist() == expected
    assert fast is None or fast.tolist() == expected


def from_rows(trades: list[tuple[int, int, int, float, float]]) -> Candidates:
    """Candidates from (entry time, holding time, instrument, margin, net P&L) rows."""
    rows = np.array(trades, dtype=np.float64).reshape(-1, 5)
    entry, hold, instrument = (rows[:, k].astype(np.int64) for k in range(3))
    return Candidates(
        entry_ts=entry,
        exit_ts=entry + hold,
        instrument=instrument,
        margin=rows[:, 3].copy(),
        net_pnl=rows[:, 4].copy(),
    )


ROWS = st.lists(
    st.tuples(
        st.integers(0, 40),  # entry time
        st.integers(0, 8),  # holding time (0: exits at its entry bar)
        st.integers(0, 3),  # instrument
        st.sampled_from([0.1, 0.2, 0.3, 0.7, 25.0]),  # margin: sums that are not exact in float
        st.sampled_from([-0.3, -0.1, 0.0, 0.1, 0.2]),  # net P&L
    ),
    max_size=60,
)


@given(
    trades=ROWS,
    max_concurrent=st.none() | st.integers(4, 6),
    capital=st.sampled_from([200.0, 1e9]),
)
def test_accept_unlimited_limits_that_cannot_bind_equals_event_loop(
    trades: list[tuple[int, int, int, float, float]], max_concurrent: int | None, capital: float
) -> None:
    # At most 4 instruments, so 4 slots; 4 x 25 margin plus 60 losses of 0.3 fit in 200.
    candidates = from_rows(trades)
    portfolio = Portfolio(capital=capital, per_trade_risk=1.0, max_concurrent=max_concurrent)

    fast = accept_unlimited(candidates, portfolio)

    assert fast is not None
    assert fast.tolist() == accept_in_order(candidates, portfolio).tolist()


@given(
    trades=ROWS,
    max_concurrent=st.none() | st.integers(1, 3),
    capital=st.sampled_from([0.3, 0.6, 1.0, 26.0]),
)
def test_accept_unlimited_limits_near_binding_equals_event_loop_or_declines(
    trades: list[tuple[int, int, int, float, float]], max_concurrent: int | None, capital: float
) -> None:
    # Cash lands on or near a margin after float sums, so the replay must round like the loop.
    candidates = from_rows(trades)
    portfolio = Portfolio(capital=capital, per_trade_risk=1.0, max_concurrent=max_concurrent)

    fast = accept_unlimited(candidates, portfolio)
    in_order = accept_in_order(candidates, portfolio).tolist()

    assert fast is None or fast.tolist() == in_order
    assert accept(candidates, portfolio).tolist() == in_order
    assert (fast is None) == any(o not in (ACCEPTED, POSITION_OPEN) for o in in_order)


POSITION_OPEN = SKIP_REASONS.index("position_open")


@pytest.mark.parametrize(
    ("rows", "portfolio", "expected"),
    [
        # Two at once, margin 50 each: capital 100 fits both exactly (margin > cash refuses).
        (
            [(0, 5, 0, 50.0, 0.0), (1, 5, 1, 50.0, 0.0)],
            Portfolio(capital=100.0, per_trade_risk=1.0),
            [ACCEPTED, ACCEPTED],
        ),
        # A loss realised before the next entry leaves too little cash.
        (
            [(0, 2, 0, 50.0, -1.0), (2, 5, 1, 50.0, 0.0), (3, 5, 0, 50.0, 0.0)],
            Portfolio(capital=100.0, per_trade_risk=1.0),
            None,
        ),
        # An exit at the next entry's time frees its slot and cash first (in any input order).
        (
            [(2, 3, 1, 60.0, 0.0), (0, 2, 0, 60.0, 0.0)],
            Portfolio(capital=100.0, per_trade_risk=1.0, max_concurrent=1),
            [ACCEPTED, ACCEPTED],
        ),
        (
            [(2, 3, 1, 60.0, 0.0), (0, 2, 0, 60.0, 0.0)],
            Portfolio(capital=100.0, per_trade_risk=1.0),
            [ACCEPTED, ACCEPTED],
        ),
        # A trade exiting at its entry bar is released right after its entry.
        (
            [(0, 0, 0, 60.0, 0.0), (0, 3, 1, 60.0, 0.0)],
            Portfolio(capital=100.0, per_trade_risk=1.0, max_concurrent=1),
            [ACCEPTED, ACCEPTED],
        ),
        # One slot, two instruments overlapping: max_concurrent binds.
        (
            [(0, 3, 0, 10.0, 0.0), (1, 3, 1, 10.0, 0.0)],
            Portfolio(capital=100.0, per_trade_risk=1.0, max_concurrent=1),
            None,
        ),
        # Signals while holding are position_open, whatever the limits.
        (
            [(0, 4, 0, 10.0, 0.0), (2, 4, 0, 10.0, 0.0), (4, 1, 0, 10.0, 0.0)],
            Portfolio(capital=10.0, per_trade_risk=1.0, max_concurrent=1),
            [ACCEPTED, POSITION_OPEN, ACCEPTED],
        ),
    ],
)
def test_accept_unlimited_binding_or_not_answers_or_declines(
    rows: list[tuple[int, int, int, float, float]],
    portfolio: Portfolio,
    expected: list[int] | None,
) -> None:
    candidates = from_rows(rows)

    fast = accept_unlimited(candidates, portfolio)

    assert (None if fast is None else fast.tolist()) == expected
    assert accept(candidates, portfolio).tolist() == reference(candidates, portfolio)


@pytest.mark.parametrize("seed", range(4))
def test_accept_long_dense_signal_runs_equal_judging_every_signal(seed: int) -> None:
    # Thousands of signals per instrument, so the skips cross many blocks of the margin search.
    rng = np.random.default_rng(seed)
    n = 3000
    entry = np.sort(rng.integers(0, 1500, n))
    candidates = Candidates(
        entry_ts=entry,
        exit_ts=entry + rng.integers(0, 20, n),
        instrument=rng.integers(0, 3, n),
        margin=rng.choice([10.0, 30.0, 60.0, 200.0], n, p=[0.02, 0.08, 0.2, 0.7]),
        net_pnl=rng.normal(0, 5, n),
    )
    portfolio = Portfolio(capital=100.0, per_trade_risk=1.0, max_concurrent=[None, 2][seed % 2])

    outcome = accept(candidates, portfolio)

    assert outcome.tolist() == reference(candidates, portfolio)


@pytest.mark.parametrize("seed", range(3))
def test_accept_unlimited_long_chains_equal_judging_every_signal(seed: int) -> None:
    # Long runs of taken trades per instrument: many rounds of pointer doubling.
    rng = np.random.default_rng(seed)
    n = 5000
    entry = rng.integers(0, 20_000, n)
    candidates = Candidates(
        entry_ts=entry,
        exit_ts=entry + rng.integers(0, 12, n),
        instrument=rng.integers(0, 1 + seed, n) * 7 - 3,  # any int64 ids, not 0..k-1
        margin=rng.uniform(1.0, 50.0, n),
        net_pnl=rng.normal(0, 5, n),
    )
    portfolio = Portfolio(capital=1e9, per_trade_risk=1.0)

    fast = accept_unlimited(candidates, portfolio)

    assert fast is not None
    assert fast.tolist() == reference(candidates, portfolio)


# --- through run_backtest -------------------------------------------------------------------------


def minute(i: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=i)


def flat_bars(tokens: list[int], n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "instrument_token": [t for t in tokens for _ in range(n)],
            "ts_event": [minute(i) for _ in tokens for i in range(n)],
            "open": 100.0,
            "high": 100.1,
            "low": 99.9,
            "close": 100.0,
        },
        schema_overrides={"ts_event": UTC_TIMESTAMP},
    )


def entries(rows: list[tuple[int, int, int]], lots: int = 10) -> pl.DataFrame:
    """(token, decision minute, deadline minute): longs that exit at their deadline."""
    return pl.DataFrame(
        {
            "instrument_token": [r[0] for r in rows],
            "ts_decision": [minute(r[1]) for r in rows],
            "direction": 1,
            "take_profit": 110.0,
            "stop_loss": 90.0,
            "exit_deadline": [minute(r[2]) for r in rows],
            "deadline_reason": "time",
            "lot_size": 1,
            "tick_size": 0.05,
            "segment": "intraday",
            "lots": lots,
            "id": list(range(len(rows))),
        },
        schema_overrides={
            "ts_decision": UTC_TIMESTAMP,
            "exit_deadline": UTC_TIMESTAMP,
            "direction": pl.Int8,
            "lots": pl.Int64,
        },
    )


def outcome(result_skipped: pl.DataFrame, result_trades: pl.DataFrame) -> dict[int, str]:
    taken = dict.fromkeys(result_trades["id"].to_list(), "taken")
    return taken | dict(zip(result_skipped["id"], result_skipped["reason"], strict=True))


@pytest.mark.parametrize(
    ("rows", "portfolio", "expected"),
    [
        # One position per instrument: a signal while holding is skipped; at the exit bar it enters.
        (
            [(1, 0, 3), (1, 1, 5), (1, 3, 6)],
            Portfolio(capital=1e6, per_trade_risk=1e3),
            {0: "taken", 1: "position_open", 2: "taken"},
        ),
        # Other instruments are free.
        (
            [(1, 0, 3), (2, 1, 5)],
            Portfolio(capital=1e6, per_trade_risk=1e3),
            {0: "taken", 1: "taken"},
        ),
        # At most two open at once; a slot frees at an exit.
        (
            [(1, 0, 4), (2, 0, 4), (3, 1, 5), (3, 4, 6)],
            Portfolio(capital=1e6, per_trade_risk=1e3, max_concurrent=2),
            {0: "taken", 1: "taken", 2: "max_concurrent", 3: "taken"},
        ),
        # Margin: 10 x 100 / 5 (intraday leverage) = 200 each; capital 450 holds two.
        (
            [(1, 0, 4), (2, 0, 4), (3, 1, 5), (3, 4, 6)],
            Portfolio(capital=450, per_trade_risk=1e3),
            {0: "taken", 1: "taken", 2: "insufficient_capital", 3: "taken"},
        ),
    ],
)
def test_run_backtest_portfolio_rules_take_and_skip_as_specified(
    rows: list[tuple[int, int, int]], portfolio: Portfolio, expected: dict[int, str]
) -> None:
    result = run_backtest(
        flat_bars([1, 2, 3], 8), entries(rows), fills=NO_COSTS, portfolio=portfolio
    )

    assert outcome(result.skipped, result.trades) == expected


def test_run_backtest_skipped_keeps_simulation_and_portfolio_reasons() -> None:
    frame = entries([(1, 0, 3), (1, 1, 4)]).with_columns(
        pl.Series("stop_loss", [90.0, 100.0])  # the second has its stop on the close
    )

    result = run_backtest(flat_bars([1], 5), frame, fills=NO_COSTS, portfolio=Portfolio(1e6, 1e3))

    assert outcome(result.skipped, result.trades) == {0: "taken", 1: "invalid_levels"}


_PRICES = st.floats(min_value=0.05, max_value=50_000, allow_nan=False)


@given(
    entry=_PRICES,
    stop_distance=st.floats(min_value=0.05, max_value=5_000, allow_nan=False),
    lot_size=st.sampled_from([1, 15, 25, 50, 65, 75, 1_800]),
    leverage=st.sampled_from([1.0, 5.0]),
    capital=st.floats(min_value=1_000, max_value=1e8),
    per_trade_risk=st.floats(min_value=1, max_value=1e6),
    cap=st.none() | st.floats(min_value=100, max_value=1e8),
)
@example(
    entry=32769.0,
    stop_distance=0.05,
    lot_size=1,
    leverage=1.0,
    capital=1e8,
    per_trade_risk=1.0,
    cap=None,
)
def test_size_lots_never_breaks_a_limit_the_risk_engine_checks(
    entry: float,
    stop_distance: float,
    lot_size: int,
    leverage: float,
    capital: float,
    per_trade_risk: float,
    cap: float | None,
) -> None:
    portfolio = Portfolio(capital=capital, per_trade_risk=per_trade_risk, max_position_notional=cap)
    stop = entry - stop_distance
    # The distance the rule (and the risk engine) sees: 32769.0 - 0.05 is 0.04999999999708962
    # below the entry, not the 0.05 drawn.
    stop_distance = entry - stop

    (lots,) = size_lots([entry], [stop], [lot_size], [leverage], portfolio)

    quantity = int(lots) * lot_size
    slack = 1 + 1e-6  # the rule's whole-lot tolerance against float noise
    assert lots >= 0
    assert quantity * stop_distance <= per_trade_risk * slack
    assert quantity * entry <= capital * leverage * slack
    if cap is not None:
        assert quantity * entry <= cap * slack
    # One more lot would break one of the limits: the rule takes as much as it may.
    more = (int(lots) + 1) * lot_size
    limits = [more * stop_distance > per_trade_risk, more * entry > capital * leverage]
    if cap is not None:
        limits.append(more * entry > cap)
    assert any(limits)
