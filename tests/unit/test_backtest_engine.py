"""Specification of the per-trade simulation (``simulate_trades``): hand-computed fills and exits,
sizing, charges equal to the scalar charges model, skips, and input validation."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl
import pytest

from data_contracts.charges import ChargesModel
from data_contracts.enums import ChargeSegment, Side
from data_contracts.errors import ContractError
from data_contracts.schemas import UTC_TIMESTAMP
from models.backtest import ENTRY_SCHEMA, FillModel, Portfolio, simulate_trades

# Monday 2025-06-16; bar i closes at 09:16 + i minutes IST (03:46 UTC).
T0 = dt.datetime(2025, 6, 16, 3, 46, tzinfo=dt.UTC)
TOKEN = 408065
# Spread 2 bps (half: 1 bp), slippage 2 bps, limit buffer 10 bps: the defaults.
FILLS = FillModel()
NO_COSTS = FillModel(spread_bps=0, slippage_bps=0, limit_buffer_bps=10)
PORTFOLIO = Portfolio(capital=1_000_000, per_trade_risk=1_000)
MODEL = ChargesModel.default()
FLAT = (100.0, 100.1, 99.9, 100.0)


def minute(i: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=i)


def bars(ohlc: list[tuple[float, float, float, float]], token: int = TOKEN) -> pl.DataFrame:
    """One instrument's bars: (open, high, low, close) closing at minute(0), minute(1), ..."""
    return pl.DataFrame(
        {
            "instrument_token": [token] * len(ohlc),
            "ts_event": [minute(i) for i in range(len(ohlc))],
            "open": [b[0] for b in ohlc],
            "high": [b[1] for b in ohlc],
            "low": [b[2] for b in ohlc],
            "close": [b[3] for b in ohlc],
        },
        schema_overrides={"ts_event": UTC_TIMESTAMP},
    )


def entries(*rows: dict[str, Any]) -> pl.DataFrame:
    """Entries with a default for every column: long at minute(0), TP 101, SL 99, 1 lot."""
    defaults: dict[str, Any] = {
        "instrument_token": TOKEN,
        "ts_decision": minute(0),
        "direction": 1,
        "take_profit": 101.0,
        "stop_loss": 99.0,
        "exit_deadline": minute(10),
        "deadline_reason": "time",
        "lot_size": 1,
        "tick_size": 0.05,
        "segment": "intraday",
        "lots": 1,
    }
    return pl.DataFrame(
        [defaults | row for row in rows],
        schema_overrides=ENTRY_SCHEMA,
    )


def one_trade(
    ohlc: list[tuple[float, float, float, float]], fills: FillModel = FILLS, **entry: Any
) -> dict[str, Any]:
    result = simulate_trades(bars(ohlc), entries(entry), fills=fills, portfolio=PORTFOLIO)
    assert result.skipped.is_empty()
    return result.trades.row(0, named=True)


# --- exits, hand-computed -------------------------------------------------------------------------
# Long entry at close 100: ask = 100 x 1.0001, + slippage x 1.0002 = 100.030002 -> up to 100.05.


@pytest.mark.parametrize(
    ("bar1", "exit_price", "reason"),
    [
        # TP 101 reached: a resting limit fills at 101, no slippage.
        ((100.2, 101.2, 100.1, 101.0), 101.0, "take_profit"),
        # Opened above the TP: filled at the open.
        ((101.5, 101.8, 101.2, 101.6), 101.5, "take_profit"),
        # SL 99 reached: 99 x (1 - 0.0002) = 98.9802 -> down to 98.95.
        ((99.8, 100.0, 98.9, 99.0), 98.95, "stop_loss"),
        # Both in one bar: the stop is assumed first.
        ((100.0, 101.5, 98.5, 100.0), 98.95, "stop_loss"),
        # Gap through the stop: open 98 x 0.9998 = 97.9804 -> 97.95.
        ((98.0, 98.5, 97.5, 98.2), 97.95, "stop_loss"),
    ],
)
def test_simulate_trades_long_level_hit_fills_by_the_rules(
    bar1: tuple[float, float, float, float], exit_price: float, reason: str
) -> None:
    trade = one_trade([FLAT, bar1, FLAT])

    assert (trade["entry_price"], trade["exit_price"]) == (100.05, exit_price)
    assert (trade["exit_reason"], trade["bars_held"], trade["ts_exit"]) == (reason, 1, minute(1))


