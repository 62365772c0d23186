"""Deterministic Kite client tags: one per (subject, slice), the key that makes sends idempotent.

Kite's ``tag`` is at most 20 alphanumerics. A tag is ``KP`` + 16 hex digits of the SHA-256 of the
subject id (a proposal, an exit, a kill-switch flatten) + the slice index in two base-36 digits, so
the same slice of the same subject always gets the same tag, across processes and restarts, and a
retry or a second executor can look it up at the broker before sending anything.
"""

from __future__ import annotations

import hashlib
from typing import Final

from data_contracts.errors import ContractError
from data_contracts.ids import ClientTag
from data_contracts.validation import integer, non_empty

__all__ = ["MAX_SLICES", "TAG_PREFIX", "client_tag", "is_our_tag"]

TAG_PREFIX: Final = "KP"
_DIGITS: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
MAX_SLICES: Final = len(_DIGITS) ** 2


def client_tag(subject_id: str, slice_index: int = 0) -> ClientTag:
    """The tag of slice ``slice_index`` of ``subject_id`` (20 characters)."""
    non_empty("client_tag", "subject_id", subject_id)
    integer("client_tag", "slice_index", slice_index, minimum=0)
    if slice_index >= MAX_SLICES:
        rule = f"must be < {MAX_SLICES} (two base-36 digits)"
        raise ContractError("client_tag", "slice_index", slice_index, rule, subject_id)
    digest = hashlib.sha256(subject_id.encode()).hexdigest()[:16].upper()
    high, low = divmod(slice_index, len(_DIGITS))
    return ClientTag(f"{TAG_PREFIX}{digest}{_DIGITS[high]}{_DIGITS[low]}")


def is_our_tag(tag: str | None) -> bool:
    """True for a tag this system could have written (reconciliation: orders we must know)."""
    return (
        tag is not None
        and len(tag) == 20
        and tag.startswith(TAG_PREFIX)
        and all(c in _DIGITS for c in tag[len(TAG_PREFIX) :])
    )
