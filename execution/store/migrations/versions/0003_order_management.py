"""The order management system: risk verdicts, orders (one per deterministic client tag) and
their events, fills, position adjustments from reconciliation, kill-switch events and
reconciliation findings. All append-only.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = 128  # typed ids are at most 128 characters
_TAG = 32  # Kite tags are at most 20 characters; room to spare
_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # INTEGER PRIMARY KEY on SQLite


def _ts(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def _serial() -> sa.Column[object]:
    return sa.Column("id", _SERIAL, autoincrement=True, nullable=False)


def upgrade() -> None:
    op.create_table(
        "risk_verdicts",
        _serial(),
        sa.Column("subject_id", sa.String(_ID), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        _ts("ts_event"),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_risk_verdicts"),
    )
    op.create_index("ix_risk_verdicts_subject_id_id", "risk_verdicts", ["subject_id", "id"])

    op.create_table(
        "orders",
        sa.Column("client_tag", sa.String(_TAG), nullable=False),
        sa.Column("subject_id", sa.String(_ID), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("slice_index", sa.Integer(), nullable=False),
        sa.Column("instrument_token", sa.BigInteger(), nullable=False),
        _ts("created_at"),
        sa.Column("reference_price", sa.Float(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("client_tag", name="pk_orders"),
        sa.UniqueConstraint("subject_id", "slice_index", name="uq_orders_subject_id_slice_index"),
    )
    op.create_index("ix_orders_instrument_token", "orders", ["instrument_token"])

    op.create_table(
        "order_events",
        _serial(),
        sa.Column("client_tag", sa.String(_TAG), nullable=False),
        sa.Column("order_id", sa.String(_ID), nullable=True),
        sa.Column("status", sa.String(24), nullable=False),
        _ts("ts_event"),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_order_events"),
        sa.ForeignKeyConstraint(
            ["client_tag"], ["orders.client_tag"], name="fk_order_events_client_tag_orders"
        ),
    )
    op.create_index("ix_order_events_client_tag_id", "order_events", ["client_tag", "id"])

    op.create_table(
        "fills",
        sa.Column("trade_id", sa.String(_ID), nullable=False),
        sa.Column("order_id", sa.String(_ID), nullable=False),
        sa.Column("client_tag", sa.String(_TAG), nullable=True),
        sa.Column("instrument_token", sa.BigInteger(), nullable=False),
        _ts("ts_event"),
        sa.Column("slippage", sa.Float(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("trade_id", name="pk_fills"),
    )
    op.create_index("ix_fills_ts_event", "fills", ["ts_event"])
    op.create_index("ix_fills_client_tag", "fills", ["client_tag"])

    op.create_table(
        "position_adjustments",
        _serial(),
        sa.Column("instrument_token", sa.BigInteger(), nullable=False),
        sa.Column("product", sa.String(8), nullable=False),
        sa.Column("tradingsymbol", sa.String(64), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("average_price", sa.Float(), nullable=False),
        _ts("ts_event"),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_position_adjustments"),
    )

    op.create_table(
        "kill_switch_events",
        _serial(),
        sa.Column("engaged", sa.Boolean(), nullable=False),
        _ts("ts_event"),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_kill_switch_events"),
    )

    op.create_table(
        "reconciliation_findings",
        _serial(),
        _ts("ts_event"),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reconciliation_findings"),
    )
    op.create_index("ix_reconciliation_findings_ts_event", "reconciliation_findings", ["ts_event"])


def downgrade() -> None:
    for table in (
        "reconciliation_findings",
        "kill_switch_events",
        "position_adjustments",
        "fills",
        "order_events",
        "orders",
        "risk_verdicts",
    ):
        op.drop_table(table)
