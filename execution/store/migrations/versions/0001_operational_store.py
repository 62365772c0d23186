"""The operational store: proposals and their status events, decisions, exits, open trades and
their closures, dead letters, streaming metrics.

Revision ID: 0001
Revises:
Create Date: 2026-08-18
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = 128  # typed ids are at most 128 characters
_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # INTEGER PRIMARY KEY on SQLite


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "proposals",
        sa.Column("proposal_id", sa.String(_ID), nullable=False),
        _ts("ts_event"),
        _ts("ts_init"),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("strategy_id", sa.String(_ID), nullable=False),
        sa.Column("instrument_token", sa.BigInteger(), nullable=False),
        sa.Column("tradingsymbol", sa.String(64), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        _ts("expires_at"),
        sa.Column("model_version", sa.Text(), nullable=False),
        sa.Column("feature_version", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("proposal_id", name="pk_proposals"),
    )
    op.create_index("ix_proposals_ts_event", "proposals", ["ts_event"])
    op.create_index("ix_proposals_expires_at", "proposals", ["expires_at"])
    op.create_index("ix_proposals_instrument_token", "proposals", ["instrument_token"])

    op.create_table(
        "proposal_events",
        sa.Column("id", _SERIAL, autoincrement=True, nullable=False),
        sa.Column("proposal_id", sa.String(_ID), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("ts_event"),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_proposal_events"),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["proposals.proposal_id"],
            name="fk_proposal_events_proposal_id_proposals",
        ),
    )
    op.create_index("ix_proposal_events_proposal_id_id", "proposal_events", ["proposal_id", "id"])

    op.create_table(
        "decisions",
        sa.Column("decision_id", sa.String(_ID), nullable=False),
        sa.Column("proposal_id", sa.String(_ID), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.Text(), nullable=False),
        _ts("ts_event"),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("decision_id", name="pk_decisions"),
        sa.ForeignKeyConstraint(
            ["proposal_id"], ["proposals.proposal_id"], name="fk_decisions_proposal_id_proposals"
        ),
        sa.UniqueConstraint("proposal_id", name="uq_decisions_proposal_id"),
    )

    op.create_table(
        "exits",
        sa.Column("exit_id", sa.String(_ID), nullable=False),
        sa.Column("entry_proposal_id", sa.String(_ID), nullable=False),
        _ts("ts_event"),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("instrument_token", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("exit_id", name="pk_exits"),
    )
    op.create_index("ix_exits_entry_proposal_id", "exits", ["entry_proposal_id"])
    op.create_index("ix_exits_ts_event", "exits", ["ts_event"])

    op.create_table(
        "open_trades",
        sa.Column("proposal_id", sa.String(_ID), nullable=False),
        sa.Column("instrument_token", sa.BigInteger(), nullable=False),
        _ts("opened_at"),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("proposal_id", name="pk_open_trades"),
    )
    op.create_index("ix_open_trades_instrument_token", "open_trades", ["instrument_token"])

    op.create_table(
        "trade_closures",
        sa.Column("proposal_id", sa.String(_ID), nullable=False),
        _ts("closed_at"),
        sa.PrimaryKeyConstraint("proposal_id", name="pk_trade_closures"),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["open_trades.proposal_id"],
            name="fk_trade_closures_proposal_id_open_trades",
        ),
    )

    op.create_table(
        "dead_letters",
        sa.Column("id", _SERIAL, autoincrement=True, nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        _ts("ts_init"),
        sa.Column("instrument_token", sa.BigInteger(), nullable=True),
        _ts("ts_event", nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dead_letters"),
    )
    op.create_index("ix_dead_letters_reason", "dead_letters", ["reason"])

    op.create_table(
        "stream_metrics",
        sa.Column("worker", sa.String(_ID), nullable=False),
        _ts("ts_event"),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("worker", name="pk_stream_metrics"),
    )


def downgrade() -> None:
    for table in (
        "stream_metrics",
        "dead_letters",
        "trade_closures",
        "open_trades",
        "exits",
        "decisions",
        "proposal_events",
        "proposals",
    ):
        op.drop_table(table)
