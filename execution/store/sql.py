"""``SqlStore``: the operational store over SQLAlchemy Core, for SQLite (WAL) or PostgreSQL.

One class implements the three store ports of ``data_contracts.ports``: ``ProposalStore``
(proposals, their status events, decisions, exits), ``TradeBook`` (open trades) and ``FeedLog``
(dead letters, streaming metrics). ``SqlStore.open(url)`` migrates the database to the latest
schema (Alembic, ``migrations/``) and returns the store; several processes may open and write the
same database at once.

Writes are transactional and race-free across processes:

- an idempotent add is one ``INSERT ... ON CONFLICT DO NOTHING``: of two processes adding the same
  id, exactly one inserts (True), the other sees the conflict (False), neither fails;
- on SQLite every write transaction starts with ``BEGIN IMMEDIATE`` (writers queue on the
  database lock for up to ``busy_timeout``, so a read-then-write cannot be overtaken), readers
  never block in WAL mode;
- rules a check-then-insert could race on PostgreSQL are also unique keys (one decision per
  proposal, one closure per trade), so the loser of a race gets a ContractError, not a second row.

Times are stored in UTC and read back tz-aware (see ``tables.UtcDateTime``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Table, bindparam, create_engine, event, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool

from data_contracts.enums import ProposalStatus, Verdict
from data_contracts.errors import ContractError
from data_contracts.feed import DeadLetter
from data_contracts.ids import DecisionId, ProposalId
from data_contracts.timeutil import require_aware
from data_contracts.trading import Decision, ExitProposal, OpenTrade, Proposal
from data_contracts.validation import finite, instance_of, non_empty
from execution.store import codec
from execution.store.flags import FlagState, OperatorFlag
from execution.store.tables import (
    dead_letters,
    decisions,
    exits,
    open_trades,
    operator_flags,
    proposal_events,
    proposals,
    stream_metrics,
    trade_closures,
)

__all__ = [
    "MIGRATIONS",
    "SqlStore",
    "StatusEvent",
    "alembic_config",
    "head_revision",
    "insert_new",
    "write_transaction",
]

MIGRATIONS: Final = Path(__file__).resolve().parent / "migrations"

_SQLITE_PRAGMAS: Final = (
    "busy_timeout=5000",  # first: the others may need the database lock
    "journal_mode=WAL",
    "synchronous=NORMAL",
    "foreign_keys=ON",
)
_WRITE: Final = "kitepilot_write"  # execution option: this connection's transaction writes
_MIGRATION_LOCK: Final = 0x6B697465  # PostgreSQL advisory lock key held while migrating ("kite")
_VERDICT_STATUS: Final = {
    Verdict.APPROVE: ProposalStatus.APPROVED,
    Verdict.REJECT: ProposalStatus.REJECTED,
}
_OWNER: Final = "SqlStore"


@dataclass(frozen=True, slots=True)
class StatusEvent:
    """One row of a proposal's status history."""

    proposal_id: ProposalId
    status: ProposalStatus
    ts_event: datetime
    detail: str


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config for the store's migrations (``url`` for developer commands only)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str | None:
    """The latest revision in ``migrations/versions``."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


class SqlStore:
    """Proposals, decisions, exits, open trades, dead letters and metrics in one SQL database.

    Build it with :meth:`open`; close it with :meth:`close` or use it as a context manager.
    """

    def __init__(self, engine: Engine) -> None:
        """Wrap an engine that :meth:`open` built and migrated (it sets SQLite's pragmas and
        transaction handling); use :meth:`open`, not this."""
        self._engine = engine

    # -- lifecycle -------------------------------------------------------------------------

    @classmethod
    def open(cls, url: str, *, background_checkpoints: bool = False) -> SqlStore:
        """Open (creating if needed) the database at ``url`` and migrate it to the latest schema.

        ``sqlite:///var/kitepilot.db`` (the parent folder is created), ``sqlite://`` in memory (one
        shared connection: tests only) or ``postgresql+psycopg://user:pass@host/db``.

        ``background_checkpoints`` (SQLite): this store's commits never copy the WAL back into
        the database (SQLite does that inside whichever commit crosses 1,000 pages, a pause of
        several milliseconds); the owner calls :meth:`checkpoint` off its latency-critical path
        instead — the executor does, in its loop.
        """
        engine = _create_engine(make_url(url), background_checkpoints)
        try:
            _migrate(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    @property
    def url(self) -> str:
        """The database URL with any password masked."""
        return self._engine.url.render_as_string(hide_password=True)

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (read-only queries for reports and diagnostics; write through
        the methods, which keep the tables append-only)."""
        return self._engine

    def checkpoint(self) -> None:
        """Copy the SQLite WAL into the database now, without waiting for readers (a no-op on
        PostgreSQL)."""
        if self._engine.dialect.name == "sqlite":
            with self._engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    def schema_revision(self) -> str | None:
        """The Alembic revision the database is at (the head after :meth:`open`)."""
        with self._engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SqlStore(url={self.url!r})"

    # -- ProposalStore ---------------------------------------------------------------------

    def add(self, proposal: Proposal) -> bool:
        """Store ``proposal`` and its PROPOSED event; False (nothing written) if the id exists."""
        return self.add_many([proposal])[0]

    def add_many(self, batch: Sequence[Proposal]) -> list[bool]:
        """:meth:`add` of each proposal, all in one transaction (the streaming sink's batch);
        each answer says whether that one was new."""
        rows = [_proposal_row(proposal) for proposal in batch]
        if not rows:
            return []
        # Batched: one multi-row insert of the batch's first occurrence of each id (ON CONFLICT DO
        # NOTHING; RETURNING names the ids that were new), then one executemany of their PROPOSED
        # events, in batch order. The same rows and answers as inserting one by one: a later
        # duplicate of an id in the batch is never new, an id already stored is not either.
        first: dict[str, dict[str, Any]] = {}
        for row in rows:
            first.setdefault(row["proposal_id"], row)
        with self._write() as connection:
            statement = _insert_if_new(connection.dialect.name, proposals)
            inserted = set(connection.execute(statement, list(first.values())).scalars())
            added = [
                row["proposal_id"] in inserted and first[row["proposal_id"]] is row for row in rows
            ]
            events = [
                {
                    "proposal_id": proposal.proposal_id.value,
                    "status": ProposalStatus.PROPOSED.value,
                    "ts_event": proposal.ts_event,
                    "detail": "",
                }
                for proposal, new in zip(batch, added, strict=True)
                if new
            ]
            if events:
                connection.execute(_INSERT_STATUS, events)
        return added

    def get(self, proposal_id: ProposalId) -> Proposal | None:
        _check_id(proposal_id)
        with self._engine.connect() as connection:
            payload = connection.execute(
                _PAYLOAD_OF, {"pid": proposal_id.value}
            ).scalar_one_or_none()
        return None if payload is None else codec.decode(Proposal, payload)

    def pending(self, now: datetime) -> Sequence[Proposal]:
        """Proposals whose latest status is PROPOSED and that expire after ``now``, newest first."""
        now = require_aware(_OWNER, "now", now)
        latest = _latest_event_id()
        query = (
            select(proposals.c.payload)
            .join(proposal_events, proposal_events.c.proposal_id == proposals.c.proposal_id)
            .where(
                proposal_events.c.id == latest,
                proposal_events.c.status == ProposalStatus.PROPOSED.value,
                proposals.c.expires_at > now,
            )
            .order_by(proposals.c.ts_event.desc(), proposals.c.proposal_id.desc())
        )
        with self._engine.connect() as connection:
            payloads = connection.execute(query).scalars().all()
        return [codec.decode(Proposal, payload) for payload in payloads]

    def with_status(self, status: ProposalStatus) -> Sequence[Proposal]:
        """Proposals whose latest status is ``status``, in the order they reached it."""
        instance_of(_OWNER, "status", status, ProposalStatus)
        latest = _latest_event_id()
        query = (
            select(proposals.c.payload)
            .join(proposal_events, proposal_events.c.proposal_id == proposals.c.proposal_id)
            .where(proposal_events.c.id == latest, proposal_events.c.status == status.value)
            .order_by(proposal_events.c.id)
        )
        with self._engine.connect() as connection:
            payloads = connection.execute(query).scalars().all()
        return [codec.decode(Proposal, payload) for payload in payloads]

    def record_decision(self, decision: Decision) -> None:
        """Append ``decision`` and its APPROVED/REJECTED event, in one transaction.

        Refused (ContractError) when the proposal is unknown, already decided, no longer PROPOSED
        (e.g. VETOED or EXPIRED recorded), or expired at the decision's ``ts_event``.
        """
        instance_of(_OWNER, "decision", decision, Decision)
        pid = decision.proposal_id.value
        with self._write() as connection:
            expires_at = connection.execute(_EXPIRES_AT, {"pid": pid}).scalar_one_or_none()
            if expires_at is None:
                raise ContractError("Decision", "proposal_id", pid, "must name a stored proposal")
            _refuse_second_decision(connection, decision)
            if decision.ts_event >= expires_at:
                rule = f"must be before the proposal's expires_at {expires_at.isoformat()}"
                raise ContractError("Decision", "ts_event", decision.ts_event, rule, pid)
            current = _latest_status(connection, pid)
            if current is not ProposalStatus.PROPOSED:
                rule = f"must name a PROPOSED proposal, it is {current}"
                raise ContractError("Decision", "proposal_id", pid, rule)
            try:
                connection.execute(decisions.insert().values(_decision_row(decision)))
            except IntegrityError:  # PostgreSQL: a concurrent decision won the race
                raise ContractError(
                    "Decision", "proposal_id", pid, "must not be decided already"
                ) from None
            _append_status(
                connection,
                decision.proposal_id,
                _VERDICT_STATUS[decision.verdict],
                decision.ts_event,
                f"decision {decision.decision_id.value} by {decision.decided_by}",
            )

    def decisions(self, proposal_id: ProposalId) -> Sequence[Decision]:
        _check_id(proposal_id)
        query = (
            select(decisions)
            .where(decisions.c.proposal_id == proposal_id.value)
            .order_by(decisions.c.ts_event, decisions.c.decision_id)
        )
        with self._engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [
            Decision(
                decision_id=DecisionId(row["decision_id"]),
                proposal_id=ProposalId(row["proposal_id"]),
                verdict=Verdict(row["verdict"]),
                decided_by=row["decided_by"],
                ts_event=row["ts_event"],
                reason=row["reason"],
            )
            for row in rows
        ]

    def record_status(
        self, proposal_id: ProposalId, status: ProposalStatus, ts_event: datetime, detail: str = ""
    ) -> None:
        """Append a status event of a stored proposal (an unknown id raises ContractError)."""
        _check_id(proposal_id)
        instance_of(_OWNER, "status", status, ProposalStatus)
        ts_event = require_aware(_OWNER, "ts_event", ts_event)
        instance_of(_OWNER, "detail", detail, str)
        with self._write() as connection:
            known = connection.execute(
                select(proposals.c.proposal_id).where(proposals.c.proposal_id == proposal_id.value)
            ).first()
            if known is None:
                raise ContractError(
                    _OWNER, "proposal_id", proposal_id.value, "must name a stored proposal"
                )
            _append_status(connection, proposal_id, status, ts_event, detail)

    def status(self, proposal_id: ProposalId) -> ProposalStatus | None:
        """The latest status event of the proposal, None if it is not stored."""
        _check_id(proposal_id)
        with self._engine.connect() as connection:
            return _latest_status(connection, proposal_id.value)

    def history(self, proposal_id: ProposalId) -> Sequence[StatusEvent]:
        """Every status event of the proposal, in the order they were appended."""
        _check_id(proposal_id)
        query = (
            select(proposal_events.c.status, proposal_events.c.ts_event, proposal_events.c.detail)
            .where(proposal_events.c.proposal_id == proposal_id.value)
            .order_by(proposal_events.c.id)
        )
        with self._engine.connect() as connection:
            rows = connection.execute(query).all()
        return [
            StatusEvent(proposal_id, ProposalStatus(status), ts_event, detail)
            for status, ts_event, detail in rows
        ]

    def add_exit(self, exit_proposal: ExitProposal) -> bool:
        """Store an exit; False (nothing written) if that exit id is already stored."""
        instance_of(_OWNER, "exit_proposal", exit_proposal, ExitProposal)
        row = {
            "exit_id": exit_proposal.exit_id.value,
            "entry_proposal_id": exit_proposal.entry_proposal_id.value,
            "ts_event": exit_proposal.ts_event,
            "reason": exit_proposal.reason.value,
            "instrument_token": exit_proposal.instrument_token,
            "payload": codec.encode(exit_proposal),
        }
        with self._write() as connection:
            return insert_new(connection, exits, row)

    def proposal_count(self) -> int:
        """How many proposals the store holds."""
        with self._engine.connect() as connection:
            counted = connection.execute(select(func.count()).select_from(proposals))
            return int(counted.scalar_one())

    def exits(self) -> Sequence[ExitProposal]:
        """Every stored exit, oldest first (by ts_event, then exit id)."""
        query = select(exits.c.payload).order_by(exits.c.ts_event, exits.c.exit_id)
        with self._engine.connect() as connection:
            payloads = connection.execute(query).scalars().all()
        return [codec.decode(ExitProposal, payload) for payload in payloads]

    # -- TradeBook -------------------------------------------------------------------------

    def open_trade(self, trade: OpenTrade) -> bool:
        """Record a filled entry; False if its proposal already has a trade (open or closed)."""
        instance_of(_OWNER, "trade", trade, OpenTrade)
        row = {
            "proposal_id": trade.proposal_id.value,
            "instrument_token": trade.instrument_token,
            "opened_at": trade.opened_at,
            "payload": codec.encode(trade),
        }
        with self._write() as connection:
            return insert_new(connection, open_trades, row)

    def close_trade(self, proposal_id: ProposalId, ts_event: datetime) -> None:
        """Close an open trade at ``ts_event``; an unknown or closed one raises ContractError."""
        _check_id(proposal_id)
        ts_event = require_aware(_OWNER, "ts_event", ts_event)
        pid = proposal_id.value
        with self._write() as connection:
            opened_at = connection.execute(
                select(open_trades.c.opened_at).where(open_trades.c.proposal_id == pid)
            ).scalar_one_or_none()
            if opened_at is None:
                raise ContractError(_OWNER, "proposal_id", pid, "must name an open trade")
            closed_at = connection.execute(
                select(trade_closures.c.closed_at).where(trade_closures.c.proposal_id == pid)
            ).scalar_one_or_none()
            if closed_at is not None:
                rule = f"must name an open trade, it was closed at {closed_at.isoformat()}"
                raise ContractError(_OWNER, "proposal_id", pid, rule)
            if ts_event < opened_at:
                rule = f"must not be before the trade's opened_at {opened_at.isoformat()}"
                raise ContractError(_OWNER, "ts_event", ts_event, rule, pid)
            try:
                connection.execute(
                    trade_closures.insert().values(proposal_id=pid, closed_at=ts_event)
                )
            except IntegrityError:  # PostgreSQL: a concurrent close won the race
                raise ContractError(
                    _OWNER, "proposal_id", pid, "must name an open trade, it was just closed"
                ) from None

    def open_trades(self, instrument_token: int | None = None) -> Sequence[OpenTrade]:
        """Trades not closed yet, of one instrument or all, oldest first."""
        query = (
            select(open_trades.c.payload)
            .outerjoin(trade_closures, trade_closures.c.proposal_id == open_trades.c.proposal_id)
            .where(trade_closures.c.proposal_id.is_(None))
            .order_by(open_trades.c.opened_at, open_trades.c.proposal_id)
        )
        if instrument_token is not None:
            query = query.where(open_trades.c.instrument_token == instrument_token)
        with self._engine.connect() as connection:
            payloads = connection.execute(query).scalars().all()
        return [codec.decode(OpenTrade, payload) for payload in payloads]

    # -- FeedLog ---------------------------------------------------------------------------

    def add_dead_letters(self, letters: Sequence[DeadLetter]) -> int:
        """Append dead letters in one transaction; returns how many were written (a letter
        already stored — same ``letter_id`` — is not written again)."""
        rows = []
        for letter in letters:
            instance_of(_OWNER, "letters", letter, DeadLetter)
            rows.append(
                {
                    "source": letter.source,
                    "reason": letter.reason.value,
                    "ts_init": letter.ts_init,
                    "instrument_token": letter.instrument_token,
                    "ts_event": letter.ts_event,
                    "detail": letter.detail,
                    "payload": letter.payload,
                    "letter_id": letter.letter_id,
                }
            )
        if not rows:
            return 0
        with self._write() as connection:
            return sum(insert_new(connection, dead_letters, row) for row in rows)

    def dead_letter_counts(self) -> Mapping[str, int]:
        """Dead letters stored so far, by reason value (reasons never seen are absent)."""
        query = (
            select(dead_letters.c.reason, func.count())
            .group_by(dead_letters.c.reason)
            .order_by(dead_letters.c.reason)
        )
        with self._engine.connect() as connection:
            return {reason: count for reason, count in connection.execute(query).all()}

    def record_metrics(self, worker: str, ts_event: datetime, metrics: Mapping[str, float]) -> None:
        """Replace ``worker``'s metrics snapshot (every value must be a finite number)."""
        non_empty(_OWNER, "worker", worker)
        ts_event = require_aware(_OWNER, "ts_event", ts_event)
        snapshot: dict[str, float] = {}
        for name, value in metrics.items():
            non_empty(_OWNER, "metrics", name, worker)
            snapshot[name] = finite(_OWNER, f"metrics[{name!r}]", value, worker)
        row = {
            "worker": worker,
            "ts_event": ts_event,
            "payload": json.dumps(snapshot, sort_keys=True),
        }
        with self._write() as connection:
            connection.execute(_upsert(connection, stream_metrics, row, key="worker"))

    # -- operator flags ------------------------------------------------------------------

    def set_flag(
        self, flag: OperatorFlag, value: bool, ts_event: datetime, actor: str, reason: str = ""
    ) -> None:
        """Set an operator flag (appended; the latest event per flag is its state)."""
        non_empty(_OWNER, "actor", actor)
        row = {
            "flag": OperatorFlag(flag).value,
            "value": bool(value),
            "ts_event": require_aware(_OWNER, "ts_event", ts_event),
            "actor": actor,
            "reason": reason,
        }
        with self._write() as connection:
            connection.execute(_INSERT_FLAG, row)

    def flag(self, flag: OperatorFlag) -> FlagState:
        """The flag's latest event (off if it was never set)."""
        flag = OperatorFlag(flag)
        with self._engine.connect() as connection:
            row = connection.execute(_LATEST_FLAG, {"flag": flag.value}).mappings().first()
        if row is None:
            return FlagState(flag, value=False)
        return FlagState(flag, bool(row["value"]), row["ts_event"], row["actor"], row["reason"])

    def latest_metric_time(self) -> datetime | None:
        """When any streaming worker last reported its metrics (None: never)."""
        with self._engine.connect() as connection:
            latest: datetime | None = connection.execute(
                select(func.max(stream_metrics.c.ts_event))
            ).scalar_one()
        return latest

    def latest_metrics(self) -> Mapping[str, Mapping[str, float]]:
        """Each worker's latest metrics snapshot."""
        return {worker: metrics for worker, _, metrics in self.metric_snapshots()}

    def metric_snapshots(self) -> Sequence[tuple[str, datetime, Mapping[str, float]]]:
        """Each worker's latest metrics snapshot with when it wrote it, by worker name."""
        query = select(
            stream_metrics.c.worker, stream_metrics.c.ts_event, stream_metrics.c.payload
        ).order_by(stream_metrics.c.worker)
        with self._engine.connect() as connection:
            rows = connection.execute(query).all()
        return [(worker, ts, json.loads(payload)) for worker, ts, payload in rows]

    def recent(
        self, expiring_after: datetime, limit: int
    ) -> Sequence[tuple[Proposal, ProposalStatus]]:
        """Proposals whose TTL ends after ``expiring_after``, newest first, at most ``limit``,
        each with its latest status — one query."""
        later = proposal_events.alias("later")
        latest = (
            select(func.max(later.c.id))
            .where(later.c.proposal_id == proposals.c.proposal_id)
            .scalar_subquery()
        )
        query = (
            select(proposals.c.payload, proposal_events.c.status)
            .select_from(proposals)
            .join(proposal_events, proposal_events.c.id == latest)
            .where(proposals.c.expires_at > require_aware(_OWNER, "expiring_after", expiring_after))
            .order_by(proposals.c.ts_event.desc(), proposals.c.proposal_id.desc())
            .limit(limit)
        )
        with self._engine.connect() as connection:
            rows = connection.execute(query).all()
        return [
            (codec.decode(Proposal, payload), ProposalStatus(status)) for payload, status in rows
        ]

    # -- plumbing --------------------------------------------------------------------------

    def _write(self) -> AbstractContextManager[Connection]:
        return write_transaction(self._engine)


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A connection in a write transaction (SQLite: ``BEGIN IMMEDIATE``), committed on exit."""
    with engine.connect() as connection:
        connection.execution_options(**{_WRITE: True})
        with connection.begin():
            yield connection


def _create_engine(url: URL, background_checkpoints: bool = False) -> Engine:
    backend = url.get_backend_name()
    if backend == "postgresql":
        return create_engine(url, pool_pre_ping=True)
    if backend != "sqlite":
        masked = url.render_as_string(hide_password=True)
        raise ContractError(_OWNER, "url", masked, "must be a sqlite or postgresql URL")
    database = url.database or ""
    if database in ("", ":memory:"):
        # One shared connection, or every checkout would see a new empty database.
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        if not url.query.get("uri"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url)
    _sqlite_transactions(engine, background_checkpoints)
    return engine


def _sqlite_transactions(engine: Engine, background_checkpoints: bool) -> None:
    """Pragmas on every connection, and SQLAlchemy (not the sqlite3 module) emitting BEGIN.

    sqlite3's own transaction handling runs DDL outside transactions and always begins DEFERRED;
    taking it over makes migrations atomic and lets write transactions begin IMMEDIATE.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(f"PRAGMA {pragma}")
        if background_checkpoints:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        writes = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


