"""Specification of ``counterfactual_trades``: a proposal taken at its own terms, scored by the
backtest engine on the bars that followed it — target, stop, time exit, a limit that never
fills, a resting limit filled later, data that does not reach far enough — and equal to
``simulate_trades`` on the same entry."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_contracts.charges import ChargesModel
from data_contracts.enums import ChargeSegment, Side
from data_contracts.errors import ContractError
from data_contracts.ids import ProposalId
from data_contracts.schemas import UTC_TIMESTAMP
from models.backtest import ENTRY_SCHEMA, FillModel, Portfolio, simulate_trades
from models.counterfactual import (
    COUNTERFACTUAL_SCHEMA,
    PROPOSAL_SCHEMA,
    STATUSES,
    counterfactual_trades,
    proposals_frame,
)
from tests.factories import proposal, session_bars

# Monday 2025-06-16; bar i closes at 09:16 + i minutes IST (03:46 UTC).
T0 = dt.datetime(2025, 6, 16, 3, 46, tzinfo=dt.UTC)
TOKEN = 408065
FILLS = FillModel()  # spread 2 bps, slippage 2 bps, limit buffer 10 bps
CHARGES = ChargesModel.default()
FLAT = (100.0, 100.1, 99.9, 100.0)


def minute(i: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=i)


def bars(*ohlc: tuple[float, float, float, float]) -> pl.DataFrame:
    """One instrument's bars: (open, high, low, close) closing at minute(0), minute(1), ..."""
    return pl.DataFrame(
        {
            "instrument_token": [TOKEN] * len(ohlc),
            "ts_event": [minute(i) for i in range(len(ohlc))],
            "open": [b[0] for b in ohlc],
            "high": [b[1] for b in ohlc],
            "low": [b[2] for b in ohlc],
            "close": [b[3] for b in ohlc],
        },
        schema_overrides={"ts_event": UTC_TIMESTAMP},
    )


def proposals(*rows: dict[str, Any]) -> pl.DataFrame:
    """A BUY at minute(0), limit 100.10 (the fill model's limit off close 100), TP 101, SL 99,
    TTL 2 minutes, time exit at minute(10), one lot of one share, intraday."""
    defaults: dict[str, Any] = {
        "proposal_id": "p-1",
        "instrument_token": TOKEN,
        "ts_event": minute(0),
        "expires_at": minute(2),
        "time_exit": minute(10),
        "direction": 1,
        "limit_price": 100.10,
        "stop_loss": 99.0,
        "take_profit": 101.0,
        "lots": 1,
        "lot_size": 1,
        "tick_size": 0.05,
        "segment": "intraday",
    }
    return pl.DataFrame([defaults | row for row in rows], schema=PROPOSAL_SCHEMA)


def one(candles: pl.DataFrame, **row: Any) -> dict[str, Any]:
    result = counterfactual_trades(proposals(row), candles, fills=FILLS, charges=CHARGES)
    assert result.height == 1
    return result.row(0, named=True)


# --- the outcomes, hand-computed ------------------------------------------------------------------
# Entry at close 100: ask 100 x 1.0001, + slippage x 1.0002 = 100.030002 -> up to 100.05 <= 100.10.


def test_counterfactual_target_reached_scores_take_profit_after_charges() -> None:
    candles = bars(FLAT, (100.0, 101.2, 99.95, 101.1), FLAT)

    row = one(candles)

    assert (row["status"], row["exit_reason"]) == ("scored", "take_profit")
    assert (row["ts_entry"], row["ts_exit"]) == (minute(0), minute(1))
    assert (row["entry_price"], row["exit_price"], row["quantity"]) == (100.05, 101.0, 1)
    assert row["gross_pnl"] == pytest.approx(0.95)
    assert row["charges"] > 0
    assert row["net_pnl"] == pytest.approx(row["gross_pnl"] - row["charges"])


def test_counterfactual_stop_reached_scores_stop_loss_with_slippage() -> None:
    candles = bars(FLAT, (100.0, 100.05, 98.5, 98.6), FLAT)

    row = one(candles)

    # min(open 100, stop 99) x (1 - 2 bps) = 98.9802 -> down to 98.95
    assert (row["status"], row["exit_reason"], row["exit_price"]) == ("scored", "stop_loss", 98.95)
    assert row["net_pnl"] == pytest.approx((98.95 - 100.05) - row["charges"])


def test_counterfactual_nothing_reached_exits_at_the_time_exit() -> None:
    candles = bars(*[FLAT] * 12)

    row = one(candles)

    # bid 100 x (1 - 1 bp) x (1 - 2 bps) = 99.970002 -> down to 99.95, at the time-exit bar
    assert (row["status"], row["exit_reason"]) == ("scored", "time")
    assert (row["ts_exit"], row["exit_price"]) == (minute(10), 99.95)


