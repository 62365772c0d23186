"""A paused paper exchange and the environment a new ``kitepilot`` process needs to reach it:
what the tests of the kill path and of the exchange's market clock share (they run commands in
new processes, as users do)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from data_contracts.config import KitepilotConfig
from execution.paper.app import ExchangeSettings, build_exchange, open_market, run_in_thread
from orchestration.settings import load_config

ROOT = Path(__file__).resolve().parents[1]
API_KEY = "kitepilot_paper"
SECRET = "paper-process-secret"  # noqa: S105 - test value
ADMIN = "paper-process-admin"


@contextmanager
def paused_exchange(market: datetime, tokens: list[int]) -> Iterator[int]:
    """A simulated paper exchange paused at ``market`` (its market time is exactly that), on a
    free port: yields the port."""
    paper = build_exchange(
        open_market("sim", market.date(), seed=7, tokens=tokens),
        ExchangeSettings(API_KEY, SECRET, admin_token=ADMIN),
        database="sqlite://",
        starting_cash=1_000_000,
        speed=0,
        start=market,
    )
    with run_in_thread(paper) as running:
        port = urlsplit(running.url).port
        assert port is not None
        yield port


def paper_env(tmp_path: Path, port: int, database: str = "kitepilot.db") -> dict[str, str]:
    """Paper mode, a store under ``tmp_path/var`` and the exchange on ``port``."""
    var = tmp_path / "var"
    return {
        "KITEPILOT_MODE": "paper",
        "KITEPILOT_STORAGE__VAR_DIR": str(var),
        "KITEPILOT_STORAGE__DATABASE_URL": f"sqlite:///{var / database}",
        "KITEPILOT_PAPER_EXCHANGE__HOST": "127.0.0.1",
        "KITEPILOT_PAPER_EXCHANGE__PORT": str(port),
        "KITEPILOT_PAPER_EXCHANGE__API_KEY": API_KEY,
        "KITEPILOT_PAPER_EXCHANGE__API_SECRET": SECRET,
        "KITEPILOT_PAPER_EXCHANGE__ADMIN_TOKEN": ADMIN,
    }


def paper_config(tmp_path: Path, port: int, database: str = "kitepilot.db") -> KitepilotConfig:
    return load_config(environ=paper_env(tmp_path, port, database), dotenv_file=None)


def run_new_process(script: str, tmp_path: Path, port: int) -> subprocess.CompletedProcess[str]:
    """``script`` in a new Python process of this interpreter, in ``tmp_path``, with the paper
    environment (and no ``KITEPILOT_CONFIG`` of the caller's)."""
    env = {**os.environ, **paper_env(tmp_path, port), "PYTHONPATH": str(ROOT)}
    env.pop("KITEPILOT_CONFIG", None)
    return subprocess.run(  # noqa: S603 - our own interpreter and a fixed script
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