def _migrate(engine: Engine) -> None:
    """Upgrade to head in one transaction that also serialises concurrent openers."""
    config = alembic_config()
    with engine.connect() as connection:
        connection.execution_options(**{_WRITE: True})
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK}
                )
            config.attributes["connection"] = connection
            command.upgrade(config, "head")


def _dialect_insert(connection: Connection, table: Table) -> Any:
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_new(connection: Connection, table: Table, row: Mapping[str, Any]) -> bool:
    """Insert ``row`` unless a unique key of it exists; True if it was inserted.

    The answer comes from ``RETURNING`` (a row back: inserted), not ``rowcount``, which
    psycopg reports as -1 for this statement under SQLAlchemy 2.1.
    """
    statement = _insert_if_new(connection.dialect.name, table)
    return connection.execute(statement, dict(row)).first() is not None


@cache
def _insert_if_new(dialect: str, table: Table) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING RETURNING <key>``, built once per table."""
    key = next(iter(table.primary_key.columns))
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    return insert.on_conflict_do_nothing().returning(key)


def _upsert(connection: Connection, table: Table, row: Mapping[str, Any], key: str) -> Any:
    statement = _dialect_insert(connection, table).values(row)
    return statement.on_conflict_do_update(
        index_elements=[table.c[key]],
        set_={name: statement.excluded[name] for name in row if name != key},
    )


def _append_status(
    connection: Connection,
    proposal_id: ProposalId,
    status: ProposalStatus,
    ts_event: datetime,
    detail: str,
) -> None:
    connection.execute(
        _INSERT_STATUS,
        {
            "proposal_id": proposal_id.value,
            "status": status.value,
            "ts_event": ts_event,
            "detail": detail,
        },
    )


def _latest_event_id() -> Any:
    """The id of the latest event of the outer query's proposal (a correlated subquery)."""
    later = proposal_events.alias("later")
    return (
        select(func.max(later.c.id))
        .where(later.c.proposal_id == proposals.c.proposal_id)
        .scalar_subquery()
    )


