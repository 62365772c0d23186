"""``kitepilot up``: the local stack in paper mode, as supervised child processes.

Starts the paper exchange, the Dagster webserver and daemon, the MLflow UI, the streaming worker,
the executor and the Dash screen, each in its own process group with its output in
``<storage.var_dir>/logs/<name>.log``; waits for each to answer; prints the URLs (and where the
dashboard's operator token is kept, never the token); then shows their health every few seconds.
A child that dies is reported and restarted at most ``max_restarts`` times. Ctrl-C (SIGINT) or
SIGTERM stops every child — SIGTERM to its process group, SIGKILL to what is left after a grace
period — and the command exits 0.

Every PID started is recorded in ``<storage.var_dir>/up/children.json`` (kept after the stop, so
one can check nothing survived).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from shutil import which
from types import FrameType
from typing import Annotated, Any, Final

import typer
import yaml
from rich.console import Console
from rich.live import Live
from rich.table import Table

from data_contracts.clock import SystemClock
from data_contracts.config import ConfigError, KitepilotConfig
from data_contracts.enums import TradingMode
from data_contracts.errors import ContractError
from orchestration.settings import CONFIG_FILE_VARIABLE, resolve_config

__all__ = [
    "ALIASES",
    "SERVICE_NAMES",
    "ChildStatus",
    "Probe",
    "Service",
    "ServiceState",
    "Supervisor",
    "UpOptions",
    "dagster_home",
    "group_members",
    "http_answers",
    "plan_services",
    "prepare_dagster_home",
    "register",
    "run_up",
    "select_services",
]

PAPER_EXCHANGE: Final = "paper-exchange"
DAGSTER_WEBSERVER: Final = "dagster-webserver"
DAGSTER_DAEMON: Final = "dagster-daemon"
MLFLOW: Final = "mlflow"
STREAM: Final = "stream"
EXECUTOR: Final = "executor"
DASHBOARD: Final = "dashboard"
# Start order; the stop goes the other way (the executor stops before its broker does).
SERVICE_NAMES: Final = (
    PAPER_EXCHANGE,
    DAGSTER_WEBSERVER,
    DAGSTER_DAEMON,
    MLFLOW,
    DASHBOARD,
    STREAM,
    EXECUTOR,
)
ALIASES: Final[Mapping[str, tuple[str, ...]]] = {"dagster": (DAGSTER_WEBSERVER, DAGSTER_DAEMON)}
LOOPBACK: Final = "127.0.0.1"
# The Definitions `dagster dev` loads ([tool.dagster] in pyproject.toml).
DAGSTER_MODULE: Final = "orchestration.definitions"
DAGSTER_LOCATION: Final = "kitepilot"
_GENERATED: Final = "# Written by `kitepilot up` from"
_PROBE_TIMEOUT_SECONDS: Final = 2.0
_KILL_WAIT_SECONDS: Final = 5.0


# -- what to run -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Probe:
    """An HTTP request that shows a service answers: any status up to ``max_status``."""

    host: str
    port: int
    path: str = "/"
    method: str = "GET"
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    max_status: int = 399
    expect: bytes | None = None  # the body must contain this too

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{self.path}"


@dataclass(frozen=True, slots=True)
class Service:
    """One child process: its command, how to tell it answers (None: up while it runs), the URL
    to show, and the services that must answer before it starts."""

    name: str
    argv: tuple[str, ...]
    probe: Probe | None = None
    url: str | None = None
    after: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)  # on top of the supervisor's


def select_services(only: str | None) -> tuple[str, ...]:
    """The service names ``--only a,b`` picks (aliases expanded), in start order; all when None."""
    if only is None or not only.strip():
        return SERVICE_NAMES
    wanted: set[str] = set()
    for raw in only.split(","):
        name = raw.strip()
        if not name:
            continue
        if name in ALIASES:
            wanted.update(ALIASES[name])
        elif name in SERVICE_NAMES:
            wanted.add(name)
        else:
            known = ", ".join((*SERVICE_NAMES, *ALIASES))
            raise ContractError("up", "--only", name, f"must be one of {known}")
    if not wanted:
        raise ContractError("up", "--only", only, "must name at least one service")
    return tuple(name for name in SERVICE_NAMES if name in wanted)


def _tool(name: str) -> str:
    """The executable ``name`` of this environment (next to the running Python), else on PATH."""
    sibling = Path(sys.executable).parent / name
    if sibling.is_file():
        return str(sibling)
    found = which(name)
    if found is None:
        raise ContractError("up", "executable", name, "must be installed (run `make setup`)")
    return found


def plan_services(
    config: KitepilotConfig,
    *,
    names: Sequence[str],
    dagster_port: int,
    mlflow_port: int,
    workspace: Path,
    tool: Callable[[str], str] = _tool,
) -> tuple[Service, ...]:
    """The children for ``names`` (see :func:`select_services`), in start order."""
    kitepilot = tool("kitepilot")
    paper = config.paper_exchange
    dash = config.dashboard
    needs_paper = (PAPER_EXCHANGE,)
    # Answers once the code location has loaded (a load error is a PythonError there).
    graphql = json.dumps(
        {
            "query": "{ workspaceOrError { ... on Workspace { locationEntries { name "
            "locationOrLoadError { __typename } } } } }"
        }
    ).encode()
    artifacts = Path(config.storage.mlflow_artifacts_dir).resolve().as_uri()
    every = {
        # Any HTTP answer shows the exchange serves (its Kite endpoints answer 403 without a token).
        PAPER_EXCHANGE: Service(
            PAPER_EXCHANGE,
            (kitepilot, "paper-exchange"),
            Probe(paper.host, paper.port, "/user/profile", max_status=499),
            f"http://{paper.host}:{paper.port}",
        ),
        DAGSTER_WEBSERVER: Service(
            DAGSTER_WEBSERVER,
            (
                tool("dagster-webserver"),
                *("-h", LOOPBACK, "-p", str(dagster_port), "-w", str(workspace)),
            ),
            Probe(
                LOOPBACK,
                dagster_port,
                "/graphql",
                method="POST",
                body=graphql,
                headers={"Content-Type": "application/json"},
                expect=b'"RepositoryLocation"',
            ),
            f"http://{LOOPBACK}:{dagster_port}",
        ),
        # After the webserver: two processes creating a new SQLite instance at once break its
        # schema migration ("more than one head").
        DAGSTER_DAEMON: Service(
            DAGSTER_DAEMON,
            (tool("dagster-daemon"), "run", "-w", str(workspace)),
            after=(DAGSTER_WEBSERVER,),
        ),
        MLFLOW: Service(
            MLFLOW,
            (
                tool("mlflow"),
                "server",
                *("--backend-store-uri", config.storage.mlflow_tracking_uri),
                *("--default-artifact-root", artifacts, "--no-serve-artifacts"),
                *("--host", LOOPBACK, "--port", str(mlflow_port), "--workers", "1"),
            ),
            Probe(LOOPBACK, mlflow_port, "/health"),
            f"http://{LOOPBACK}:{mlflow_port}",
            # Its GenAI job runner (online scoring, trace archival) is not used here.
            env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        ),
        # Needs no broker to start: it stays read-only and retries until the exchange answers.
        DASHBOARD: Service(
            DASHBOARD,
            (kitepilot, "dashboard"),
            Probe(dash.host, dash.port, "/"),
            f"http://{dash.host}:{dash.port}/",
        ),
        # Both log in to the paper exchange when they start.
        STREAM: Service(STREAM, (kitepilot, "stream", "--paper"), after=needs_paper),
        EXECUTOR: Service(EXECUTOR, (kitepilot, "execute"), after=needs_paper),
    }
    return tuple(every[name] for name in SERVICE_NAMES if name in names)


def dagster_home(config: KitepilotConfig, environ: Mapping[str, str]) -> Path:
    """``$DAGSTER_HOME`` when set, else ``<storage.var_dir>/dagster`` (absolute, as Dagster
    requires)."""
    given = environ.get("DAGSTER_HOME")
    home = Path(given) if given else Path(config.storage.var_dir) / "dagster"
    return home.resolve()


def prepare_dagster_home(home: Path, workspace: Path, template: Path | None) -> None:
    """Write the workspace (the code location ``dagster dev`` loads) and, unless the user keeps
    their own, ``<home>/dagster.yaml`` from the repo's ``template`` with its ``var/dagster``
    folders moved under ``home``. Without a template Dagster's defaults (SQLite under ``home``)
    apply."""
    home.mkdir(parents=True, exist_ok=True)
    workspace.parent.mkdir(parents=True, exist_ok=True)
    location = {
        "module_name": DAGSTER_MODULE,
        "location_name": DAGSTER_LOCATION,
        "working_directory": str(Path.cwd()),
    }
    workspace.write_text(
        yaml.safe_dump({"load_from": [{"python_module": location}]}), encoding="utf-8"
    )
    instance = home / "dagster.yaml"
    ours = not instance.exists() or instance.read_text(encoding="utf-8").startswith(_GENERATED)
    if template is None or not template.is_file() or not ours:
        return
    values = yaml.safe_load(template.read_text(encoding="utf-8")) or {}
    header = f"{_GENERATED} {template} (edit that, or delete this line to keep your own)\n"
    instance.write_text(header + yaml.safe_dump(_moved(values, home)), encoding="utf-8")


def _moved(value: Any, home: Path) -> Any:
    """``value`` with every ``base_dir: var/dagster[/x]`` put at ``home[/x]``."""
    if isinstance(value, dict):
        return {
            key: (
                str(home / Path(item).relative_to("var/dagster"))
                if key == "base_dir" and isinstance(item, str) and item.startswith("var/dagster")
                else _moved(item, home)
            )
            for key, item in value.items()
        }
    return value


def _dagster_template() -> Path | None:
    """The repo's ``dagster.yaml``: in the working directory (the repo root), else next to the
    package."""
    for candidate in (Path.cwd() / "dagster.yaml", Path(__file__).parents[1] / "dagster.yaml"):
        if candidate.is_file():
            return candidate
    return None


# -- health ------------------------------------------------------------------------------------


def http_answers(probe: Probe, timeout: float = _PROBE_TIMEOUT_SECONDS) -> bool:
    """True when ``probe``'s request gets an HTTP answer with an accepted status."""
    connection = http.client.HTTPConnection(probe.host, probe.port, timeout=timeout)
    try:
        connection.request(probe.method, probe.path, body=probe.body, headers=dict(probe.headers))
        response = connection.getresponse()
        status = response.status
        body = response.read() if probe.expect is not None else b""
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()
    return status <= probe.max_status and (probe.expect is None or probe.expect in body)


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


