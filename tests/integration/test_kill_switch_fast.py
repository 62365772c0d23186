"""``kitepilot kill``'s first step, fast (``orchestration.kill_now.halt``): against a real paper
exchange (paused at 11:00 IST of a past day, on a free port) and a store on disk, the switch is
recorded engaged on the exchange's market time, exactly as the store itself records it, by a
process that has imported neither SQLAlchemy nor ``requests`` — and then goes on at a lower
priority, leaving the CPU to the running executor that makes the account flat."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from data_contracts.config import KitepilotConfig
from data_contracts.errors import ContractError
from data_contracts.timeutil import IST, UTC
from execution.paper.exchange_clock import ExchangeClock
from execution.store import OmsStore, SqlStore
from orchestration.kill_now import halt, market_now
from tests.paper_process import ADMIN, paper_config, paused_exchange, run_new_process

DAY = date(2026, 8, 18)  # a past Tuesday: the system clock is nowhere near it
MARKET = datetime(2026, 8, 18, 11, 0, tzinfo=IST)
# The entry point's halt in a new process, then what it had imported and its niceness.
_HALT_IN_A_NEW_PROCESS = """
import json, os, sys
from orchestration.entry import _halt_first
_halt_first(["--reason", "drill", "--by", "guard"])
print("AFTER=" + json.dumps({
    "modules": sorted({m.split(".")[0] for m in sys.modules}),
    "niceness": os.nice(0),
}))
"""


@pytest.fixture
def exchange_port() -> Iterator[int]:
    with paused_exchange(MARKET, [408065]) as port:
        yield port


def _config(tmp_path: Path, port: int, database: str = "kitepilot.db") -> KitepilotConfig:
    return paper_config(tmp_path, port, database)


def _existing_store(config: KitepilotConfig) -> None:
    config.storage.var_dir.mkdir(parents=True, exist_ok=True)
    SqlStore.open(config.storage.database_url).close()  # created and migrated, as in use


def _stored_rows(url: str) -> list[tuple[object, ...]]:
    with SqlStore.open(url) as store, store.engine.connect() as connection:
        query = text("SELECT engaged, ts_event, actor, reason FROM kill_switch_events")
        return [tuple(row) for row in connection.execute(query)]


def test_market_now_reads_the_time_exchange_clock_reads(exchange_port: int) -> None:
    clock = ExchangeClock(f"http://127.0.0.1:{exchange_port}", ADMIN)

    assert market_now("127.0.0.1", exchange_port, ADMIN) == clock.now() == MARKET
    assert market_now("127.0.0.1", exchange_port, ADMIN).tzinfo is UTC


def test_market_now_refused_or_unreachable_names_the_url(exchange_port: int) -> None:
    with pytest.raises(ContractError, match=f"127.0.0.1:{exchange_port}/_paper/clock"):
        market_now("127.0.0.1", exchange_port, "not-the-admin-token")
    with pytest.raises(ContractError, match="market time"):
        market_now("127.0.0.1", 1, ADMIN)  # nothing listens on port 1


def test_halt_records_the_row_the_store_would_on_the_market_time_once(
    tmp_path: Path, exchange_port: int
) -> None:
    config = _config(tmp_path, exchange_port)
    _existing_store(config)
    reference = _config(tmp_path, exchange_port, "reference.db")
    with SqlStore.open(reference.storage.database_url) as store:
        OmsStore.of(store).record_kill_switch(True, MARKET.astimezone(UTC), "cli", "drill")

    first = halt(config, "cli", "drill")
    again = halt(config, "someone else", "again")

    with SqlStore.open(config.storage.database_url) as store:
        state = OmsStore.of(store).kill_switch()
    assert (first, again) == (True, False)
    assert (state.engaged, state.ts_event, state.actor, state.reason) == (
        True,
        MARKET,
        "cli",
        "drill",
    )
    # the same text in the same columns as the store's own write: nothing reads it differently
    assert _stored_rows(config.storage.database_url) == _stored_rows(reference.storage.database_url)


def test_halt_on_a_database_not_created_yet_creates_and_migrates_it(
    tmp_path: Path, exchange_port: int
) -> None:
    config = _config(tmp_path, exchange_port)

    assert halt(config, "cli", "drill")

    with SqlStore.open(config.storage.database_url) as store:
        assert OmsStore.of(store).kill_switch().ts_event == MARKET


def test_halt_on_a_database_not_migrated_yet_migrates_it(
    tmp_path: Path, exchange_port: int
) -> None:
    config = _config(tmp_path, exchange_port)
    config.storage.var_dir.mkdir(parents=True)
    (config.storage.var_dir / "kitepilot.db").touch()  # an empty SQLite file: no tables

    assert halt(config, "cli", "drill")

    with SqlStore.open(config.storage.database_url) as store:
        assert OmsStore.of(store).kill_switch().engaged


def test_halt_in_a_new_process_imports_no_sqlalchemy_nor_requests_then_lowers_its_priority(
    tmp_path: Path, exchange_port: int
) -> None:
    config = _config(tmp_path, exchange_port)
    _existing_store(config)
    done = run_new_process(_HALT_IN_A_NEW_PROCESS, tmp_path, exchange_port)
    (line,) = [x for x in done.stdout.splitlines() if x.startswith("AFTER=")]
    after = json.loads(line.removeprefix("AFTER="))

    assert done.returncode == 0, done.stderr
    assert "KILL SWITCH: halted" in done.stdout
    with SqlStore.open(config.storage.database_url) as store:
        assert OmsStore.of(store).kill_switch().ts_event == MARKET
    assert {"sqlalchemy", "alembic", "polars", "requests"}.isdisjoint(after["modules"])
    assert after["niceness"] >= os.nice(0) + 10
