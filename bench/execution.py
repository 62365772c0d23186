"""Approval → order request handed to the broker, excluding the network (issue #7 target: p99
≤ 5 ms).

Method: a real SQLite store (WAL, a file in a temp folder) and the real executor, decision desk
and risk engine; the broker is the hand-written in-memory fake of the unit tests
(``tests/fake_broker.py``), whose ``place_order`` records ``perf_counter_ns`` on entry — the
moment ``kiteconnect`` would start the HTTP request. Timed: ``DecisionDesk.approve`` (kill switch
checked, the decision recorded) + ``Executor.submit_entry`` (account snapshot from the store, the
risk engine, the verdict stored, the order claimed) up to that call. Each order is cancelled and
polled before the next approval, and the WAL checkpointed as the executor's loop does (not
timed), so the store grows as in a day of trading without exposure building up to a veto.
``python -m bench.execution [N]`` (default 1,000 approvals, ``KITEPILOT_BENCH_APPROVALS``).
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import numpy as np

from data_contracts.charges import ChargesModel
from data_contracts.clock import ManualClock
from data_contracts.ids import OrderId, ProposalId
from data_contracts.nse_calendar import NseCalendar
from data_contracts.trading import OrderIntent
from execution.orders.context import ExecutorSettings, OmsContext
from execution.orders.desk import DecisionDesk
from execution.orders.executor import Executor
from execution.store import SqlStore
from tests import factories
from tests.fake_broker import FakeBroker
from tests.unit.test_executor import CE, LIMITS, ce_instrument

APPROVALS = 1_000
TARGET_P99_MS = 5.0


class _TimedBroker(FakeBroker):
    """The fake broker, noting when an order request would leave for the network."""

    sent_at: int = 0

    def place_order(self, intent: OrderIntent) -> OrderId:
        self.sent_at = time.perf_counter_ns()
        return super().place_order(intent)


def run(approvals: int = APPROVALS) -> np.ndarray:
    """Milliseconds from approval to the broker call, one per approval."""
    samples = np.empty(approvals)
    with tempfile.TemporaryDirectory() as folder:
        clock = ManualClock(factories.T0 + timedelta(seconds=30))
        broker = _TimedBroker(clock, prices={CE: 100.0})
        store = SqlStore.open(f"sqlite:///{Path(folder) / 'bench.db'}", background_checkpoints=True)
        context = OmsContext(
            store=store,
            broker=broker,
            instruments={CE: ce_instrument()},
            calendar=NseCalendar.default(),
            clock=clock,
            settings=ExecutorSettings(limits=LIMITS),
            charges=ChargesModel.default(),
        )
        executor = Executor(context)
        desk = DecisionDesk(store, clock)
        for n in range(approvals):
            proposal = factories.proposal(proposal_id=ProposalId(f"p-bench-{n}"))
            store.add(proposal)
            start = time.perf_counter_ns()
            desk.approve(proposal.proposal_id, "bench")
            submission = executor.submit_entry(proposal)
            if not submission.accepted:
                raise SystemExit(f"approval {n} vetoed: {submission.reasons}")
            samples[n] = (broker.sent_at - start) / 1e6
            order_id = broker.order(broker.placed[-1].client_tag.value).order_id
            if order_id is not None:
                broker.cancel_order(order_id)
            executor.poll_orders()
            store.checkpoint()  # as the executor's loop does, between approvals
        store.close()
    return samples


def main(args: Sequence[str] = ()) -> int:
    approvals = (
        int(args[0]) if args else int(os.environ.get("KITEPILOT_BENCH_APPROVALS", APPROVALS))
    )
    print(
        f"execution bench — Python {platform.python_version()}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    samples = run(approvals)
    p50, p99 = np.percentile(samples, [50, 99])
    met = p99 <= TARGET_P99_MS
    print(
        f"approval -> order request (no network), {approvals} approvals: p50 {p50:.2f} ms, "
        f"p99 {p99:.2f} ms, max {samples.max():.2f} ms — target p99 <= {TARGET_P99_MS:.0f} ms "
        f"{'met' if met else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
