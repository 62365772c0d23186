"""The dashboard's actions: refused without the token, and otherwise the same path as the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from data_contracts.enums import Product, ProposalStatus
from data_contracts.ids import ProposalId
from execution.audit import AuditKind, AuditLog
from execution.console.actions import KILL_CONFIRMATION, OperatorActions
from execution.orders.kill_switch import REARM_CONFIRMATION
from execution.orders.tags import client_tag
from execution.store import OmsStore, OperatorFlag
from tests.unit.test_executor import CE, World

TOKEN = "s3cret-operator-token"  # noqa: S105 - a test fixture


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(f"sqlite:///{tmp_path / 'kitepilot.db'}")
    yield w
    w.store.close()


@pytest.fixture
def actions(world: World, tmp_path: Path) -> OperatorActions:
    return OperatorActions(
        store=world.store,
        clock=world.clock,
        token=TOKEN,
        executor_factory=lambda: world.executor,
        audit=AuditLog(tmp_path / "audit", world.clock),
    )


@pytest.mark.parametrize("token", [None, "", "wrong", TOKEN + "x"])
def test_every_action_without_the_token_is_refused_and_changes_nothing(
    world: World, actions: OperatorActions, token: str | None
) -> None:
    proposal = world.propose()

    results = [
        actions.approve(token, proposal.proposal_id.value, "asha"),
        actions.reject(token, proposal.proposal_id.value, "asha"),
        actions.kill(token, "asha", KILL_CONFIRMATION, "drill"),
        actions.rearm(token, "asha", REARM_CONFIRMATION),
        actions.exit_now(token, "asha", CE, Product.NRML.value),
        actions.cancel(token, "asha", client_tag("p-x", 0).value),
        actions.pause_proposals(token, "asha", paused=True),
    ]

    assert all(not r.ok and "token" in r.message for r in results)
    assert world.store.status(proposal.proposal_id) is ProposalStatus.PROPOSED
    assert not OmsStore.of(world.store).kill_switch().engaged
    assert not world.store.flag(OperatorFlag.PROPOSALS_PAUSED).value


def test_approve_and_reject_go_through_the_desk_and_are_audited(
    world: World, actions: OperatorActions, tmp_path: Path
) -> None:
    first = world.propose()
    second = world.propose(proposal_id=ProposalId("p-2"))

    approved = actions.approve(TOKEN, first.proposal_id.value, "asha", "looks right")
    rejected = actions.reject(TOKEN, second.proposal_id.value, "asha", "too late in the day")
    twice = actions.approve(TOKEN, first.proposal_id.value, "asha")

    assert (approved.ok, rejected.ok, twice.ok) == (True, True, False)
    assert "decided already" in twice.message
    assert world.store.status(first.proposal_id) is ProposalStatus.APPROVED
    assert world.store.status(second.proposal_id) is ProposalStatus.REJECTED
    audit = AuditLog(tmp_path / "audit", world.clock)
    decisions = list(audit.entries(kinds=[AuditKind.DECISION]))
    assert [(e.subject, e.actor) for e in decisions] == [
        (first.proposal_id.value, "asha"),
        (second.proposal_id.value, "asha"),
    ]


def test_kill_needs_its_typed_word_then_halts_and_rearm_needs_rearm(
    world: World, actions: OperatorActions
) -> None:
    mistyped = actions.kill(TOKEN, "asha", "kill", "drill")
    fired = actions.kill(TOKEN, "asha", KILL_CONFIRMATION, "drill")
    refused = actions.approve(TOKEN, world.propose().proposal_id.value, "asha")
    rearmed = actions.rearm(TOKEN, "asha", REARM_CONFIRMATION)

    assert not mistyped.ok
    assert fired.ok
    assert "KILL SWITCH ENGAGED by asha" in fired.message
    assert not refused.ok
    assert "kill switch is engaged" in refused.message
    assert rearmed.ok
    assert not OmsStore.of(world.store).kill_switch().engaged


def test_pause_sets_the_flag_every_process_reads(world: World, actions: OperatorActions) -> None:
    paused = actions.pause_proposals(TOKEN, "asha", paused=True, reason="lunch")

    state = world.store.flag(OperatorFlag.PROPOSALS_PAUSED)
    assert paused.ok
    assert (state.value, state.actor, state.reason) == (True, "asha", "lunch")
    assert actions.pause_proposals(TOKEN, "asha", paused=False).ok
    assert not world.store.flag(OperatorFlag.PROPOSALS_PAUSED).value


def test_exit_now_and_cancel_reach_the_executor(world: World, actions: OperatorActions) -> None:
    held = world.propose()
    world.approve(held)
    world.broker.fill(client_tag(held.proposal_id.value, 0).value)
    world.executor.poll_orders()
    working = world.propose(proposal_id=ProposalId("p-working"))
    world.approve(working)

    exited = actions.exit_now(TOKEN, "asha", CE, Product.NRML.value)
    cancelled = actions.cancel(TOKEN, "asha", client_tag("p-working", 0).value)
    nothing = actions.exit_now(TOKEN, "asha", 408065, Product.MIS.value)

    assert exited.ok
    assert cancelled.ok
    assert not nothing.ok
