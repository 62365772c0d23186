"""Clocks: the manual (market) clock never moves backwards and refuses naive times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from data_contracts.clock import ManualClock, SystemClock
from data_contracts.errors import ContractError
from data_contracts.ports import Clock

T0 = datetime(2026, 8, 18, 3, 45, tzinfo=UTC)


def test_both_clocks_satisfy_the_port() -> None:
    assert isinstance(SystemClock(), Clock)
    assert isinstance(ManualClock(T0), Clock)


def test_system_clock_is_aware_utc() -> None:
    assert SystemClock().now().utcoffset() == timedelta(0)


def test_manual_clock_moves_forward_only() -> None:
    clock = ManualClock(T0)

    clock.advance(timedelta(seconds=5))
    clock.set(T0 + timedelta(minutes=1))

    assert clock.now() == T0 + timedelta(minutes=1)
    with pytest.raises(ContractError, match="must not be before"):
        clock.set(T0)
    with pytest.raises(ContractError, match=r"ManualClock\.by must be >= 0"):
        clock.advance(timedelta(seconds=-1))


def test_manual_clock_rejects_naive_time() -> None:
    with pytest.raises(ContractError, match="must be timezone-aware"):
        ManualClock(datetime(2026, 8, 18, 9, 15))  # noqa: DTZ001 - the naive value under test
