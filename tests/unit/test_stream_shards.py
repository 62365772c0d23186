"""Shards of the streaming worker: real Kite tokens spread over every shard (options stay with
their underlying), and the keyed step decides the bars every shard of a worker parked in one
decision, snapshots them, and drops a snapshot of another shard layout."""

from __future__ import annotations

import pickle
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from data_contracts.enums import InstrumentType
from data_contracts.instruments import parse_instruments_csv
from data_contracts.trading import Proposal
from models.live import (
    SHARDS,
    GroupProcessor,
    GroupState,
    ScoredPoint,
    Suppressed,
    shard_of,
)
from streaming.metrics import StreamMetrics
from streaming.step import ShardLogic, WorkerRuntime
from tests.factories import session_bars
from tests.unit.test_live_processor import (
    INFY_TOKEN,
    LIVE_BARS,
    LIVE_FROM,
    MINUTE,
    SIZE,
    _bars_ticks,
    _context,
    _history,
    _run,
)

NSE_DUMP = Path("kite-mocks") / "instruments_nse.csv"  # a real Kite dump: 99 NSE equities
NFO_DUMP = Path("instruments") / "kite_instruments_nfo_bfo_2026-08.csv"
RELIANCE = 738561  # RELIANCE on NSE, as Kite lists it


@pytest.fixture(scope="module")
def nse_equities(shared_fixtures: Path) -> list[int]:
    dump = parse_instruments_csv(shared_fixtures / NSE_DUMP)
    return [
        int(i.instrument_token)
        for i in dump
        if i.instrument_type is InstrumentType.EQ and i.segment == "NSE"
    ]


def test_real_nse_equities_share_a_low_byte_but_spread_over_every_shard(
    nse_equities: list[int],
) -> None:
    # A Kite token is exchange_token << 8 | segment: every NSE equity ends in the same byte, so
    # `token % 16` put them all in one shard and `-p N` could not split the stocks.
    assert len(nse_equities) == 99
    assert {token % SHARDS for token in nse_equities} == {1}

    per_shard = Counter(shard_of(token, {}) for token in nse_equities)

    assert set(per_shard) == set(range(SHARDS))
    assert max(per_shard.values()) <= 2 * len(nse_equities) / SHARDS


def test_options_are_in_their_underlyings_shard(shared_fixtures: Path) -> None:
    options = [
        int(i.instrument_token)
        for i in parse_instruments_csv(shared_fixtures / NFO_DUMP)
        if i.name == "RELIANCE" and i.instrument_type in (InstrumentType.CE, InstrumentType.PE)
    ]
    underlying_of = dict.fromkeys(options, RELIANCE)

    assert len(options) > 20
    assert {shard_of(token, underlying_of) for token in options} == {
        shard_of(RELIANCE, underlying_of)
    }


def test_shard_of_is_a_fixed_function_of_the_token() -> None:
    # The same in every process and Python run (recovery snapshots and `-p N` rely on it):
    # a fixed mixing hash, not `hash()`.
    assert [shard_of(t, {}) for t in (256265, 408065, 738561, 341249, 2953217)] == [
        13,
        7,
        0,
        3,
        3,
    ]


# --- the keyed step -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def infy_bars() -> pl.DataFrame:
    bars: pl.DataFrame = session_bars(INFY_TOKEN, LIVE_FROM + LIVE_BARS * MINUTE, SIZE + LIVE_BARS)
    return bars


def _runtime(infy_bars: pl.DataFrame) -> WorkerRuntime:
    context = _context(_history(infy_bars))
    return WorkerRuntime(context_factory=lambda: context, metrics=StreamMetrics())


def test_the_first_shard_notified_decides_every_shards_parked_bars(
    infy_bars: pl.DataFrame,
) -> None:
    expected = _run(
        GroupProcessor(_context(_history(infy_bars)), GroupState(key=INFY_TOKEN)),
        _bars_ticks(infy_bars, 1, 2),
    )
    runtime = _runtime(infy_bars)
    parking, other = ShardLogic(runtime, None), ShardLogic(runtime, None)

    refused, _ = parking.on_batch(list(_bars_ticks(infy_bars, 1, 2)))
    parked_at = parking.notify_at()
    decided, _ = other.on_notify()  # Bytewax notifies after every shard's on_batch
    again, _ = parking.on_notify()

    assert (list(refused), list(again)) == ([], [])
    assert parked_at is not None
    assert [type(item) for item in decided] == [ScoredPoint, Proposal, ScoredPoint, Suppressed]
    assert list(decided) == expected
    assert parking.notify_at() is None


def test_a_snapshot_keeps_parked_bars_and_another_layouts_snapshot_is_dropped(
    infy_bars: pl.DataFrame,
) -> None:
    expected = _run(
        GroupProcessor(_context(_history(infy_bars)), GroupState(key=INFY_TOKEN)),
        _bars_ticks(infy_bars, 1, 1),
    )
    logic = ShardLogic(_runtime(infy_bars), None)
    logic.on_batch(list(_bars_ticks(infy_bars, 1, 1)))
    snapshot = logic.snapshot()  # a bar parked, not yet decided

    resumed = ShardLogic(_runtime(infy_bars), snapshot)
    decided, discard = resumed.on_notify()
    old_layout = {INFY_TOKEN: GroupState(key=INFY_TOKEN)}  # layout 1: groups by key, no marker
    dropped = ShardLogic(_runtime(infy_bars), pickle.dumps(old_layout))

    assert list(decided) == expected
    assert not discard
    assert dropped.snapshot() == ShardLogic(_runtime(infy_bars), None).snapshot()
