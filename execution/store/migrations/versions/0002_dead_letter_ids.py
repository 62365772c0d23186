"""Dead letters get an id (``DeadLetter.letter_id``), unique, so a replay re-run after a crash
stores each refused datum once.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: letters stored before this revision have none (and NULLs never collide).
    op.add_column("dead_letters", sa.Column("letter_id", sa.String(32), nullable=True))
    op.create_index("uq_dead_letters_letter_id", "dead_letters", ["letter_id"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_dead_letters_letter_id", table_name="dead_letters")
    with op.batch_alter_table("dead_letters") as batch:
        batch.drop_column("letter_id")
