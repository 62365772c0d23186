"""Security (see ``security``): no credential in the repository or in anything a run writes; token
files private; every listener on loopback and refusing actions without its token; and the
dependency audit script's verdicts."""

from __future__ import annotations

import gzip
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from data_contracts.config import KitepilotConfig
from execution.audit import AuditLog
from execution.kite.session import KiteSession, SessionFile
from orchestration.dashboard_cli import dashboard_token
from orchestration.paper_credentials import credentials
from orchestration.settings import load_config
from tests.reliability.security import (
    REPO_ROOT,
    demo_report,
    login_callback_report,
    scan_for_values,
    scan_repository,
    scan_text_for_patterns,
    stack_report,
    token_file_problems,
)

PLANTED = "KPPLANTscanner" + "0123456789abcdef01"


# -- the scanners ---------------------------------------------------------------------------------


def test_value_scanner_finds_a_planted_secret_in_text_gzip_sqlite_and_parquet(
    tmp_path: Path,
) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "worker.log").write_text(f"connected with {PLANTED}\n")
    (tmp_path / "export.csv.gz").write_bytes(gzip.compress(f"a,{PLANTED}\n".encode()))
    with sqlite3.connect(tmp_path / "store.db") as db:
        db.execute("CREATE TABLE t (v TEXT)")
        db.execute("INSERT INTO t VALUES (?)", (f"token={PLANTED}",))
    pl.DataFrame({"v": [PLANTED]}).write_parquet(tmp_path / "part-0.parquet", compression="zstd")
    (tmp_path / "clean.txt").write_text("nothing here\n")
    holder = tmp_path / "auth_token"
    holder.write_text(PLANTED)

    found = scan_for_values(tmp_path, {"planted": PLANTED}, holders=[holder])

    where = {Path(f.where.split(" (")[0]).name for f in found}
    assert where == {"worker.log", "export.csv.gz", "store.db", "part-0.parquet"}


@pytest.mark.parametrize(
    "line",
    [
        "KITEPILOT_KITE__API_SECRET=" + "abcd1234" * 4,
        'api_key: "' + "kitexyz1" * 2 + '"',
        "access_token = '" + "Q8f2Lm0p" * 4 + "'",
        "-----BEGIN RSA " + "PRIVATE KEY-----",
        "url = https://hooks.slack.com/services/" + "T0AAAAAAA/B0BBBBBBB/" + "c" * 24,
        "token " + "AKIA" + "ABCDEFGHIJKLMNOP",
    ],
)
def test_pattern_scanner_finds_a_planted_credential(line: str) -> None:
    assert scan_text_for_patterns(f"harmless\n{line}\n")


@pytest.mark.parametrize(
    "line",
    [
        "# KITEPILOT_KITE__API_SECRET=",
        "api_secret: null",
        'monkeypatch.setenv("KITEPILOT_KITE__API_SECRET", "very-secret-value")',
        "api_key: your_api_key_here_0000",
        "# Secret: KITEPILOT_MCP__NEWS__API_KEY in .env",
    ],
)
def test_pattern_scanner_ignores_placeholders(line: str) -> None:
    assert scan_text_for_patterns(line) == []


def test_repository_tracked_files_hold_no_credential_or_secret_file() -> None:
    assert [str(f) for f in scan_repository()] == []


