"""A client-side rate limiter for Kite's per-endpoint limits (reference ``kite-connect.md`` §1.5:
historical candles 3 req/s, quotes 1 req/s).

The limiter is a token bucket written as GCRA (the "generic cell rate algorithm"): it remembers
the theoretical arrival time of the next request instead of a token count, which gives the same
schedule with one number of state. Time comes from injected ``monotonic``/``sleep`` functions, so
tests run the schedule on a fake clock without sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from data_contracts.validation import integer, positive

__all__ = ["TokenBucket"]


class TokenBucket:
    """At most ``rate`` acquisitions per second on average, in bursts of at most ``burst``.

    With the default ``burst=1`` acquisitions are spaced at least ``1 / rate`` seconds apart, so
    any ``rate`` consecutive ones span at least one second: no half-open one-second window ever
    holds more than ``rate`` of them, which is how Kite counts "3 requests per second".
    Thread-safe; a caller that must wait sleeps while holding the lock, so callers are served in
    arrival order.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: int = 1,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._interval = 1.0 / positive("TokenBucket", "rate", rate)
        self._burst = integer("TokenBucket", "burst", burst, minimum=1)
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next: float | None = None  # theoretical arrival time of the next acquisition

    @property
    def rate(self) -> float:
        return 1.0 / self._interval

    def acquire(self) -> float:
        """Wait until a request may be sent; return the seconds waited (0.0 when none)."""
        with self._lock:
            now = self._monotonic()
            arrival = now if self._next is None else max(self._next, now)
            allowed_at = arrival - (self._burst - 1) * self._interval
            waited = 0.0
            if allowed_at > now:
                waited = allowed_at - now
                self._sleep(waited)
            self._next = arrival + self._interval
            return waited