@pytest.mark.parametrize(
    ("bar1", "exit_price", "reason"),
    [
        # Short at close 100: bid 99.99 x 0.9998 = 99.970002 -> down to 99.95. TP 99, SL 101.
        ((99.8, 99.9, 98.9, 99.0), 99.0, "take_profit"),
        ((98.5, 98.8, 98.2, 98.6), 98.5, "take_profit"),
        # SL 101 x 1.0002 = 101.0202 -> up to 101.05.
        ((100.2, 101.1, 100.0, 101.0), 101.05, "stop_loss"),
        ((100.0, 101.5, 98.5, 100.0), 101.05, "stop_loss"),
        # Gap up through the stop: open 102 x 1.0002 = 102.0204 -> 102.05.
        ((102.0, 102.5, 101.8, 102.2), 102.05, "stop_loss"),
    ],
)
def test_simulate_trades_short_mirrors_long(
    bar1: tuple[float, float, float, float], exit_price: float, reason: str
) -> None:
    trade = one_trade([FLAT, bar1, FLAT], direction=-1, take_profit=99.0, stop_loss=101.0)

    assert (trade["entry_price"], trade["exit_price"], trade["exit_reason"]) == (
        99.95,
        exit_price,
        reason,
    )
    assert trade["gross_pnl"] == pytest.approx(99.95 - exit_price)


@pytest.mark.parametrize("reason", ["time", "square_off", "expiry"])
def test_simulate_trades_nothing_hit_exits_at_deadline_bar_close_with_its_reason(
    reason: str,
) -> None:
    ohlc = [FLAT, FLAT, FLAT, (100.0, 100.6, 99.9, 100.5), FLAT]

    trade = one_trade(ohlc, exit_deadline=minute(3), deadline_reason=reason)

    # Market sell at 100.5 x 0.9999 (half spread) x 0.9998 (slippage) = 100.469849... -> 100.45.
    assert (trade["exit_price"], trade["exit_reason"]) == (100.45, reason)
    assert (trade["ts_exit"], trade["bars_held"]) == (minute(3), 3)


def test_simulate_trades_deadline_between_bars_exits_at_first_bar_after_it() -> None:
    ohlc = [FLAT, FLAT, (100.0, 100.3, 99.9, 100.2), FLAT]

    trade = one_trade(ohlc, NO_COSTS, exit_deadline=minute(1) + dt.timedelta(seconds=30))

    assert (trade["ts_exit"], trade["exit_price"], trade["exit_reason"]) == (
        minute(2),
        100.2,
        "time",
    )


def test_simulate_trades_level_hit_in_deadline_bar_wins_over_deadline() -> None:
    trade = one_trade([FLAT, FLAT, (100.0, 101.2, 99.9, 100.2), FLAT], exit_deadline=minute(2))

    assert (trade["exit_reason"], trade["exit_price"]) == ("take_profit", 101.0)


def test_simulate_trades_level_after_deadline_is_never_seen() -> None:
    trade = one_trade([FLAT, FLAT, (100.0, 101.2, 98.0, 100.2)], exit_deadline=minute(1))

    assert (trade["exit_reason"], trade["ts_exit"]) == ("time", minute(1))


def test_simulate_trades_data_ends_before_deadline_exits_at_last_close() -> None:
    trade = one_trade([FLAT, FLAT, (100.0, 100.3, 99.9, 100.2)], NO_COSTS)

    assert (trade["exit_reason"], trade["ts_exit"], trade["exit_price"]) == (
        "end_of_data",
        minute(2),
        100.2,
    )


def test_simulate_trades_decision_on_last_bar_exits_at_same_close() -> None:
    trade = one_trade([FLAT, FLAT], NO_COSTS, ts_decision=minute(1))

    assert (trade["exit_reason"], trade["bars_held"], trade["exit_price"]) == (
        "end_of_data",
        0,
        100.0,
    )


