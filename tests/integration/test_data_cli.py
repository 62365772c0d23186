"""`kitepilot data …` as a user runs it: simulate into a temp lake, import real files, validate."""

from __future__ import annotations

import os
import re
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from models.lake import Lake
from orchestration import cli
from orchestration.cli import app


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)  # no ./dagster.yaml here: runs use an in-memory instance
    for name in list(os.environ):
        if name.startswith("KITEPILOT_") or name == "DAGSTER_HOME":
            monkeypatch.delenv(name)
    monkeypatch.setenv("KITEPILOT_STORAGE__LAKE_DIR", str(tmp_path / "lake"))
    monkeypatch.setenv("KITEPILOT_STORAGE__REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setattr(cli.console, "width", 200)
    return CliRunner()


def test_data_simulate_materializes_the_days_and_reports_checks(
    runner: CliRunner, tmp_path: Path
) -> None:
    result = runner.invoke(app, ["data", "simulate", "--from", "2026-07-06", "--to", "2026-07-08"])

    assert result.exit_code == 0, result.output
    assert "every check passed" in result.output
    lake = Lake(tmp_path / "lake")
    assert [d.isoformat() for d in lake.days("candles_1m")] == [
        "2026-07-06",
        "2026-07-07",
        "2026-07-08",
    ]
    assert lake.days("features") == lake.days("candles_1m")

    validated = runner.invoke(app, ["data", "validate"])

    assert validated.exit_code == 0, validated.output
    assert "PASSED" in validated.output


def test_data_simulate_outside_the_simulated_range_is_a_clear_error(runner: CliRunner) -> None:
    result = runner.invoke(app, ["data", "simulate", "--from", "2026-07-04", "--to", "2026-07-05"])

    assert result.exit_code == 2
    assert "must hold a trading day" in result.output


def test_data_import_real_file_stores_candles_and_names_its_defects(
    runner: CliRunner, tmp_path: Path, shared_fixtures: Path
) -> None:
    source = shared_fixtures / "candles" / "nifty50-5min-2026" / "INFY_5min.csv"

    result = runner.invoke(app, ["data", "import", str(source)])

    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "[WARN] zero_volume_bars" in text
    assert "[WARN] price_precision" in text
    assert "imported 1 file(s)" in text
    lake = Lake(tmp_path / "lake")
    first = lake.days("candles_5m")
    assert first
    rows = lake.scan("candles_5m", first[0], first[-1]).collect().height

    again = runner.invoke(app, ["data", "import", str(source)])

    assert again.exit_code == 0
    assert lake.scan("candles_5m", first[0], first[-1]).collect().height == rows


def test_data_import_keeps_rejected_rows_as_dead_letters(
    runner: CliRunner, tmp_path: Path, shared_fixtures: Path
) -> None:
    source = (
        shared_fixtures / "candles" / "banknifty-15min-2018-2023" / "BankNifty_2018_to_2023.csv"
    )

    result = runner.invoke(app, ["data", "import", str(source)])

    assert result.exit_code == 0, result.output
    assert "[WARN] import_rejections" in " ".join(result.output.split())
    dead = Lake(tmp_path / "reports" / "rejected")
    [table_day] = dead.days("banknifty_2018_to_2023")
    rejected = dead.read("banknifty_2018_to_2023", table_day)
    assert rejected is not None
    assert rejected.height == 696
    assert rejected["reason"].null_count() == 0


def test_data_import_missing_path_is_a_clear_error(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "import", str(tmp_path / "nope.csv")])

    assert result.exit_code == 2
    assert "PATH must be an existing file or folder" in " ".join(result.output.split())


def test_data_validate_empty_lake_is_a_clear_error(runner: CliRunner) -> None:
    result = runner.invoke(app, ["data", "validate"])

    assert result.exit_code == 2
    assert "table must have data in the lake" in " ".join(result.output.split())


def test_demo_runs_the_whole_system_then_a_second_run_reuses_lake_and_model(
    runner: CliRunner,
) -> None:
    first = runner.invoke(app, ["demo"])

    assert first.exit_code == 0, first.output
    text = " ".join(first.stdout.split())
    assert "PAPER mode" in text
    assert "demo world (this run only)" in text
    assert "Not built yet" not in text
    assert "nothing reached a broker" in text
    assert "all asset checks passed" in text
    assert "promoted to champion" in text
    scored = re.search(r"ticks → ([\d,]+) scored bars", text)
    assert scored is not None
    assert int(scored.group(1).replace(",", "")) > 0
    assert "demo-approver (automatic" in text
    proposed = re.search(r"→ ([\d,]+) proposals", text)
    assert proposed is not None
    assert int(proposed.group(1).replace(",", "")) > 0  # the demo world has an edge to find
    assert "net P&L after charges" in text
    assert "reusing the lake" not in text

    second = runner.invoke(app, ["demo"])

    assert second.exit_code == 0, second.output
    again = " ".join(second.stdout.split())
    assert "reusing the lake" in again
    assert "reused: trained by an earlier demo run" in again
    assert "model version 1:" in again  # the first run's champion: no second training
    assert "net P&L after charges" in again


def test_demo_on_your_own_lake_with_too_few_days_says_what_to_do(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KITEPILOT_DATA__SOURCE", "files")
    monkeypatch.setenv("KITEPILOT_DATA__FILES_PATH", str(tmp_path / "my-candles"))

    result = runner.invoke(app, ["demo"])

    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "data.source" in message
    assert "at least 25 days of training data" in message
    assert "has 0" in message


def test_demo_uses_your_lake_when_it_holds_enough_days(tmp_path: Path) -> None:
    from rich.console import Console

    from orchestration.demo import demo_batch
    from orchestration.demo_cache import DemoCache
    from orchestration.settings import load_config

    config = load_config(
        environ={
            "KITEPILOT_DATA__SOURCE": "files",
            "KITEPILOT_DATA__FILES_PATH": str(tmp_path / "my-candles"),
            "KITEPILOT_STORAGE__LAKE_DIR": str(tmp_path / "lake"),
        },
        dotenv_file=None,
    )
    lake = Lake(tmp_path / "lake")
    days = [d for d in (date(2026, 7, 1) + timedelta(days=n) for n in range(40)) if d.weekday() < 5]
    for day in days[:25]:
        lake.write("training_set", day, pl.DataFrame({"instrument_token": [1], "x": [0.5]}))
    shown = Console(record=True, width=200)

    fingerprint = demo_batch(config, shown, DemoCache.under(tmp_path / "var"))

    text = shown.export_text()
    assert fingerprint is None  # your lake is not fingerprinted: the model is trained anew
    assert "using your lake (data.source: files)" in text
    assert "25 days" in text
    assert "nothing is simulated" in text
