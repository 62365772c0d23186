"""The paper exchange's admin clock endpoint as its clients read it: the path, the header that
carries the admin token, and the market time text of its answer. Standard library only, so the
kill switch's first step (``orchestration.kill_now``) can read the market time without loading an
HTTP client library; the REST app that serves it checks the same header."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from data_contracts.timeutil import IST, UTC

__all__ = ["ADMIN_HEADER", "CLOCK_PATH", "market_time_of"]

ADMIN_HEADER: Final = "X-Paper-Admin"
CLOCK_PATH: Final = "/_paper/clock"
_TIME_TEXT: Final = "%Y-%m-%d %H:%M:%S"  # Kite's IST time text (execution.paper.wire)


def market_time_of(data: Any) -> datetime:
    """The market time (UTC) in the ``data`` of a clock answer. Raises KeyError, TypeError or
    ValueError when it has none."""
    stamp = datetime.strptime(str(data["market_time"]), _TIME_TEXT)  # noqa: DTZ007 - IST below
    return stamp.replace(tzinfo=IST).astimezone(UTC)
