"""``ExchangeClock``: the paper exchange's *market* time, for a process that does not run it.

In paper mode the clock is the market's (DESIGN §5): a paper exchange replaying a past day is at
that day's market time, whatever the wall clock says, and the executor's market-hours checks,
TTLs and square-off times must see the same time the exchange matches at. ``kitepilot replay``
runs the exchange in its own process and hands the executor its ``ReplayClock``; a separate
process (``kitepilot execute | kill | rearm``, the dashboard's actions) reads it here, from the
exchange's admin endpoint ``GET /_paper/clock`` (header ``X-Paper-Admin``).

The time is read at most every ``refresh`` wall seconds and carried forward between reads at the
speed the exchange reported (0 when paused). It never goes back: a read behind what was already
handed out (the exchange slowed or paused since, or its time text's whole seconds) leaves the
clock where it was until the market catches up. A failed read keeps carrying forward; only the
first read must answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

import requests

from data_contracts.errors import ContractError
from execution.paper.admin_api import ADMIN_HEADER, CLOCK_PATH, market_time_of

__all__ = ["ExchangeClock"]

_OWNER: Final = "ExchangeClock"
_REFRESH_WALL: Final = 0.2  # wall seconds between reads
_TIMEOUT: Final = 2.0  # wall seconds a read may take


class ExchangeClock:
    """A :class:`data_contracts.ports.Clock` over the market time of the paper exchange at
    ``root`` (``http://host:port``), read with its ``admin_token``.

    Raises :class:`ContractError` naming the URL if the exchange does not answer the first read.
    ``wall`` is the wall clock the carrying forward runs on (``time.monotonic``; tests pass a
    counter)."""

    def __init__(
        self,
        root: str,
        admin_token: str,
        *,
        refresh: float = _REFRESH_WALL,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = f"{root.rstrip('/')}{CLOCK_PATH}"
        self._headers = {ADMIN_HEADER: admin_token}
        self._refresh = refresh
        self._wall = wall
        self._http = requests.Session()
        self._lock = threading.Lock()
        first = self._wall()
        problem = self._read()
        if isinstance(problem, str):
            rule = f"must answer with the paper exchange's market time ({problem})"
            raise ContractError(_OWNER, "url", self._url, rule)
        self._market, self._speed = problem
        self._read_at = first
        self._last = self._market

    @property
    def url(self) -> str:
        return self._url

    @property
    def speed(self) -> float:
        """Market seconds per wall second, as last read (0: paused)."""
        with self._lock:
            return self._speed

    def now(self) -> datetime:
        with self._lock:
            wall = self._wall()
            if wall - self._read_at >= self._refresh:
                answer = self._read()
                if not isinstance(answer, str):  # else carried forward until the next read
                    self._market, self._speed = answer
                    self._read_at = wall
            ahead = timedelta(seconds=max(wall - self._read_at, 0.0) * self._speed)
            self._last = max(self._last, self._market + ahead)
            return self._last

    def close(self) -> None:
        self._http.close()

    def _read(self) -> tuple[datetime, float] | str:
        """The exchange's market time (UTC) and speed, or why it could not be read."""
        try:
            answer = self._http.get(self._url, headers=self._headers, timeout=_TIMEOUT)
        except requests.RequestException as error:
            return f"{type(error).__name__}: is `kitepilot paper-exchange` running there?"
        body: Any = None  # any JSON: a wrong shape is caught below
        try:
            body = answer.json()
            data = body["data"]
            stamp = market_time_of(data)
            speed = float(data["speed"])
        except (ValueError, KeyError, TypeError):
            said = body.get("message") if isinstance(body, dict) else None
            return f"HTTP {answer.status_code}" + (f": {said}" if said else ", not a clock")
        if not speed >= 0.0:  # NaN or negative: not a clock to carry forward
            return f"speed {speed!r}"
        return stamp, speed
