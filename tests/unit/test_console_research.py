"""Specification of the research pages' read models: the counterfactual ledger over a real SQLite
store and a small lake, and the latest walk-forward study as saved by ``save_study``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from data_contracts.charges import ChargesModel
from data_contracts.clock import ManualClock
from data_contracts.enums import ChargeSegment, ProposalStatus, Side
from data_contracts.errors import ContractError
from data_contracts.ids import ProposalId
from data_contracts.schemas import UTC_TIMESTAMP
from data_contracts.timeutil import IST
from data_contracts.trading import Proposal
from execution.console.research import (
    RISK_ENGINE,
    LedgerView,
    counterfactual_ledger,
    latest_walk_forward,
)
from execution.orders.desk import DecisionDesk
from execution.store.oms import OmsStore, OrderPurpose
from execution.store.sql import SqlStore
from models.backtest import BacktestResult, FillModel
from models.lake import Lake
from models.research import STRATEGIES, Study, save_study
from tests.factories import NIFTY_CE_TOKEN, T0, proposal

FILLS = FillModel()
CHARGES = ChargesModel.default()
FLAT = (100.0, 100.1, 99.9, 100.0)
TARGET = (100.0, 104.5, 99.95, 104.2)  # reaches 104
STOP = (100.0, 100.05, 98.5, 98.6)  # reaches 99


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def candles() -> pl.DataFrame:
    """NIFTY CE minute bars from T0-5 to T0+40 (09:25-10:10 IST): flat at 100, a target-reaching
    bar at T0+5 and a stop-reaching bar at T0+15."""
    shapes = {5: TARGET, 15: STOP}
    minutes = range(-5, 41)
    rows = [shapes.get(m, FLAT) for m in minutes]
    return pl.DataFrame(
        {
            "instrument_token": [int(NIFTY_CE_TOKEN)] * len(rows),
            "ts_event": [at(m) for m in minutes],
            "open": [r[0] for r in rows],
            "high": [r[1] for r in rows],
            "low": [r[2] for r in rows],
            "close": [r[3] for r in rows],
            "volume": [6500] * len(rows),
            "oi": [None] * len(rows),
        },
        schema_overrides={"ts_event": UTC_TIMESTAMP, "oi": pl.Int64},
    )


def made(pid: str, minutes: int, hold: int = 10) -> Proposal:
    """A BUY of one NIFTY CE lot (65) at a marketable limit off close 100: TP 104, SL 99."""
    return proposal(
        proposal_id=ProposalId(pid),
        ts_event=at(minutes),
        ts_init=at(minutes),
        limit_price=100.10,
        stop_loss=99.0,
        take_profit=104.0,
        expires_at=at(minutes + 2),
        time_exit=at(minutes + hold),
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    with SqlStore.open(f"sqlite:///{tmp_path / 'kitepilot.db'}") as opened:
        yield opened


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    lake = Lake(tmp_path / "lake")
    lake.write("candles_1m", at(0).astimezone(IST).date(), candles())
    return lake


def decide(store: SqlStore) -> None:
    """A rejected proposal that would have hit its target, a vetoed one that would have been
    stopped, an approved one that was taken (time exit), a rejected one the lake does not cover
    yet, one still pending and one outside the window."""
    for p in (
        made("rejected", 0),
        made("vetoed", 10),
        made("approved", 20),
        made("late", 38),
        made("pending", 39, hold=1),
        made("yesterday", -24 * 60),
    ):
        store.add(p)
    clock = ManualClock(at(-24 * 60) + timedelta(seconds=20))
    desk = DecisionDesk(store, clock)
    oms = OmsStore.of(store)
    desk.reject(ProposalId("yesterday"), "alice")
    clock.set(at(0) + timedelta(seconds=20))
    desk.reject(ProposalId("rejected"), "alice", "too close to the open")
    clock.set(at(10) + timedelta(seconds=20))
    desk.approve(ProposalId("vetoed"), "alice")
    reasons = {"accepted": False, "reasons": ["daily loss limit reached"]}
    oms.record_verdict("vetoed", OrderPurpose.ENTRY, clock.now(), False, reasons)
    store.record_status(ProposalId("vetoed"), ProposalStatus.VETOED, clock.now(), "daily loss")
    clock.set(at(20) + timedelta(seconds=20))
    desk.approve(ProposalId("approved"), "bob", "looks fine")
    oms.record_verdict("approved", OrderPurpose.ENTRY, clock.now(), True, {"reasons": []})
    store.record_status(ProposalId("approved"), ProposalStatus.SENT, clock.now(), "tag")
    clock.set(at(38) + timedelta(seconds=20))
    desk.reject(ProposalId("late"), "alice")


def ledger(store: SqlStore, lake: Lake) -> LedgerView:
    return counterfactual_ledger(
        store, lake, since=at(-60), until=at(60), fills=FILLS, charges=CHARGES
    )


def round_trip(entry: float, exit_: float) -> float:
    """Net P&L of one lot (65) of the option bought at ``entry`` and sold at ``exit_`` today,
    charged by the scalar charges model (independent of the engine's vectorized charges)."""
    day = at(0).astimezone(IST).date()
    charges = sum(
        float(CHARGES.leg(ChargeSegment.OPTIONS, side, price, 65, day).total)
        for side, price in ((Side.BUY, entry), (Side.SELL, exit_))
    )
    return (exit_ - entry) * 65 - charges


# --- the counterfactual ledger --------------------------------------------------------------------


def test_ledger_groups_rejected_vetoed_and_approved_with_their_counterfactual_totals(
    store: SqlStore, lake: Lake
) -> None:
    decide(store)

    view = ledger(store, lake)

    # entry 100.05 (ask + slippage); target 104; stop 99 -> 98.95; time exit 99.95
    assert dict(view.counts) == {"REJECTED": 2, "VETOED": 1, "APPROVED": 1}
    assert dict(view.scored) == {"REJECTED": 1, "VETOED": 1, "APPROVED": 1}
    assert view.totals["REJECTED"] == pytest.approx(round_trip(100.05, 104.0), abs=1e-6)
    assert view.totals["VETOED"] == pytest.approx(round_trip(100.05, 98.95), abs=1e-6)
    assert view.totals["APPROVED"] == pytest.approx(round_trip(100.05, 99.95), abs=1e-6)
    assert view.totals["REJECTED"] > 0 > view.totals["VETOED"]


def test_ledger_rows_say_who_decided_why_newest_first(store: SqlStore, lake: Lake) -> None:
    decide(store)

    view = ledger(store, lake)

    assert [(r.proposal_id, r.decided, r.by, r.reason, r.status) for r in view.rows] == [
        ("late", "REJECTED", "alice", "", "awaiting_data"),
        ("approved", "APPROVED", "bob", "looks fine", "scored"),
        ("vetoed", "VETOED", RISK_ENGINE, "daily loss limit reached", "scored"),
        ("rejected", "REJECTED", "alice", "too close to the open", "scored"),
    ]
    late = view.rows[0]
    assert (late.net_pnl, late.created_at, late.tradingsymbol) == (
        None,
        at(38),
        "NIFTY2681824400CE",
    )


def test_ledger_without_lake_data_awaits_data_and_totals_zero(
    store: SqlStore, tmp_path: Path
) -> None:
    decide(store)

    view = ledger(store, Lake(tmp_path / "empty-lake"))

    assert {r.status for r in view.rows} == {"awaiting_data"}
    assert dict(view.totals) == {"REJECTED": 0.0, "VETOED": 0.0, "APPROVED": 0.0}
    assert view.counts["REJECTED"] == 2


def test_ledger_empty_store_has_every_group_at_zero(store: SqlStore, lake: Lake) -> None:
    view = ledger(store, lake)

    assert view.rows == ()
    assert (dict(view.counts), dict(view.totals)) == (
        {"REJECTED": 0, "VETOED": 0, "APPROVED": 0},
        {"REJECTED": 0.0, "VETOED": 0.0, "APPROVED": 0.0},
    )


@pytest.mark.parametrize(
    ("since", "until", "field"),
    [
        (at(0), at(0), "until"),
        (at(0).replace(tzinfo=None), at(5), "since"),
    ],
)
def test_ledger_bad_window_raises_naming_it(
    store: SqlStore, lake: Lake, since: datetime, until: datetime, field: str
) -> None:
    with pytest.raises(ContractError) as raised:
        counterfactual_ledger(store, lake, since=since, until=until, fills=FILLS)

    assert raised.value.field == field


# --- the latest walk-forward study ----------------------------------------------------------------


def tiny_study(net: float, calibration: pl.DataFrame | None = None) -> Study:
    ts = [datetime(2026, 8, 18, 4, m, tzinfo=UTC) for m in (0, 30)]
    empty = pl.DataFrame({"net_pnl": pl.Series([], dtype=pl.Float64)})
    equity = pl.DataFrame(
        {
            "ts": ts * 2,
            "strategy": ["model", "model", "never_trade", "never_trade"],
            "equity": [10_000.0, 10_000.0 + net, 10_000.0, 10_000.0],
        },
        schema_overrides={"ts": UTC_TIMESTAMP},
    )
    return Study(
        folds=pl.DataFrame({"fold": [0, 1], "auc": [0.61, 0.58], "net_pnl": [net, 0.0]}),
        predictions=pl.DataFrame({"p_win": [0.4, 0.7]}),
        calibration=pl.DataFrame(
            {
                "bin": [1, 0],
                "mean_predicted": [0.7, 0.4],
                "observed_rate": [0.65, 0.3],
                "rows": [10, 12],
            }
        )
        if calibration is None
        else calibration,
        comparison=pl.DataFrame({"strategy": list(STRATEGIES), "net_pnl": [net, 0, -5, 0]}),
        equity=equity,
        metrics={"auc": 0.6, "net_pnl": net},
        backtests={
            s: BacktestResult(empty, empty, equity.clear(), {"net_pnl": 0.0}) for s in STRATEGIES
        },
    )


def test_latest_walk_forward_reads_the_newest_study_as_plot_rows(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    old = reports / "old"
    save_study(tiny_study(10.0), old, {"data_source": "files"})
    new = reports / "models"
    target = save_study(tiny_study(250.0), new, {"data_source": "simulator"})
    (new / "walk_forward.html").write_text("<html></html>", encoding="utf-8")
    os.utime(old / "study.json", (1_000_000_000, 1_000_000_000))  # the older one, on any clock

    view = latest_walk_forward(reports)

    assert view is not None
    assert (view.study_dir, view.report, view.data_source) == (
        new,
        new / "walk_forward.html",
        "simulator",
    )
    assert view.made_at == datetime.fromtimestamp(target.stat().st_mtime, tz=UTC)
    assert view.metrics["net_pnl"] == 250.0
    assert view.folds["fold"].to_list() == [0, 1]
    assert [(p.bin, p.mean_predicted, p.observed_rate, p.rows) for p in view.calibration] == [
        (0, 0.4, 0.3, 12),
        (1, 0.7, 0.65, 10),
    ]
    curves = {c.strategy: c for c in view.equity}
    assert set(curves) == {"model", "never_trade"}
    assert curves["model"].equity == (10_000.0, 10_250.0)
    assert curves["model"].ts[0] == datetime(2026, 8, 18, 4, 0, tzinfo=UTC)


def test_latest_walk_forward_empty_calibration_bins_are_not_points(tmp_path: Path) -> None:
    # No prediction reached the top bins (common): they have no mean and no rate.
    calibration = pl.DataFrame(
        {
            "bin": [0, 1, 2],
            "mean_predicted": [0.2, None, None],
            "observed_rate": [0.25, None, None],
            "rows": [40, 0, 0],
        },
        schema_overrides={"mean_predicted": pl.Float64, "observed_rate": pl.Float64},
    )
    save_study(tiny_study(1.0, calibration), tmp_path, {})

    view = latest_walk_forward(tmp_path)

    assert view is not None
    assert [(p.bin, p.rows) for p in view.calibration] == [(0, 40)]


def test_latest_walk_forward_study_without_report_has_no_report_path(tmp_path: Path) -> None:
    save_study(tiny_study(1.0), tmp_path, {})

    view = latest_walk_forward(tmp_path)

    assert view is not None
    assert (view.study_dir, view.report, view.data_source) == (tmp_path, None, None)


def test_latest_walk_forward_nothing_saved_is_none(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()

    assert latest_walk_forward(tmp_path) is None
    assert latest_walk_forward(tmp_path / "missing") is None
