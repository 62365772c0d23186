"""Time zones and the one rule about timestamps: tz-aware always, stored in UTC, shown in IST."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from data_contracts.errors import ContractError

IST = ZoneInfo("Asia/Kolkata")

__all__ = ["IST", "UTC", "require_aware", "to_ist"]


def require_aware(owner: str, field: str, value: object) -> datetime:
    """Return ``value`` converted to UTC, or raise if it is not a tz-aware datetime."""
    if not isinstance(value, datetime):
        raise ContractError(owner, field, value, "must be a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ContractError(owner, field, value, "must be timezone-aware")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. the first hours of 0001-01-01 in IST: before datetime.min UTC
        raise ContractError(owner, field, value, "must be representable in UTC") from None


def to_ist(value: datetime) -> datetime:
    """An aware datetime shown in IST (raises on naive input rather than guessing a zone)."""
    return require_aware("datetime", "value", value).astimezone(IST)
