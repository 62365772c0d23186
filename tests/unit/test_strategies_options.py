"""The long-options strategy: contract choice from the chain, the priced minute path, exits."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from data_contracts.charges import ChargesModel
from data_contracts.enums import ChargeSegment
from data_contracts.nse_calendar import NseCalendar
from data_contracts.schemas import UTC_TIMESTAMP
from models.backtest import FillModel, Portfolio
from models.labels import OPTION_CONTRACT_COLUMNS, label_option_trades
from models.option_math import black76_price
from models.strategies import LongOptionParams, long_option_trades, underlying_signals

NIFTY = 256265
DAY = date(2026, 8, 19)  # a Wednesday; NIFTY expiries on Tue 2026-08-25 and 2026-09-01
NEAR, NEXT = date(2026, 8, 25), date(2026, 9, 1)
OPEN_UTC = datetime(2026, 8, 19, 3, 45, tzinfo=UTC)  # 09:15 IST
SNAPSHOT = datetime(2026, 8, 19, 4, 0, tzinfo=UTC)  # 09:30 IST
RATE = 0.065
BASIS = 1.0005
CALENDAR = NseCalendar.default()


def _candles(day_open: datetime = OPEN_UTC, path: np.ndarray | None = None) -> pl.DataFrame:
    minutes = 375
    close = np.full(minutes, 24_000.0) if path is None else path
    open_ = np.concatenate([[close[0]], close[:-1]])
    return pl.DataFrame(
        {
            "instrument_token": [NIFTY] * minutes,
            "ts_event": [day_open + timedelta(minutes=m + 1) for m in range(minutes)],
            "open": open_,
            "high": np.maximum(open_, close) + 5.0,
            "low": np.minimum(open_, close) - 5.0,
            "close": close,
        },
        schema_overrides={"ts_event": UTC_TIMESTAMP},
    )


# token, expiry, strike, type, implied vol, open interest, quoted spread (rupees)
Contract = tuple[int, date, float, str, float, int, float]
CONTRACTS: list[Contract] = [
    (1001, NEAR, 24_200.0, "CE", 0.14, 500_000, 1.0),  # delta 0.34: in band, nearest 0.30
    (1002, NEAR, 24_100.0, "CE", 0.14, 500_000, 1.0),  # delta 0.42: above the band
    (1003, NEAR, 24_300.0, "CE", 0.14, 500_000, 1.0),  # delta 0.26: in band, farther
    (1004, NEAR, 23_800.0, "PE", 0.15, 500_000, 1.0),  # delta -0.32: the put in band
    (1005, NEXT, 24_300.0, "CE", 0.14, 500_000, 1.0),  # the later expiry
]
SPOT = 24_000.0


def _years(expiry: date, at: datetime) -> float:
    close = datetime(expiry.year, expiry.month, expiry.day, 10, 0, tzinfo=UTC)
    return (close - at).total_seconds() / (365 * 86_400)


def _chain(contracts: list[Contract], at: datetime = SNAPSHOT) -> pl.DataFrame:
    """A snapshot priced by Black-76 at the given vols, forward = spot x BASIS."""
    mids = [
        black76_price(
            SPOT * BASIS,
            c[2],
            _years(c[1], at),
            c[4],
            c[3] == "CE",
            math.exp(-RATE * _years(c[1], at)),
        )
        for c in contracts
    ]
    return pl.DataFrame(
        {
            "ts_event": [at] * len(contracts),
            "underlying_token": [NIFTY] * len(contracts),
            "instrument_token": [c[0] for c in contracts],
            "expiry": [c[1] for c in contracts],
            "strike": [c[2] for c in contracts],
            "option_type": [c[3] for c in contracts],
            "last_price": mids,
            "bid": [m - c[6] / 2 for m, c in zip(mids, contracts, strict=True)],
            "ask": [m + c[6] / 2 for m, c in zip(mids, contracts, strict=True)],
            "oi": [c[5] for c in contracts],
            "forward": [SPOT * BASIS] * len(contracts),
        },
        schema_overrides={"ts_event": UTC_TIMESTAMP},
    )


def _with(contract_id: int, **change: float) -> list[Contract]:
    index = {"oi": 5, "spread": 6}
    changed = []
    for c in CONTRACTS:
        row = list(c)
        if c[0] == contract_id:
            for name, value in change.items():
                row[index[name]] = value
        changed.append(tuple(row))
    return changed  # type: ignore[return-value]


def _instruments(tokens: list[int]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "instrument_token": tokens,
            "tick_size": [0.05] * len(tokens),
            "lot_size": [65] * len(tokens),
        }
    )


def _signal(at: datetime, direction: int) -> pl.DataFrame:
    return pl.DataFrame(
        {"instrument_token": [NIFTY], "ts_event": [at], "direction": [direction]},
        schema_overrides={"ts_event": UTC_TIMESTAMP, "direction": pl.Int8},
    )


def _trades(
    signals: pl.DataFrame,
    chain: pl.DataFrame | None = None,
    candles: pl.DataFrame | None = None,
    params: LongOptionParams | None = None,
):
    chain = _chain(CONTRACTS) if chain is None else chain
    return long_option_trades(
        signals,
        _candles() if candles is None else candles,
        chain,
        _instruments(chain["instrument_token"].unique().to_list()),
        params=params or LongOptionParams(min_oi=100_000),
        calendar=CALENDAR,
    )


@pytest.mark.parametrize(("direction", "token"), [(1, 1001), (-1, 1004)])
def test_choice_bullish_call_bearish_put_nearest_expiry_delta_nearest_band_middle(
    direction: int, token: int
) -> None:
    trades = _trades(_signal(SNAPSHOT + timedelta(minutes=5), direction))

    assert trades.contracts["instrument_token"].to_list() == [token]
    assert trades.entries["direction"].to_list() == [1]  # an option is always bought
    assert trades.entries["segment"].to_list() == [ChargeSegment.OPTIONS.value]


def test_choice_uses_only_snapshots_at_or_before_the_decision() -> None:
    # At 09:45 the preferred call has become illiquid; a decision before 09:45 cannot know.
    both = pl.concat(
        [_chain(CONTRACTS), _chain(_with(1001, oi=10), at=SNAPSHOT + timedelta(minutes=15))]
    )

    decided_between = _trades(_signal(SNAPSHOT + timedelta(minutes=10), 1), both)
    decided_after = _trades(_signal(SNAPSHOT + timedelta(minutes=16), 1), both)

    assert decided_between.contracts["instrument_token"].to_list() == [1001]
    assert decided_after.contracts["instrument_token"].to_list() == [1003]


def test_choice_refuses_a_stale_snapshot() -> None:
    trades = _trades(_signal(SNAPSHOT + timedelta(minutes=21), 1))

    assert trades.entries.is_empty()


@pytest.mark.parametrize(
    "change",
    [
        {"oi": 10},  # open interest under strategy min_oi
        {"spread": 15.0},  # a spread of ~15 % of the mid
    ],
)
def test_choice_skips_illiquid_contracts(change: dict[str, float]) -> None:
    trades = _trades(_signal(SNAPSHOT + timedelta(minutes=5), 1), _chain(_with(1001, **change)))

    assert trades.contracts["instrument_token"].to_list() == [1003]


def test_choice_deltas_are_the_chains_own() -> None:
    trades = _trades(_signal(SNAPSHOT, 1))

    assert trades.contracts["delta"][0] == pytest.approx(0.338, abs=1e-3)


def test_choice_moves_to_the_next_expiry_inside_the_exit_days_before_expiry() -> None:
    day_before_expiry = datetime(2026, 8, 25, 4, 0, tzinfo=UTC)
    chain = _chain(CONTRACTS, at=day_before_expiry)
    candles = _candles(datetime(2026, 8, 25, 3, 45, tzinfo=UTC))

    trades = _trades(_signal(day_before_expiry, 1), chain, candles)

    assert trades.contracts["instrument_token"].to_list() == [1005]


def test_bars_at_the_snapshot_minute_price_to_black76_of_the_snapshot() -> None:
    trades = _trades(_signal(SNAPSHOT, 1))
    bar = trades.bars.filter(pl.col("ts_event") == SNAPSHOT).row(0, named=True)
    years = _years(NEAR, SNAPSHOT)

    def price(spot: float) -> float:
        return black76_price(spot * BASIS, 24_200.0, years, 0.14, True, math.exp(-RATE * years))

    assert bar["close"] == pytest.approx(price(SPOT), rel=1e-9)  # the snapshot's own mid
    assert bar["high"] == pytest.approx(price(SPOT + 5.0), rel=1e-9)  # a call's high: spot high
    assert bar["low"] == pytest.approx(price(SPOT - 5.0), rel=1e-9)
    assert bar["ask"] - bar["bid"] == pytest.approx(1.0, rel=1e-9)


def test_bars_of_a_put_take_their_high_from_the_underlyings_low() -> None:
    trades = _trades(_signal(SNAPSHOT, -1))
    bar = trades.bars.filter(pl.col("ts_event") == SNAPSHOT).row(0, named=True)

    assert bar["high"] > bar["close"] > bar["low"]


def test_entries_exits_on_the_premium_and_the_fno_square_off() -> None:
    late = datetime(2026, 8, 19, 8, 0, tzinfo=UTC)  # 13:30 IST: 240 min passes the 15:25 cut
    chains = pl.concat([_chain(CONTRACTS), _chain(CONTRACTS, late)])
    trades = _trades(pl.concat([_signal(SNAPSHOT, 1), _signal(late, 1)]), chains)
    early, later = trades.entries.sort("ts_decision").iter_rows(named=True)
    premium = trades.bars.filter(pl.col("ts_event") == SNAPSHOT)["close"][0]

    assert early["take_profit"] == pytest.approx(math.ceil(premium * 1.5 / 0.05) * 0.05)
    assert early["stop_loss"] == pytest.approx(math.floor(premium * 0.6 / 0.05) * 0.05)
    assert (early["deadline_reason"], early["exit_deadline"]) == (
        "time",
        SNAPSHOT + timedelta(minutes=240),
    )
    assert (later["deadline_reason"], later["exit_deadline"]) == (
        "square_off",
        datetime(2026, 8, 19, 9, 55, tzinfo=UTC),
    )


def test_labels_a_rally_takes_profit_on_the_call_after_option_charges() -> None:
    rally = np.concatenate([np.full(15, 24_000.0), np.linspace(24_000.0, 24_600.0, 360)])
    trades = _trades(_signal(SNAPSHOT, 1), candles=_candles(path=rally))

    labels = label_option_trades(
        trades,
        fills=FillModel(),
        portfolio=Portfolio(capital=100_000, per_trade_risk=5_000),
    )

    row = labels.row(0, named=True)
    expected = ChargesModel.default().round_trip(
        ChargeSegment.OPTIONS, row["entry_price"], row["exit_price"], row["quantity"], DAY
    )
    assert row["exit_reason"] == "take_profit"
    assert row["win"]
    assert row["charges"] == pytest.approx(float(expected.total), abs=1e-6)
    assert {c: row[c] for c in ("underlying_token", "option_type")} == {
        "underlying_token": NIFTY,
        "option_type": "CE",
    }
    assert set(OPTION_CONTRACT_COLUMNS) <= set(labels.columns)


def test_underlying_signals_only_underlyings_with_a_chain_on_the_trend_side() -> None:
    features = pl.DataFrame(
        {
            "instrument_token": [NIFTY, NIFTY, 738561],
            "ts_event": [SNAPSHOT, SNAPSHOT + timedelta(minutes=1), SNAPSHOT],
            "macd_hist_rel": [0.001, -0.002, 0.003],
        },
        schema_overrides={"ts_event": UTC_TIMESTAMP},
    )

    signals = underlying_signals(features, _chain(CONTRACTS))

    assert signals["instrument_token"].to_list() == [NIFTY, NIFTY]
    assert signals["direction"].to_list() == [1, -1]
