"""``kitepilot stream`` as a user runs it: replaying the lake through the worker into the store,
and the clear refusals (live without `mode: live`, `--to` without `--from`, no paper exchange)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from execution.store import SqlStore
from orchestration.cli import app
from tests.stream_world import REPLAY_DAY, World, session_base, stream_world

pytestmark = pytest.mark.slow

runner = CliRunner()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return stream_world(session_base(tmp_path_factory))


def _env(world: World, database: Path, **extra: str) -> dict[str, str]:
    config = world.config(database)
    return {
        "KITEPILOT_STORAGE__VAR_DIR": str(database.parent / "var"),
        "KITEPILOT_STORAGE__LAKE_DIR": str(config.storage.lake_dir),
        "KITEPILOT_STORAGE__DATABASE_URL": config.storage.database_url,
        "KITEPILOT_STORAGE__MLFLOW_TRACKING_URI": config.storage.mlflow_tracking_uri,
        "KITEPILOT_STORAGE__MLFLOW_ARTIFACTS_DIR": str(config.storage.mlflow_artifacts_dir),
        "KITEPILOT_TRAINING__MODEL_NAME": config.training.model_name,
        "KITEPILOT_STRATEGY__MIN_EXPECTED_NET_PROFIT": str(config.strategy.min_expected_net_profit),
        **extra,
    }


def test_stream_replay_writes_proposals_and_reports_them(world: World, tmp_path: Path) -> None:
    database = tmp_path / "kitepilot.db"
    day = REPLAY_DAY.isoformat()

    result = runner.invoke(
        app, ["stream", "--from", day, "--to", day, "--until", "10:00"], env=_env(world, database)
    )

    assert result.exit_code == 0, result.output
    stored = int(re.search(r"proposals stored: (\d+)", result.output).group(1))
    with SqlStore.open(f"sqlite:///{database}") as store:
        metrics = store.latest_metrics()
    assert stored > 0
    assert sum(m["ticks"] for m in metrics.values()) > 1000
    assert "tick→proposal p50" in result.output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["stream", "--live"], "must be 'live'"),
        (["stream", "--to", "2026-07-09"], "needs --from"),
        (["stream", "--from", "2026-07-09", "--until", "25:99"], "must be a time as HH:MM"),
        (["stream"], "must have a running paper exchange"),
    ],
)
def test_stream_refuses_with_a_clear_message(
    world: World, tmp_path: Path, arguments: list[str], message: str
) -> None:
    env = _env(world, tmp_path / "kitepilot.db", KITEPILOT_PAPER_EXCHANGE__PORT="1")

    result = runner.invoke(app, arguments, env=env)

    assert result.exit_code != 0
    assert message in " ".join(result.output.split())
