"""The streaming worker's equity entry is the batch rule: on the batch ``features`` table of the
streaming tests' world (every simulated day, every stock), each feature row decided as a closed
bar by ``LiveStrategy.equity_rows`` gives exactly the entries ``equity_intraday_entries`` gives
for it — the same decision points, sides, levels and deadlines — priced and sized as the
backtest engine prices and sizes them."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import polars as pl
import pytest

from data_contracts.enums import Product, Side
from data_contracts.nse_calendar import NseCalendar
from data_contracts.ports import Scores
from execution.paper.market_lake import lake_instruments
from models.backtest import size_lots
from models.live import LiveStrategy
from models.live.batch_decisions import decision_items
from models.strategies import equity_intraday_entries, equity_swing_entries
from orchestration.model_settings import live_settings
from tests.stream_world import REPLAY_DAY, World, session_base, stream_world

pytestmark = pytest.mark.slow

KEYS = ["instrument_token", "ts_event"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return stream_world(session_base(tmp_path_factory))


@dataclass
class TakeEverything:
    """Scores every point as a sure, large win, so every tradable bar makes a proposal."""

    feature_version: str
    model_version: str = "1"

    def score(self, features: pl.DataFrame) -> Scores:
        rows = features.height
        return Scores(p_win=[1.0] * rows, expected_return=[50.0] * rows)


def _tables(world: World) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The world's features and candles of every day, and the replayed day's instruments."""
    instruments = world.lake.read("instruments", REPLAY_DAY)
    assert instruments is not None
    return _table(world, "features"), _table(world, "candles_1m"), instruments


def _table(world: World, table: str) -> pl.DataFrame:
    frames = [world.lake.read(table, day) for day in world.lake.days(table)]
    return pl.concat([frame for frame in frames if frame is not None], how="vertical_relaxed")


def test_live_equity_entries_equal_the_batch_rule_on_the_features_table(world: World) -> None:
    calendar = NseCalendar.default()
    settings = live_settings(world.config(), calendar)
    feature_set = settings.feature_set
    features, candles, instruments = _tables(world)
    batch = equity_intraday_entries(
        features,
        candles,
        instruments,
        feature_set=feature_set,
        params=settings.equity,
        calendar=calendar,
    )
    # The backtest engine's pricing of those entries: the fill model's marketable LIMIT, levels
    # on the right side of the close, a fill within the limit, sized at the limit.
    priced = batch.join(
        candles.select(*KEYS, "close"),
        left_on=["instrument_token", "ts_decision"],
        right_on=KEYS,
        how="inner",
    )
    long = priced["direction"].to_numpy() > 0
    close = priced["close"].to_numpy()
    nan = np.full(priced.height, np.nan)
    tick = priced["tick_size"].to_numpy()
    fill, limit = settings.fills.entry_prices(long, close, nan, nan, tick)
    take_profit, stop_loss = priced["take_profit"].to_numpy(), priced["stop_loss"].to_numpy()
    leverage = np.full(priced.height, settings.portfolio.leverage_of("intraday"))
    lots = size_lots(limit, stop_loss, priced["lot_size"].to_numpy(), leverage, settings.portfolio)
    tradable = (
        np.where(
            long,
            (stop_loss < close) & (close < take_profit),
            (take_profit < close) & (close < stop_loss),
        )
        & np.where(long, fill <= limit, fill >= limit)
        & (lots >= 1)
    )
    expected = {
        (int(row["instrument_token"]), row["ts_decision"]): (row, float(f), float(lim), int(n))
        for row, f, lim, n, ok in zip(
            priced.iter_rows(named=True), fill, limit, lots, tradable, strict=True
        )
        if ok
    }

    # Every feature row of every instrument (stocks, the index, whatever the table has), each
    # decided as the closed bar it is.
    rows = features.join(candles.select(*KEYS, "open", "high", "low", "close", "volume"), on=KEYS)
    strategy = LiveStrategy(
        settings, {int(i.instrument_token): i for i in lake_instruments(world.lake, REPLAY_DAY)}
    )
    items = decision_items(rows, feature_set.columns, TakeEverything(feature_set.version))
    decided = strategy.equity_rows(items)
    live = {(c.point.instrument_token, c.point.ts_event): c for c in decided if c is not None}

    assert len(expected) > 1_000
    assert set(live) == set(expected)
    refused = 0
    for key, candidate in live.items():
        entry, fill_price, limit_price, size = expected[key]
        point, proposal = candidate.point, candidate.proposal
        assert (point.direction, point.entry_price, point.limit_price, point.lots) == (
            entry["direction"],
            fill_price,
            limit_price,
            size,
        ), key
        if proposal is None:  # a limit beyond its own stop: the proposal contract refuses it
            assert "limit_price" in candidate.why_not, key
            refused += 1
            continue
        assert (proposal.take_profit, proposal.stop_loss, proposal.time_exit) == (
            entry["take_profit"],
            entry["stop_loss"],
            entry["exit_deadline"],
        ), key
    assert refused < len(live) // 10


def test_live_swing_entries_equal_the_batch_swing_rule_on_the_features_table(world: World) -> None:
    calendar = NseCalendar.default()
    enabled = replace(live_settings(world.config(), calendar).swing, enabled=True)
    settings = replace(live_settings(world.config(), calendar), swing=enabled)
    feature_set = settings.feature_set
    features, candles, instruments = _tables(world)
    batch = equity_swing_entries(
        features,
        candles,
        instruments,
        feature_set=feature_set,
        params=settings.swing,
        calendar=calendar,
    ).join(
        candles.select(*KEYS, "close"),
        left_on=["instrument_token", "ts_decision"],
        right_on=KEYS,
        how="inner",
    )
    close = batch["close"].to_numpy()
    nan = np.full(batch.height, np.nan)
    fill, limit = settings.fills.entry_prices(
        np.ones(batch.height, dtype=bool), close, nan, nan, batch["tick_size"].to_numpy()
    )
    # delivery is paid in full: leverage 1
    lots = size_lots(
        limit,
        batch["stop_loss"].to_numpy(),
        batch["lot_size"].to_numpy(),
        np.ones(batch.height),
        settings.portfolio,
    )
    expected = {
        (int(row["instrument_token"]), row["ts_decision"]): (row, float(lim), int(n))
        for row, f, lim, n in zip(batch.iter_rows(named=True), fill, limit, lots, strict=True)
        if n >= 1 and f <= lim and row["stop_loss"] < row["close"] < row["take_profit"]
    }

    strategy = LiveStrategy(
        settings, {int(i.instrument_token): i for i in lake_instruments(world.lake, REPLAY_DAY)}
    )
    rows = features.join(candles.select(*KEYS, "open", "high", "low", "close", "volume"), on=KEYS)
    decided = strategy.swing_rows(
        decision_items(rows, feature_set.columns, TakeEverything(feature_set.version))
    )
    live = {(c.point.instrument_token, c.point.ts_event): c for c in decided if c is not None}

    days = {ts.date() for _, ts in expected}
    assert len(days) > 3, "a decision on most simulated days"
    assert set(live) == set(expected)
    for key, candidate in live.items():
        entry, limit_price, size = expected[key]
        proposal = candidate.proposal
        assert proposal is not None, candidate.why_not
        assert (proposal.side, proposal.product, proposal.strategy_id.value) == (
            Side.BUY,
            Product.CNC,
            "equity-swing",
        )
        assert (proposal.limit_price, proposal.lots) == (limit_price, size), key
        assert (proposal.take_profit, proposal.stop_loss, proposal.time_exit) == (
            entry["take_profit"],
            entry["stop_loss"],
            entry["exit_deadline"],
        ), key
