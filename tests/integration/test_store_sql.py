"""SqlStore on real databases — SQLite files and a PostgreSQL server (every test that takes the
``store`` fixture runs on both): migrations, idempotency under concurrency, the proposal lifecycle
rules, trades, dead letters and metrics."""

from __future__ import annotations

import inspect
import io
import multiprocessing
import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine

from data_contracts.enums import DeadLetterReason, ProposalStatus, Verdict
from data_contracts.errors import ContractError
from data_contracts.ids import DecisionId, InstrumentToken, ProposalId
from data_contracts.ports import FeedLog, ProposalStore, TradeBook
from data_contracts.timeutil import IST
from execution.store import SqlStore
from execution.store.sql import alembic_config, head_revision
from execution.store.tables import metadata, proposal_events, proposals
from tests.factories import (
    T0,
    dead_letter,
    decision,
    exit_proposal,
    open_trade,
    proposal,
)

PID = ProposalId("p-20260818-0930-nifty")


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'kitepilot.db'}"
    else:
        url = request.getfixturevalue("postgres_database")
    with SqlStore.open(url) as opened:
        yield opened


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqlStore]:
    """For the SQLite-only behaviour (pragmas, the file's own encoding)."""
    with SqlStore.open(f"sqlite:///{tmp_path / 'kitepilot.db'}") as opened:
        yield opened


def _pid(n: int) -> ProposalId:
    return ProposalId(f"p-{n:03d}")


def _count(store: SqlStore, table: Any) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


# -- opening and migrations ----------------------------------------------------------------


def test_open_fresh_file_in_missing_folder_is_migrated_to_head(tmp_path: Path) -> None:
    path = tmp_path / "var" / "nested" / "kitepilot.db"

    with SqlStore.open(f"sqlite:///{path}") as store:
        revision = store.schema_revision()

    assert path.is_file()
    assert revision is not None
    assert revision == head_revision()


def test_open_existing_database_is_a_noop_that_keeps_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kitepilot.db'}"
    with SqlStore.open(url) as first:
        first.add(proposal())
    statements: list[str] = []

    def capture(*args: Any) -> None:
        statements.append(args[2])

    event.listen(Engine, "before_cursor_execute", capture)
    try:
        with SqlStore.open(url) as again:
            revision = again.schema_revision()
            stored = again.get(PID)
    finally:
        event.remove(Engine, "before_cursor_execute", capture)

    writes = [s for s in statements if s.split()[0].upper() not in ("BEGIN", "SELECT", "PRAGMA")]
    assert writes == []
    assert statements  # the capture saw the migration check run
    assert revision == head_revision()
    assert stored == proposal()


def test_migrated_schema_matches_tables_module(store: SqlStore) -> None:
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)

    assert differences == []


def test_migrations_downgrade_to_base_and_upgrade_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kitepilot.db'}"
    config = alembic_config(url)  # the developer path: env.py makes its own engine
    command.upgrade(config, "head")

    command.downgrade(config, "base")
    with SqlStore.open(url) as store:  # back to head through the store's own path
        revision = store.schema_revision()
        added = store.add(proposal())

    assert (revision, added) == (head_revision(), True)


def test_open_sqlite_sets_wal_and_pragmas_on_every_connection(sqlite_store: SqlStore) -> None:
    with sqlite_store.engine.connect() as first, sqlite_store.engine.connect() as second:
        settings = [
            [
                connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
            ]
            for connection in (first, second)
        ]

    assert settings == [["wal", 1, 5000, 1], ["wal", 1, 5000, 1]]  # synchronous 1 = NORMAL


def test_migrations_render_postgresql_ddl_offline() -> None:
    config = alembic_config("postgresql://kite:secret@db.example/kitepilot")
    config.output_buffer = io.StringIO()

    command.upgrade(config, "head", sql=True)
    ddl = config.output_buffer.getvalue()

    assert "CREATE TABLE proposals" in ddl
    assert "TIMESTAMP WITH TIME ZONE" in ddl
    assert "id BIGSERIAL NOT NULL" in ddl
    assert "CONSTRAINT uq_decisions_proposal_id UNIQUE (proposal_id)" in ddl