def test_simulate_trades_bid_ask_columns_price_entry_and_market_exit() -> None:
    quoted = bars([FLAT, FLAT, FLAT]).with_columns(
        pl.Series("bid", [99.95, 99.9, 100.3]), pl.Series("ask", [100.05, 100.1, 100.4])
    )

    result = simulate_trades(
        quoted, entries({"exit_deadline": minute(2)}), fills=NO_COSTS, portfolio=PORTFOLIO
    )

    # Buys at the ask, sells at the bid of the deadline bar (never at the close).
    assert result.trades.select("entry_price", "exit_price").row(0) == (100.05, 100.3)


@pytest.mark.parametrize(
    ("entry", "fill"),
    [
        # Ask 101 (1 % over the close): the BUY limit goes through the quote, not the close
        # (which would be 100.10 and never fill); 101 x 1.0002 rounds up to 101.05.
        ({}, 101.05),
        # Bid 99: the SELL limit goes through the bid; 99 x 0.9998 rounds down to 98.95.
        ({"direction": -1, "take_profit": 97.0, "stop_loss": 101.5}, 98.95),
    ],
)
def test_simulate_trades_quoted_wide_spread_entry_limit_goes_through_the_quote(
    entry: dict[str, Any], fill: float
) -> None:
    quoted = bars([FLAT, FLAT]).with_columns(
        pl.Series("bid", [99.0, 99.0]), pl.Series("ask", [101.0, 101.0])
    )

    result = simulate_trades(
        quoted, entries({"take_profit": 103.0} | entry), fills=FILLS, portfolio=PORTFOLIO
    )

    assert result.skipped.is_empty()
    assert result.trades["entry_price"].to_list() == [fill]


# --- entry skips and sizing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fills", "entry", "reason"),
    [
        # Half spread 10 bps + 2 bps slippage: 100.12 -> 100.15, beyond the limit 100.10.
        (FillModel(spread_bps=20), {}, "limit_not_filled"),
        # Short: 100 x 0.999 x 0.9998 = 99.88 -> 99.85, below the limit 99.90.
        (
            FillModel(spread_bps=20),
            {"direction": -1, "take_profit": 99.0, "stop_loss": 101.0},
            "limit_not_filled",
        ),
        # Loss per lot at the stop 100.05 - 99 = 1.05 > per-trade risk 1 (with 1-unit lots).
        (FILLS, {"lots": None, "stop_loss": 99.0}, "too_small_for_one_lot"),
        # Capital x leverage 1e6 x 5 cannot buy one lot of 60,000 units at 100.05.
        (FILLS, {"lots": None, "lot_size": 60_000, "stop_loss": 99.99}, "too_small_for_one_lot"),
        (FILLS, {"stop_loss": 100.0}, "invalid_levels"),
        (FILLS, {"take_profit": 99.5}, "invalid_levels"),
        (FILLS, {"direction": -1}, "invalid_levels"),
    ],
)
def test_simulate_trades_entry_that_cannot_trade_is_skipped_with_reason(
    fills: FillModel, entry: dict[str, Any], reason: str
) -> None:
    portfolio = Portfolio(capital=1_000_000, per_trade_risk=1.0)

    result = simulate_trades(
        bars([FLAT, FLAT]), entries(entry | {"note": "kept"}), fills=fills, portfolio=portfolio
    )

    assert result.trades.is_empty()
    assert result.skipped.select("reason", "note").row(0) == (reason, "kept")


