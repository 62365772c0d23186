"""The audit log viewer: filters, newest first, summaries in words, no secrets, the chain report."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from data_contracts.clock import ManualClock
from data_contracts.enums import AlertSeverity
from data_contracts.errors import ContractError
from execution.audit import AuditKind, AuditLog
from execution.console.audit_view import HIDDEN, audit_view
from tests import factories

T0 = factories.T0
CE = factories.NIFTY_CE_TOKEN
INFY = 408065
LEAKED = "aB3" * 11  # 33 letters and digits: the shape of an access token


def _seed(directory: Path) -> ManualClock:
    """A day's story: a proposal, its approval, the verdict, a fill, an INFY veto, a kill."""
    clock = ManualClock(T0)
    log = AuditLog(directory, clock)
    proposal = factories.proposal()
    log.append(
        AuditKind.PROPOSAL,
        proposal.proposal_id.value,
        {"proposal": proposal},
        actor="worker-0",
        instrument_token=CE,
    )
    clock.advance(timedelta(seconds=30))
    log.append(
        AuditKind.DECISION,
        proposal.proposal_id.value,
        {"decision": factories.decision(reason="clean breakout")},
        actor="asha",
        instrument_token=CE,
    )
    log.append(
        AuditKind.VERDICT,
        proposal.proposal_id.value,
        {"accepted": True, "reduce_only": False, "reasons": [], "checks": []},
        actor="executor",
        instrument_token=CE,
    )
    clock.advance(timedelta(seconds=5))
    log.append(
        AuditKind.FILL,
        "T1",
        {"fill": factories.fill(), "slippage": -3.25},
        actor="executor",
        instrument_token=CE,
    )
    clock.advance(timedelta(minutes=1))
    log.append(
        AuditKind.VERDICT,
        "p-infy",
        {"accepted": False, "reduce_only": False, "reasons": ["market closed"], "checks": []},
        actor="executor",
        instrument_token=INFY,
    )
    clock.advance(timedelta(minutes=1))
    log.append(
        AuditKind.KILL_SWITCH, "kill_switch", {"action": "engage", "reason": "manual"}, actor="asha"
    )
    return clock


def test_audit_view_lists_entries_newest_first_with_summaries(tmp_path: Path) -> None:
    _seed(tmp_path)

    view = audit_view(tmp_path)

    assert [r.seq for r in view.rows] == [6, 5, 4, 3, 2, 1]
    assert [r.kind for r in view.rows] == [
        "kill_switch",
        "verdict",
        "fill",
        "verdict",
        "decision",
        "proposal",
    ]
    summaries = [r.summary for r in view.rows]
    assert summaries == [
        "engaged: manual",
        "vetoed: market closed",
        "BUY 65 @ ₹100.00, charges ₹20.00, slippage \u2212₹3.25",
        "accepted",
        "APPROVE by operator: clean breakout",
        "BUY 1 x 65 NIFTY2681824400CE @ ₹100.00, stop ₹60.00, target ₹150.00, p_win 0.83, "
        "expected net ₹480.00",
    ]
    assert (view.rows[0].actor, view.rows[-1].actor) == ("asha", "worker-0")
    assert view.rows[-1].time == T0
    assert view.chain.ok
    assert view.chain.entries == 6


@pytest.mark.parametrize(
    ("filters", "seqs"),
    [
        ({"kinds": ["verdict"]}, [5, 3]),
        ({"kinds": ["fill", "kill_switch"]}, [6, 4]),
        ({"instrument_token": INFY}, [5]),
        ({"instrument_token": CE, "kinds": ["verdict"]}, [3]),
        ({"since": T0 + timedelta(seconds=35)}, [6, 5, 4]),
        ({"until": T0 + timedelta(seconds=30)}, [1]),
        ({"since": T0 + timedelta(seconds=30), "until": T0 + timedelta(seconds=35)}, [3, 2]),
        ({"limit": 2}, [6, 5]),
        ({"kinds": ["alert"]}, []),
    ],
)
def test_audit_view_filters_by_kind_instrument_time_and_limit(
    tmp_path: Path, filters: dict[str, object], seqs: list[int]
) -> None:
    _seed(tmp_path)

    view = audit_view(tmp_path, **filters)  # type: ignore[arg-type]  # parametrized kwargs

    assert [r.seq for r in view.rows] == seqs


def test_audit_view_of_a_tampered_log_reports_the_broken_chain(tmp_path: Path) -> None:
    _seed(tmp_path)
    (day_file,) = tmp_path.glob("*.jsonl")
    day_file.write_text(day_file.read_text("utf-8").replace("clean breakout", "clean breakout!"))

    view = audit_view(tmp_path)

    assert not view.chain.ok
    assert view.chain.problem is not None
    assert view.chain.problem.startswith("hash mismatch")
    assert view.chain.line == 2
    assert len(view.rows) == 6  # still readable; the report says it is not to be trusted


def test_audit_view_of_a_garbled_line_keeps_what_it_read(tmp_path: Path) -> None:
    _seed(tmp_path)
    (day_file,) = tmp_path.glob("*.jsonl")
    lines = day_file.read_text("utf-8").splitlines(keepends=True)
    lines[3] = "not json at all\n"
    day_file.write_text("".join(lines))

    view = audit_view(tmp_path)

    assert [r.seq for r in view.rows] == [3, 2, 1]
    assert not view.chain.ok
    assert view.chain.line == 4


def test_audit_view_of_a_missing_directory_is_empty_and_not_ok(tmp_path: Path) -> None:
    missing = tmp_path / "audit"

    view = audit_view(missing)

    assert view.rows == ()
    assert not view.chain.ok
    assert not missing.exists()  # reading never creates it


def test_audit_view_never_shows_a_token_like_value(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    log = AuditLog(tmp_path, clock)
    log.append(
        AuditKind.ALERT,
        "session",
        {
            "severity": AlertSeverity.CRITICAL,
            "title": "Login failed",
            "body": f"the broker refused {LEAKED}",
        },
    )
    log.append(AuditKind.SESSION, "login", {"api_key": "kitefront1234", "user": "AB1234"})

    view = audit_view(tmp_path)

    shown = " ".join(f"{r.subject} {r.actor} {r.summary}" for r in view.rows)
    assert LEAKED not in shown
    assert "kitefront1234" not in shown
    assert view.rows[0].summary == f"api_key={HIDDEN}, user=AB1234"
    assert view.rows[1].summary == f"critical: Login failed - the broker refused {HIDDEN}"


def test_audit_view_keeps_client_tags_and_proposal_ids_visible(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, ManualClock(T0))
    tag = "KP1A2B3C4D5E6F7A8B00"
    log.append(AuditKind.ORDER, tag, {"event": "cancel_requested"}, actor="asha")

    (row,) = audit_view(tmp_path).rows

    assert (row.subject, row.summary) == (tag, "cancel requested")


def test_audit_view_refuses_an_unknown_kind(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="must be one of"):
        audit_view(tmp_path, kinds=["orders"])
