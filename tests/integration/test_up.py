"""``kitepilot up``: the supervisor (restarts, process-group stops, the PID record) on tiny real
processes, the plan of the stack, and the whole command on free ports: every endpoint answers,
SIGINT stops every child and the command exits 0."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from data_contracts.config import KitepilotConfig
from data_contracts.errors import ContractError
from orchestration.cli import app
from orchestration.settings import load_config
from orchestration.up import (
    DAGSTER_DAEMON,
    DAGSTER_WEBSERVER,
    PAPER_EXCHANGE,
    SERVICE_NAMES,
    Service,
    ServiceState,
    Supervisor,
    exit_words,
    group_members,
    plan_services,
    prepare_dagster_home,
    select_services,
)

PYTHON = sys.executable
# Runs the CLI with `up` added when orchestration/cli.py does not register it (yet).
RUNNER = (
    "import sys\n"
    "from orchestration.cli import app\n"
    "from orchestration.up import register\n"
    "register(app)\n"
    "sys.argv[0] = 'kitepilot'\n"
    "app()\n"
)


def _config(tmp_path: Path, **extra: str) -> KitepilotConfig:
    environ = {"KITEPILOT_STORAGE__VAR_DIR": str(tmp_path / "var"), **extra}
    return load_config(environ=environ, dotenv_file=None)


def _supervisor(tmp_path: Path, *services: Service, max_restarts: int = 3) -> Supervisor:
    return Supervisor(
        services,
        log_dir=tmp_path / "logs",
        pid_file=tmp_path / "up" / "children.json",
        env=dict(os.environ),
        max_restarts=max_restarts,
        restart_delay=0.0,
    )


def _until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"not reached within {seconds} s")


# -- choosing and planning ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("returncode", "words"),
    [(0, "exited 0"), (2, "exited 2"), (-15, "ended by SIGTERM"), (-9, "ended by SIGKILL")],
)
def test_exit_words_name_the_signal_that_ended_a_child(returncode: int, words: str) -> None:
    assert exit_words(returncode) == words


@pytest.mark.parametrize(
    ("only", "expected"),
    [
        (None, SERVICE_NAMES),
        ("mlflow, paper-exchange", (PAPER_EXCHANGE, "mlflow")),
        ("dagster", (DAGSTER_WEBSERVER, DAGSTER_DAEMON)),
        ("stream,stream", ("stream",)),
    ],
)
def test_select_services_only_expands_aliases_in_start_order(
    only: str | None, expected: tuple[str, ...]
) -> None:
    assert select_services(only) == expected


@pytest.mark.parametrize("only", ["mlflw", ", ,"])
def test_select_services_unknown_or_empty_is_refused(only: str) -> None:
    with pytest.raises(ContractError, match="must"):
        select_services(only)


def test_plan_services_binds_loopback_and_probes_every_endpoint(tmp_path: Path) -> None:
    config = _config(tmp_path)

    plan = plan_services(
        config,
        names=SERVICE_NAMES,
        dagster_port=3001,
        mlflow_port=5001,
        workspace=tmp_path / "workspace.yaml",
        tool=lambda name: f"/bin/{name}",
    )

    by_name = {s.name: s for s in plan}
    probed = {s.name: s.probe for s in plan if s.probe is not None}
    assert tuple(by_name) == SERVICE_NAMES
    assert {name: (p.host, p.port) for name, p in probed.items()} == {
        "paper-exchange": ("127.0.0.1", config.paper_exchange.port),
        "dagster-webserver": ("127.0.0.1", 3001),
        "mlflow": ("127.0.0.1", 5001),
        "dashboard": ("127.0.0.1", config.dashboard.port),
    }
    assert probed["dagster-webserver"].path == "/graphql"
    assert probed["mlflow"].path == "/health"
    assert by_name["stream"].argv[1:] == ("stream", "--paper")
    assert by_name["executor"].argv[1:] == ("execute",)
    assert by_name["stream"].after == by_name["executor"].after == (PAPER_EXCHANGE,)
    assert by_name[DAGSTER_DAEMON].after == (DAGSTER_WEBSERVER,)
    assert config.storage.mlflow_tracking_uri in by_name["mlflow"].argv


def test_prepare_dagster_home_moves_var_dagster_under_home_and_keeps_a_users_file(
    tmp_path: Path,
) -> None:
    template = tmp_path / "dagster.yaml"
    template.write_text(
        "storage:\n  sqlite:\n    base_dir: var/dagster/storage\ntelemetry:\n  enabled: false\n",
        encoding="utf-8",
    )
    home, workspace = tmp_path / "home", tmp_path / "up" / "workspace.yaml"
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "dagster.yaml").write_text("storage: {postgres: {}}\n", encoding="utf-8")

    prepare_dagster_home(home, workspace, template)
    prepare_dagster_home(mine, workspace, template)

    instance = yaml.safe_load((home / "dagster.yaml").read_text(encoding="utf-8"))
    location = yaml.safe_load(workspace.read_text(encoding="utf-8"))["load_from"][0]
    assert instance["storage"]["sqlite"]["base_dir"] == str(home / "storage")
    assert instance["telemetry"] == {"enabled": False}
    assert location["python_module"]["module_name"] == "orchestration.definitions"
    assert (mine / "dagster.yaml").read_text(encoding="utf-8") == "storage: {postgres: {}}\n"


# -- the supervisor on real processes ----------------------------------------------------------


def test_supervisor_restarts_a_dying_child_at_most_max_restarts_times(tmp_path: Path) -> None:
    dying = Service("dying", (PYTHON, "-c", "import sys; sys.exit(3)"))
    supervisor = _supervisor(tmp_path, dying, max_restarts=2)
    events: list[str] = []

    def failed() -> bool:
        events.extend(supervisor.step())
        return supervisor.statuses()[0].state is ServiceState.FAILED

    _until(failed)

    status = supervisor.statuses()[0]
    recorded = json.loads((tmp_path / "up" / "children.json").read_text(encoding="utf-8"))
    assert (status.restarts, status.last_exit) == (2, 3)
    assert len(supervisor.started_pids()) == 3
    assert [c["pid"] for c in recorded["children"]] == supervisor.started_pids()
    assert sum("died (exit 3)" in line for line in events) == 3
    assert "not restarted again" in events[-1]
    assert not supervisor.alive()


def test_supervisor_starts_a_service_only_after_the_one_it_needs_answers(tmp_path: Path) -> None:
    first = Service("first", (PYTHON, "-c", "import time; time.sleep(30)"))
    second = Service("second", (PYTHON, "-c", "import time; time.sleep(30)"), after=("first",))
    supervisor = _supervisor(tmp_path, first, second)
    try:
        supervisor.step()  # starts `first`; `second` waits for it to answer
        waiting = {s.name: s.state for s in supervisor.statuses()}
        supervisor.step()  # `first` runs (no probe: up), so `second` starts
        started = {s.name: s.state for s in supervisor.statuses()}
    finally:
        supervisor.stop(grace=5)

    assert waiting == {"first": ServiceState.STARTING, "second": ServiceState.WAITING}
    assert started == {"first": ServiceState.UP, "second": ServiceState.STARTING}


def test_supervisor_stop_kills_the_whole_group_even_a_child_ignoring_sigterm(
    tmp_path: Path,
) -> None:
    # A parent that ignores SIGTERM and a grandchild in its group that also ignores it.
    stubborn = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "subprocess.Popen([sys.executable, '-c', 'import signal, time; "
        "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)'])\n"
        "time.sleep(60)\n"
    )
    polite = Service("polite", (PYTHON, "-c", "import time; time.sleep(60)"))
    supervisor = _supervisor(tmp_path, Service("stubborn", (PYTHON, "-c", stubborn)), polite)
    supervisor.step()
    pgids = supervisor.started_pids()
    _until(lambda: len(group_members(pgids[0])) == 2)

    killed = supervisor.stop(grace=1.0)

    assert killed == ["stubborn"]
    assert [group_members(pgid) for pgid in pgids] == [[], []]
    assert {s.state for s in supervisor.statuses()} == {ServiceState.STOPPED}


# -- the whole command -------------------------------------------------------------------------


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _status(url: str, body: bytes | None = None) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    request = urllib.request.Request(url, data=body, headers=headers)  # noqa: S310 - http://127.0.0.1
    try:
        with urllib.request.urlopen(request, timeout=3) as response:  # noqa: S310 - as above
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return 0, b""


def _up_command() -> list[str]:
    registered = {
        c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands
    }
    if "up" in registered:
        return [str(Path(PYTHON).parent / "kitepilot"), "up"]
    return [PYTHON, "-c", RUNNER, "up"]


class _Stack:
    def __init__(self, process: subprocess.Popen[str], var: Path, ports: dict[str, int]) -> None:
        self.process, self.var, self.ports = process, var, ports

    def wait_until(
        self, checks: dict[str, tuple[str, bytes | None, bytes]], seconds: float
    ) -> None:
        """Each named URL answers with a status < 500 whose body contains the expected bytes."""
        pending = dict(checks)
        deadline = time.monotonic() + seconds
        while pending and time.monotonic() < deadline:
            assert self.process.poll() is None, "kitepilot up exited early"
            for name, (url, body, expected) in list(pending.items()):
                status, text = _status(url, body)
                if 0 < status < 500 and expected in text:
                    del pending[name]
            time.sleep(0.5)
        assert not pending, f"no answer from {sorted(pending)}"

    def interrupt(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGINT)
        out, _ = self.process.communicate(timeout=40)
        return self.process.returncode, out

    def children(self) -> list[dict[str, object]]:
        recorded = json.loads((self.var / "up" / "children.json").read_text(encoding="utf-8"))
        children: list[dict[str, object]] = recorded["children"]
        return children


StartStack = Callable[[str], _Stack]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[StartStack]:
    started: list[subprocess.Popen[str]] = []

    def start(only: str) -> _Stack:
        paper, dash, dagster, mlflow = _free_ports(4)
        var = tmp_path / "var"
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("KITEPILOT_") and k != "DAGSTER_HOME"
        }
        env |= {
            "KITEPILOT_STORAGE__VAR_DIR": str(var),
            "KITEPILOT_STORAGE__LAKE_DIR": str(var / "lake"),
            "KITEPILOT_STORAGE__REPORTS_DIR": str(var / "reports"),
            "KITEPILOT_STORAGE__DATABASE_URL": f"sqlite:///{var / 'kitepilot.db'}",
            "KITEPILOT_STORAGE__MLFLOW_TRACKING_URI": f"sqlite:///{var / 'mlflow.db'}",
            "KITEPILOT_STORAGE__MLFLOW_ARTIFACTS_DIR": str(var / "mlartifacts"),
            "KITEPILOT_PAPER_EXCHANGE__PORT": str(paper),
            "KITEPILOT_PAPER_EXCHANGE__DATABASE": f"sqlite:///{var / 'paper.db'}",
            "KITEPILOT_DASHBOARD__PORT": str(dash),
        }
        command = [
            *_up_command(),
            *("--only", only, "--dagster-port", str(dagster), "--mlflow-port", str(mlflow)),
            *("--interval", "1"),
        ]
        process = subprocess.Popen(  # noqa: S603 - our own CLI, argv built above
            command,
            cwd=tmp_path,  # no kitepilot.yaml / .env of the repo
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append(process)
        ports = {"paper": paper, "dashboard": dash, "dagster": dagster, "mlflow": mlflow}
        return _Stack(process, var, ports)

    yield start
    for process in started:  # a failed test must not leave a stack running
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def _assert_stopped_cleanly(stack: _Stack, code: int, out: str, names: set[str]) -> None:
    children = stack.children()
    assert code == 0, out
    assert {str(c["name"]) for c in children} == names, out  # each started once: no restarts
    assert len(children) == len(names), out
    assert [group_members(int(str(c["pgid"]))) for c in children] == [[]] * len(children)


@pytest.mark.slow
def test_up_batch_side_dagster_and_mlflow_answer_then_sigint_stops_every_child(
    stack: StartStack,
) -> None:
    running = stack("dagster,mlflow")
    graphql = json.dumps({"query": "{ version }"}).encode()

    running.wait_until(
        {
            "dagster": (f"http://127.0.0.1:{running.ports['dagster']}/graphql", graphql, b"data"),
            "mlflow": (f"http://127.0.0.1:{running.ports['mlflow']}/health", None, b"OK"),
        },
        seconds=90,
    )
    _until(lambda: len(running.children()) == 3, seconds=30)  # the daemon follows the webserver
    code, out = running.interrupt()

    _assert_stopped_cleanly(running, code, out, {DAGSTER_WEBSERVER, DAGSTER_DAEMON, "mlflow"})


@pytest.mark.slow
def test_up_trading_side_paper_exchange_and_dash_answer_then_sigint_stops_every_child(
    stack: StartStack,
) -> None:
    running = stack("paper-exchange,dashboard,stream,executor")

    running.wait_until(
        {
            # The Kite endpoints answer 403 (TokenException) without a session.
            "paper": (f"http://127.0.0.1:{running.ports['paper']}/user/profile", None, b"error"),
            "dash": (f"http://127.0.0.1:{running.ports['dashboard']}/", None, b"_dash-config"),
        },
        seconds=90,
    )
    _until(lambda: len(running.children()) == 4, seconds=30)  # stream and executor follow
    time.sleep(3)  # long enough for a crash at start-up to show as a restart
    code, out = running.interrupt()

    token = (running.var / "dashboard" / "auth_token").read_text(encoding="utf-8").strip()
    _assert_stopped_cleanly(running, code, out, {PAPER_EXCHANGE, "dashboard", "stream", "executor"})
    # Each kitepilot child handled the supervisor's SIGTERM as Ctrl-C and exited by itself: 0 from
    # its Ctrl-C path, 130 (interrupted) if it was still starting up — never ended by the signal.
    for name in (PAPER_EXCHANGE, "dashboard", "stream", "executor"):
        assert re.search(rf"{name} exited (0|130)\b", out), out
        assert f"{name} ended by" not in out, out
    assert str(running.var / "dashboard" / "auth_token") in out
    assert token not in out
