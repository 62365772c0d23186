"""``SqlStore.add_many`` (batched statements) stores exactly what adding one by one stores, on
SQLite and on a real PostgreSQL (``.ci/postgres``)."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from data_contracts.enums import ProposalStatus
from data_contracts.ids import ProposalId
from data_contracts.trading import Proposal
from execution.store import SqlStore
from execution.store.sql import _append_status, _proposal_row, insert_new, write_transaction
from execution.store.tables import proposal_events, proposals
from tests.factories import T0, proposal


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'kitepilot.db'}"
    database: str = request.getfixturevalue("postgres_database")
    return database


def _tables(store: SqlStore) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with store.engine.connect() as connection:
        stored = connection.execute(select(proposals).order_by(proposals.c.proposal_id)).all()
        events = connection.execute(
            select(
                proposal_events.c.proposal_id,
                proposal_events.c.status,
                proposal_events.c.ts_event,
                proposal_events.c.detail,
            ).order_by(proposal_events.c.id)
        ).all()
    return [tuple(row) for row in stored], [tuple(row) for row in events]


def _add_one_by_one(store: SqlStore, item: Proposal) -> bool:
    """The statements ``add`` ran before batching: the insert-if-new, then the PROPOSED event."""
    with write_transaction(store.engine) as connection:
        new = insert_new(connection, proposals, _proposal_row(item))
        if new:
            _append_status(connection, item.proposal_id, ProposalStatus.PROPOSED, item.ts_event, "")
    return new


def _batch(rng: random.Random, count: int) -> list[Proposal]:
    """``count`` proposals over a pool of 150 ids, so ids repeat within a batch and across
    batches (with a different payload each time)."""
    ids = [f"p-{n:04d}" for n in range(150)]
    return [
        proposal(
            proposal_id=ProposalId(rng.choice(ids)),
            ts_event=T0 + timedelta(seconds=n),
            expires_at=T0 + timedelta(seconds=n, minutes=2),
            limit_price=100.0 + n * 0.05,
        )
        for n in range(count)
    ]


def test_add_many_with_duplicates_stores_each_id_once_like_add_one_by_one(
    tmp_path: Path,
) -> None:
    rng = random.Random(6)  # noqa: S311 - reproducible test data, not security
    stored_before = _batch(rng, 40)
    batches = [_batch(rng, size) for size in (1, 7, 120, 300)]

    with SqlStore.open(f"sqlite:///{tmp_path / 'one-by-one.db'}") as reference:
        for item in stored_before:
            _add_one_by_one(reference, item)
        expected_answers = [
            [_add_one_by_one(reference, item) for item in batch] for batch in batches
        ]
        expected_tables = _tables(reference)
        expected_count = reference.proposal_count()

    with SqlStore.open(f"sqlite:///{tmp_path / 'batched.db'}") as store:
        store.add_many(stored_before)
        answers = [store.add_many(batch) for batch in batches]
        assert answers == expected_answers
        assert _tables(store) == expected_tables
        assert store.proposal_count() == expected_count
        seen: set[str] = set()
        for batch in [stored_before, *batches]:
            for item in batch:
                if item.proposal_id.value in seen:
                    continue
                seen.add(item.proposal_id.value)
                # Each id once, with the payload of its first occurrence and one PROPOSED event.
                assert store.get(item.proposal_id) == item
                history = store.history(item.proposal_id)
                assert [e.status for e in history] == [ProposalStatus.PROPOSED]


def test_add_many_answers_each_item_of_a_batch_with_duplicates(url: str) -> None:
    with SqlStore.open(url) as store:
        store.add(proposal(proposal_id=ProposalId("p-old")))
        ids = ["p-a", "p-a", "p-old", "p-b", "p-a", "p-old", "p-b", "p-c"]
        batch = [
            proposal(proposal_id=ProposalId(pid), limit_price=100.0 + n)
            for n, pid in enumerate(ids)
        ]

        added = store.add_many(batch)

        assert added == [True, False, False, True, False, False, False, True]
        assert store.proposal_count() == 4
        assert store.get(ProposalId("p-a")) == batch[0]
        assert store.add_many(batch) == [False] * len(batch)
        assert store.add_many([]) == []
        _, events = _tables(store)
        assert [pid for pid, *_ in events] == ["p-old", "p-a", "p-b", "p-c"]
