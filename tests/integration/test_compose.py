"""The scale-out set-up (docker-compose.yml and deploy/) holds together without Docker: every
service runs a command its CLI accepts, the environment wires the PostgreSQL URLs and the MLflow
server, no secret is written in, every published port is on the host's loopback, the kitepilot
config passes validation, and the Dagster instance is on dagster-postgres' storage."""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import pytest
import typer
import yaml

from orchestration.settings import is_secret_key, resolve_config

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
DEPLOY = REPO / "deploy"
# Where compose mounts the repository's deploy/ files inside the containers.
CONTAINER_DEPLOY = "/app/deploy/"
DEPLOY_ARG = re.compile(rf"^{CONTAINER_DEPLOY}")

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}
_REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")
_ONLY_A_REFERENCE = re.compile(rf"^{_REFERENCE.pattern}$")
_PASSWORD_IN_URL = re.compile(r"://[^/@\s:]+:[^/@\s]+@")
# The variables deploy/.env must set (compose stops with the message when one is missing).
_REQUIRED = {"POSTGRES_PASSWORD": "pw", "KITEPILOT_DASHBOARD__AUTH_TOKEN": "token"}


def _interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's variable substitution (enough of it for this file)."""

    def replace(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if env.get(name):
            return env[name]
        if op in (":-", "-"):
            return arg
        if op in (":?", "?"):
            raise KeyError(f"{name} is required: {arg}")
        return ""

    return _REFERENCE.sub(replace, text)


def _resolved(value: Any, env: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return _interpolate(value, env)
    if isinstance(value, list):
        return [_resolved(item, env) for item in value]
    if isinstance(value, dict):
        return {key: _resolved(item, env) for key, item in value.items()}
    return value


@cache
def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _services() -> dict[str, dict[str, Any]]:
    services = _compose()["services"]
    assert isinstance(services, dict)
    return services


def _kitepilot_services() -> list[str]:
    return [name for name, s in _services().items() if s.get("command", [None])[0] == "kitepilot"]


def _environment(service: Mapping[str, Any]) -> dict[str, str]:
    raw = service.get("environment", {})
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {str(key): str(value) for key, value in raw.items()}


def _all_strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [text for item in value for text in _all_strings(item)]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _all_strings(item)]
    return []


@cache
def _cli(executable: str) -> Any:
    """The click command behind an installed console script (kitepilot's through typer)."""
    if executable == "kitepilot":
        from orchestration.cli import app

        return typer.main.get_command(app)
    (script, *_) = entry_points(group="console_scripts", name=executable)
    command = importlib.import_module(script.module).cli
    assert isinstance(command, click.Command)
    return command


class CommandRefused(ValueError):
    """The CLI would refuse this command line."""


# Typer 0.2x bundles its own click: its usage errors are not click's.
_USAGE_ERRORS = (click.UsageError, typer.BadParameter.__base__)


def _parse(argv: list[str]) -> list[str]:
    """Parse ``argv`` as its CLI would (no command runs); the names of the commands it reaches.
    Paths under the containers' /app/deploy/ are read from the repository's deploy/."""
    argv = [DEPLOY_ARG.sub(f"{DEPLOY}/", arg) for arg in argv]
    command: Any = _cli(argv[0])
    reached = [argv[0]]
    try:
        context = command.make_context(argv[0], list(argv[1:]))
        while hasattr(command, "resolve_command"):  # a group: descend to the subcommand
            rest = [*context._protected_args, *context.args]
            name, command, remaining = command.resolve_command(context, rest)
            reached.append(name)
            context = command.make_context(name, remaining, parent=context)
    except _USAGE_ERRORS as error:
        raise CommandRefused(f"{argv}: {error}") from error
    return reached


def _installed(executable: str) -> bool:
    return executable == "kitepilot" or any(
        True for _ in entry_points(group="console_scripts", name=executable)
    )


def _commands() -> list[Any]:
    """Every service command and exec-form health check, interpolated as deploy/.env would."""
    found = []
    for name, service in _services().items():
        argvs = []
        if "command" in service:
            argvs.append((name, _resolved(service["command"], _REQUIRED)))
        test = service.get("healthcheck", {}).get("test")
        if test and test[0] == "CMD":
            argvs.append((f"{name} (healthcheck)", _resolved(test[1:], _REQUIRED)))
        for label, argv in argvs:
            # Importing mlflow's CLI alone takes ~10 s.
            marks = [pytest.mark.slow] if argv[0] == "mlflow" else []
            found.append(pytest.param(label, argv, marks=marks, id=f"{label}: {argv[0]}"))
    return found


def test_compose_has_every_service_of_the_distributed_setup() -> None:
    # Arrange
    services = _services()
    commands = {name: s.get("command", []) for name, s in services.items()}

    # Act
    kitepilot = {tuple(commands[name][1:2]) for name in _kitepilot_services()}

    # Assert
    assert services["postgres"]["image"].startswith("timescale/timescaledb:")
    assert commands["mlflow"][:2] == ["mlflow", "server"]
    assert commands["dagster-code"][:3] == ["dagster", "code-server", "start"]
    assert commands["dagster-webserver"][0] == "dagster-webserver"
    assert commands["dagster-daemon"][:2] == ["dagster-daemon", "run"]
    assert {("paper-exchange",), ("stream",), ("execute",), ("dashboard",)} <= kitepilot


@pytest.mark.parametrize(("service", "argv"), _commands())
def test_compose_command_parses_in_its_cli(service: str, argv: list[str]) -> None:
    # Arrange
    executable = argv[0]
    if executable == "python":  # the image's interpreter, running a one-line check
        assert argv[1] == "-c"
        compile(argv[2], service, "exec")
        return
    if not _installed(executable):
        # A system binary (socat, pg_isready): it must be in the image that runs it.
        image = _services()[service.split(" ")[0]]["image"]
        dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
        assert image.startswith("timescale/") or f" {executable} " in dockerfile
        return

    # Act
    reached = _parse(argv)

    # Assert
    assert reached[0] == executable
    if executable in ("kitepilot", "dagster", "mlflow"):  # groups: a subcommand was reached
        assert len(reached) >= 2


@pytest.mark.parametrize(
    "argv",
    [["kitepilot", "no-such-command"], ["kitepilot", "stream", "--processes", "0"]],
)
def test_compose_command_check_refuses_a_command_the_cli_does_not_accept(argv: list[str]) -> None:
    with pytest.raises(CommandRefused):
        _parse(argv)


def test_compose_stream_runs_several_bytewax_processes_by_default() -> None:
    # Arrange
    command = _resolved(_services()["stream"]["command"], _REQUIRED)

    # Act
    processes = int(command[command.index("--processes") + 1])

    # Assert
    assert processes >= 2


def test_compose_kitepilot_services_load_a_valid_postgres_backed_config() -> None:
    # Arrange
    env = _resolved(_environment(_services()["executor"]), _REQUIRED)
    config_file = env.pop("KITEPILOT_CONFIG")
    assert config_file.startswith(CONTAINER_DEPLOY)

    # Act
    config = resolve_config(
        DEPLOY / config_file.removeprefix(CONTAINER_DEPLOY), environ=env, dotenv_file=None
    ).config

    # Assert
    assert config.storage.database_url.startswith("postgresql+psycopg://")
    assert config.paper_exchange.database.startswith("postgresql+psycopg://")
    assert config.storage.mlflow_tracking_uri == "http://mlflow:5000"
    assert config.dashboard.auth_token is not None
    assert config.mode.value == "paper"


def test_compose_every_kitepilot_service_shares_the_config_and_the_database_password() -> None:
    for name in _kitepilot_services():
        env = _environment(_services()[name])
        assert env["KITEPILOT_CONFIG"] == f"{CONTAINER_DEPLOY}kitepilot.postgres.yaml", name
        assert _ONLY_A_REFERENCE.match(env["PGPASSWORD"])["name"] == "POSTGRES_PASSWORD", name
        mounts = _services()[name]["volumes"]
        assert any(m.endswith(":/app/var") for m in mounts), name


def test_compose_gives_each_consumer_its_own_database_created_at_init() -> None:
    # Arrange
    config = resolve_config(DEPLOY / "kitepilot.postgres.yaml", environ={}, dotenv_file=None)
    mlflow = _services()["mlflow"]["command"]
    urls = {
        "store": config.config.storage.database_url,
        "paper exchange": config.config.paper_exchange.database,
        "mlflow": mlflow[mlflow.index("--backend-store-uri") + 1],
        "dagster": _environment(_services()["dagster-daemon"])["DAGSTER_POSTGRES_URL"],
    }
    init_sql = (DEPLOY / "postgres-init.sql").read_text(encoding="utf-8")

    # Act
    databases = {who: urlsplit(url).path.lstrip("/") for who, url in urls.items()}
    created = set(re.findall(r"CREATE DATABASE (\w+);", init_sql))
    created.add(_services()["postgres"]["environment"]["POSTGRES_DB"])

    # Assert
    assert all(urlsplit(url).hostname == "postgres" for url in urls.values())
    assert len(set(databases.values())) == len(databases)
    assert set(databases.values()) <= created


def test_compose_inlines_no_secret_and_no_password_in_a_url() -> None:
    for name, service in _services().items():
        for key, value in _environment(service).items():
            if is_secret_key(key) or "PASSWORD" in key:
                reference = _ONLY_A_REFERENCE.match(value)
                assert reference is not None, f"{name}: {key} must be a ${{VAR}} reference"
                assert not reference["arg"] or reference["op"].endswith("?"), (name, key)
        for text in _all_strings(service):
            assert not _PASSWORD_IN_URL.search(text), f"{name}: a password in {text!r}"


def test_compose_publishes_ports_on_the_host_loopback_only() -> None:
    published = {
        name: service["ports"] for name, service in _services().items() if "ports" in service
    }

    assert published  # the UIs are reachable
    for name, ports in published.items():
        for port in ports:
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port}"


