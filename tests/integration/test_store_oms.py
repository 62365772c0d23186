"""The OMS tables of the store, on SQLite and on a real PostgreSQL (``.ci/postgres``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from data_contracts.enums import OrderStatus, Product, ProposalStatus
from data_contracts.ids import ClientTag, ProposalId
from execution.store import (
    Finding,
    OmsStore,
    OperatorFlag,
    OrderPurpose,
    PositionAdjustment,
    SqlStore,
)
from tests.factories import T0, fill, order_event, order_intent, proposal


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'kitepilot.db'}"
    else:
        url = request.getfixturevalue("postgres_database")
    with SqlStore.open(url) as opened:
        yield opened


def _claim(oms: OmsStore, tag: str = "KP0000000000000001", slice_index: int = 0) -> bool:
    return oms.claim_order(
        order_intent(client_tag=ClientTag(tag)),
        subject_id="p-1",
        purpose=OrderPurpose.ENTRY,
        slice_index=slice_index,
        reference_price=100.0,
    )


def test_claiming_an_order_twice_or_its_slice_under_another_tag_is_refused(
    store: SqlStore,
) -> None:
    oms = OmsStore.of(store)

    first = _claim(oms)
    again = _claim(oms)
    other_tag_same_slice = _claim(oms, tag="KP0000000000000002")

    assert (first, again, other_tag_same_slice) == (True, False, False)
    (record,) = oms.orders()
    assert record.in_flight
    assert record.intent == order_intent()


def test_concurrent_claims_of_one_slice_let_exactly_one_writer_send(store: SqlStore) -> None:
    results: list[bool] = []
    barrier = threading.Barrier(4)

    def claim(n: int) -> None:
        with SqlStore.open(_url(store)) as own:
            barrier.wait()
            results.append(_claim(OmsStore.of(own), tag=f"KP000000000000000{n}"))

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [False, False, False, True]


def _url(store: SqlStore) -> str:
    return store.engine.url.render_as_string(hide_password=False)


def test_order_events_append_only_changes_and_open_filter_follows_the_latest(
    store: SqlStore,
) -> None:
    oms = OmsStore.of(store)
    _claim(oms)
    opened = order_event()

    added = [
        oms.record_order_event(opened, "send"),
        oms.record_order_event(opened, "poll"),  # nothing new
        oms.record_order_event(
            order_event(status=OrderStatus.COMPLETE, filled_quantity=65, average_price=100.0),
            "ws",
        ),
    ]

    assert added == [True, False, True]
    assert [source for _, source in oms.order_events(opened.client_tag)] == ["send", "ws"]
    assert oms.orders(open_only=True) == []
    assert oms.orders()[0].is_final


def test_fills_are_stored_once_with_their_slippage(store: SqlStore) -> None:
    oms = OmsStore.of(store)
    _claim(oms)

    assert oms.add_fill(fill(), slippage=3.25)
    assert not oms.add_fill(fill(), slippage=3.25)
    (stored,) = oms.fills()
    assert (stored.fill, stored.slippage) == (fill(), 3.25)
    assert oms.fills(since=T0 + timedelta(seconds=1)) == []


def test_kill_switch_state_is_the_latest_event_and_survives_reopening(store: SqlStore) -> None:
    oms = OmsStore.of(store)
    assert not oms.kill_switch().engaged

    oms.record_kill_switch(True, T0, "operator", "drill")
    with SqlStore.open(_url(store)) as reopened:
        state = OmsStore.of(reopened).kill_switch()

    assert (state.engaged, state.actor, state.reason) == (True, "operator", "drill")
    oms.record_kill_switch(False, T0 + timedelta(minutes=1), "operator", "re-armed")
    assert not oms.kill_switch().engaged


def test_verdicts_findings_and_adjustments_read_back(store: SqlStore) -> None:
    oms = OmsStore.of(store)
    oms.record_verdict("p-1", OrderPurpose.ENTRY, T0, False, {"reasons": ["too far"]})
    oms.add_finding(Finding(T0, "position_mismatch", "INFY", "book 0, broker 5"))
    oms.add_adjustment(
        PositionAdjustment(408065, Product.CNC, "INFY", 5, 1500.0, T0, "carried overnight")
    )

    (verdict,) = oms.verdicts("p-1")
    assert (verdict.accepted, verdict.reasons) == (False, ("too far",))
    assert oms.has_verdict("p-1")
    assert not oms.has_verdict("p-2")
    assert [f.kind for f in oms.findings()] == ["position_mismatch"]
    assert oms.adjustments()[0].quantity == 5


def test_with_status_lists_proposals_in_the_order_they_reached_it(store: SqlStore) -> None:
    for n in (1, 2):
        store.add(proposal(proposal_id=ProposalId(f"p-{n}")))
    store.record_status(ProposalId("p-2"), ProposalStatus.APPROVED, T0, "")
    store.record_status(ProposalId("p-1"), ProposalStatus.APPROVED, T0, "")

    assert [p.proposal_id.value for p in store.with_status(ProposalStatus.APPROVED)] == [
        "p-2",
        "p-1",
    ]
    assert store.with_status(ProposalStatus.VETOED) == []


def test_operator_flag_is_its_latest_event(store: SqlStore) -> None:
    assert not store.flag(OperatorFlag.PROPOSALS_PAUSED).value

    store.set_flag(OperatorFlag.PROPOSALS_PAUSED, True, T0, "asha", "lunch")
    paused = store.flag(OperatorFlag.PROPOSALS_PAUSED)
    store.set_flag(OperatorFlag.PROPOSALS_PAUSED, False, T0 + timedelta(hours=1), "asha")

    assert (paused.value, paused.actor, paused.reason) == (True, "asha", "lunch")
    assert not store.flag(OperatorFlag.PROPOSALS_PAUSED).value


def test_add_many_stores_a_batch_in_one_go_and_answers_for_each(store: SqlStore) -> None:
    store.add(proposal(proposal_id=ProposalId("p-old")))
    batch = [proposal(proposal_id=ProposalId(pid)) for pid in ("p-a", "p-old", "p-b", "p-a")]

    added = store.add_many(batch)

    assert added == [True, False, True, False]
    assert store.proposal_count() == 3
    assert [e.status for e in store.history(ProposalId("p-a"))] == [ProposalStatus.PROPOSED]
