"""The operational store's tables (SQLAlchemy Core), as the migrations leave them.

The schema is created and changed only by the Alembic migrations in ``migrations/versions``; this
module describes the same tables for queries (a test checks that the two agree). Every table but
``stream_metrics`` is append-only: rows are inserted, never updated or deleted. A proposal's
current state is its latest ``proposal_events`` row; a trade is closed by a ``trade_closures`` row.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

from data_contracts.timeutil import require_aware

__all__ = [
    "ID_LENGTH",
    "UtcDateTime",
    "dead_letters",
    "decisions",
    "exits",
    "fills",
    "kill_switch_events",
    "metadata",
    "open_trades",
    "operator_flags",
    "order_events",
    "orders",
    "position_adjustments",
    "proposal_events",
    "proposals",
    "reconciliation_findings",
    "risk_verdicts",
    "stream_metrics",
    "trade_closures",
]

# Typed ids (data_contracts.ids) are at most 128 characters.
ID_LENGTH = 128

# Constraint names are explicit, so a later migration can drop or alter them on every backend.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[datetime]):
    """A tz-aware timestamp stored in UTC, read back tz-aware in UTC on every backend.

    SQLite keeps no offset, so a value is converted to UTC before it is written (the stored text
    then sorts and compares in time order) and read back as UTC; PostgreSQL's ``timestamptz``
    returns the session's zone, which is converted to UTC too. A naive value is refused.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return require_aware("UtcDateTime", "value", value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# SQLite assigns an autoincrement id only to an INTEGER PRIMARY KEY; other backends get a BIGINT.
_SERIAL = BigInteger().with_variant(Integer(), "sqlite")


