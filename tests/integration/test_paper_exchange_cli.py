"""``kitepilot paper-exchange``: configuration → a running exchange (credentials, replay day,
source, faults), and the command's options and errors."""

from __future__ import annotations

import os
import stat
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from data_contracts.config import KitepilotConfig
from data_contracts.errors import ContractError
from data_contracts.nse_calendar import NseCalendar
from execution.paper.app import PaperExchange
from orchestration import cli, paper_cli
from orchestration.cli import app
from orchestration.paper_cli import PaperOverrides, build_paper_exchange, replay_day
from orchestration.paper_credentials import credentials
from orchestration.settings import load_config

TODAY = date(2026, 8, 19)  # Wednesday: the last session before it is Tuesday 18 August


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> KitepilotConfig:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("KITEPILOT_"):
            monkeypatch.delenv(name)
    return load_config(dotenv_file=None)


def test_credentials_are_generated_once_private_and_reused(config: KitepilotConfig) -> None:
    first, path = credentials(config)
    second, _ = credentials(config)

    assert first == second
    assert len(first.api_secret) >= 32
    assert first.api_secret != first.admin_token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path == Path("var/paper_exchange/credentials.json")
    assert first.api_secret not in repr(first)


def test_credentials_from_the_environment_win(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    environ = {"KITEPILOT_PAPER_EXCHANGE__API_SECRET": "from-env"}

    found, _ = credentials(load_config(environ=environ, dotenv_file=None))

    assert found.api_secret == environ["KITEPILOT_PAPER_EXCHANGE__API_SECRET"]


@pytest.mark.parametrize(
    ("configured", "expected"),
    [(None, date(2026, 8, 18)), (date(2026, 8, 14), date(2026, 8, 14))],
)
def test_replay_day_defaults_to_the_last_session_before_today(
    configured: date | None, expected: date
) -> None:
    assert replay_day(configured, TODAY, NseCalendar.default()) == expected


def test_replay_day_must_be_a_session() -> None:
    with pytest.raises(ContractError, match="must be an NSE session"):
        replay_day(date(2026, 8, 15), TODAY, NseCalendar.default())  # Independence Day


def test_build_applies_overrides_and_faults(config: KitepilotConfig, tmp_path: Path) -> None:
    plan = tmp_path / "faults.yaml"
    plan.write_text("seed: 9\nroutes:\n  quote: {http_429: 0.5}\n", encoding="utf-8")
    overrides = PaperOverrides(port=0, speed=60, day=date(2026, 8, 14), faults_file=plan)

    exchange, _ = build_paper_exchange(config, overrides, TODAY)

    assert exchange.market.day == date(2026, 8, 14)
    assert (exchange.settings.port, exchange.clock.speed) == (0, 60)
    assert exchange.faults.plan.seed == 9
    assert exchange.settings.api_key == "kitepilot_paper"
    assert Path("var").is_dir()  # the SQLite database's folder was made


def test_cli_builds_and_serves_the_configured_exchange(
    config: KitepilotConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[PaperExchange] = []
    monkeypatch.setattr(paper_cli, "serve", served.append)
    monkeypatch.setattr(cli, "_today", lambda: TODAY)
    monkeypatch.setattr(cli.console, "width", 200)

    result = CliRunner().invoke(
        app, ["paper-exchange", "--port", "0", "--speed", "10", "--source", "sim"]
    )

    assert result.exit_code == 0, result.output
    assert [e.market.day for e in served] == [date(2026, 8, 18)]
    assert served[0].clock.speed == 10
    assert "replaying 2026-08-18 (sim) at speed 10" in result.stdout
    assert "credentials.json" in result.stdout
    assert served[0].settings.api_secret not in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-13-01"], "must be a date as YYYY-MM-DD"),
        (["--from", "2026-08-15"], "must be an NSE session"),
        (["--speed", "-1"], "must be >= 0"),
        (["--source", "kite"], "'kite' is not one of"),
    ],
)
def test_cli_bad_options_exit_2_naming_the_problem(
    config: KitepilotConfig, args: list[str], message: str
) -> None:
    result = CliRunner().invoke(app, ["paper-exchange", *args])

    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_cli_lake_source_without_a_lake_is_a_clear_error(config: KitepilotConfig) -> None:
    result = CliRunner().invoke(app, ["paper-exchange", "--source", "lake", "--from", "2026-08-18"])

    assert result.exit_code == 2
    assert "must have an instruments partition" in result.output