@pytest.mark.parametrize(
    ("per_trade_risk", "capital", "lot_size", "segment", "cap", "lots"),
    [
        # Sized at the limit (100.10; the fill is 100.05): floor(1000 / (1.10 x 1)) = 909 lots.
        (1_000, 1_000_000, 1, "intraday", None, 909),
        # floor(1000 / (1.10 x 50)) = 18 lots.
        (1_000, 1_000_000, 50, "futures", None, 18),
        # Capped: 20,000 x 5 / 100.10 = 999.0 -> 999 lots (intraday leverage 5).
        (1_000_000, 20_000, 1, "intraday", None, 999),
        # Futures have no leverage in the mapping (1.0): 20,000 / (100.10 x 50) = 3.99 -> 3 lots.
        (1_000_000, 20_000, 50, "futures", None, 3),
        # The position cap (the risk engine's exposure limit): 6,000 / 100.10 = 59.9 -> 59 lots.
        (1_000, 1_000_000, 1, "intraday", 6_000, 59),
        # A cap below one lot's notional: not even one lot (5,000 / (100.10 x 50) < 1).
        (1_000_000, 1_000_000, 50, "futures", 5_000, 0),
    ],
)
def test_simulate_trades_null_lots_sized_by_risk_capped_by_capital_and_position_cap(
    per_trade_risk: float,
    capital: float,
    lot_size: int,
    segment: str,
    cap: float | None,
    lots: int,
) -> None:
    portfolio = Portfolio(capital=capital, per_trade_risk=per_trade_risk, max_position_notional=cap)
    frame = entries({"lots": None, "lot_size": lot_size, "segment": segment})

    result = simulate_trades(bars([FLAT, FLAT]), frame, fills=FILLS, portfolio=portfolio)

    if lots == 0:
        assert result.trades.is_empty()
        assert result.skipped.get_column("reason").to_list() == ["too_small_for_one_lot"]
    else:
        assert result.trades.select("lots", "quantity").row(0) == (lots, lots * lot_size)


def test_simulate_trades_given_lots_are_traded_as_given() -> None:
    frame = entries({"lots": 7, "lot_size": 25, "segment": "options"})

    trade = simulate_trades(bars([FLAT, FLAT]), frame, fills=FILLS, portfolio=PORTFOLIO).trades

    assert trade.select("lots", "quantity").row(0) == (7, 175)


# --- P&L and charges ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("segment", "direction", "lot_size", "lots", "exit_day"),
    [
        ("intraday", 1, 1, 300, 0),
        ("intraday", -1, 1, 300, 0),
        ("futures", 1, 75, 2, 1),
        ("futures", -1, 75, 2, 1),
        ("options", 1, 65, 3, 0),
        ("delivery", 1, 1, 40, 3),
    ],
)
def test_simulate_trades_charges_equal_scalar_charges_model(
    segment: str, direction: int, lot_size: int, lots: int, exit_day: int
) -> None:
    # The exit bar is `exit_day` days later (a leg is priced on its own IST day).
    frame = bars([FLAT, FLAT, (100.0, 100.6, 99.9, 100.5)]).with_columns(
        pl.Series("ts_event", [minute(0), minute(1), minute(2) + dt.timedelta(days=exit_day)])
    )
    levels = (
        {"take_profit": 105.0, "stop_loss": 95.0}
        if direction == 1
        else {
            "take_profit": 95.0,
            "stop_loss": 105.0,
        }
    )
    entry = entries(
        {"direction": direction, "segment": segment, "lot_size": lot_size, "lots": lots}
        | levels
        | {"exit_deadline": minute(2) + dt.timedelta(days=exit_day)}
    )

    trade = simulate_trades(frame, entry, fills=FILLS, portfolio=PORTFOLIO).trades.row(
        0, named=True
    )

    quantity, entry_price, exit_price = lots * lot_size, trade["entry_price"], trade["exit_price"]
    buy, sell = (entry_price, exit_price) if direction == 1 else (exit_price, entry_price)
    entry_day, sell_day = minute(0).date(), (minute(2) + dt.timedelta(days=exit_day)).date()
    buy_day, sell_day = (entry_day, sell_day) if direction == 1 else (sell_day, entry_day)
    if segment == "intraday":
        expected = MODEL.round_trip(ChargeSegment(segment), buy, sell, quantity, buy_day)
    else:
        expected = MODEL.leg(ChargeSegment(segment), Side.BUY, buy, quantity, buy_day) + MODEL.leg(
            ChargeSegment(segment), Side.SELL, sell, quantity, sell_day
        )
        if segment == "delivery":
            expected += MODEL.dp_charge(sell_day)
    gross = direction * (exit_price - entry_price) * quantity
    assert trade["charges"] == pytest.approx(float(expected.total), abs=1e-6)
    assert trade["gross_pnl"] == pytest.approx(gross, abs=1e-9)
    assert trade["net_pnl"] == pytest.approx(gross - float(expected.total), abs=1e-6)
    assert trade["net_return_pct"] == pytest.approx(
        trade["net_pnl"] / (entry_price * quantity) * 100
    )


