"""Persistence of the paper exchange: append-only tables in SQLite (SQLAlchemy 2).

Three tables, each appended to and never updated: ``order_states`` (one JSON row per state of an
order: its history), ``trades`` and ``ledger`` (cash movements). A venue writes each operation's
rows in one transaction (:meth:`VenueStore.append`) and restores from :meth:`VenueStore.load`, so
a restart of the exchange gives back the same orders, trades, positions and cash.

``VenueStore("sqlite:///var/paper_exchange.db")`` for a file (WAL), ``VenueStore("sqlite://")``
in memory (tests).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    insert,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool

__all__ = ["StoredVenue", "VenueStore"]

_metadata = MetaData()
_order_states = Table(
    "paper_order_states",
    _metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("order_id", String(32), nullable=False, index=True),
    Column("state", Text, nullable=False),
)
_trades = Table(
    "paper_trades",
    _metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("trade_id", String(32), nullable=False, unique=True),
    Column("trade", Text, nullable=False),
)
_ledger = Table(
    "paper_ledger",
    _metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("entry", Text, nullable=False),
)


@dataclass(frozen=True, slots=True)
class StoredVenue:
    """Everything a venue restores from, in the order it was written."""

    order_states: list[dict[str, Any]]
    trades: list[dict[str, Any]]
    ledger: list[dict[str, Any]]


class VenueStore:
    """Append-only storage of order states, trades and the cash ledger."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine = _engine(url)
        _metadata.create_all(self._engine)

    def append(
        self,
        *,
        order_states: Iterable[Mapping[str, Any]] = (),
        trades: Iterable[Mapping[str, Any]] = (),
        ledger: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        """Write one operation's rows in one transaction (all or nothing)."""
        states = [{"order_id": s["order_id"], "state": _dump(s)} for s in order_states]
        trade_rows = [{"trade_id": t["trade_id"], "trade": _dump(t)} for t in trades]
        entries = [{"entry": _dump(e)} for e in ledger]
        if not (states or trade_rows or entries):
            return
        with self._engine.begin() as connection:
            if states:
                connection.execute(insert(_order_states), states)
            if trade_rows:
                connection.execute(insert(_trades), trade_rows)
            if entries:
                connection.execute(insert(_ledger), entries)

    def load(self) -> StoredVenue:
        with self._engine.connect() as connection:
            states = connection.execute(select(_order_states.c.state).order_by(_order_states.c.seq))
            trades = connection.execute(select(_trades.c.trade).order_by(_trades.c.seq))
            ledger = connection.execute(select(_ledger.c.entry).order_by(_ledger.c.seq))
            return StoredVenue(
                order_states=[json.loads(row[0]) for row in states],
                trades=[json.loads(row[0]) for row in trades],
                ledger=[json.loads(row[0]) for row in ledger],
            )

    def close(self) -> None:
        self._engine.dispose()


def _dump(value: Mapping[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _engine(url: str) -> Engine:
    if url in ("sqlite://", "sqlite:///:memory:"):
        # One shared connection, or every checkout would see a new empty database.
        return create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    return engine
