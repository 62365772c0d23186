"""The execution commands through the real CLI: decisions, orders, positions, the audit check."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from data_contracts.enums import ProposalStatus
from data_contracts.ids import ProposalId
from execution.store import SqlStore
from orchestration.cli import app
from tests import factories

runner = CliRunner()


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "KITEPILOT_STORAGE__VAR_DIR": str(tmp_path / "var"),
        "KITEPILOT_STORAGE__DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'kitepilot.db'}",
    }


def _propose(tmp_path: Path, pid: str) -> None:
    # Expiring in the far future: the CLI decides on the wall clock.
    proposal = factories.proposal(
        proposal_id=ProposalId(pid), expires_at=factories.T0 + timedelta(days=36_500)
    )
    with SqlStore.open(_env(tmp_path)["KITEPILOT_STORAGE__DATABASE_URL"]) as store:
        store.add(proposal)


def test_approve_and_reject_record_decisions_that_the_audit_chain_verifies(
    tmp_path: Path,
) -> None:
    env = _env(tmp_path)
    _propose(tmp_path, "p-cli-1")
    _propose(tmp_path, "p-cli-2")

    approved = runner.invoke(app, ["approve", "p-cli-1", "--by", "asha", "--wait", "0"], env=env)
    rejected = runner.invoke(app, ["reject", "p-cli-2", "--reason", "too late"], env=env)
    again = runner.invoke(app, ["approve", "p-cli-1", "--wait", "0"], env=env)
    verified = runner.invoke(app, ["audit", "verify"], env=env)

    assert approved.exit_code == 0, approved.output
    assert "no verdict yet" in approved.output
    assert rejected.exit_code == 0, rejected.output
    assert again.exit_code == 1
    assert "decided already" in again.output
    assert verified.exit_code == 0, verified.output
    assert "2 entries" in verified.output
    with SqlStore.open(env["KITEPILOT_STORAGE__DATABASE_URL"]) as store:
        assert store.status(ProposalId("p-cli-1")) is ProposalStatus.APPROVED
        assert store.status(ProposalId("p-cli-2")) is ProposalStatus.REJECTED


def test_tampered_audit_file_fails_verification(tmp_path: Path) -> None:
    env = _env(tmp_path)
    _propose(tmp_path, "p-cli-3")
    runner.invoke(app, ["reject", "p-cli-3"], env=env)
    (day_file,) = (tmp_path / "var" / "audit").glob("*.jsonl")
    day_file.write_text(day_file.read_text().replace("p-cli-3", "p-cli-9"))

    result = runner.invoke(app, ["audit", "verify"], env=env)

    assert result.exit_code == 1
    assert "audit chain broken" in result.output


def test_orders_and_positions_on_an_empty_store_say_so(tmp_path: Path) -> None:
    env = _env(tmp_path)

    orders = runner.invoke(app, ["orders"], env=env)
    positions = runner.invoke(app, ["positions"], env=env)

    assert (orders.exit_code, positions.exit_code) == (0, 0)
    assert "no orders" in orders.output
    assert "no fills" in positions.output
