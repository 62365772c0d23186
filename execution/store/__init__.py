"""The operational store: proposals, decisions, exits, open trades, dead letters and streaming
metrics in SQLite (WAL, the default) or PostgreSQL, one schema migrated by Alembic.

``SqlStore.open("sqlite:///var/kitepilot.db")`` implements ``data_contracts.ports.ProposalStore``,
``TradeBook`` and ``FeedLog``; ``OmsStore.of(store)`` holds the order management system's tables
(verdicts, orders, fills, kill switch, reconciliation). See docs/store.md.
"""

from execution.store.flags import FlagState, OperatorFlag
from execution.store.oms import (
    Finding,
    KillSwitchState,
    OmsStore,
    OrderPurpose,
    OrderRecord,
    PositionAdjustment,
    StoredFill,
    StoredVerdict,
)
from execution.store.sql import SqlStore, StatusEvent

__all__ = [
    "Finding",
    "FlagState",
    "KillSwitchState",
    "OmsStore",
    "OperatorFlag",
    "OrderPurpose",
    "OrderRecord",
    "PositionAdjustment",
    "SqlStore",
    "StatusEvent",
    "StoredFill",
    "StoredVerdict",
]
