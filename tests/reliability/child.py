"""The harness's child processes: ``python -m tests.reliability.child executor|kill``.

Both are the product's own composition (``orchestration.execution_cli``: ``build_executor``, the
``ExecutionService`` loop with WebSocket order updates, ``kill_switch.engage``) with one change:
the clock is the paper exchange's *market* clock, read from its admin endpoint
``GET /_paper/clock`` (``execution.paper.exchange_clock.ExchangeClock``), as ``kitepilot replay``
gives its in-process executor the exchange's ``ReplayClock``. Since finding 8 (docs/RELIABILITY.md)
``kitepilot execute | kill | rearm`` take the same clock in paper mode, so this is their
composition as is; the child builds the clock itself only to hand it to the order-update feed.

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
from pathlib import Path
from types import FrameType
from typing import Final

from data_contracts.config import KitepilotConfig
from execution.kite.order_updates import OrderUpdateFeed
from execution.orders.service import ExecutionService
from execution.paper.exchange_clock import ExchangeClock
from orchestration.broker_login import BrokerLogin, paper_session
from orchestration.execution_cli import build_executor
from orchestration.paper_credentials import credentials
from orchestration.settings import load_config

_LOOP_WALL: Final = 0.02  # wall seconds between executor turns (as `kitepilot replay`)


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.child")
    commands = parser.add_subparsers(dest="command", required=True)
    executor = commands.add_parser("executor")
    executor.add_argument("--ready", type=Path, required=True)
    args = parser.parse_args(argv)
    return run_executor(args.ready)


if __name__ == "__main__":
    sys.exit(main())