def test_open_unsupported_backend_raises_contract_error_with_password_masked() -> None:
    with pytest.raises(ContractError) as raised:
        SqlStore.open("mysql://kite:hunter2@db.example/kitepilot")

    assert raised.value.field == "url"
    assert "hunter2" not in str(raised.value)


@pytest.mark.parametrize("port", [ProposalStore, TradeBook, FeedLog])
def test_store_has_every_method_of_the_port_with_its_parameters(port: type) -> None:
    names = [n for n, v in vars(port).items() if callable(v) and not n.startswith("_")]

    mismatched = [
        name
        for name in names
        if _parameters(getattr(SqlStore, name)) != _parameters(getattr(port, name))
    ]

    assert names
    assert mismatched == []


def _parameters(function: Any) -> list[tuple[str, Any, Any]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


def test_repr_shows_the_url(sqlite_store: SqlStore, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kitepilot.db'}"

    assert (sqlite_store.url, repr(sqlite_store)) == (url, f"SqlStore(url={url!r})")


# -- idempotent adds, concurrently ---------------------------------------------------------


def test_add_same_proposal_twice_returns_false_and_writes_nothing(store: SqlStore) -> None:
    first = store.add(proposal())

    second = store.add(proposal(rationale="a different body under the same id"))

    assert (first, second) == (True, False)
    assert store.get(PID) == proposal()
    assert [e.status for e in store.history(PID)] == [ProposalStatus.PROPOSED]


def test_add_same_proposals_from_two_threads_stores_each_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kitepilot.db'}"
    batch = [proposal(proposal_id=_pid(n)) for n in range(50)]
    start = threading.Barrier(2)

    def add_all(store: SqlStore) -> list[bool]:
        start.wait()
        return [store.add(item) for item in batch]

    with SqlStore.open(url) as one, SqlStore.open(url) as two:
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(add_all, (one, two)))
        rows, events = _count(one, proposals), _count(one, proposal_events)

    assert [a + b for a, b in zip(*results, strict=True)] == [1] * 50  # one True per id
    assert (rows, events) == (50, 50)


def test_decide_same_proposals_from_two_threads_exactly_one_decision_wins(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'kitepilot.db'}"
    start = threading.Barrier(2)

    def decide_all(store: SqlStore, who: str) -> list[str]:
        start.wait()
        outcomes = []
        for n in range(30):
            made = decision(decision_id=DecisionId(f"d-{who}-{n}"), proposal_id=_pid(n))
            try:
                store.record_decision(made)
                outcomes.append("won")
            except ContractError:
                outcomes.append("refused")
        return outcomes

    with SqlStore.open(url) as one, SqlStore.open(url) as two:
        for n in range(30):
            one.add(proposal(proposal_id=_pid(n)))
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(decide_all, (one, two), ("a", "b")))
        decided = [len(one.decisions(_pid(n))) for n in range(30)]

    assert [sorted(pair) for pair in zip(*results, strict=True)] == [["refused", "won"]] * 30
    assert decided == [1] * 30


def _add_in_process(url: str, start: Any, results: Any) -> None:
    """Spawned worker: open (migrating if first), wait for the other, add the same 50."""
    store = SqlStore.open(url)
    try:
        start.wait()
        results.put([store.add(proposal(proposal_id=_pid(n))) for n in range(50)])
    finally:
        store.close()


def test_add_same_proposals_from_two_processes_on_a_fresh_file_stores_each_once(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'kitepilot.db'}"
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(2), context.Queue()
    workers = [
        context.Process(target=_add_in_process, args=(url, start, results)) for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)

    with SqlStore.open(url) as store:
        rows, events = _count(store, proposals), _count(store, proposal_events)
        revision = store.schema_revision()

    assert [worker.exitcode for worker in workers] == [0, 0]
    assert [a + b for a, b in zip(*outcomes, strict=True)] == [1] * 50
    assert (rows, events, revision) == (50, 50, head_revision())


# -- pending and expiry --------------------------------------------------------------------