def test_counterfactual_limit_below_the_market_until_expiry_is_not_filled() -> None:
    candles = bars(*[FLAT] * 12)

    row = one(candles, limit_price=99.5, stop_loss=98.0)

    assert row["status"] == "not_filled"
    assert all(row[c] is None for c in ("ts_entry", "entry_price", "exit_reason", "net_pnl"))


def test_counterfactual_resting_limit_fills_when_a_later_close_trades_through_it() -> None:
    dip = (100.0, 100.0, 99.25, 99.3)
    candles = bars(FLAT, FLAT, dip, *[(99.3, 99.35, 99.25, 99.3)] * 9)

    row = one(candles, limit_price=99.5, stop_loss=98.0, expires_at=minute(5))

    # 99.3 x 1.0001 x 1.0002 = 99.3298 -> up to 99.35: within 99.5 (and the model's 99.35)
    assert (row["status"], row["ts_entry"], row["entry_price"]) == ("scored", minute(2), 99.35)


def test_counterfactual_limit_reachable_only_after_expiry_is_not_filled() -> None:
    dip = (100.0, 100.0, 99.25, 99.3)
    candles = bars(FLAT, FLAT, FLAT, dip, *[FLAT] * 8)

    row = one(candles, limit_price=99.5, stop_loss=98.0, expires_at=minute(3))

    assert row["status"] == "not_filled"


@pytest.mark.parametrize(
    ("candles", "row"),
    [
        pytest.param(bars(FLAT, FLAT), {}, id="filled-data-ends-before-exit"),
        pytest.param(bars(FLAT), {"limit_price": 99.5, "stop_loss": 98.0}, id="ttl-not-covered"),
        pytest.param(bars(FLAT), {"ts_event": minute(3)}, id="no-bar-after-proposal"),
        pytest.param(bars(FLAT).clear(), {}, id="no-bars-at-all"),
    ],
)
def test_counterfactual_data_ends_too_soon_is_awaiting_data_without_numbers(
    candles: pl.DataFrame, row: dict[str, Any]
) -> None:
    if "ts_event" in row:
        row = row | {"expires_at": minute(5), "time_exit": minute(12)}

    result = one(candles, **row)

    assert result["status"] == "awaiting_data"
    assert all(result[c] is None for c in ("exit_price", "gross_pnl", "charges", "net_pnl"))


def test_counterfactual_price_past_the_stop_at_the_fill_is_invalid_levels() -> None:
    crash = (100.0, 100.0, 97.5, 97.6)
    candles = bars(FLAT, FLAT, crash, *[FLAT] * 9)

    row = one(candles, limit_price=99.5, stop_loss=98.0, expires_at=minute(5))

    assert (row["status"], row["net_pnl"]) == ("invalid_levels", None)


def test_counterfactual_mixed_rows_keep_input_order_and_schema() -> None:
    candles = bars(FLAT, (100.0, 101.2, 99.95, 101.1), *[FLAT] * 10)
    frame = proposals(
        {"proposal_id": "never", "limit_price": 99.5, "stop_loss": 98.0},
        {"proposal_id": "target"},
        {
            "proposal_id": "later",
            "ts_event": minute(20),
            "expires_at": minute(22),
            "time_exit": minute(30),
        },
    )

    result = counterfactual_trades(frame, candles, fills=FILLS, charges=CHARGES)

    assert result.schema == pl.Schema(COUNTERFACTUAL_SCHEMA)
    assert result["proposal_id"].to_list() == ["never", "target", "later"]
    assert result["status"].to_list() == ["not_filled", "scored", "awaiting_data"]


# --- one engine -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("side", "sign"), [(Side.BUY, 1), (Side.SELL, -1)])
def test_counterfactual_strategy_proposal_equals_simulate_trades_on_the_same_entry(
    side: Side, sign: int
) -> None:
    # 60 rising session minutes of an F&O-like contract ending 11:15 IST; decide at bar 20.
    candles = session_bars(TOKEN, dt.datetime(2026, 8, 18, 5, 45, tzinfo=dt.UTC), 60, close=250.0)
    decided = candles.row(20, named=True)
    close = decided["close"]
    _, limit = FILLS.entry_prices(
        np.array([sign > 0]),
        np.array([close]),
        np.array([np.nan]),
        np.array([np.nan]),
        np.array([0.05]),
    )
    stop, target = close - sign * 1.0, close + sign * 1.5
    made = proposal(
        proposal_id=ProposalId("p-engine"),
        instrument_token=TOKEN,
        ts_event=decided["ts_event"],
        ts_init=decided["ts_event"],
        side=side,
        lots=2,
        lot_size=75,
        limit_price=float(limit[0]),
        stop_loss=stop,
        take_profit=target,
        time_exit=decided["ts_event"] + dt.timedelta(minutes=30),
        expires_at=decided["ts_event"] + dt.timedelta(minutes=2),
    )
    entry = pl.DataFrame(
        [
            {
                "instrument_token": TOKEN,
                "ts_decision": decided["ts_event"],
                "direction": sign,
                "take_profit": target,
                "stop_loss": stop,
                "exit_deadline": made.time_exit,
                "deadline_reason": "time",
                "lot_size": 75,
                "tick_size": 0.05,
                "segment": "futures",
                "lots": 2,
            }
        ],
        schema=ENTRY_SCHEMA,
    )
    expected = simulate_trades(
        candles, entry, fills=FILLS, portfolio=Portfolio(1e6, 1e4), charges=CHARGES
    ).trades.row(0, named=True)

    row = counterfactual_trades(
        proposals_frame([(made, ChargeSegment.FUTURES)]), candles, fills=FILLS, charges=CHARGES
    ).row(0, named=True)

    assert row["status"] == "scored"
    assert {c: row[c] for c in COUNTERFACTUAL_SCHEMA if c in expected} == {
        c: expected[c] for c in COUNTERFACTUAL_SCHEMA if c in expected
    }


