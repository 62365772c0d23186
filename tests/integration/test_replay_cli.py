"""``kitepilot replay`` on the streaming tests' world: two lake days through the paper exchange,
the streaming worker, the demo approver, the risk engine and the executor (real ``kiteconnect``
clients, real SQLite store, real MLflow champion), compared with the vectorized backtest.

The world's account is sized so that trades pass the risk engine (the defaults' ₹6,000 symbol
exposure is below one MIS position of the simulated stocks at full leverage); the replay stops at
09:50 to keep the test quick.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
import typer
from typer.testing import CliRunner

from data_contracts.clock import ManualClock
from data_contracts.enums import ProposalStatus, Side, Verdict
from data_contracts.ids import ClientTag, TradeId
from data_contracts.schemas import UTC_TIMESTAMP
from data_contracts.timeutil import IST
from execution.console.demo_approver import DemoApprover
from execution.console.replay import round_trips
from execution.orders.desk import DecisionDesk
from execution.store import OmsStore, SqlStore
from execution.store.oms import OrderPurpose
from models.replay_report import compare_with_backtest
from orchestration.replay_cli import register
from tests import factories
from tests.stream_world import REPLAY_DAY, World, session_base, stream_world

runner = CliRunner()
FIRST_DAY = date(2026, 7, 8)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return stream_world(session_base(tmp_path_factory))


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """kitepilot (the replay command alone)."""

    register(app)
    return app


def _env(world: World, root: Path) -> dict[str, str]:
    config = world.config()
    return {
        "KITEPILOT_STORAGE__VAR_DIR": str(root / "var"),
        "KITEPILOT_STORAGE__LAKE_DIR": str(config.storage.lake_dir),
        "KITEPILOT_STORAGE__REPORTS_DIR": str(root / "reports"),
        "KITEPILOT_STORAGE__DATABASE_URL": f"sqlite:///{root / 'kitepilot.db'}",
        "KITEPILOT_STORAGE__MLFLOW_TRACKING_URI": config.storage.mlflow_tracking_uri,
        "KITEPILOT_STORAGE__MLFLOW_ARTIFACTS_DIR": str(config.storage.mlflow_artifacts_dir),
        "KITEPILOT_TRAINING__MODEL_NAME": config.training.model_name,
        "KITEPILOT_CAPITAL": "100000",
        "KITEPILOT_PAPER_EXCHANGE__STARTING_CASH": "1000000",
        "KITEPILOT_RISK__PER_TRADE_RISK": "50000",
        "KITEPILOT_RISK__DAILY_LOSS_LIMIT": "50000",
        "KITEPILOT_RISK__MAX_SYMBOL_EXPOSURE": "600000",
        "KITEPILOT_RISK__MAX_TOTAL_EXPOSURE": "1000000",
    }


@pytest.fixture(scope="module")
def replayed(world: World, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("replay")
    tokens = [arg for token in world.equities() for arg in ("--token", str(token))]
    result = runner.invoke(
        _app(),
        [
            "replay",
            "--from",
            FIRST_DAY.isoformat(),
            "--to",
            REPLAY_DAY.isoformat(),
            "--until",
            "09:50",
            "--speed",
            "120",
            *tokens,
        ],
        env=_env(world, root),
    )
    assert result.exit_code == 0, result.output
    return root, " ".join(result.output.split())


@pytest.mark.slow
def test_replay_of_two_days_proposes_approves_sends_and_fills_trades(replayed) -> None:
    root, output = replayed
    with SqlStore.open(f"sqlite:///{root / 'kitepilot.db'}") as store:
        oms = OmsStore.of(store)
        proposals = [p for s in ProposalStatus for p in store.with_status(s)]
        decisions = [d for p in proposals for d in store.decisions(p.proposal_id)]
        fills = oms.fills()
        closed = store.with_status(ProposalStatus.CLOSED)
        open_trades = store.open_trades()

    days = {p.ts_event.astimezone(IST).date() for p in proposals}
    approvals = [d for d in decisions if d.verdict is Verdict.APPROVE]
    assert days == {FIRST_DAY, REPLAY_DAY}
    assert approvals
    assert {d.decided_by for d in decisions} == {"demo-approver (automatic, p_win ≥ 0.80)"}
    assert closed, "approved trades should be sent, filled and closed"
    assert len(fills) >= 2 * len(closed)  # an entry and an exit each
    assert sum(s.fill.charges for s in fills) > 0
    # flattened at the end of each replayed session (the output says why one was not)
    assert open_trades == [], output


@pytest.mark.slow
def test_replay_reports_pnl_sharpe_drawdown_and_the_backtest_comparison(replayed) -> None:
    root, output = replayed
    reports = list((root / "reports" / "replay").glob("replay_*.html"))

    assert re.search(r"Trade log \(\d+ trades\)", output)
    for measure in ("net_pnl", "sharpe", "max_drawdown", "in both", "backtest only"):
        assert measure in output
    assert "P&L difference (replay - backtest)" in output
    assert [r.name for r in reports] == [f"replay_{FIRST_DAY}_{REPLAY_DAY}.html"]
    page = reports[0].read_text(encoding="utf-8")
    assert "Replay against the vectorized backtest" in page
    assert "P&amp;L difference (replay - backtest)" in page
    assert "Why they can differ" in page


@pytest.mark.parametrize(
    ("p_win", "approved", "status"),
    [(0.80, True, ProposalStatus.APPROVED), (0.79, False, ProposalStatus.REJECTED)],
)
def test_demo_approver_at_the_threshold_approves_and_below_rejects_with_the_reason(
    tmp_path: Path, p_win: float, approved: bool, status: ProposalStatus
) -> None:
    proposal = factories.proposal(p_win=p_win)
    clock = ManualClock(proposal.ts_event + timedelta(seconds=5))
    with SqlStore.open(f"sqlite:///{tmp_path / 'kp.db'}") as store:
        store.add(proposal)
        decisions = DemoApprover(0.80).review(DecisionDesk(store, clock))
        (recorded,) = store.decisions(proposal.proposal_id)
        latest = store.status(proposal.proposal_id)

    assert [d.approved for d in decisions] == [approved]
    assert latest is status
    assert recorded.decided_by == "demo-approver (automatic, p_win ≥ 0.80)"
    assert recorded.reason == decisions[0].reason
    assert f"{p_win:.3f}" in recorded.reason


def test_demo_approver_while_the_kill_switch_is_engaged_rejects_instead(tmp_path: Path) -> None:
    proposal = factories.proposal(p_win=0.95)
    clock = ManualClock(proposal.ts_event + timedelta(seconds=5))
    with SqlStore.open(f"sqlite:///{tmp_path / 'kp.db'}") as store:
        store.add(proposal)
        OmsStore.of(store).record_kill_switch(
            engaged=True, ts_event=clock.now(), actor="test", reason="drill"
        )
        (decision,) = DemoApprover(0.5).review(DecisionDesk(store, clock))
        latest = store.status(proposal.proposal_id)

    assert not decision.approved
    assert decision.recorded
    assert "kill switch" in decision.reason
    assert latest is ProposalStatus.REJECTED


def _claimed(store: SqlStore, tag: str, subject: str, purpose: OrderPurpose, side: Side) -> None:
    intent = factories.order_intent(client_tag=ClientTag(tag), side=side)
    OmsStore.of(store).claim_order(
        intent, subject_id=subject, purpose=purpose, slice_index=0, reference_price=100.0
    )


def test_round_trips_pair_entry_and_exit_fills_into_one_trade_after_charges(tmp_path: Path) -> None:
    proposal = factories.proposal()
    pid = proposal.proposal_id.value
    entry, exit_ = "KP0000000000000001", "KP0000000000000002"
    with SqlStore.open(f"sqlite:///{tmp_path / 'kp.db'}") as store:
        _claimed(store, entry, pid, OrderPurpose.ENTRY, Side.BUY)
        _claimed(store, exit_, f"{pid}:exit", OrderPurpose.EXIT, Side.SELL)
        orders = OmsStore.of(store).orders()
    t0 = proposal.ts_event + timedelta(minutes=1)
    fills = [
        factories.fill(trade_id=TradeId("T1"), client_tag=ClientTag(entry), ts_event=t0),
        factories.fill(
            trade_id=TradeId("T2"),
            client_tag=ClientTag(exit_),
            side=Side.SELL,
            price=110.0,
            ts_event=t0 + timedelta(minutes=30),
        ),
    ]

    trades = round_trips(fills, orders, {pid: proposal}, {f"{pid}:exit": "take_profit"})

    (trade,) = trades.to_dicts()
    assert trade["status"] == "closed"
    assert trade["gross_pnl"] == pytest.approx(10.0 * 65)
    assert trade["charges"] == pytest.approx(40.0)
    assert trade["net_pnl"] == pytest.approx(650.0 - 40.0)
    assert trade["exit_reason"] == "take_profit"
    assert trade["bars_held"] == 30
    assert trade["ts_decision"] == proposal.ts_event


def _trades(rows: list[tuple[int, int, float]]) -> pl.DataFrame:
    base = factories.proposal().ts_event
    return pl.DataFrame(
        {
            "instrument_token": [r[0] for r in rows],
            "ts_decision": [base + timedelta(minutes=r[1]) for r in rows],
            "net_pnl": [r[2] for r in rows],
        },
        schema={"instrument_token": pl.Int64, "ts_decision": UTC_TIMESTAMP, "net_pnl": pl.Float64},
    )


def test_compare_with_backtest_counts_shared_and_one_sided_trades_and_the_pnl_gap() -> None:
    replay = _trades([(1, 0, 100.0), (2, 5, -20.0)])
    backtest = _trades([(1, 0, 80.0), (3, 9, 50.0)])

    comparison = compare_with_backtest(replay, backtest)

    assert comparison.summary["in both"] == 1
    assert comparison.summary["replay only"] == 1
    assert comparison.summary["backtest only"] == 1
    assert comparison.summary["P&L difference (replay - backtest)"] == pytest.approx(80.0 - 130.0)
    assert comparison.summary["P&L difference on trades in both"] == pytest.approx(20.0)
    only_backtest = comparison.entries.filter(pl.col("where") == "backtest only")
    assert only_backtest["replay_outcome"].to_list() == ["not proposed"]