def test_simulate_trades_outputs_passthrough_and_outcome_columns_in_input_order() -> None:
    frame = entries(
        {"ts_decision": minute(1), "signal_id": "b"}, {"ts_decision": minute(0), "signal_id": "a"}
    )

    trades = simulate_trades(bars([FLAT] * 4), frame, fills=FILLS, portfolio=PORTFOLIO).trades

    assert trades["signal_id"].to_list() == ["b", "a"]
    assert trades["ts_entry"].to_list() == [minute(1), minute(0)]
    assert trades.columns == [
        *frame.columns,
        "ts_entry",
        "ts_exit",
        "quantity",
        "entry_price",
        "exit_price",
        "exit_reason",
        "bars_held",
        "gross_pnl",
        "charges",
        "net_pnl",
        "net_return_pct",
    ]


def test_simulate_trades_many_instruments_each_trade_sees_only_its_bars() -> None:
    both = pl.concat(
        [bars([FLAT, (100.0, 101.5, 99.9, 101.0)], 7), bars([FLAT, (100, 100.1, 98.0, 98.5)], 9)]
    )
    frame = entries({"instrument_token": 9}, {"instrument_token": 7})

    trades = simulate_trades(both, frame, fills=FILLS, portfolio=PORTFOLIO).trades

    assert trades["exit_reason"].to_list() == ["stop_loss", "take_profit"]