def walk(seed: int, count: int = 60) -> pl.DataFrame:
    """``count`` bars of a random walk around 250 on the 0.05 grid (highs and lows outside the
    body), closing at minute(0), minute(1), ..."""
    rng = np.random.default_rng(seed)
    closes = np.round((250 + np.cumsum(rng.normal(0, 0.6, count))) / 0.05) * 0.05
    opens = np.concatenate([[closes[0]], closes[:-1]])
    wick = np.round(rng.uniform(0, 0.5, (2, count)) / 0.05) * 0.05
    return bars(
        *(
            (float(o), float(max(o, c) + up), float(min(o, c) - down), float(c))
            for o, c, up, down in zip(opens, closes, *wick, strict=True)
        )
    )


@settings(max_examples=60)
@given(
    seed=st.integers(min_value=0, max_value=2**16),
    decide=st.integers(min_value=0, max_value=25),
    ttl=st.integers(min_value=1, max_value=5),
    hold=st.integers(min_value=3, max_value=25),
    cut=st.integers(min_value=1, max_value=40),
    limit_ticks=st.integers(min_value=-10, max_value=4),
    short=st.booleans(),
)
def test_counterfactual_scored_rows_ignore_prices_after_their_exit(
    seed: int, decide: int, ttl: int, hold: int, cut: int, limit_ticks: int, short: bool
) -> None:
    """No look-ahead: cutting the bars right after a scored trade's exit changes nothing, and a
    cut before it never invents an outcome (the row then awaits data)."""
    candles = walk(seed)
    sign = -1 if short else 1
    close = candles["close"][decide]
    frame = proposals(
        {
            "ts_event": minute(decide),
            "expires_at": minute(decide + ttl),
            "time_exit": minute(decide + hold),
            "direction": sign,
            "limit_price": round(close + sign * 0.05 * limit_ticks, 2),
            "stop_loss": round(close - sign * 1.5, 2),
            "take_profit": round(close + sign * 1.5, 2),
        }
    )
    full = counterfactual_trades(frame, candles, fills=FILLS, charges=CHARGES).row(0, named=True)
    cut_at = minute(decide + cut)

    part = counterfactual_trades(
        frame, candles.filter(pl.col("ts_event") <= cut_at), fills=FILLS, charges=CHARGES
    ).row(0, named=True)

    assert full["status"] in STATUSES
    if full["status"] == "scored" and full["ts_exit"] <= cut_at:
        assert part == full
    elif full["status"] == "scored":
        assert (part["status"], part["net_pnl"]) == ("awaiting_data", None)
    elif full["status"] == "not_filled" and cut_at >= full_window_end(frame):
        assert part["status"] == "not_filled"


def full_window_end(frame: pl.DataFrame) -> dt.datetime:
    end: dt.datetime = min(frame["expires_at"][0], frame["time_exit"][0])
    return end


# --- contract -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param(lambda f: f.drop("limit_price"), "limit_price", id="missing-column"),
        pytest.param(
            lambda f: f.with_columns(pl.col("ts_event").dt.replace_time_zone(None)),
            "ts_event",
            id="naive-time",
        ),
        pytest.param(lambda f: pl.concat([f, f]), "proposal_id", id="duplicate-id"),
        pytest.param(
            lambda f: f.with_columns(time_exit=pl.col("ts_event")), "time_exit", id="exit-not-after"
        ),
        pytest.param(
            lambda f: f.with_columns(direction=pl.lit(0, pl.Int8)), "direction", id="direction-0"
        ),
    ],
)
def test_counterfactual_broken_proposals_frame_raises_naming_the_column(
    change: Any, field: str
) -> None:
    with pytest.raises(ContractError) as raised:
        counterfactual_trades(change(proposals({})), bars(FLAT), fills=FILLS, charges=CHARGES)

    assert raised.value.field == field


def test_counterfactual_no_proposals_gives_an_empty_frame() -> None:
    result = counterfactual_trades(proposals({}).clear(), bars(FLAT), fills=FILLS, charges=CHARGES)

    assert result.is_empty()
    assert result.schema == pl.Schema(COUNTERFACTUAL_SCHEMA)