# -- the supervisor ----------------------------------------------------------------------------


class ServiceState(StrEnum):
    WAITING = "waiting"  # not started: a service it needs has not answered yet
    STARTING = "starting"  # running, not answered yet
    UP = "up"
    DOWN = "down"  # running, answered before, not answering now
    RESTARTING = "restarting"  # died; restarted after a short delay
    FAILED = "failed"  # died more often than it may be restarted
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class ChildStatus:
    """What the health table shows for one service."""

    name: str
    state: ServiceState
    pid: int | None
    restarts: int
    url: str | None
    last_exit: int | None
    log: Path


@dataclass(slots=True)
class _Child:
    service: Service
    log: Path
    process: subprocess.Popen[bytes] | None = None
    state: ServiceState = ServiceState.WAITING
    restarts: int = 0
    last_exit: int | None = None
    answered: bool = False
    restart_at: float | None = None


Popen = Callable[..., subprocess.Popen[bytes]]


class Supervisor:
    """Starts, watches, restarts (at most ``max_restarts`` times) and stops child processes, each
    in its own process group. Not thread-safe: one thread drives it."""

    def __init__(
        self,
        services: Sequence[Service],
        *,
        log_dir: Path,
        pid_file: Path,
        env: Mapping[str, str],
        max_restarts: int = 3,
        restart_delay: float = 2.0,
        answers: Callable[[Probe], bool] = http_answers,
        monotonic: Callable[[], float] = time.monotonic,
        popen: Popen = subprocess.Popen,
    ) -> None:
        if max_restarts < 0:
            raise ContractError("Supervisor", "max_restarts", max_restarts, "must be >= 0")
        self._children = {s.name: _Child(s, log_dir / f"{s.name}.log") for s in services}
        self._log_dir = log_dir
        self._pid_file = pid_file
        self._env = dict(env)
        self._max_restarts = max_restarts
        self._restart_delay = restart_delay
        self._answers = answers
        self._monotonic = monotonic
        self._popen = popen
        self._started: list[dict[str, Any]] = []

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._children)

    def statuses(self) -> list[ChildStatus]:
        return [
            ChildStatus(
                name,
                child.state,
                None if child.process is None else child.process.pid,
                child.restarts,
                child.service.url,
                child.last_exit,
                child.log,
            )
            for name, child in self._children.items()
        ]

    def started_pids(self) -> list[int]:
        """Every PID this supervisor started (restarts included)."""
        return [int(entry["pid"]) for entry in self._started]

    def settled(self) -> bool:
        """Nothing is still on its way up: every service is up or has failed."""
        return all(
            c.state in (ServiceState.UP, ServiceState.FAILED) for c in self._children.values()
        )

    def alive(self) -> bool:
        """Some service is running or will be (started, restarting or waiting to start)."""
        return any(
            c.state not in (ServiceState.FAILED, ServiceState.STOPPED)
            for c in self._children.values()
        )

    def step(self) -> list[str]:
        """Start what may start, notice deaths (restart or give up), probe health. Returns what
        happened, one line per event, for the user."""
        events: list[str] = []
        now = self._monotonic()
        for child in self._children.values():
            events += self._watch(child, now)
        for child in self._children.values():
            if child.state is ServiceState.WAITING and self._may_start(child):
                self._spawn(child)
                events.append(f"{child.service.name} started (pid {self._pid(child)})")
        return events

    def _may_start(self, child: _Child) -> bool:
        needed = (self._children.get(name) for name in child.service.after)
        return all(other is None or other.answered for other in needed)

    def _watch(self, child: _Child, now: float) -> list[str]:
        name = child.service.name
        if child.state is ServiceState.RESTARTING:
            if child.restart_at is not None and now >= child.restart_at:
                child.restarts += 1
                self._spawn(child)
                n, limit = child.restarts, self._max_restarts
                return [f"{name} restarted ({n}/{limit}, pid {self._pid(child)})"]
            return []
        process = child.process
        if process is None or child.state in (ServiceState.FAILED, ServiceState.STOPPED):
            return []
        code = process.poll()
        if code is not None:
            child.last_exit = code
            child.answered = False
            tail = f"see {child.log}"
            if child.restarts >= self._max_restarts:
                child.state = ServiceState.FAILED
                return [
                    f"{name} died (exit {code}) after {child.restarts} restarts; not restarted "
                    f"again ({tail})"
                ]
            child.state = ServiceState.RESTARTING
            delay = self._restart_delay * (child.restarts + 1)
            child.restart_at = now + delay
            return [f"{name} died (exit {code}); restarting in {delay:g} s ({tail})"]
        probe = child.service.probe
        if probe is None or self._answers(probe):
            child.answered = True
            child.state = ServiceState.UP
        else:
            child.state = ServiceState.DOWN if child.answered else ServiceState.STARTING
        return []

    def _spawn(self, child: _Child) -> None:
        self._log_dir.mkdir(parents=True, exist_ok=True)
        argv = list(child.service.argv)
        with child.log.open("ab") as log:
            stamp = SystemClock().now().isoformat(timespec="seconds")
            log.write(f"\n=== {stamp} kitepilot up starts: {' '.join(argv)}\n".encode())
            log.flush()
            child.process = self._popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**self._env, **child.service.env},
                start_new_session=True,  # its own process group: stopped as a whole
            )
        child.state = ServiceState.STARTING
        child.restart_at = None
        self._started.append(
            {"name": child.service.name, "pid": child.process.pid, "pgid": child.process.pid}
        )
        self._record()

    def _record(self) -> None:
        self._pid_file.parent.mkdir(parents=True, exist_ok=True)
        scratch = self._pid_file.with_suffix(".tmp")
        scratch.write_text(
            json.dumps({"supervisor": os.getpid(), "children": self._started}, indent=2),
            encoding="utf-8",
        )
        scratch.replace(self._pid_file)

    @staticmethod
    def _pid(child: _Child) -> int | None:
        return None if child.process is None else child.process.pid

    def stop(self, grace: float = 10.0) -> list[str]:
        """SIGTERM every running child's process group (last started first), wait up to
        ``grace`` seconds for the groups to empty, SIGKILL what is left. Returns the names that
        had to be killed."""
        running = [c for c in reversed(self._children.values()) if c.process is not None]
        for child in running:
            _signal_group(_group(child), signal.SIGTERM)
        deadline = self._monotonic() + grace
        while any(_group_alive(c) for c in running) and self._monotonic() < deadline:
            time.sleep(0.1)
        killed = [c.service.name for c in running if _group_alive(c)]
        for child in running:
            _signal_group(_group(child), signal.SIGKILL)
            if child.process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.process.wait(timeout=grace)
                child.last_exit = child.process.returncode
        # SIGKILL is delivered asynchronously: wait (briefly) until the groups are empty.
        deadline = self._monotonic() + _KILL_WAIT_SECONDS
        while any(_group_alive(c) for c in running) and self._monotonic() < deadline:
            time.sleep(0.05)
        for child in self._children.values():
            child.state = ServiceState.STOPPED
        return killed


