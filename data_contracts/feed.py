"""What the live feed refuses: a dead letter keeps the refused datum, why, and when.

Nothing refused is ever used (no candle, feature or proposal sees it), and nothing refused is
lost: the store keeps every dead letter with its reason, and the feed counts them per reason.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from data_contracts.enums import DeadLetterReason
from data_contracts.timeutil import require_aware
from data_contracts.validation import instance_of, integer, non_empty

__all__ = ["DeadLetter"]

# The refused datum is kept as text, cut to this many characters (a tick is a few hundred).
MAX_PAYLOAD_CHARS = 4000


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A refused tick (or other feed datum).

    ``source`` names where it came from (``kite``, ``replay``, ...); ``payload`` is the datum as
    received, rendered as text; ``instrument_token`` and ``ts_event`` are set when they could be
    read from it; ``detail`` says what exactly was wrong (e.g. ``bid 101.0 > ask 100.5``).
    """

    source: str
    reason: DeadLetterReason
    ts_init: datetime
    payload: str
    detail: str = ""
    instrument_token: int | None = None
    ts_event: datetime | None = None

    def __post_init__(self) -> None:
        owner = "DeadLetter"
        non_empty(owner, "source", self.source)
        instance_of(owner, "reason", self.reason, DeadLetterReason)
        object.__setattr__(self, "ts_init", require_aware(owner, "ts_init", self.ts_init))
        instance_of(owner, "payload", self.payload, str)
        object.__setattr__(self, "payload", self.payload[:MAX_PAYLOAD_CHARS])
        if self.instrument_token is not None:
            integer(owner, "instrument_token", self.instrument_token)
        if self.ts_event is not None:
            object.__setattr__(self, "ts_event", require_aware(owner, "ts_event", self.ts_event))

    @property
    def letter_id(self) -> str:
        """A digest of everything the letter says: the same refused datum, refused the same way
        at the same time (a replay re-run after a crash), is the same letter and stored once."""
        parts = (
            self.source,
            self.reason.value,
            self.ts_init.isoformat(),
            "" if self.instrument_token is None else str(self.instrument_token),
            "" if self.ts_event is None else self.ts_event.isoformat(),
            self.detail,
            self.payload,
        )
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
