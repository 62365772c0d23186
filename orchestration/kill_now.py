"""The first thing ``kitepilot kill`` does, before anything slow is imported: record the kill
switch engaged, so the account is halted at once (approvals refused, entries vetoed) and a running
executor makes it flat in its next turn (``execution.orders.service``); the command then does the
whole of it itself too (``execution.orders.kill_switch.engage``), in case no executor is running.

A kill's whole budget is two seconds, and on a busy machine a new process gets a small share of
the CPU: every module imported before the record costs several times its idle import time. So
the record is written with the standard library where it can be — an SQLite store that already
exists (``sqlite3``: one row of ``kill_switch_events``, stored as the store's own SQLAlchemy
columns store it), stamped with the paper exchange's market time read over ``http.client`` —
and the store's own way (``SqlStore``: SQLAlchemy, Alembic's migration to the latest schema,
~0.3 s of imports) only for a new database, PostgreSQL, or when the quick way fails.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Final
from urllib.parse import unquote

from data_contracts.clock import SystemClock
from data_contracts.config import KitepilotConfig
from data_contracts.enums import TradingMode
from data_contracts.errors import ContractError
from data_contracts.validation import storable
from execution.paper.admin_api import ADMIN_HEADER, CLOCK_PATH, market_time_of

__all__ = ["halt", "market_now"]

_SQLITE_SCHEMES: Final = ("sqlite:///", "sqlite+pysqlite:///")
_BUSY_SECONDS: Final = 5.0  # as the store's busy_timeout: wait for another writer's commit
_ENGAGED: Final = "SELECT engaged FROM kill_switch_events ORDER BY id DESC LIMIT 1"
_RECORD: Final = (
    "INSERT INTO kill_switch_events (engaged, ts_event, actor, reason) VALUES (1, ?, ?, ?)"
)
# SQLAlchemy's SQLite DATETIME text (``UtcDateTime`` columns): UTC, microseconds always.
_STORED_TIME: Final = "%Y-%m-%d %H:%M:%S.%f"
_CLOCK_TIMEOUT: Final = 2.0  # as ExchangeClock's (whose module needs `requests`: 70 ms at rest)


def halt(config: KitepilotConfig, actor: str, reason: str) -> bool:
    """Record the kill switch engaged now (on the market's clock); False when it already was."""
    actor, reason = storable(actor), storable(reason)
    database = _sqlite_file(config.storage.database_url)
    if database is not None:
        try:
            return _halt_sqlite(database, config, actor, reason)
        except sqlite3.Error:  # e.g. a database not migrated yet: the store's way migrates it
            pass
    return _halt_store(config, actor, reason)


def _halt_sqlite(database: Path, config: KitepilotConfig, actor: str, reason: str) -> bool:
    # mode=rw: an existing database only (a new one is the store's to create and migrate).
    connection = sqlite3.connect(
        f"{database.resolve().as_uri()}?mode=rw",
        uri=True,
        timeout=_BUSY_SECONDS,
        isolation_level=None,  # autocommit: the transaction below is ours
    )
    try:
        if _engaged(connection):
            return False
        now = _now(config)  # read before the write lock is taken, not while it is held
        connection.execute("BEGIN IMMEDIATE")
        if _engaged(connection):  # engaged by another process meanwhile
            connection.execute("ROLLBACK")
            return False
        stamp = now.astimezone(UTC).strftime(_STORED_TIME)
        connection.execute(_RECORD, (stamp, actor, reason))
        connection.execute("COMMIT")
    finally:
        connection.close()  # an open transaction (an error above) is rolled back
    return True


def _engaged(connection: sqlite3.Connection) -> bool:
    row = connection.execute(_ENGAGED).fetchone()
    return row is not None and bool(row[0])


def _halt_store(config: KitepilotConfig, actor: str, reason: str) -> bool:
    from execution.store import OmsStore, SqlStore

    with SqlStore.open(config.storage.database_url) as store:
        oms = OmsStore.of(store)
        if oms.kill_switch().engaged:
            return False
        oms.record_kill_switch(True, _now(config), actor, reason)
    return True


def _sqlite_file(url: str) -> Path | None:
    """The file of an SQLite URL that exists (None: another backend, in memory, query options,
    or no such file yet)."""
    scheme = next((s for s in _SQLITE_SCHEMES if url.startswith(s)), None)
    if scheme is None:
        return None
    name = url[len(scheme) :]
    if not name or "?" in name or name.startswith(":memory:"):
        return None
    path = Path(unquote(name))  # as SQLAlchemy reads the URL's database part
    return path if path.is_file() else None


def _now(config: KitepilotConfig) -> datetime:
    """The market's time without a broker login: the paper exchange's market time, else the
    system's (``orchestration.execution_cli.market_clock`` for a logged-in session)."""
    if config.mode is TradingMode.LIVE:
        return SystemClock().now()
    from orchestration.paper_credentials import credentials

    secret, _ = credentials(config)
    paper = config.paper_exchange
    return market_now(paper.host, paper.port, secret.admin_token)


def market_now(host: str, port: int, admin_token: str) -> datetime:
    """The paper exchange's market time (UTC), read once from its clock endpoint as
    ``ExchangeClock`` reads it. Raises :class:`ContractError` naming the URL when the exchange
    does not answer with one."""
    import http.client
    import json

    try:
        connection = http.client.HTTPConnection(host, port, timeout=_CLOCK_TIMEOUT)
        try:
            connection.request("GET", CLOCK_PATH, headers={ADMIN_HEADER: admin_token})
            answer = connection.getresponse()
            body = answer.read()
        finally:
            connection.close()
        stamp = market_time_of(json.loads(body)["data"])
    except (OSError, http.client.HTTPException, ValueError, KeyError, TypeError) as error:
        url = f"http://{host}:{port}{CLOCK_PATH}"
        rule = f"must answer with the paper exchange's market time ({type(error).__name__})"
        raise ContractError("kill_switch", "url", url, rule) from None
    return stamp
