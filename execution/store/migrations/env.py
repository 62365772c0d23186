"""Alembic environment of the operational store.

``SqlStore.open`` runs the migrations on its own connection, inside a transaction it has already
begun (and, on SQLite, locked with ``BEGIN IMMEDIATE``), passed in ``config.attributes
["connection"]``: the migration and the version stamp commit together, and a second process
opening the same database waits, then finds it at head. Without a connection (``alembic``
commands run by a developer, see docs/store.md) the URL in ``sqlalchemy.url`` is used, or the SQL
is printed in offline mode.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from execution.store.tables import UtcDateTime, metadata


def _render_item(kind: str, item: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Autogenerate writes UtcDateTime as the plain type: a migration never imports app code."""
    if kind == "type" and isinstance(item, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters by table copy
        render_item=_render_item,
        compare_type=True,
    )


def _run_offline() -> None:
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    connection = context.config.attributes.get("connection")
    if isinstance(connection, Connection):
        _configure(connection)
        context.run_migrations()  # inside the caller's transaction, committed by the caller
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url or pass a connection in config.attributes")
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as own:
        _configure(own)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    _run_offline()
else:
    _run_online()
