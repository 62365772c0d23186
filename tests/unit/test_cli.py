"""The `kitepilot` CLI as a user runs it: typer's runner in-process, plus the installed script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestration import cli
from orchestration.cli import app

CHARGE_KEYS = ["brokerage", "stt", "exchange_txn", "sebi", "stamp_duty", "gst", "dp", "total"]


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A runner in an empty directory with no KITEPILOT_* variables leaking in from the machine."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli.console, "width", 200)  # wide enough that no table cell wraps
    for name in list(os.environ):
        if name.startswith("KITEPILOT_"):
            monkeypatch.delenv(name)
    return CliRunner()


@pytest.mark.parametrize(
    ("segment", "on", "total"),
    [
        ("intraday", "2025-06-02", 224.61),
        ("delivery", "2025-06-02", 1127.75),  # calculator's 1112.41 + the DP charge 15.34
        ("futures", "2025-06-02", 179.97),
        ("options", "2025-06-02", 982.63),
        ("futures", "2026-04-01", 329.97),
        ("options", "2026-04-01", 1232.63),
    ],
)
def test_charges_json_prints_exactly_one_object_with_the_keys(
    runner: CliRunner, segment: str, on: str, total: float
) -> None:
    args = ["charges", "--segment", segment, "--buy", "1000", "--sell", "1000", "--qty", "500"]

    result = runner.invoke(app, [*args, "--date", on, "--json"])

    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert list(payload) == CHARGE_KEYS
    assert payload["total"] == total


def test_charges_json_delivery_includes_dp_on_the_sell_day(runner: CliRunner) -> None:
    args = ["charges", "--segment", "delivery", "--buy", "100", "--sell", "110", "--qty", "10"]

    payload = json.loads(runner.invoke(app, [*args, "--date", "2026-05-04", "--json"]).stdout)

    assert payload["dp"] == 15.34


def test_charges_table_shows_net_after_charges(runner: CliRunner) -> None:
    args = ["charges", "--segment", "options", "--buy", "100", "--sell", "120", "--qty", "65"]

    result = runner.invoke(app, [*args, "--date", "2026-05-04"])

    assert result.exit_code == 0
    assert "65.11" in result.stdout
    assert "net after charges ₹1,234.89" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--qty", "0"], "ChargesModel.quantity must be >= 1, was 0"),
        (["--qty", "5", "--date", "2026-13-01"], "must be a date as YYYY-MM-DD"),
        (["--qty", "5", "--segment", "crypto"], "'crypto' is not one of"),
    ],
)
def test_charges_bad_input_exits_non_zero_with_the_rule(
    runner: CliRunner, args: list[str], message: str
) -> None:
    base = ["charges", "--buy", "100", "--sell", "110"]
    if "--segment" not in args:
        base += ["--segment", "options"]

    result = runner.invoke(app, base + args)

    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_config_show_masks_secrets_and_names_sources(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KITEPILOT_KITE__API_SECRET", "very-secret-value")

    table = runner.invoke(app, ["config", "show"])
    as_json = runner.invoke(app, ["config", "show", "--json"])

    assert table.exit_code == as_json.exit_code == 0
    assert "very-secret-value" not in table.output + as_json.output
    assert json.loads(as_json.stdout)["kite"]["api_secret"] == "*" * 10  # SecretStr's mask
    assert "KITEPILOT_KITE__API_SECRET" in table.output


def test_invalid_config_exits_2_with_one_clear_message(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "kitepilot.yaml").write_text("risk:\n  per_trade_risk: 5000\n", encoding="utf-8")

    result = runner.invoke(app, ["config", "show"])

    assert result.exit_code == 2
    assert " ".join(result.output.split()).startswith(
        "invalid config: risk.per_trade_risk must be <= risk.daily_loss_limit (1000), was 5000.0"
    )


def test_config_value_that_looks_like_markup_is_reported_verbatim(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KITEPILOT_CAPITAL", "[/x]")

    result = runner.invoke(app, ["config", "show"])

    assert result.exit_code == 2
    assert "invalid config: capital must be a valid number" in " ".join(result.output.split())
    assert "'[/x]'" in result.output


def test_calendar_json_lists_sessions_holidays_and_expiries(runner: CliRunner) -> None:
    result = runner.invoke(
        app, ["calendar", "--from", "2026-11-19", "--to", "2026-11-26", "--json"]
    )

    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert [s["date"] for s in payload["sessions"]] == [
        "2026-11-19",
        "2026-11-20",
        "2026-11-23",
        "2026-11-25",
        "2026-11-26",
    ]
    assert payload["sessions"][0]["open"] == "2026-11-19T09:15:00+05:30"
    assert payload["sessions"][0]["mis_square_off_fno"] == "2026-11-19T15:25:00+05:30"
    assert payload["holidays"] == [
        {
            "date": "2026-11-24",
            "description": "Prakash Gurpurb Sri Guru Nanak Dev",
            "published": True,
        }
    ]
    # The last Tuesday of November 2026 is a holiday, so the monthly expiry moves to Monday.
    assert payload["nifty_expiries"] == [{"date": "2026-11-23", "kind": "monthly"}]


def test_calendar_unpublished_year_warns_the_user(runner: CliRunner) -> None:
    result = runner.invoke(app, ["calendar", "--from", "2027-01-25", "--to", "2027-01-27"])

    assert result.exit_code == 0
    assert "NSE holidays for 2027 are not in the calendar data" in " ".join(result.output.split())
    assert "assumed" in result.stdout


def test_calendar_range_backwards_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(app, ["calendar", "--from", "2026-11-19", "--to", "2026-11-01"])

    assert result.exit_code == 2
    assert "must not be before --from" in result.output


def test_installed_script_runs() -> None:
    script = Path(sys.executable).with_name("kitepilot")
    args = ["charges", "--segment", "options", "--buy", "100", "--sell", "120", "--qty", "65"]

    completed = subprocess.run(  # noqa: S603 - our own entry point, fixed arguments
        [str(script), *args, "--date", "2026-05-04", "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )

    assert json.loads(completed.stdout)["total"] == 65.11