def test_compose_dashboard_binds_loopback_in_the_gateway_namespace_and_is_forwarded() -> None:
    # Arrange
    services = _services()
    config = resolve_config(DEPLOY / "kitepilot.postgres.yaml", environ={}, dotenv_file=None)
    dashboard_port = config.config.dashboard.port
    gateway = services["gateway"]

    # Act
    listen = next(a for a in gateway["command"] if a.startswith("TCP-LISTEN:"))
    target = next(a for a in gateway["command"] if a.startswith("TCP:"))
    inner_port = listen.removeprefix("TCP-LISTEN:").split(",")[0]

    # Assert
    for name in ("paper-exchange", "stream", "executor", "dashboard"):
        assert services[name]["network_mode"] == "service:gateway", name
    assert config.config.dashboard.host == "127.0.0.1"
    assert target == f"TCP:127.0.0.1:{dashboard_port}"
    assert gateway["ports"] == [f"127.0.0.1:{dashboard_port}:{inner_port}"]


def test_compose_kitepilot_services_stop_on_sigint() -> None:
    for name in _kitepilot_services():
        service = _services()[name]
        assert service["stop_signal"] == "SIGINT", name
        assert service["init"] is True, name


def test_dagster_postgres_instance_names_dagster_postgres_storage_and_fits_the_schema() -> None:
    # Arrange
    from dagster._config import validate_config
    from dagster._core.instance.config import dagster_instance_config_schema

    instance = yaml.safe_load((DEPLOY / "dagster.postgres.yaml").read_text(encoding="utf-8"))

    # Act
    result = validate_config(dagster_instance_config_schema(), instance)

    # Assert
    assert result.success, result.errors
    assert {
        key: (instance[key]["module"], instance[key]["class"])
        for key in ("run_storage", "event_log_storage", "schedule_storage")
    } == {
        "run_storage": ("dagster_postgres.run_storage", "PostgresRunStorage"),
        "event_log_storage": ("dagster_postgres.event_log", "PostgresEventLogStorage"),
        "schedule_storage": ("dagster_postgres.schedule_storage", "PostgresScheduleStorage"),
    }
    assert all(
        instance[key]["config"]["postgres_url"] == {"env": "DAGSTER_POSTGRES_URL"}
        for key in ("run_storage", "event_log_storage", "schedule_storage")
    )


