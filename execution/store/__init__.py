"""The operational store: proposals, decisions, exits, open trades, dead letters and streaming
metrics in SQLite (WAL, the default) or PostgreSQL, one schema migrated by Alembic.

``SqlStore.open("sqlite:///var/kitepilot.db")`` implements ``data_contracts.ports.ProposalStore``,
``TradeBook`` and ``FeedLog``. See docs/store.md.
"""

from execution.store.sql import SqlStore, StatusEvent

__all__ = ["SqlStore", "StatusEvent"]
