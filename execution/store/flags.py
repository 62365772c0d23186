"""Operator flags: switches a person sets from the dashboard or the CLI, seen by every process
through the store (append-only events; the latest per flag is its state)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

__all__ = ["FlagState", "OperatorFlag"]


class OperatorFlag(StrEnum):
    PROPOSALS_PAUSED = "proposals_paused"  # the streaming worker stores no new proposals


@dataclass(frozen=True, slots=True)
class FlagState:
    flag: OperatorFlag
    value: bool
    ts_event: datetime | None = None
    actor: str = ""
    reason: str = ""
