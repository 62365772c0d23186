"""``ReplayClock``: market time that runs from a start instant at ``speed`` times the wall clock.

``market = start + (wall() - wall0) * speed``. The wall clock is injected (``time.monotonic`` by
default, never the system's calendar time), so tests drive it with a plain counter. Changing the
speed or jumping re-anchors the clock at the current market time, so neither makes time go back:
the market time a clock hands out never decreases (a jump must go forward).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

from data_contracts.errors import ContractError
from data_contracts.timeutil import UTC, require_aware

__all__ = ["ReplayClock"]

_OWNER: Final = "ReplayClock"


class ReplayClock:
    """A :class:`data_contracts.ports.Clock` over replayed market time (UTC).

    ``speed`` is market seconds per wall second: 1 is real time, 60 a minute a second, 0 paused.
    """

    def __init__(
        self, start: datetime, speed: float = 1.0, wall: Callable[[], float] = time.monotonic
    ) -> None:
        self._wall = wall
        self._lock = threading.Lock()
        self._market0 = require_aware(_OWNER, "start", start).astimezone(UTC)
        self._speed = _speed(speed)
        self._wall0 = wall()
        self._last = self._market0

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> datetime:
        """The current market time (UTC), never earlier than one handed out before."""
        with self._lock:
            return self._now()

    def set_speed(self, speed: float) -> None:
        """Run at ``speed`` from now on (the market time reached so far is kept)."""
        checked = _speed(speed)
        with self._lock:
            self._anchor(self._now())
            self._speed = checked

    def jump(self, to: datetime) -> None:
        """Move market time to ``to`` and keep running from there at the same speed."""
        target = require_aware(_OWNER, "to", to).astimezone(UTC)
        with self._lock:
            current = self._now()
            if target < current:
                raise ContractError(
                    _OWNER, "to", to, f"must not be before the market time {current}"
                )
            self._anchor(target)

    def _now(self) -> datetime:
        elapsed = (self._wall() - self._wall0) * self._speed
        market = self._market0 + timedelta(seconds=max(elapsed, 0.0))
        self._last = max(self._last, market)  # an injected wall clock may step back
        return self._last

    def _anchor(self, market: datetime) -> None:
        self._market0 = market
        self._wall0 = self._wall()
        self._last = market


def _speed(speed: float) -> float:
    if isinstance(speed, bool) or not isinstance(speed, int | float) or not math.isfinite(speed):
        raise ContractError(_OWNER, "speed", speed, "must be a finite number")
    if speed < 0:
        raise ContractError(_OWNER, "speed", speed, "must be >= 0 (0 pauses the replay)")
    return float(speed)
