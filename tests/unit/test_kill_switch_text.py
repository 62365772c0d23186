"""The kill switch is never refused for its note: text a store cannot keep is replaced."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from execution.orders.kill_switch import engage
from tests.unit.test_executor import World


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(f"sqlite:///{tmp_path / 'kitepilot.db'}")
    yield w
    w.store.close()


def test_kill_with_undecodable_terminal_bytes_in_its_note_still_engages(world: World) -> None:
    # What `kitepilot kill --reason $'\xff'` gives Python: a lone surrogate.
    note = b"panic \xff".decode("utf-8", "surrogateescape")

    engage(world.executor, "operator", note)

    state = world.oms.kill_switch()
    assert state.engaged
    assert state.reason == "panic ?"
