"""The harness's child processes: ``python -m tests.reliability.child executor|kill``.

Both are the product's own composition (``orchestration.execution_cli``: ``build_executor``, the
``ExecutionService`` loop with WebSocket order updates, ``kill_switch.engage``) with one change:
the clock is the paper exchange's *market* clock, read from its admin endpoint
``GET /_paper/clock``, as ``kitepilot replay`` gives its in-process executor the exchange's
``ReplayClock``. ``kitepilot execute`` and ``kitepilot kill`` take the system clock, so against a
paper exchange replaying a past day they would see the market closed (see docs/RELIABILITY.md).

Configuration comes from the environment the harness sets (``KITEPILOT_*`` keys and
``KITEPILOT_CONFIG``); the working directory is the run's folder, so no ``.env`` or
``kitepilot.yaml`` of the developer's is read.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Final

import requests

from data_contracts.config import KitepilotConfig
from data_contracts.timeutil import IST, UTC
from execution.kite.order_updates import OrderUpdateFeed
from execution.orders.kill_switch import engage
from execution.orders.service import ExecutionService
from orchestration.broker_login import BrokerLogin, paper_session
from orchestration.execution_cli import build_executor
from orchestration.paper_cli import credentials
from orchestration.settings import load_config

ADMIN_HEADER: Final = "X-Paper-Admin"
_LOOP_WALL: Final = 0.02  # wall seconds between executor turns (as `kitepilot replay`)
_REFRESH_WALL: Final = 0.2  # wall seconds between reads of the exchange's clock


class ExchangeClock:
    """The paper exchange's market time: read from ``GET /_paper/clock`` at most every
    ``refresh`` wall seconds and carried forward between reads at the speed it reported. It
    never goes back (the exchange's time text has whole seconds: it lags by < 1 market s)."""

    def __init__(self, root: str, admin_token: str, *, refresh: float = _REFRESH_WALL) -> None:
        self._url = f"{root}/_paper/clock"
        self._headers = {ADMIN_HEADER: admin_token}
        self._refresh = refresh
        self._http = requests.Session()
        self._lock = threading.Lock()
        self._market = datetime.min.replace(tzinfo=UTC)
        self._speed = 0.0
        self._read_at = -1e9
        self._last = self._market
        if not self._sync(time.monotonic()):
            raise SystemExit(f"the paper exchange's clock did not answer at {self._url}")

    def _sync(self, wall: float) -> bool:
        try:
            answer = self._http.get(self._url, headers=self._headers, timeout=2.0)
            data = answer.json()["data"]
        except (requests.RequestException, ValueError, KeyError):
            return False  # carried forward until the next read
        stamp = datetime.strptime(data["market_time"], "%Y-%m-%d %H:%M:%S")  # noqa: DTZ007 - IST, next line
        self._market = stamp.replace(tzinfo=IST).astimezone(UTC)
        self._speed = float(data["speed"])
        self._read_at = wall
        return True

    def now(self) -> datetime:
        wall = time.monotonic()
        with self._lock:
            if wall - self._read_at >= self._refresh:
                self._sync(wall)
            ahead = timedelta(seconds=max(wall - self._read_at, 0.0) * self._speed)
            self._last = max(self._last, self._market + ahead)
            return self._last


class _Stop:
    def __init__(self) -> None:
        self.event = threading.Event()
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.event.set()


def _clock_and_login(config: KitepilotConfig) -> tuple[ExchangeClock, BrokerLogin]:
    endpoints = paper_session(config)
    secret, _ = credentials(config)
    if endpoints.rest_root is None:  # paper_session always points at the local exchange
        raise SystemExit("the paper session has no REST root")
    return ExchangeClock(endpoints.rest_root, secret.admin_token), BrokerLogin(endpoints)


def run_executor(ready: Path) -> int:
    """``kitepilot execute`` on the market clock: reconcile, write ``ready``, then the loop
    (WebSocket order updates, approvals, exits, polling, reconciliation, automatic kill-switch
    triggers) until SIGTERM. SIGKILL is what the harness sends to crash it."""
    stop = _Stop()
    config = load_config(dotenv_file=None)
    clock, login = _clock_and_login(config)
    executor = build_executor(config, login, clock=clock)
    service = ExecutionService(executor)
    endpoints = login.endpoints
    feed = OrderUpdateFeed(
        endpoints.api_key,
        endpoints.access_token,
        endpoints.ticker_root,
        clock,
        executor.on_order_update,
    )
    feed.start()
    try:
        findings = service.start()
        ready.write_text(
            json.dumps({"findings": [f"{f.kind}:{f.subject}" for f in findings]}),
            encoding="utf-8",
        )
        while not stop.event.is_set():
            service.run_once()
            stop.event.wait(_LOOP_WALL)
    finally:
        feed.close()
        executor.context.store.close()
    return 0


def run_kill(report: Path, actor: str, reason: str) -> int:
    """``kitepilot kill`` on the market clock: build the executor, engage, write what it did
    (with the wall times of each phase) to ``report``."""
    started = time.monotonic()
    config = load_config(dotenv_file=None)
    clock, login = _clock_and_login(config)
    executor = build_executor(config, login, clock=clock)
    built = time.monotonic()
    outcome = engage(executor, actor, reason)
    engaged = time.monotonic()
    executor.context.store.close()
    report.write_text(
        json.dumps(
            {
                "build_seconds": built - started,
                "engage_seconds": engaged - built,
                "cancelled": list(outcome.cancelled),
                "exits": [
                    {"subject": s.subject_id, "accepted": s.accepted, "reasons": list(s.reasons)}
                    for s in outcome.exits
                ],
                "engaged": outcome.state.engaged,
                "engage_started_monotonic": built,
                "engage_done_monotonic": engaged,
            }
        ),
        encoding="utf-8",
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.child")
    commands = parser.add_subparsers(dest="command", required=True)
    executor = commands.add_parser("executor")
    executor.add_argument("--ready", type=Path, required=True)
    kill = commands.add_parser("kill")
    kill.add_argument("--report", type=Path, required=True)
    kill.add_argument("--by", default="reliability-operator")
    kill.add_argument("--reason", default="kill switch drill under load")
    args = parser.parse_args(argv)
    if args.command == "executor":
        return run_executor(args.ready)
    return run_kill(args.report, args.by, args.reason)


if __name__ == "__main__":
    sys.exit(main())