# Prebuilt: on the approval path, building a statement costs as much as running it.
_PAYLOAD_OF: Final = select(proposals.c.payload).where(proposals.c.proposal_id == bindparam("pid"))
_INSERT_STATUS: Final = proposal_events.insert()
_INSERT_FLAG: Final = operator_flags.insert()
_LATEST_FLAG: Final = (
    select(operator_flags)
    .where(operator_flags.c.flag == bindparam("flag"))
    .order_by(operator_flags.c.id.desc())
    .limit(1)
)
_LATEST_STATUS: Final = (
    select(proposal_events.c.status)
    .where(proposal_events.c.proposal_id == bindparam("pid"))
    .order_by(proposal_events.c.id.desc())
    .limit(1)
)
_EXPIRES_AT: Final = select(proposals.c.expires_at).where(
    proposals.c.proposal_id == bindparam("pid")
)
_DECISION_OF: Final = select(decisions.c.decision_id, decisions.c.verdict).where(
    decisions.c.proposal_id == bindparam("pid")
)
_DECIDED_BY_ID: Final = select(decisions.c.proposal_id).where(
    decisions.c.decision_id == bindparam("did")
)


def _latest_status(connection: Connection, proposal_id: str) -> ProposalStatus | None:
    status = connection.execute(_LATEST_STATUS, {"pid": proposal_id}).scalar_one_or_none()
    return None if status is None else ProposalStatus(status)