def _group(child: _Child) -> int:
    """The child's process group (start_new_session: the child leads its own); -1 if unstarted."""
    return -1 if child.process is None else child.process.pid


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    if pgid <= 0:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _group_alive(child: _Child) -> bool:
    """The child's group still has a live (non-zombie) member; reaps the child itself."""
    if child.process is None:
        return False
    child.process.poll()
    return bool(group_members(_group(child)))


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) PIDs in process group ``pgid``, from ``/proc`` (elsewhere: the group
    leader while the group exists)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return []
        return [pgid]
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text(encoding="utf-8")
        except OSError:
            continue  # it went away while we looked
        # pid (comm) state ppid pgrp ... ; comm may hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


# -- the command -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UpOptions:
    names: tuple[str, ...] = SERVICE_NAMES
    dagster_port: int = 3000
    mlflow_port: int = 5000
    ready_timeout: float = 180.0
    interval: float = 5.0
    stop_grace: float = 10.0
    max_restarts: int = 3


class _StopRequest:
    """Turns SIGINT and SIGTERM into a flag the loops look at. The handler raises nothing, so a
    signal can never land between starting a child and recording it."""

    def __init__(self) -> None:
        self.received: str | None = None

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.received = signal.Signals(signum).name

    @contextlib.contextmanager
    def installed(self) -> Iterator[_StopRequest]:
        stops = (signal.SIGINT, signal.SIGTERM)
        previous = {s: signal.signal(s, self._on_signal) for s in stops}
        try:
            yield self
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds``, or less once a stop is requested."""
        deadline = time.monotonic() + seconds
        while self.received is None and time.monotonic() < deadline:
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))


def _check_ports(services: Sequence[Service]) -> None:
    """A port already in use would make another program's answer look like ours."""
    for service in services:
        probe = service.probe
        if probe is not None and _port_in_use(probe.host, probe.port):
            raise ContractError(
                "up",
                "port",
                f"{probe.host}:{probe.port}",
                f"must be free for {service.name} (is another `kitepilot up` running?)",
            )