def test_simulate_trades_no_entries_returns_empty_tables_with_columns() -> None:
    result = simulate_trades(bars([FLAT]), entries({}).clear(), fills=FILLS, portfolio=PORTFOLIO)

    assert result.trades.is_empty()
    assert result.skipped.is_empty()
    assert {"exit_reason", "net_pnl", "ts_exit"} <= set(result.trades.columns)
    assert "reason" in result.skipped.columns


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change_bars", "change_entries", "owner", "field"),
    [
        (lambda b: b.drop("low"), None, "bars", "low"),
        (lambda b: b.with_columns(pl.col("close").cast(pl.String)), None, "bars", "close"),
        (
            lambda b: b.with_columns(pl.col("ts_event").dt.replace_time_zone(None)),
            None,
            "bars",
            "ts_event",
        ),
        (lambda b: b.with_columns(pl.lit(0.0).alias("low")), None, "bars", "low"),
        (lambda b: b.with_columns(pl.lit(float("nan")).alias("close")), None, "bars", "close"),
        (lambda b: b.with_columns(pl.lit(99.0).alias("high")), None, "bars", "high"),
        (lambda b: pl.concat([b, b.head(1)]), None, "bars", "ts_event"),
        (lambda b: b.with_columns(pl.lit(-1.0).alias("bid")), None, "bars", "bid"),
        (None, lambda e: e.drop("segment"), "entries", "segment"),
        (None, lambda e: e.with_columns(pl.lit("cash").alias("segment")), "entries", "segment"),
        (
            None,
            lambda e: e.with_columns(pl.lit("eod").alias("deadline_reason")),
            "entries",
            "deadline_reason",
        ),
        (
            None,
            lambda e: e.with_columns(ts_decision=pl.lit(minute(0) + dt.timedelta(seconds=30))),
            "entries",
            "ts_decision",
        ),
        (
            None,
            lambda e: e.with_columns(instrument_token=pl.lit(1, dtype=pl.Int64)),
            "entries",
            "ts_decision",
        ),
        (
            None,
            lambda e: e.with_columns(exit_deadline=pl.col("ts_decision")),
            "entries",
            "exit_deadline",
        ),
        (
            None,
            lambda e: e.with_columns(pl.lit(0, dtype=pl.Int8).alias("direction")),
            "entries",
            "direction",
        ),
        (
            None,
            lambda e: e.with_columns(pl.lit(float("nan")).alias("stop_loss")),
            "entries",
            "stop_loss",
        ),
        (
            None,
            lambda e: e.with_columns(pl.lit(-1.0).alias("take_profit")),
            "entries",
            "take_profit",
        ),
        (None, lambda e: e.with_columns(pl.lit(0.0).alias("tick_size")), "entries", "tick_size"),
        (
            None,
            lambda e: e.with_columns(pl.lit(0, dtype=pl.Int64).alias("lot_size")),
            "entries",
            "lot_size",
        ),
        (
            None,
            lambda e: e.with_columns(pl.lit(0, dtype=pl.Int64).alias("lots")),
            "entries",
            "lots",
        ),
        (
            None,
            lambda e: e.with_columns(pl.lit(None, dtype=pl.Float64).alias("take_profit")),
            "entries",
            "take_profit",
        ),
        (
            None,
            lambda e: e.with_columns(
                pl.lit("delivery").alias("segment"), pl.lit(-1, dtype=pl.Int8).alias("direction")
            ),
            "entries",
            "direction",
        ),
    ],
)
def test_simulate_trades_broken_input_raises_naming_frame_and_column(
    change_bars: Any, change_entries: Any, owner: str, field: str
) -> None:
    frame = bars([FLAT, FLAT, FLAT])
    entry = entries({})
    frame = change_bars(frame) if change_bars else frame
    entry = change_entries(entry) if change_entries else entry

    with pytest.raises(ContractError) as raised:
        simulate_trades(frame, entry, fills=FILLS, portfolio=PORTFOLIO)

    assert (raised.value.owner, raised.value.field) == (owner, field)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"spread_bps": -1.0}, "spread_bps"),
        ({"slippage_bps": float("nan")}, "slippage_bps"),
        ({"limit_buffer_bps": 10_000.0}, "limit_buffer_bps"),
    ],
)
def test_fill_model_bad_value_raises_naming_field(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(ContractError) as raised:
        FillModel(**kwargs)

    assert raised.value.field == field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"capital": 0.0}, "capital"),
        ({"per_trade_risk": -5.0}, "per_trade_risk"),
        ({"max_concurrent": 0}, "max_concurrent"),
        ({"leverage": {"cash": 2.0}}, "leverage"),
        ({"leverage": {"futures": 0.0}}, "leverage"),
    ],
)
def test_portfolio_bad_value_raises_naming_field(kwargs: dict[str, Any], field: str) -> None:
    arguments: dict[str, Any] = {"capital": 1e6, "per_trade_risk": 1e3} | kwargs

    with pytest.raises(ContractError) as raised:
        Portfolio(**arguments)

    assert raised.value.field == field


def test_portfolio_leverage_is_read_only_copy() -> None:
    given = {"futures": 4.0}
    portfolio = Portfolio(capital=1e6, per_trade_risk=1e3, leverage=given)
    given["futures"] = 10.0

    assert (portfolio.leverage_of("futures"), portfolio.leverage_of("options")) == (4.0, 1.0)
    with pytest.raises(TypeError):
        portfolio.leverage["futures"] = 2.0  # type: ignore[index]  # the write must fail


def test_simulate_trades_bars_in_any_row_order_give_same_trades() -> None:
    ohlc = [FLAT, (100.0, 100.6, 99.9, 100.5), (100.5, 101.2, 100.4, 101.1), FLAT]
    frame = entries({}, {"ts_decision": minute(1)})

    ordered = simulate_trades(bars(ohlc), frame, fills=FILLS, portfolio=PORTFOLIO).trades
    shuffled = simulate_trades(
        bars(ohlc).sample(fraction=1.0, shuffle=True, seed=3),
        frame,
        fills=FILLS,
        portfolio=PORTFOLIO,
    ).trades

    assert ordered.equals(shuffled)
    assert np.all(ordered["exit_reason"].to_numpy() == "take_profit")
