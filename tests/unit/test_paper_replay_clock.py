"""``ReplayClock``: market time = start + wall elapsed x speed, with speed changes and jumps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from data_contracts.errors import ContractError
from data_contracts.timeutil import IST
from execution.paper.replay_clock import ReplayClock

START = datetime(2026, 6, 3, 9, 15, tzinfo=IST)


class Wall:
    """A hand-driven wall clock (seconds)."""

    def __init__(self) -> None:
        self.seconds = 100.0

    def __call__(self) -> float:
        return self.seconds


@pytest.fixture
def wall() -> Wall:
    return Wall()


@pytest.mark.parametrize(
    ("speed", "elapsed", "expected"), [(1, 10, 10), (60, 2.5, 150), (0, 50, 0)]
)
def test_replay_clock_runs_at_speed(
    wall: Wall, speed: float, elapsed: float, expected: float
) -> None:
    clock = ReplayClock(START, speed, wall)

    wall.seconds += elapsed

    assert clock.now() == START + timedelta(seconds=expected)
    assert clock.now().tzinfo == UTC


def test_replay_clock_set_speed_keeps_the_time_reached(wall: Wall) -> None:
    clock = ReplayClock(START, 1, wall)
    wall.seconds += 10

    clock.set_speed(10)
    wall.seconds += 3

    assert clock.now() == START + timedelta(seconds=40)
    assert clock.speed == 10


def test_replay_clock_jump_forward_then_runs_on(wall: Wall) -> None:
    clock = ReplayClock(START, 2, wall)
    target = START + timedelta(hours=3)

    clock.jump(target)
    wall.seconds += 5

    assert clock.now() == target + timedelta(seconds=10)


def test_replay_clock_jump_backwards_raises(wall: Wall) -> None:
    clock = ReplayClock(START, 1, wall)
    wall.seconds += 60

    with pytest.raises(ContractError, match="must not be before"):
        clock.jump(START + timedelta(seconds=30))


def test_replay_clock_never_goes_back_when_the_wall_does(wall: Wall) -> None:
    clock = ReplayClock(START, 1, wall)
    wall.seconds += 20
    reached = clock.now()

    wall.seconds -= 15

    assert clock.now() == reached


@pytest.mark.parametrize("speed", [-1, float("nan"), float("inf"), True])
def test_replay_clock_bad_speed_raises(wall: Wall, speed: float) -> None:
    with pytest.raises(ContractError, match="speed"):
        ReplayClock(START, speed, wall)
    clock = ReplayClock(START, 1, wall)
    with pytest.raises(ContractError, match="speed"):
        clock.set_speed(speed)


def test_replay_clock_naive_start_raises(wall: Wall) -> None:
    with pytest.raises(ContractError, match="start"):
        ReplayClock(START.replace(tzinfo=None), 1, wall)