def test_pending_lists_live_undecided_proposals_newest_first(store: SqlStore) -> None:
    ttl = timedelta(minutes=5)
    store.add(proposal(proposal_id=_pid(1), ts_event=T0, expires_at=T0 + ttl))
    store.add(
        proposal(proposal_id=_pid(3), ts_event=T0 + timedelta(seconds=1), expires_at=T0 + ttl)
    )
    store.add(
        proposal(proposal_id=_pid(2), ts_event=T0 + timedelta(seconds=1), expires_at=T0 + ttl)
    )
    store.add(proposal(proposal_id=_pid(4), ts_event=T0, expires_at=T0 + timedelta(minutes=1)))
    store.add(proposal(proposal_id=_pid(5), ts_event=T0))
    store.add(proposal(proposal_id=_pid(6), ts_event=T0))
    store.record_decision(decision(proposal_id=_pid(5)))
    store.record_status(_pid(6), ProposalStatus.VETOED, T0 + timedelta(seconds=2), "kill switch")

    pending = store.pending(T0 + timedelta(minutes=1))  # p-004 expires at exactly this instant

    assert [p.proposal_id for p in pending] == [_pid(3), _pid(2), _pid(1)]


def test_pending_compares_times_across_zones(store: SqlStore) -> None:
    store.add(proposal(ts_event=T0, expires_at=T0 + timedelta(minutes=2)))
    now_ist = (T0 + timedelta(minutes=1)).astimezone(IST)

    assert [p.proposal_id for p in store.pending(now_ist)] == [PID]
    assert store.pending((T0 + timedelta(minutes=2)).astimezone(IST)) == []


def test_pending_with_naive_now_raises_contract_error(store: SqlStore) -> None:
    with pytest.raises(ContractError) as raised:
        store.pending(datetime(2026, 8, 18, 9, 30))  # noqa: DTZ001 - the naive value is the point

    assert raised.value.field == "now"


# -- decisions and status ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("verdict", "status"),
    [(Verdict.APPROVE, ProposalStatus.APPROVED), (Verdict.REJECT, ProposalStatus.REJECTED)],
)
def test_record_decision_appends_decision_and_status(
    store: SqlStore, verdict: Verdict, status: ProposalStatus
) -> None:
    store.add(proposal())
    made = decision(verdict=verdict, reason="looks right", ts_event=T0 + timedelta(seconds=30))

    store.record_decision(made)

    assert store.decisions(PID) == [made]
    assert store.status(PID) is status
    assert [e.status for e in store.history(PID)] == [ProposalStatus.PROPOSED, status]
    assert store.pending(T0 + timedelta(seconds=31)) == []


def _decided(store: SqlStore) -> None:
    store.record_decision(decision(decision_id=DecisionId("d-0")))


def _marked_expired(store: SqlStore) -> None:
    store.record_status(PID, ProposalStatus.EXPIRED, T0 + timedelta(seconds=10))


def _other_decided_with_same_id(store: SqlStore) -> None:
    store.add(proposal(proposal_id=_pid(9)))
    store.record_decision(decision(proposal_id=_pid(9)))


@pytest.mark.parametrize(
    ("prepare", "made", "field"),
    [
        (None, decision(proposal_id=ProposalId("p-unknown")), "proposal_id"),
        (_decided, decision(), "proposal_id"),
        (_marked_expired, decision(), "proposal_id"),
        (_other_decided_with_same_id, decision(), "decision_id"),
        (None, decision(ts_event=T0 + timedelta(minutes=2)), "ts_event"),  # == expires_at
        (None, decision(ts_event=T0 + timedelta(hours=1)), "ts_event"),
    ],
    ids=["unknown", "decided", "expired-status", "reused-id", "at-expiry", "after-expiry"],
)
def test_record_decision_refused_raises_contract_error_and_writes_nothing(
    store: SqlStore, prepare: Any, made: Any, field: str
) -> None:
    store.add(proposal())
    if prepare is not None:
        prepare(store)
    history_before = store.history(PID)
    decisions_before = store.decisions(PID)

    with pytest.raises(ContractError) as raised:
        store.record_decision(made)

    assert raised.value.field == field
    assert store.history(PID) == history_before
    assert store.decisions(PID) == decisions_before


