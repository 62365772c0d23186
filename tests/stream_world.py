"""A small, real world for the streaming tests, built once per test session (a file lock keeps
``pytest -n 2`` workers from building it twice): simulated days in a lake (through the Dagster
daily job, so the batch ``features`` and ``labels`` tables are the batch side's own), and two real
XGBoost models registered in a real MLflow store — v1 the champion, v2 ready to be promoted.

The models are trained on the lake's real feature rows with a *synthetic* target (a win when RSI
is outside 45-55, for v2 inside it), so they are confident on a known share of bars and the
replayed day makes proposals; what the streaming tests check is the plumbing (parity, recovery,
hot swap), not whether the model is any good.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Final

import polars as pl

from data_contracts.clock import SystemClock
from data_contracts.config import KitepilotConfig
from models.features import CANDLE_FEATURES
from models.lake import Lake
from models.registry import MlflowRegistry
from models.training import TrainingConfig, train_model
from orchestration.data_cli import simulate_days
from orchestration.settings import load_config

FIRST: Final = date(2026, 7, 1)
REPLAY_DAY: Final = date(2026, 7, 9)  # the 7th trading day: enough history for the warm-up
MODEL: Final = "kitepilot-stream-test"
# Four NSE stocks of the simulated universe (tokens as the simulator's instruments dump has them).
TOKENS_USED: Final = 4


@dataclass(frozen=True)
class World:
    root: Path
    v1: str
    v2: str

    def config(self, database: Path | None = None, **overrides: str) -> KitepilotConfig:
        environ = _environ(self.root) | {
            f"KITEPILOT_{key}": value for key, value in overrides.items()
        }
        if database is not None:
            environ["KITEPILOT_STORAGE__DATABASE_URL"] = f"sqlite:///{database}"
        return load_config(environ=environ, dotenv_file=None)

    def registry(self, tracking_db: Path | None = None) -> MlflowRegistry:
        """The registry (or a copy of it whose aliases can move independently)."""
        return MlflowRegistry(
            f"sqlite:///{tracking_db or self.root / 'mlflow.db'}",
            self.root / "mlartifacts",
            MODEL,
            clock=SystemClock(),
        )

    @property
    def lake(self) -> Lake:
        return Lake(self.root / "lake")

    def equities(self) -> list[int]:
        """Tokens of the stocks the tests replay (a few, to keep the replay quick)."""
        instruments = self.lake.read("instruments", REPLAY_DAY)
        assert instruments is not None
        stocks = instruments.filter(
            (pl.col("segment") == "NSE") & (pl.col("instrument_type") == "EQ")
        )
        return sorted(stocks["instrument_token"].to_list())[:TOKENS_USED]


def _environ(root: Path) -> dict[str, str]:
    return {
        "KITEPILOT_STORAGE__VAR_DIR": str(root / "var"),
        "KITEPILOT_STORAGE__LAKE_DIR": str(root / "lake"),
        "KITEPILOT_STORAGE__REPORTS_DIR": str(root / "reports"),
        "KITEPILOT_STORAGE__DATABASE_URL": f"sqlite:///{root / 'kitepilot.db'}",
        "KITEPILOT_STORAGE__MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "KITEPILOT_STORAGE__MLFLOW_ARTIFACTS_DIR": str(root / "mlartifacts"),
        "KITEPILOT_DATA__SIMULATOR_START": "2026-06-01",
        "KITEPILOT_DATA__SIMULATOR_END": "2026-07-31",
        "KITEPILOT_TRAINING__MODEL_NAME": MODEL,
        # Sized within the risk engine's exposure cap (₹6,000 a position by default), the test
        # model's trades expect ₹25-45 net, under the default ₹150 threshold: the world lowers
        # the threshold (its labels, sized the same way, need no change) so that its replayed
        # mornings propose.
        "KITEPILOT_STRATEGY__MIN_EXPECTED_NET_PROFIT": "20",
    }


def session_base(factory: object) -> Path:
    """The folder one test session shares across its xdist workers."""
    basetemp: Path = factory.getbasetemp()  # type: ignore[attr-defined]
    return basetemp.parent if os.environ.get("PYTEST_XDIST_WORKER") else basetemp


def stream_world(base: Path) -> World:
    """The world under ``base`` (built on first use; later callers, in any process, reuse it)."""
    root = base / "stream-world"
    marker = root / "world.json"
    with (base / "stream-world.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not marker.exists():
            marker.parent.mkdir(parents=True, exist_ok=True)
            versions = _build(root)
            marker.write_text(json.dumps(versions), encoding="utf-8")
    versions = json.loads(marker.read_text(encoding="utf-8"))
    return World(root=root, v1=versions["v1"], v2=versions["v2"])


def _build(root: Path) -> dict[str, str]:
    config = load_config(environ=_environ(root), dotenv_file=None)
    home = root / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)  # runs and step logs stay in the world, not the repo
    try:
        simulate_days(config, FIRST, REPLAY_DAY)  # warnings (simulated price jumps) are fine
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = previous
    lake = Lake(root / "lake")
    assert REPLAY_DAY in lake.days("labels"), "the daily job did not write the replay day"
    train_days = [d for d in lake.days("features") if d < REPLAY_DAY]
    features = lake.scan("features", train_days[0], train_days[-1]).drop("date").collect()
    registry = MlflowRegistry(
        f"sqlite:///{root / 'mlflow.db'}", root / "mlartifacts", MODEL, clock=SystemClock()
    )
    rsi = pl.col(f"rsi_{CANDLE_FEATURES.params.rsi}")
    outside = (rsi > 55) | (rsi < 45)
    versions = {}
    for name, win in (("v1", outside), ("v2", ~outside)):
        rows = features.with_columns(
            win.alias("win"),
            pl.when(win).then(0.8).otherwise(-0.4).alias("net_return_pct"),
            (pl.col("ts_event") + timedelta(minutes=30)).alias("exit_ts"),
        ).sort("ts_event")
        model = train_model(
            rows,
            feature_columns=CANDLE_FEATURES.columns,
            feature_version=CANDLE_FEATURES.version,
            config=TrainingConfig(n_estimators=40, embargo_minutes=0),
        )
        registered = registry.log_training(
            model=model,
            params={"target": f"synthetic {name}"},
            metrics={"auc": 1.0},
            fold_metrics=[],
            artifacts={},
            lineage={"data_source": "simulator"},
            input_example=rows.select(
                "instrument_token", "ts_event", "feature_version", *CANDLE_FEATURES.columns
            ).head(5),
            run_name=f"stream-test-{name}",
        )
        versions[name] = registered.version
    registry.promote(versions["v1"])
    return versions
