"""The append-only, hash-chained audit log (docs/audit.md).

``AuditLog(directory, clock).append(kind, subject, payload)`` records one entry; ``entries(...)``
queries them; ``verify(directory)`` walks the chain and reports the first problem precisely.
"""

from execution.audit.log import (
    GENESIS_HASH,
    AuditEntry,
    AuditKind,
    AuditLog,
    AuditRecord,
    ChainReport,
    to_jsonable,
    verify,
)

__all__ = [
    "GENESIS_HASH",
    "AuditEntry",
    "AuditKind",
    "AuditLog",
    "AuditRecord",
    "ChainReport",
    "to_jsonable",
    "verify",
]
