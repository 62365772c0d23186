"""Operator flags (e.g. "new proposals paused"): append-only events, the latest per flag wins.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # INTEGER PRIMARY KEY on SQLite


def upgrade() -> None:
    op.create_table(
        "operator_flags",
        sa.Column("id", _SERIAL, autoincrement=True, nullable=False),
        sa.Column("flag", sa.String(32), nullable=False),
        sa.Column("value", sa.Boolean(), nullable=False),
        sa.Column("ts_event", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_operator_flags"),
    )
    op.create_index("ix_operator_flags_flag_id", "operator_flags", ["flag", "id"])


def downgrade() -> None:
    op.drop_table("operator_flags")