proposals = Table(
    "proposals",
    metadata,
    Column("proposal_id", String(ID_LENGTH), primary_key=True),
    Column("ts_event", UtcDateTime(), nullable=False),
    Column("ts_init", UtcDateTime(), nullable=False),
    Column("origin", String(16), nullable=False),
    Column("strategy_id", String(ID_LENGTH), nullable=False),
    Column("instrument_token", BigInteger(), nullable=False),
    Column("tradingsymbol", String(64), nullable=False),
    Column("side", String(8), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("model_version", Text(), nullable=False),
    Column("feature_version", Text(), nullable=False),
    Column("payload", Text(), nullable=False),
    Index(None, "ts_event"),
    Index(None, "expires_at"),
    Index(None, "instrument_token"),
)

proposal_events = Table(
    "proposal_events",
    metadata,
    Column("id", _SERIAL, primary_key=True, autoincrement=True),
    Column(
        "proposal_id",
        String(ID_LENGTH),
        ForeignKey("proposals.proposal_id"),
        nullable=False,
    ),
    Column("status", String(16), nullable=False),
    Column("ts_event", UtcDateTime(), nullable=False),
    Column("detail", Text(), nullable=False),
    # The latest event of a proposal is found by (proposal_id, max id).
    Index(None, "proposal_id", "id"),
)

decisions = Table(
    "decisions",
    metadata,
    Column("decision_id", String(ID_LENGTH), primary_key=True),
    # One decision per proposal: the unique key makes a second one fail even in a race.
    Column(
        "proposal_id",
        String(ID_LENGTH),
        ForeignKey("proposals.proposal_id"),
        nullable=False,
        unique=True,
    ),
    Column("verdict", String(16), nullable=False),
    Column("decided_by", Text(), nullable=False),
    Column("ts_event", UtcDateTime(), nullable=False),
    Column("reason", Text(), nullable=False),
)

exits = Table(
    "exits",
    metadata,
    Column("exit_id", String(ID_LENGTH), primary_key=True),
    Column("entry_proposal_id", String(ID_LENGTH), nullable=False),
    Column("ts_event", UtcDateTime(), nullable=False),
    Column("reason", String(16), nullable=False),
    Column("instrument_token", BigInteger(), nullable=False),
    Column("payload", Text(), nullable=False),
    Index(None, "entry_proposal_id"),
    Index(None, "ts_event"),
)

open_trades = Table(
    "open_trades",
    metadata,
    Column("proposal_id", String(ID_LENGTH), primary_key=True),
    Column("instrument_token", BigInteger(), nullable=False),
    Column("opened_at", UtcDateTime(), nullable=False),
    Column("payload", Text(), nullable=False),
    Index(None, "instrument_token"),
)

# Closing a trade appends a row here instead of updating open_trades (which stays append-only).
trade_closures = Table(
    "trade_closures",
    metadata,
    Column(
        "proposal_id",
        String(ID_LENGTH),
        ForeignKey("open_trades.proposal_id"),
        primary_key=True,
    ),
    Column("closed_at", UtcDateTime(), nullable=False),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", _SERIAL, primary_key=True, autoincrement=True),
    Column("source", Text(), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("ts_init", UtcDateTime(), nullable=False),
    Column("instrument_token", BigInteger(), nullable=True),
    Column("ts_event", UtcDateTime(), nullable=True),
    Column("detail", Text(), nullable=False),
    Column("payload", Text(), nullable=False),
    # DeadLetter.letter_id (revision 0002): a letter replayed after a crash is stored once.
    Column("letter_id", String(32), nullable=True),
    Index(None, "reason"),
    Index("uq_dead_letters_letter_id", "letter_id", unique=True),
)

# The one table whose rows are replaced: each worker's latest metrics snapshot.
stream_metrics = Table(
    "stream_metrics",
    metadata,
    Column("worker", String(ID_LENGTH), primary_key=True),
    Column("ts_event", UtcDateTime(), nullable=False),
    Column("payload", Text(), nullable=False),
)

# -- the order management system (revision 0003) -------------------------------------------------

risk_verdicts = Table(
    "risk_verdicts",
    metadata,
    Column("id", _SERIAL, primary_key=True, autoincrement=True),
    # An entry proposal's id, an exit's id, or a kill-switch / manual action's id.
    Column("subject_id", String(ID_LENGTH), nullable=False),
    Column("purpose", String(16), nullable=False),
    Column("ts_event", UtcDateTime(), nullable=False),
    Column("accepted", Boolean(), nullable=False),
    Column("payload", Text(), nullable=False),
    Index(None, "subject_id", "id"),
)

orders = Table(
    "orders",
    metadata,
    # The deterministic Kite tag: one row (so at most one order) per proposal slice, ever.
    Column("client_tag", String(32), primary_key=True),
    Column("subject_id", String(ID_LENGTH), nullable=False),
    Column("purpose", String(16), nullable=False),
    Column("slice_index", Integer(), nullable=False),
    Column("instrument_token", BigInteger(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("reference_price", Float(), nullable=False),
    Column("payload", Text(), nullable=False),
    UniqueConstraint("subject_id", "slice_index"),
    Index(None, "instrument_token"),
)

order_events = Table(
    "order_events",
    metadata,
    Column("id", _SERIAL, primary_key=True, autoincrement=True),
    Column("client_tag", String(32), ForeignKey("orders.client_tag"), nullable=False),
    Column("order_id", String(ID_LENGTH), nullable=True),
    Column("status", String(24), nullable=False),
    Column("ts_event", UtcDateTime(), nullable=False),
    Column("source", String(16), nullable=False),
    Column("payload", Text(), nullable=False),
    Index(None, "client_tag", "id"),
)

fills = Table(
    "fills",
    metadata,
    Column("trade_id", String(ID_LENGTH), primary_key=True),
    Column("order_id", String(ID_LENGTH), nullable=False),
    # Null for an execution the broker reports that we did not send (found by reconciliation).
    Column("client_tag", String(32), nullable=True),
    Column("instrument_token", BigInteger(), nullable=False),
    Column("ts_event", UtcDateTime(), nullable=False),
    # Rupees worse than the order's reference price (negative: better), for the whole fill.
    Column("slippage", Float(), nullable=True),
    Column("payload", Text(), nullable=False),
    Index(None, "ts_event"),
    Index(None, "client_tag"),
)

position_adjustments = Table(
    "position_adjustments",
    metadata,
    Column("id", _SERIAL, primary_key=True, autoincrement=True),
    Column("instrument_token", BigInteger(), nullable=False),
    Column("product", String(8), nullable=False),
    Column("tradingsymbol", String(64), nullable=False),
    Column("quantity", BigInteger(), nullable=False),
    Column("average_price", Float(), nullable=False),
    Column("ts_event", UtcDateTime(), nullable=False),
    Column("detail", Text(), nullable=False),
)

kill_switch_events = Table(
    "kill_switch_events",
    metadata,
    Column("id", _SERIAL, primary_key=True, autoincrement=True),
    Column("engaged", Boolean(), nullable=False),
    Column("ts_event", UtcDateTime(), nullable=False),
    Column("actor", Text(), nullable=False),
    Column("reason", Text(), nullable=False),
)

reconciliation_findings = Table(
    "reconciliation_findings",
    metadata,
    Column("id", _SERIAL, primary_key=True, autoincrement=True),
    Column("ts_event", UtcDateTime(), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("subject", Text(), nullable=False),
    Column("detail", Text(), nullable=False),
    Index(None, "ts_event"),
)

operator_flags = Table(
    "operator_flags",
    metadata,
    Column("id", _SERIAL, primary_key=True, autoincrement=True),
    Column("flag", String(32), nullable=False),
    Column("value", Boolean(), nullable=False),
    Column("ts_event", UtcDateTime(), nullable=False),
    Column("actor", Text(), nullable=False),
    Column("reason", Text(), nullable=False),
    Index(None, "flag", "id"),
)