def _refuse_second_decision(connection: Connection, decision: Decision) -> None:
    pid = decision.proposal_id.value
    earlier = connection.execute(_DECISION_OF, {"pid": pid}).first()
    if earlier is not None:
        rule = f"must not be decided already (decision {earlier[0]}: {earlier[1]})"
        raise ContractError("Decision", "proposal_id", pid, rule)
    reused = connection.execute(
        _DECIDED_BY_ID, {"did": decision.decision_id.value}
    ).scalar_one_or_none()
    if reused is not None:
        rule = f"must be a new decision id, it decided {reused} already"
        raise ContractError("Decision", "decision_id", decision.decision_id.value, rule, pid)


def _decision_row(decision: Decision) -> dict[str, Any]:
    return {
        "decision_id": decision.decision_id.value,
        "proposal_id": decision.proposal_id.value,
        "verdict": decision.verdict.value,
        "decided_by": decision.decided_by,
        "ts_event": decision.ts_event,
        "reason": decision.reason,
    }


def _proposal_row(proposal: Proposal) -> dict[str, Any]:
    instance_of(_OWNER, "proposal", proposal, Proposal)
    return {
        "proposal_id": proposal.proposal_id.value,
        "ts_event": proposal.ts_event,
        "ts_init": proposal.ts_init,
        "origin": proposal.origin.value,
        "strategy_id": proposal.strategy_id.value,
        "instrument_token": proposal.instrument_token,
        "tradingsymbol": proposal.tradingsymbol,
        "side": proposal.side.value,
        "expires_at": proposal.expires_at,
        "model_version": proposal.model_version,
        "feature_version": proposal.feature_version,
        "payload": codec.encode(proposal),
    }


def _check_id(proposal_id: object) -> None:
    instance_of(_OWNER, "proposal_id", proposal_id, ProposalId)
