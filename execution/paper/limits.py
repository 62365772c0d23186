"""Kite's API rate limits, enforced server-side: a request over a limit gets HTTP 429.

Limits (reference ``kite-connect.md`` §1.5), per API key: quotes 1 request/s, historical candles
3/s, order placement 10/s and 400/min and 5,000 per day, every other endpoint 10/s. Modifying and
cancelling orders share the 10/s order window but not the per-minute or per-day placement counts.
The session routes (login, token exchange) are not limited.

Each limit is a sliding window: a request is admitted when fewer than ``limit`` admitted requests
lie in the last ``seconds``; the daily window is the IST calendar day. A refused request does not
count (so a client that backs off is served again as soon as the window allows). Time comes from
the injected clock: the exchange passes the wall clock, because rate limits are about how fast the
client really calls, whatever the replay speed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from data_contracts.errors import ContractError
from data_contracts.ports import Clock
from data_contracts.timeutil import to_ist
from data_contracts.validation import integer, positive
from execution.paper.types import KiteApiError

__all__ = ["KITE_LIMITS", "RateLimiter", "RouteClass", "Window", "too_many_requests"]


class RouteClass(StrEnum):
    """What a route is, for rate limits and fault injection."""

    SESSION = "session"
    QUOTE = "quote"
    HISTORICAL = "historical"
    ORDER_PLACE = "order_place"
    ORDER_MODIFY = "order_modify"
    ORDER_CANCEL = "order_cancel"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Window:
    """At most ``limit`` requests in any ``seconds`` (None: per IST calendar day)."""

    name: str
    limit: int
    seconds: float | None

    def __post_init__(self) -> None:
        integer("Window", "limit", self.limit, minimum=1, subject=self.name)
        if self.seconds is not None:
            positive("Window", "seconds", self.seconds, subject=self.name)


_QUOTE = Window("quote", 1, 1.0)
_HISTORICAL = Window("historical", 3, 1.0)
_ORDERS_PER_SECOND = Window("orders_per_second", 10, 1.0)
_ORDERS_PER_MINUTE = Window("orders_per_minute", 400, 60.0)
_ORDERS_PER_DAY = Window("orders_per_day", 5000, None)
_OTHER = Window("other", 10, 1.0)

KITE_LIMITS: Final[Mapping[RouteClass, tuple[Window, ...]]] = MappingProxyType(
    {
        RouteClass.SESSION: (),
        RouteClass.QUOTE: (_QUOTE,),
        RouteClass.HISTORICAL: (_HISTORICAL,),
        RouteClass.ORDER_PLACE: (_ORDERS_PER_SECOND, _ORDERS_PER_MINUTE, _ORDERS_PER_DAY),
        RouteClass.ORDER_MODIFY: (_ORDERS_PER_SECOND,),
        RouteClass.ORDER_CANCEL: (_ORDERS_PER_SECOND,),
        RouteClass.OTHER: (_OTHER,),
    }
)


def too_many_requests() -> KiteApiError:
    """Kite's answer to a request over a limit (HTTP 429)."""
    return KiteApiError("NetworkException", "Too many requests", http_status=429)


class _Counter:
    """Admitted request times of one (key, window)."""

    __slots__ = ("day", "times")

    def __init__(self) -> None:
        self.times: deque[datetime] = deque()
        self.day: date | None = None

    def count(self, window: Window, now: datetime) -> int:
        if window.seconds is None:
            today = to_ist(now).date()
            if self.day != today:
                self.day = today
                self.times.clear()
        else:
            horizon = now - timedelta(seconds=window.seconds)
            while self.times and self.times[0] <= horizon:
                self.times.popleft()
        return len(self.times)


class RateLimiter:
    """Per-key sliding-window limits; :meth:`admit` raises the 429 ``KiteApiError``."""

    def __init__(
        self,
        clock: Clock,
        limits: Mapping[RouteClass, tuple[Window, ...]] = KITE_LIMITS,
    ) -> None:
        missing = [route.value for route in RouteClass if route not in limits]
        if missing:
            raise ContractError("RateLimiter", "limits", sorted(missing), "must cover every route")
        self._clock = clock
        self._limits = dict(limits)
        self._counters: dict[tuple[str, str], _Counter] = {}

    def admit(self, key: str, route: RouteClass) -> None:
        """Count one request of ``route`` by ``key`` (an API key), or raise HTTP 429 without
        counting it when any of the route's windows is full."""
        windows = self._limits[route]
        if not windows:
            return
        now = self._clock.now()
        counters = [self._counters.setdefault((key, w.name), _Counter()) for w in windows]
        for window, counter in zip(windows, counters, strict=True):
            if counter.count(window, now) >= window.limit:
                raise too_many_requests()
        for counter in counters:
            counter.times.append(now)
