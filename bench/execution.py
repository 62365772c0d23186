"""Approval → order request handed to the broker, excluding the network (issue #7 target: p99
≤ 5 ms).

Method: a real SQLite store (WAL, a file in a temp folder) and the real executor; the broker is
the hand-written in-memory fake of the unit tests (``tests/fake_broker.py``), whose
``place_order`` records ``perf_counter_ns`` on entry — the moment ``kiteconnect`` would start the
HTTP request. Timed: ``DecisionDesk.approve`` (the decision recorded, the kill switch checked) +
``Executor.submit_entry`` (account snapshot from the store, the risk engine, the verdict stored,
the order claimed) up to that call. ``python -m bench.execution [N]`` (default 500 approvals).
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from data_contracts.charges import ChargesModel
from data_contracts.ids import ProposalId
from data_contracts.nse_calendar import NseCalendar
from data_contracts.trading import OrderIntent
from execution.orders.context import ExecutorSettings, OmsContext
from execution.orders.desk import DecisionDesk
from execution.orders.executor import Executor
from execution.store import SqlStore
from tests import factories
from tests.fake_broker import FakeBroker
from tests.unit.test_executor import CE, LIMITS, _ce_instrument
from data_contracts.clock import ManualClock


class _TimedBroker(FakeBroker):
    sent_at: int = 0

    def place_order(self, intent: OrderIntent):  # type: ignore[no-untyped-def]
        self.sent_at = time.perf_counter_ns()
        return super().place_order(intent)


def run(approvals: int = 500) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        clock = ManualClock(factories.T0 + timedelta(seconds=30))
        broker = _TimedBroker(clock, prices={CE: 100.0})
        store = SqlStore.open(f"sqlite:///{Path(folder) / 'bench.db'}")
        context = OmsContext(
            store=store,
            broker=broker,
            instruments={CE: _ce_instrument()},
            calendar=NseCalendar.default(),
            clock=clock,
            settings=ExecutorSettings(limits=LIMITS),
            charges=ChargesModel.default(),
        )
        executor = Executor(context)
        desk = DecisionDesk(store, clock)
        samples: list[float] = []
        for n in range(approvals):
            proposal = factories.proposal(proposal_id=ProposalId(f"p-bench-{n}"))
            store.add(proposal)
            start = time.perf_counter_ns()
            desk.approve(proposal.proposal_id, "bench")
            executor.submit_entry(proposal)
            samples.append((broker.sent_at - start) / 1e6)
            # Cancelled before the next one (not timed), so exposure never builds up to a veto.
            order_id = broker.order(broker.placed[-1].client_tag.value).order_id
            assert order_id is not None  # noqa: S101 - the fake always numbers its orders
            broker.cancel_order(order_id)
            executor.poll_orders()
        store.close()
    samples.sort()
    pick = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))]  # noqa: E731
    return {"n": approvals, "p50_ms": pick(0.5), "p99_ms": pick(0.99), "max_ms": samples[-1]}


if __name__ == "__main__":
    print(run(int(sys.argv[1]) if len(sys.argv) > 1 else 500))  # noqa: T201