def test_status_history_is_in_append_order_even_when_times_go_back(store: SqlStore) -> None:
    store.add(proposal())
    store.record_decision(decision())
    store.record_status(PID, ProposalStatus.SENT, T0 + timedelta(seconds=31), "tag KP1")
    store.record_status(PID, ProposalStatus.FILLED, T0 + timedelta(seconds=20), "late clock")

    history = store.history(PID)

    assert [e.status for e in history] == [
        ProposalStatus.PROPOSED,
        ProposalStatus.APPROVED,
        ProposalStatus.SENT,
        ProposalStatus.FILLED,
    ]
    assert [e.detail for e in history][2:] == ["tag KP1", "late clock"]
    assert history[3].ts_event == T0 + timedelta(seconds=20)
    assert store.status(PID) is ProposalStatus.FILLED


def test_record_status_of_unknown_proposal_raises_contract_error(store: SqlStore) -> None:
    with pytest.raises(ContractError) as raised:
        store.record_status(ProposalId("p-unknown"), ProposalStatus.SENT, T0)

    assert raised.value.field == "proposal_id"


def test_unknown_proposal_reads_as_absent(store: SqlStore) -> None:
    unknown = ProposalId("p-unknown")

    assert (store.get(unknown), store.status(unknown), store.decisions(unknown)) == (None, None, [])
    assert store.history(unknown) == []


def test_timestamps_read_back_tz_aware_in_utc(store: SqlStore) -> None:
    made = decision(ts_event=datetime(2026, 8, 18, 9, 30, 30, 123456, tzinfo=IST))
    store.add(proposal())
    store.record_decision(made)

    (stored,) = store.decisions(PID)
    (_, approved) = store.history(PID)

    assert stored.ts_event == made.ts_event
    assert stored.ts_event.utcoffset() == timedelta(0)
    assert approved.ts_event == made.ts_event
    assert approved.ts_event.utcoffset() == timedelta(0)


# -- exits and trades ----------------------------------------------------------------------


def test_add_exit_is_idempotent_and_exits_are_oldest_first(store: SqlStore) -> None:
    later = exit_proposal()
    earlier = exit_proposal(
        exit_id=ProposalId("p-other:exit"),
        entry_proposal_id=ProposalId("p-other"),
        ts_event=later.ts_event - timedelta(minutes=5),
    )

    added = [store.add_exit(later), store.add_exit(earlier), store.add_exit(later)]

    assert added == [True, True, False]
    assert store.exits() == [earlier, later]


def test_open_trades_are_idempotent_filtered_and_oldest_first(store: SqlStore) -> None:
    other_token = InstrumentToken(12074242)
    first = open_trade(proposal_id=_pid(1))
    second = open_trade(proposal_id=_pid(2), opened_at=first.opened_at + timedelta(minutes=1))
    other = open_trade(proposal_id=_pid(3), instrument_token=other_token)

    added = [store.open_trade(t) for t in (second, first, other, first)]

    assert added == [True, True, True, False]
    assert store.open_trades() == [first, other, second]  # other opened with first: id order
    assert store.open_trades(other_token) == [other]


def test_close_trade_removes_it_from_open_trades_and_reopening_is_refused(
    store: SqlStore,
) -> None:
    trade = open_trade()
    store.open_trade(trade)

    store.close_trade(PID, trade.opened_at + timedelta(minutes=20))

    assert store.open_trades() == []
    assert store.open_trade(trade) is False  # one trade per proposal, ever


@pytest.mark.parametrize(
    ("proposal_id", "closed_after", "field"),
    [
        (ProposalId("p-unknown"), timedelta(minutes=1), "proposal_id"),
        (PID, -timedelta(seconds=1), "ts_event"),
    ],
    ids=["unknown", "before-open"],
)
def test_close_trade_refused_raises_contract_error(
    store: SqlStore, proposal_id: ProposalId, closed_after: timedelta, field: str
) -> None:
    trade = open_trade()
    store.open_trade(trade)

    with pytest.raises(ContractError) as raised:
        store.close_trade(proposal_id, trade.opened_at + closed_after)

    assert raised.value.field == field
    assert store.open_trades() == [trade]


