"""Read-only Kite requests: a 429 (nothing was done) is retried after a second, a few times."""

from __future__ import annotations

from typing import Any, cast

import kiteconnect.exceptions as kex
import pytest

from data_contracts.clock import SystemClock
from execution.kite.broker import BrokerUnavailable
from execution.kite.historical import KiteHistoricalSource
from execution.kite.readonly import RATE_LIMITED_RETRIES, KiteReadClient, KiteReadOnly


class BusyThenFine:
    access_token = "t"  # noqa: S105 - a test stand-in, not a credential

    def __init__(self, busy: int) -> None:
        self.busy = busy

    def ltp(self, *keys: str) -> dict[str, Any]:
        if self.busy:
            self.busy -= 1
            raise kex.NetworkException("Too many requests", code=429)
        return {key: {"last_price": 101.5} for key in keys}


def _view(client: BusyThenFine, slept: list[float]) -> KiteReadOnly:
    source = cast(KiteHistoricalSource, None)  # not used by ltp
    return KiteReadOnly(
        cast(KiteReadClient, client), source, SystemClock(), quote_rate=1e6, sleep=slept.append
    )


def test_ltp_rate_limited_is_retried_after_a_second() -> None:
    slept: list[float] = []

    prices = _view(BusyThenFine(busy=RATE_LIMITED_RETRIES), slept).ltp(["NSE:INFY"])

    assert prices == {"NSE:INFY": 101.5}
    assert slept == [1.0] * RATE_LIMITED_RETRIES


def test_ltp_still_rate_limited_after_the_retries_is_unavailable() -> None:
    slept: list[float] = []

    with pytest.raises(BrokerUnavailable):
        _view(BusyThenFine(busy=RATE_LIMITED_RETRIES + 1), slept).ltp(["NSE:INFY"])
    assert len(slept) == RATE_LIMITED_RETRIES