def test_cli_exits_1_on_a_planted_value_and_0_on_a_clean_folder(tmp_path: Path) -> None:
    (tmp_path / "leaky").mkdir()
    (tmp_path / "leaky" / "out.log").write_text(f"secret was {PLANTED}\n")
    (tmp_path / "clean").mkdir()
    (tmp_path / "clean" / "out.log").write_text("nothing\n")
    env = {**os.environ, "KITEPILOT_KITE__API_SECRET": PLANTED}
    command = [sys.executable, "-m", "tests.reliability.security"]

    def scan(folder: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - our own module
            [*command, str(tmp_path / folder)],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    leaky, clean = scan("leaky"), scan("clean")

    assert leaky.returncode == 1, leaky.stdout + leaky.stderr
    assert "contains KITEPILOT_KITE__API_SECRET" in leaky.stdout
    assert PLANTED not in leaky.stdout  # the report never shows the value
    assert clean.returncode == 0, clean.stdout + clean.stderr


# -- token files ----------------------------------------------------------------------------------


@contextmanager
def _umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def _config(tmp_path: Path) -> KitepilotConfig:
    return load_config(
        environ={"KITEPILOT_STORAGE__VAR_DIR": str(tmp_path / "var")}, dotenv_file=None
    )


def test_generated_token_files_are_0600(tmp_path: Path) -> None:
    config = _config(tmp_path)
    with _umask(0o022):  # the usual umask: a file is 0644 unless the code says otherwise
        _, dashboard = dashboard_token(config)
        _, paper = credentials(config)

    assert dashboard is not None
    problems = [
        f
        for path in (dashboard, paper)
        for f in token_file_problems(path)
        if "folder" not in f.kind
    ]
    assert problems == []


def test_generated_token_files_sit_in_0700_folders(tmp_path: Path) -> None:
    config = _config(tmp_path)
    with _umask(0o022):
        _, dashboard = dashboard_token(config)
        _, paper = credentials(config)

    assert dashboard is not None
    assert [str(f) for p in (dashboard, paper) for f in token_file_problems(p)] == []


def test_mcp_token_file_is_0600_in_a_0700_folder(tmp_path: Path) -> None:
    mcp_cli = pytest.importorskip("orchestration.mcp_cli", reason="no MCP server yet")
    with _umask(0o022):
        _, path = mcp_cli.mcp_token(_config(tmp_path))

    assert path is not None
    assert token_file_problems(path) == []


def test_session_file_is_0600_in_a_0700_folder(tmp_path: Path) -> None:
    now = datetime(2026, 8, 18, 3, 0, tzinfo=UTC)
    session = KiteSession(
        api_key="kpplant" + "session00",  # built: the repository's secret scan reads this file
        user_id="PAPER1",
        access_token=PLANTED,
        login_time=now,
        expires_at=now + timedelta(hours=20),
    )
    file = SessionFile(tmp_path / "home" / ".kitepilot" / "kite_session.json")

    with _umask(0o022):
        file.save(session)

    assert token_file_problems(file.path) == []


def test_audit_log_folder_is_0700_and_its_day_files_0600(tmp_path: Path) -> None:
    from data_contracts.clock import ManualClock
    from execution.audit import AuditKind

    with _umask(0o022):
        log = AuditLog(tmp_path / "audit", ManualClock(datetime(2026, 8, 18, 4, tzinfo=UTC)))
        log.append(AuditKind.OPERATOR, "scan", {"x": 1}, actor="test")

    days = [p for p in (tmp_path / "audit").iterdir() if p.suffix == ".jsonl"]
    assert days
    assert [str(f) for p in days for f in token_file_problems(p)] == []


# -- listeners and their tokens -------------------------------------------------------------------


@pytest.mark.slow
def test_trading_stack_listens_on_loopback_refuses_without_tokens_and_leaks_nothing(
    tmp_path: Path,
) -> None:
    report = stack_report(tmp_path, "paper-exchange,dashboard,stream,executor")

    assert report["not_answering"] == []
    assert len(report["listeners"]) == 2  # the paper exchange and the dashboard
    assert report["non_loopback_listeners"] == []
    assert report["reachable_from_non_loopback"] == []
    assert set(report["paper_refusals"].values()) == {403}, report["paper_refusals"]
    assert all(report["dashboard_refusals"].values()), report["dashboard_refusals"]
    assert report["secret_leaks"] == []
    assert report["credential_patterns"] == []


@pytest.mark.chaos  # the batch side's listeners; test_up covers its start and stop in make test
def test_batch_stack_dagster_and_mlflow_listen_on_loopback_only(tmp_path: Path) -> None:
    report = stack_report(tmp_path, "dagster,mlflow", seconds=150.0)

    assert report["not_answering"] == []
    assert len(report["listeners"]) >= 2
    assert report["non_loopback_listeners"] == []
    assert report["reachable_from_non_loopback"] == []
    assert report["secret_leaks"] == []


def test_login_callback_listens_on_loopback_and_refuses_a_forged_redirect() -> None:
    seen = login_callback_report()

    assert seen["listeners"]
    assert seen["loopback_only"]
    assert seen["reachable_from_non_loopback"] in (False, None)
    assert (seen["forged state"], seen["no state"], seen["other path"]) == (400, 400, 404)


# -- after a demo ---------------------------------------------------------------------------------


@pytest.mark.chaos  # a whole demo (~90 s): make chaos
def test_small_demo_leaves_no_planted_or_generated_secret_anywhere(tmp_path: Path) -> None:
    report = demo_report(tmp_path)

    assert report["exit_code"] == 0, report
    assert report["files_scanned"] > 50
    assert report["secret_leaks"] == []
    assert report["credential_patterns"] == []


# -- the dependency audit -------------------------------------------------------------------------

AUDIT = REPO_ROOT / ".ci" / "audit"


def _audit(tmp_path: Path, report: dict[str, object], *flags: str) -> tuple[int, str]:
    path = tmp_path / "pip-audit.json"
    path.write_text(json.dumps(report), encoding="utf-8")
    done = subprocess.run(  # noqa: S603 - our own script
        [str(AUDIT), "--from-json", str(path), *flags],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


AUDITED = {"name": "requests", "version": "2.32.3", "vulns": []}
SKIPPED = {
    "name": "aiohttp",
    "skip_reason": "Dependency not found on PyPI and could not be audited: aiohttp (3.14.5)",
}
VULNERABLE = {
    "name": "jinja2",
    "version": "3.1.2",
    "vulns": [{"id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.3"], "aliases": []}],
}


@pytest.mark.parametrize(
    ("deps", "flags", "code", "says"),
    [
        ([AUDITED], (), 0, "no known vulnerabilities"),
        ([AUDITED, VULNERABLE], (), 1, "GHSA-h5c8-rqwp-cp95"),
        ([SKIPPED, SKIPPED], (), 0, "NOT AUDITED"),
        ([SKIPPED, SKIPPED], ("--strict",), 2, "NOT AUDITED"),
        ([AUDITED, SKIPPED], ("--strict",), 2, "1 of 2"),
        ([VULNERABLE, SKIPPED], ("--strict",), 1, "jinja2 3.1.2"),
    ],
)
def test_audit_script_verdict_from_a_pip_audit_report(
    tmp_path: Path,
    deps: list[dict[str, object]],
    flags: tuple[str, ...],
    code: int,
    says: str,
) -> None:
    exit_code, output = _audit(tmp_path, {"dependencies": deps, "fixes": []}, *flags)

    assert exit_code == code, output
    assert says in output
