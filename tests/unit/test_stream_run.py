"""How a stream run ends and where it keeps its recovery snapshots."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from bytewax.errors import BytewaxRuntimeError

from data_contracts.config import KitepilotConfig
from orchestration.broker_endpoints import BrokerEndpoints
from orchestration.settings import load_config
from orchestration.stream_cli import recovery_dir
from orchestration.stream_setup import FeedKind, StreamSpec
from streaming.run import is_interruption, short_gil_switch


def _caused_by(cause: BaseException) -> BytewaxRuntimeError:
    try:
        try:
            raise cause
        except BaseException as inner:
            raise BytewaxRuntimeError(
                "(src/outputs.rs:554:34): error writing output batch"
            ) from inner
    except BytewaxRuntimeError as error:
        return error


@pytest.mark.parametrize(
    ("error", "interrupted"),
    [
        (BytewaxRuntimeError("(src/run.rs:134:60): signal received"), True),
        (_caused_by(KeyboardInterrupt()), True),
        (_caused_by(ValueError("a real bug")), False),
        (BytewaxRuntimeError("(src/inputs.rs:453:50): error calling next_batch"), False),
    ],
)
def test_interrupted_tells_ctrl_c_from_a_failure(error: BaseException, interrupted: bool) -> None:
    assert is_interruption(error) is interrupted


@pytest.fixture
def config(tmp_path: Path) -> KitepilotConfig:
    return load_config(
        environ={"KITEPILOT_STORAGE__VAR_DIR": str(tmp_path / "var")}, dotenv_file=None
    )


def _spec(config: KitepilotConfig, feed: FeedKind, name: str) -> StreamSpec:
    session = BrokerEndpoints("key", "token", None, None) if feed is FeedKind.KITE else None
    return StreamSpec(config=config, feed=feed, session=session, worker_name=name)


@pytest.mark.parametrize(
    ("feed", "name", "resumes"),
    [
        (FeedKind.KITE, "live", True),  # Kite's market time only moves forward
        (FeedKind.KITE, "paper", False),  # a paper exchange replays its day from the open
        (FeedKind.REPLAY, "stream", False),  # a finished replay's snapshot replays nothing
    ],
)
def test_recovery_dir_only_for_live_runs(
    config: KitepilotConfig, feed: FeedKind, name: str, resumes: bool
) -> None:
    found = recovery_dir(config, _spec(config, feed, name))

    assert (found is not None) is resumes
    if found is not None:
        assert found.is_relative_to(config.storage.var_dir / "recovery")


def test_a_flow_runs_with_a_short_gil_switch_interval_and_restores_it() -> None:
    before = sys.getswitchinterval()

    with short_gil_switch(0.0007):
        during = sys.getswitchinterval()

    assert during == pytest.approx(min(before, 0.0007))
    assert sys.getswitchinterval() == before
