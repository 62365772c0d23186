"""MLflow's URIs are process-global: the registry holds them for one session at a time, so a
champion loading on the worker's watcher thread cannot pull them out from under a look-up on the
flow's thread. Its progress bars are off for the whole process, and no session removes an
environment variable (a thread copying os.environ — any subprocess start — meets a key removed
mid-copy as a KeyError; MLflow itself only sets its URI variables, which a copy survives)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from data_contracts.clock import SystemClock
from models.registry.adapter import MlflowRegistry

_BAR = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"


def test_a_second_thread_waits_until_the_first_session_has_put_mlflow_back(
    tmp_path: Path,
) -> None:
    def registry(name: str) -> MlflowRegistry:
        uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
        return MlflowRegistry(uri, tmp_path / "artifacts", name, clock=SystemClock())

    first, second = registry("first"), registry("second")
    inside, release = threading.Event(), threading.Event()
    seen_by_first: list[str | None] = []

    def hold() -> None:
        with first._session():  # the guarded internal is what is under test
            inside.set()
            release.wait(5)
            seen_by_first.append(os.environ.get(_BAR))

    def enter_and_leave() -> None:
        with second._session():
            pass

    holder = threading.Thread(target=hold)
    holder.start()
    assert inside.wait(5)
    other = threading.Thread(target=enter_and_leave)
    other.start()
    other.join(0.3)
    blocked = other.is_alive()  # it may not enter (and, leaving, pop the variable) meanwhile
    release.set()
    holder.join(5)
    other.join(5)

    assert blocked
    assert seen_by_first == ["false"]


def test_sessions_remove_no_environment_variable_and_mlflows_bars_stay_off(
    tmp_path: Path,
) -> None:
    registry = MlflowRegistry(
        f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "artifacts", "m", clock=SystemClock()
    )
    before = dict(os.environ)

    with registry._session():  # the guarded internal is what is under test
        inside = dict(os.environ)

    assert set(before) <= set(inside)
    assert set(before) <= set(os.environ)
    assert inside[_BAR] == os.environ[_BAR] == "false"