def test_dagster_services_use_the_postgres_instance_and_find_the_code_location() -> None:
    # Arrange
    services = _services()
    workspace = yaml.safe_load((DEPLOY / "workspace.yaml").read_text(encoding="utf-8"))
    code = services["dagster-code"]["command"]

    # Act
    (location,) = workspace["load_from"]
    server = location["grpc_server"]

    # Assert
    assert server["host"] == "dagster-code"
    assert str(server["port"]) == code[code.index("--port") + 1]
    assert code[code.index("--module-name") + 1] == "orchestration.definitions"
    for name in ("dagster-code", "dagster-webserver", "dagster-daemon"):
        env = _environment(services[name])
        mounts = services[name]["volumes"]
        assert f"./deploy/dagster.postgres.yaml:{env['DAGSTER_HOME']}/dagster.yaml:ro" in mounts
        assert env["DAGSTER_POSTGRES_URL"].startswith("postgresql://")
    assert "dagster-postgres" in (DEPLOY / "Dockerfile").read_text(encoding="utf-8")


def test_deploy_env_example_sets_no_value_for_a_secret() -> None:
    lines = (DEPLOY / ".env.example").read_text(encoding="utf-8").splitlines()

    assignments = [line.split("=", 1) for line in lines if "=" in line and line[:1] not in "# "]

    assert {name for name, _ in assignments} >= set(_REQUIRED)
    for name, value in assignments:
        if is_secret_key(name) or "PASSWORD" in name:
            assert value == "", f"{name} has a value in .env.example"


def test_docker_build_context_excludes_env_files_and_var() -> None:
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()

    assert {".env", ".env.*", "var/", ".venv/"} <= set(ignored)
