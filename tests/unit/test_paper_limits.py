"""Kite's rate limits on the paper exchange: sliding windows on an injected clock (no sleeps)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from data_contracts.clock import ManualClock
from data_contracts.errors import ContractError
from execution.paper.limits import KITE_LIMITS, RateLimiter, RouteClass, Window
from execution.paper.types import KiteApiError

T0 = datetime(2026, 8, 18, 4, 0, tzinfo=UTC)  # 09:30 IST


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


def _admitted(limiter: RateLimiter, route: RouteClass, n: int, key: str = "k") -> int:
    admitted = 0
    for _ in range(n):
        try:
            limiter.admit(key, route)
        except KiteApiError:
            continue
        admitted += 1
    return admitted


@pytest.mark.parametrize(
    ("route", "per_second"),
    [
        (RouteClass.QUOTE, 1),
        (RouteClass.HISTORICAL, 3),
        (RouteClass.ORDER_PLACE, 10),
        (RouteClass.ORDER_MODIFY, 10),
        (RouteClass.ORDER_CANCEL, 10),
        (RouteClass.OTHER, 10),
    ],
)
def test_limiter_admits_kites_per_second_limit_then_429(
    clock: ManualClock, route: RouteClass, per_second: int
) -> None:
    limiter = RateLimiter(clock)

    assert _admitted(limiter, route, per_second) == per_second
    with pytest.raises(KiteApiError) as caught:
        limiter.admit("k", route)

    assert (caught.value.error_type, caught.value.http_status) == ("NetworkException", 429)
    assert caught.value.message == "Too many requests"


def test_limiter_window_slides_after_one_second(clock: ManualClock) -> None:
    limiter = RateLimiter(clock)
    limiter.admit("k", RouteClass.QUOTE)

    clock.advance(timedelta(milliseconds=999))
    with pytest.raises(KiteApiError):
        limiter.admit("k", RouteClass.QUOTE)
    clock.advance(timedelta(milliseconds=1))

    limiter.admit("k", RouteClass.QUOTE)  # exactly one second later: admitted


def test_limiter_session_routes_are_unlimited(clock: ManualClock) -> None:
    assert _admitted(RateLimiter(clock), RouteClass.SESSION, 1000) == 1000


def test_limiter_keys_and_route_classes_are_separate(clock: ManualClock) -> None:
    limiter = RateLimiter(clock)
    limiter.admit("a", RouteClass.QUOTE)

    limiter.admit("b", RouteClass.QUOTE)
    limiter.admit("a", RouteClass.HISTORICAL)


def test_limiter_modify_and_place_share_the_order_second(clock: ManualClock) -> None:
    limiter = RateLimiter(clock)
    assert _admitted(limiter, RouteClass.ORDER_PLACE, 6) == 6

    assert _admitted(limiter, RouteClass.ORDER_MODIFY, 6) == 4


def test_limiter_orders_per_minute_cap_is_400(clock: ManualClock) -> None:
    limiter = RateLimiter(clock)
    admitted = 0
    for _ in range(50):  # 10/s for 50 s would be 500
        admitted += _admitted(limiter, RouteClass.ORDER_PLACE, 10)
        clock.advance(timedelta(seconds=1))

    assert admitted == 400
    clock.advance(timedelta(seconds=11))  # the first second's orders leave the minute
    assert _admitted(limiter, RouteClass.ORDER_PLACE, 10) == 10


def test_limiter_orders_per_day_resets_at_ist_midnight(clock: ManualClock) -> None:
    limits = dict(KITE_LIMITS) | {RouteClass.ORDER_PLACE: (Window("day", 3, None),)}
    limiter = RateLimiter(clock, limits)
    assert _admitted(limiter, RouteClass.ORDER_PLACE, 5) == 3

    clock.set(datetime(2026, 8, 18, 18, 29, 59, tzinfo=UTC))  # 23:59:59 IST, same day
    assert _admitted(limiter, RouteClass.ORDER_PLACE, 1) == 0
    clock.set(datetime(2026, 8, 18, 18, 30, tzinfo=UTC))  # 00:00 IST next day

    assert _admitted(limiter, RouteClass.ORDER_PLACE, 5) == 3


def test_limiter_refused_requests_do_not_count(clock: ManualClock) -> None:
    limiter = RateLimiter(clock)
    limiter.admit("k", RouteClass.QUOTE)
    for _ in range(5):
        clock.advance(timedelta(milliseconds=100))
        with pytest.raises(KiteApiError):
            limiter.admit("k", RouteClass.QUOTE)

    clock.advance(timedelta(milliseconds=500))  # one second after the one admitted request

    limiter.admit("k", RouteClass.QUOTE)


def test_limiter_missing_route_class_is_refused(clock: ManualClock) -> None:
    limits = {RouteClass.QUOTE: ()}

    with pytest.raises(ContractError, match="must cover every route"):
        RateLimiter(clock, limits)


@given(st.lists(st.integers(min_value=0, max_value=400), min_size=1, max_size=200))
def test_limiter_never_admits_more_than_the_limit_in_any_second(gaps_ms: list[int]) -> None:
    clock = ManualClock(T0)
    limiter = RateLimiter(clock)
    admitted: list[datetime] = []
    for gap in gaps_ms:
        clock.advance(timedelta(milliseconds=gap))
        try:
            limiter.admit("k", RouteClass.HISTORICAL)
        except KiteApiError:
            continue
        admitted.append(clock.now())

    for i, start in enumerate(admitted):
        in_window = [t for t in admitted[i:] if t < start + timedelta(seconds=1)]
        assert len(in_window) <= 3