def _child_env(config_file: Path | None, home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["DAGSTER_HOME"] = str(home)
    env["PYTHONUNBUFFERED"] = "1"  # the logs show what happened up to a crash
    if config_file is not None:
        env[CONFIG_FILE_VARIABLE] = str(config_file.resolve())
    return env


def _health_table(statuses: Sequence[ChildStatus]) -> Table:
    colours = {
        ServiceState.UP: "green",
        ServiceState.STARTING: "yellow",
        ServiceState.WAITING: "dim",
        ServiceState.RESTARTING: "yellow",
        ServiceState.DOWN: "red",
        ServiceState.FAILED: "bold red",
        ServiceState.STOPPED: "dim",
    }
    table = Table(title="kitepilot up — PAPER stack (Ctrl-C stops everything)")
    for column in ("service", "state", "pid", "restarts", "last exit"):
        table.add_column(column, no_wrap=True)
    table.add_column("url", overflow="fold")
    for s in statuses:
        table.add_row(
            s.name,
            f"[{colours[s.state]}]{s.state.value}[/]",
            "" if s.pid is None else str(s.pid),
            str(s.restarts),
            "" if s.last_exit is None else str(s.last_exit),
            s.url or "",
        )
    return table


def _token_note(config: KitepilotConfig) -> str:
    if config.dashboard.auth_token is not None:
        return "dashboard.auth_token (configured)"
    from orchestration.dashboard_cli import token_file  # lazy: the Dash app is heavy

    return f"{token_file(config)} (mode 0600)"


def run_up(
    config: KitepilotConfig,
    options: UpOptions,
    *,
    config_file: Path | None = None,
    console: Console | None = None,
) -> int:
    """``kitepilot up``: start, report, watch until SIGINT/SIGTERM, stop. Returns the exit code:
    0 after a stop by signal, 1 when every service had died for good."""
    console = console or Console()
    if config.mode is not TradingMode.PAPER:
        rule = "must be 'paper': `kitepilot up` runs the local paper stack"
        raise ContractError("up", "mode", config.mode.value, rule)
    home = dagster_home(config, os.environ)
    run_dir = Path(config.storage.var_dir) / "up"
    workspace = (run_dir / "workspace.yaml").resolve()
    services = plan_services(
        config,
        names=options.names,
        dagster_port=options.dagster_port,
        mlflow_port=options.mlflow_port,
        workspace=workspace,
    )
    _check_ports(services)
    Path(config.storage.var_dir).mkdir(parents=True, exist_ok=True)
    if any(s.name in ALIASES["dagster"] for s in services):
        prepare_dagster_home(home, workspace, _dagster_template())
    supervisor = Supervisor(
        services,
        log_dir=Path(config.storage.var_dir) / "logs",
        pid_file=run_dir / "children.json",
        env=_child_env(config_file, home),
        max_restarts=options.max_restarts,
    )
    console.rule(f"[bold]kitepilot up[/] · {config.mode.value.upper()} mode")
    code = 0
    with _StopRequest().installed() as stop:
        try:
            if _start(supervisor, options, console, stop):
                _report(config, supervisor, console)
                code = _monitor(supervisor, options, console, stop)
            if stop.received is not None:
                console.print(f"\n{stop.received}: stopping every service…")
        finally:
            killed = supervisor.stop(options.stop_grace)
    if killed:
        console.print(f"[yellow]killed after {options.stop_grace:g} s:[/] {', '.join(killed)}")
    exits = [
        f"{s.name} {exit_words(s.last_exit)}"
        for s in supervisor.statuses()
        if s.last_exit is not None
    ]
    if exits:
        console.print(f"exit status: {', '.join(exits)}", highlight=False)
    console.print(f"all services stopped; logs in {Path(config.storage.var_dir) / 'logs'}")
    return code


def exit_words(returncode: int) -> str:
    """A child's exit status in words: a negative code is the signal that ended it (the process
    did not stop on its own when asked)."""
    if returncode >= 0:
        return f"exited {returncode}"
    try:
        return f"ended by {signal.Signals(-returncode).name}"
    except ValueError:
        return f"ended by signal {-returncode}"


def _start(
    supervisor: Supervisor, options: UpOptions, console: Console, stop: _StopRequest
) -> bool:
    """Start the services and wait until each answers (or the timeout); False when stopped."""
    deadline = time.monotonic() + options.ready_timeout
    with console.status("starting…") as status:
        while not supervisor.settled() and time.monotonic() < deadline:
            for line in supervisor.step():
                console.print(line, highlight=False)
            waiting = [s.name for s in supervisor.statuses() if s.state is not ServiceState.UP]
            status.update("waiting for " + ", ".join(waiting))
            stop.sleep(0.5)
            if stop.received is not None:
                return False
    late = [s for s in supervisor.statuses() if s.state is not ServiceState.UP]
    for s in late:
        console.print(
            f"[yellow]{s.name} is {s.state.value} after {options.ready_timeout:g} s[/] "
            f"(see {s.log})",
            highlight=False,
        )
    return True


def _report(config: KitepilotConfig, supervisor: Supervisor, console: Console) -> None:
    for s in supervisor.statuses():
        if s.url is not None:
            console.print(f"{s.name:<18} {s.url}", highlight=False, soft_wrap=True)
    if DASHBOARD in supervisor.names:
        console.print(
            f"dashboard actions need the operator token kept in {_token_note(config)}",
            soft_wrap=True,
            highlight=False,
        )
    console.print(f"logs: {Path(config.storage.var_dir) / 'logs'}/<service>.log", soft_wrap=True)


def _monitor(
    supervisor: Supervisor, options: UpOptions, console: Console, stop: _StopRequest
) -> int:
    """The live health table until a stop is requested (0) or every service died for good (1)."""
    with Live(_health_table(supervisor.statuses()), console=console, auto_refresh=False) as live:
        while stop.received is None:
            for line in supervisor.step():
                console.print(line, highlight=False)
            live.update(_health_table(supervisor.statuses()), refresh=True)
            if not supervisor.alive():
                console.print("[red]every service has stopped for good[/]")
                return 1
            stop.sleep(options.interval)
    return 0


def register(app: typer.Typer) -> None:
    """Add ``kitepilot up`` to ``app``."""

    @app.command()
    def up(
        only: Annotated[
            str | None,
            typer.Option(
                help="Start only these, comma-separated: "
                + ", ".join((*SERVICE_NAMES, *ALIASES))
                + " (default: all)."
            ),
        ] = None,
        dagster_port: Annotated[
            int, typer.Option(min=1, max=65535, help="Dagster webserver port.")
        ] = 3000,
        mlflow_port: Annotated[int, typer.Option(min=1, max=65535, help="MLflow UI port.")] = 5000,
        timeout: Annotated[
            float, typer.Option(min=1, help="Seconds to wait for every service to answer.")
        ] = 180.0,
        interval: Annotated[
            float, typer.Option(min=0.5, help="Seconds between health checks.")
        ] = 5.0,
        config_file: Annotated[
            Path | None,
            typer.Option(
                "--config",
                "-c",
                help="Your YAML config (default: ./kitepilot.yaml or $KITEPILOT_CONFIG).",
            ),
        ] = None,
    ) -> None:
        """The local stack in paper mode: paper exchange, Dagster webserver + daemon, MLflow UI,
        streaming worker, executor and dashboard. Prints the URLs, shows their health, and stops
        them all on Ctrl-C."""
        console = Console()
        try:
            config = resolve_config(config_file).config
            names = select_services(only)
        except ConfigError as error:
            console.print(str(error), style="bold red", markup=False, highlight=False)
            raise typer.Exit(2) from None
        except ContractError as error:
            raise typer.BadParameter(str(error), param_hint="--only") from None
        options = UpOptions(
            names=names,
            dagster_port=dagster_port,
            mlflow_port=mlflow_port,
            ready_timeout=timeout,
            interval=interval,
        )
        try:
            code = run_up(config, options, config_file=config_file, console=console)
        except ContractError as error:
            console.print(str(error), style="bold red", markup=False, highlight=False)
            raise typer.Exit(2) from None
        raise typer.Exit(code)
