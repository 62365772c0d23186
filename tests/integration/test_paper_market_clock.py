"""Finding 8 (docs/RELIABILITY.md): in paper mode ``kitepilot execute | kill | rearm`` run on the
paper exchange's *market* clock, not the wall clock. A real paper exchange replays a past day
(paused at 11:00 IST) on a free port; the executor is composed exactly as the commands compose
it (``broker_session`` → ``build_executor`` with no clock), and ``kitepilot kill`` / ``rearm``
run through the real CLI. Finding 9: ``kitepilot kill`` as a new process imports none of the
streaming, batch, registry or dashboard stacks."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import requests
from typer.testing import CliRunner

from data_contracts.clock import SystemClock
from data_contracts.config import KitepilotConfig
from data_contracts.errors import ContractError
from data_contracts.timeutil import IST, UTC
from execution.paper.exchange_clock import ExchangeClock
from execution.paper.rest import ADMIN_HEADER
from execution.store import OmsStore, SqlStore
from orchestration.broker_endpoints import BrokerEndpoints
from orchestration.broker_login import BrokerLogin, broker_session
from orchestration.cli import app
from orchestration.execution_cli import build_executor, market_clock
from orchestration.settings import load_config
from tests.paper_process import (
    ADMIN,
    API_KEY,
    paper_config,
    paper_env,
    paused_exchange,
    run_new_process,
)

DAY = date(2026, 8, 18)  # a past Tuesday: the system clock is nowhere near it
MARKET = datetime(2026, 8, 18, 11, 0, tzinfo=IST)
INFY = 408065

runner = CliRunner()
# What the kill path must never import: the streaming worker's, the batch side's, the model
# registry's and the dashboard's stacks (seconds of imports before the switch acts).
HEAVY = ("bytewax", "mlflow", "dagster", "dash")
# `kitepilot kill` as the console script runs it (orchestration.entry: halted before the CLI
# loads, then the CLI's kill); what it imported, printed at exit.
_KILL_IN_A_NEW_PROCESS = """
import json, sys
from orchestration.entry import main
sys.argv = ["kitepilot", "kill", "--reason", "import guard", "--by", "guard"]
try:
    main()
except SystemExit:
    pass
finally:
    print("MODULES=" + json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def exchange_port() -> Iterator[int]:
    with paused_exchange(MARKET, [INFY]) as port:
        yield port


def _env(tmp_path: Path, port: int) -> dict[str, str]:
    return paper_env(tmp_path, port)


def _config(tmp_path: Path, port: int) -> KitepilotConfig:
    return paper_config(tmp_path, port)


def _set_clock(port: int, body: dict[str, object]) -> None:
    answer = requests.put(
        f"http://127.0.0.1:{port}/_paper/clock",
        json=body,
        headers={ADMIN_HEADER: ADMIN},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text


def test_execute_composition_in_paper_mode_runs_on_the_exchanges_market_time(
    tmp_path: Path, exchange_port: int
) -> None:
    config = _config(tmp_path, exchange_port)

    executor = build_executor(config, broker_session(config))  # as `kitepilot execute` does
    try:
        clock = executor.context.clock
        paused = clock.now()
        _set_clock(exchange_port, {"jump_to": "2026-08-18 13:30:00"})
        jumped = clock.now()  # read again after the refresh interval at the latest
        deadline = SystemClock().now() + timedelta(seconds=5)
        while jumped < MARKET + timedelta(hours=2, minutes=30) and SystemClock().now() < deadline:
            jumped = clock.now()
    finally:
        executor.context.store.close()

    assert isinstance(clock, ExchangeClock)
    assert paused == MARKET.astimezone(UTC)
    assert abs(SystemClock().now() - paused) > timedelta(days=1)  # not the wall clock
    assert executor.context.calendar.is_trading_day(paused.astimezone(IST).date())
    assert jumped == datetime(2026, 8, 18, 13, 30, tzinfo=IST)


def test_kill_and_rearm_commands_record_the_exchanges_market_time(
    tmp_path: Path, exchange_port: int
) -> None:
    env = _env(tmp_path, exchange_port)

    killed = runner.invoke(app, ["kill", "--reason", "drill", "--by", "asha"], env=env)
    with SqlStore.open(env["KITEPILOT_STORAGE__DATABASE_URL"]) as store:
        engaged = OmsStore.of(store).kill_switch()
    rearmed = runner.invoke(app, ["rearm", "--by", "asha"], input="REARM\n", env=env)
    with SqlStore.open(env["KITEPILOT_STORAGE__DATABASE_URL"]) as store:
        after = OmsStore.of(store).kill_switch()

    assert killed.exit_code == 0, killed.output
    assert "KILL SWITCH ENGAGED" in killed.output
    assert engaged.engaged
    assert engaged.ts_event == MARKET.astimezone(UTC)
    assert rearmed.exit_code == 0, rearmed.output
    assert not after.engaged
    assert after.ts_event == MARKET.astimezone(UTC)


def test_paper_market_clock_names_the_url_when_the_exchange_does_not_answer(
    tmp_path: Path,
) -> None:
    port = _free_port()  # nothing listens there
    config = _config(tmp_path, port)
    login = BrokerLogin(BrokerEndpoints(API_KEY, "token", f"http://127.0.0.1:{port}", None))

    with pytest.raises(ContractError, match=rf"http://127\.0\.0\.1:{port}/_paper/clock"):
        market_clock(config, login)


def test_live_mode_keeps_the_system_clock(tmp_path: Path) -> None:
    environ = {
        "KITEPILOT_MODE": "live",
        "KITEPILOT_KITE__API_KEY": "live-key",
        "KITEPILOT_KITE__API_SECRET": "live-secret",
    }
    config = load_config(environ=environ, dotenv_file=None)
    login = BrokerLogin(BrokerEndpoints("live-key", "token", None, None))

    assert isinstance(market_clock(config, login), SystemClock)


def test_kill_command_in_a_new_process_imports_no_streaming_batch_or_dashboard_stack(
    tmp_path: Path, exchange_port: int
) -> None:
    done = run_new_process(_KILL_IN_A_NEW_PROCESS, tmp_path, exchange_port)
    (line,) = [x for x in done.stdout.splitlines() if x.startswith("MODULES=")]
    imported = set(json.loads(line.removeprefix("MODULES=")))

    assert done.returncode == 0, done.stderr
    # halted first, by the entry point, before the CLI (typer, rich) was loaded; then the rest
    assert done.stdout.index("KILL SWITCH: halted") < done.stdout.index("KILL SWITCH ENGAGED")
    assert "kiteconnect" in imported  # it did reach the broker
    assert imported.isdisjoint(HEAVY), sorted(imported & set(HEAVY))