def test_close_trade_twice_raises_contract_error(store: SqlStore) -> None:
    store.open_trade(open_trade())
    store.close_trade(PID, T0 + timedelta(hours=1))

    with pytest.raises(ContractError) as raised:
        store.close_trade(PID, T0 + timedelta(hours=2))

    assert raised.value.field == "proposal_id"


# -- dead letters and metrics --------------------------------------------------------------


def test_dead_letters_are_counted_by_reason(store: SqlStore) -> None:
    crossed = dead_letter()
    later = dead_letter(ts_init=T0 + timedelta(seconds=1))  # the same datum refused again later
    nan = dead_letter(reason=DeadLetterReason.NAN_PRICE, instrument_token=None, ts_event=None)

    written = [store.add_dead_letters([crossed, nan, later]), store.add_dead_letters([])]

    assert written == [3, 0]
    assert store.dead_letter_counts() == {"crossed_book": 2, "nan_price": 1}


def test_dead_letter_replayed_after_a_crash_is_stored_once(store: SqlStore) -> None:
    letters = [dead_letter(), dead_letter(reason=DeadLetterReason.NAN_PRICE)]
    store.add_dead_letters(letters)

    again = store.add_dead_letters([*letters, dead_letter(detail="another refusal")])

    assert again == 1
    assert store.dead_letter_counts() == {"crossed_book": 2, "nan_price": 1}


def test_record_metrics_replaces_the_workers_snapshot(store: SqlStore) -> None:
    store.record_metrics("worker-0", T0, {"ticks": 10.0, "lag_ms": 4.5})
    store.record_metrics("worker-1", T0, {"ticks": 7.0})

    store.record_metrics("worker-0", T0 + timedelta(seconds=5), {"ticks": 25.0})

    assert store.latest_metrics() == {"worker-0": {"ticks": 25.0}, "worker-1": {"ticks": 7.0}}


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "3"])
def test_record_metrics_non_finite_value_raises_contract_error(store: SqlStore, value: Any) -> None:
    with pytest.raises(ContractError) as raised:
        store.record_metrics("worker-0", T0, {"lag_ms": value})

    assert raised.value.field == "metrics['lag_ms']"
    assert store.latest_metrics() == {}


# -- append-only ---------------------------------------------------------------------------


def test_whole_lifecycle_never_updates_or_deletes_a_row(store: SqlStore) -> None:
    statements: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

    store.add(proposal())
    store.record_decision(decision())
    store.record_status(PID, ProposalStatus.FILLED, T0 + timedelta(seconds=40))
    store.open_trade(open_trade())
    store.add_exit(exit_proposal())
    store.close_trade(PID, T0 + timedelta(minutes=21))
    store.add_dead_letters([dead_letter()])

    verbs = {statement.split()[0].upper() for statement in statements}
    assert verbs <= {"BEGIN", "SELECT", "INSERT"}
    assert "INSERT" in verbs


def test_in_memory_store_works_for_tests() -> None:
    with SqlStore.open("sqlite://") as store:
        added = store.add(proposal())
        status = store.status(PID)

    assert (added, status) == (True, ProposalStatus.PROPOSED)


def test_raw_sqlite_file_holds_utc_text(sqlite_store: SqlStore, tmp_path: Path) -> None:
    sqlite_store.add(proposal(ts_event=datetime(2026, 8, 18, 9, 30, tzinfo=IST)))

    with sqlite3.connect(tmp_path / "kitepilot.db") as raw:
        (stored,) = raw.execute("SELECT ts_event FROM proposals").fetchone()

    assert stored == "2026-08-18 04:00:00.000000"


def test_proposal_count_counts_each_stored_id_once(store: SqlStore) -> None:
    for n in (1, 2, 2, 3):
        store.add(proposal(proposal_id=_pid(n)))

    assert store.proposal_count() == 3
