"""The research pages' read models: the counterfactual ledger and the latest walk-forward study.

- :func:`counterfactual_ledger` — the proposals a person rejected, the ones the risk engine
  vetoed, and (for comparison) the approved ones that were taken, each with what it would have
  made after charges (``models.counterfactual``, scored by the backtest engine on the lake's
  candles), and the totals per group: does overriding the model help?
- :func:`latest_walk_forward` — the newest saved walk-forward study (``models.research``) as
  plain rows the Dash page plots.

Method and caveats: ``docs/counterfactual.md``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Final

import polars as pl

from data_contracts.charges import ChargesModel
from data_contracts.enums import ProposalStatus
from data_contracts.errors import ContractError
from data_contracts.schemas import UTC_TIMESTAMP
from data_contracts.timeutil import IST, UTC, require_aware
from data_contracts.trading import Proposal
from execution.kite.orders import charge_segment
from execution.store.oms import OmsStore, OrderPurpose
from execution.store.sql import SqlStore
from models.backtest import FillModel
from models.counterfactual import SCORED, counterfactual_trades, proposals_frame
from models.data_quality.quarantine import read_candles
from models.lake import Lake

__all__ = [
    "CANDLES_TABLE",
    "DECIDED",
    "RISK_ENGINE",
    "WALK_FORWARD_REPORT",
    "CalibrationPoint",
    "EquityCurve",
    "LedgerRow",
    "LedgerView",
    "WalkForwardView",
    "counterfactual_ledger",
    "latest_walk_forward",
]

_OWNER: Final = "counterfactual_ledger"
CANDLES_TABLE: Final = "candles_1m"
# What the ledger groups by: a person's rejection, the risk engine's veto, an approval taken.
REJECTED: Final = ProposalStatus.REJECTED.value
VETOED: Final = ProposalStatus.VETOED.value
APPROVED: Final = ProposalStatus.APPROVED.value
DECIDED: Final = (REJECTED, VETOED, APPROVED)
RISK_ENGINE: Final = "risk engine"
# Approved proposals whose latest status says the executor took them (risk accepted, sent).
_TAKEN: Final = (ProposalStatus.SENT, ProposalStatus.FILLED, ProposalStatus.CLOSED)
# The walk-forward page written next to the study (assets/models.py names it the same).
WALK_FORWARD_REPORT: Final = "walk_forward.html"
_STUDY_FILE: Final = "study.json"


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """One decided proposal and what it would have made had it been taken at its own terms.

    ``decided``: REJECTED (by a person), VETOED (by the risk engine) or APPROVED (and taken).
    ``net_pnl`` is None unless ``status`` is ``scored`` (see ``models.counterfactual``).
    """

    proposal_id: str
    tradingsymbol: str
    decided: str
    by: str
    reason: str
    created_at: datetime
    net_pnl: float | None
    status: str


@dataclass(frozen=True, slots=True)
class LedgerView:
    """The ledger, newest first; per ``decided`` group (every group present, even empty): the
    summed counterfactual net P&L of the scored rows (``totals``), the rows (``counts``) and how
    many of them could be scored (``scored``)."""

    rows: tuple[LedgerRow, ...]
    totals: Mapping[str, float]
    counts: Mapping[str, int]
    scored: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class CalibrationPoint:
    """One reliability-diagram bin: mean predicted p_win against the observed win rate."""

    bin: int
    mean_predicted: float
    observed_rate: float
    rows: int


@dataclass(frozen=True, slots=True)
class EquityCurve:
    """One strategy's out-of-sample equity (₹) at each time (UTC)."""

    strategy: str
    ts: tuple[datetime, ...]
    equity: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class WalkForwardView:
    """The newest saved walk-forward study, ready to plot.

    ``folds``: one row per fold (windows, rows, ML metrics, net P&L, trades); ``comparison``:
    one row per strategy (the backtest metrics); ``equity``: the model and its baselines;
    ``made_at``: when the study was written (its ``study.json``'s modification time, UTC);
    ``report``: the walk-forward HTML page, None until it is written.
    """

    study_dir: Path
    made_at: datetime
    folds: pl.DataFrame
    comparison: pl.DataFrame
    calibration: tuple[CalibrationPoint, ...]
    equity: tuple[EquityCurve, ...]
    metrics: Mapping[str, float]
    lineage: Mapping[str, object]
    report: Path | None

    @property
    def data_source(self) -> str | None:
        """``simulator``, ``kite``, ``files`` — the page shows a banner for simulated data."""
        source = self.lineage.get("data_source")
        return None if source is None else str(source)


def counterfactual_ledger(
    store: SqlStore,
    lake: Lake,
    *,
    since: datetime,
    until: datetime,
    fills: FillModel,
    charges: ChargesModel | None = None,
) -> LedgerView:
    """The rejected, vetoed and approved-and-taken proposals decided at ``since <= ts_event <
    until``, each scored on the lake's ``candles_1m`` that followed it."""
    since = require_aware(_OWNER, "since", since)
    until = require_aware(_OWNER, "until", until)
    if until <= since:
        raise ContractError(_OWNER, "until", until, f"must be after since {since.isoformat()}")
    decided = list(_decided(store, since, until))
    if not decided:
        return _view(())
    proposals = [item.proposal for item in decided]
    frame = proposals_frame(
        (p, charge_segment(p.exchange, p.tradingsymbol, p.product)) for p in proposals
    )
    outcome = counterfactual_trades(
        frame, _candles(lake, proposals), fills=fills, charges=charges
    ).select("proposal_id", "status", "net_pnl")
    by_id = {row[0]: (row[1], row[2]) for row in outcome.iter_rows()}
    rows = [
        LedgerRow(
            proposal_id=item.proposal.proposal_id.value,
            tradingsymbol=item.proposal.tradingsymbol,
            decided=item.decided,
            by=item.by,
            reason=item.reason,
            created_at=item.proposal.ts_event,
            net_pnl=by_id[item.proposal.proposal_id.value][1],
            status=by_id[item.proposal.proposal_id.value][0],
        )
        for item in decided
    ]
    rows.sort(key=lambda row: (row.created_at, row.proposal_id), reverse=True)
    return _view(tuple(rows))


def latest_walk_forward(reports_dir: Path) -> WalkForwardView | None:
    """The newest study saved by ``models.research.save_study`` in ``reports_dir`` or a folder
    up to two levels below it (``var/reports`` holds it in ``models/``); None when there is none.
    """
    candidates = [
        path
        for pattern in (_STUDY_FILE, f"*/{_STUDY_FILE}", f"*/*/{_STUDY_FILE}")
        for path in reports_dir.glob(pattern)
        if path.is_file()
    ]
    if not candidates:
        return None
    # models.research pulls in xgboost and scikit-learn (seconds to import); only this page
    # needs its loader, so the console's other read models do not pay for it.
    from models.research import load_study

    newest = max(candidates, key=lambda path: (path.stat().st_mtime_ns, str(path)))
    directory = newest.parent
    saved = load_study(directory)
    made_at = datetime.fromtimestamp(newest.stat().st_mtime, tz=UTC)
    calibration = saved.frames["calibration"].sort("bin")
    equity = saved.frames["equity"]
    report = directory / WALK_FORWARD_REPORT
    return WalkForwardView(
        study_dir=directory,
        made_at=made_at,
        folds=saved.frames["folds"],
        comparison=saved.frames["comparison"],
        # An empty bin (no prediction that high) has no mean or rate: it is not a point.
        calibration=tuple(
            CalibrationPoint(int(b), float(p), float(o), int(n))
            for b, p, o, n in calibration.select(
                "bin", "mean_predicted", "observed_rate", "rows"
            ).iter_rows()
            if n
        ),
        equity=tuple(_curves(equity)),
        metrics=MappingProxyType(dict(saved.metrics)),
        lineage=MappingProxyType(dict(saved.lineage)),
        report=report if report.is_file() else None,
    )


# --- helpers --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Decided:
    proposal: Proposal
    decided: str
    by: str
    reason: str


def _decided(store: SqlStore, since: datetime, until: datetime) -> Iterator[_Decided]:
    """The proposals in the window whose latest status is REJECTED, VETOED or taken."""

    def in_window(statuses: Sequence[ProposalStatus]) -> list[Proposal]:
        return [
            p
            for status in statuses
            for p in store.with_status(status)
            if since <= p.ts_event < until
        ]

    for proposal in in_window((ProposalStatus.REJECTED,)):
        decision = _decision(store, proposal)
        yield _Decided(proposal, REJECTED, decision[0], decision[1])
    oms = OmsStore.of(store)
    for proposal in in_window((ProposalStatus.VETOED,)):
        vetoes = [
            v
            for v in oms.verdicts(proposal.proposal_id.value)
            if v.purpose is OrderPurpose.ENTRY and not v.accepted
        ]
        reason = "; ".join(vetoes[-1].reasons) if vetoes else _status_detail(store, proposal)
        yield _Decided(proposal, VETOED, RISK_ENGINE, reason)
    for proposal in in_window(_TAKEN):
        decision = _decision(store, proposal)
        yield _Decided(proposal, APPROVED, decision[0], decision[1])


def _decision(store: SqlStore, proposal: Proposal) -> tuple[str, str]:
    """(who, why) of the proposal's decision."""
    found = store.decisions(proposal.proposal_id)
    if not found:
        return "", ""
    return found[-1].decided_by, found[-1].reason


def _status_detail(store: SqlStore, proposal: Proposal) -> str:
    vetoed = [e for e in store.history(proposal.proposal_id) if e.status is ProposalStatus.VETOED]
    return vetoed[-1].detail if vetoed else ""


def _candles(lake: Lake, proposals: Sequence[Proposal]) -> pl.DataFrame:
    """The lake's candles of the proposals' instruments, from the first proposal's IST day to
    the last time exit's (the prices that followed every proposal, as far as the lake has them),
    without what failed blocking checks."""
    first = min(p.ts_event for p in proposals).astimezone(IST).date()
    last = max(p.time_exit for p in proposals).astimezone(IST).date()
    tokens = sorted({int(p.instrument_token) for p in proposals})
    days = [d for d in lake.days(CANDLES_TABLE) if first <= d <= last]
    if not days:
        return _no_candles()
    # Never a bar a blocking check failed (candles_1m_quarantine).
    return read_candles(lake, CANDLES_TABLE, days[0], days[-1], tokens=tokens)


def _no_candles() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "instrument_token": pl.Int64,
            "ts_event": UTC_TIMESTAMP,
            "open": pl.Float64,
            "high": pl.Float64,
            "low": pl.Float64,
            "close": pl.Float64,
        }
    )


def _curves(equity: pl.DataFrame) -> Iterator[EquityCurve]:
    if "strategy" not in equity.columns:
        equity = equity.with_columns(pl.lit("model").alias("strategy"))
    for strategy in equity["strategy"].unique(maintain_order=True).to_list():
        part = equity.filter(pl.col("strategy") == strategy).sort("ts")
        yield EquityCurve(
            strategy=str(strategy),
            ts=tuple(part["ts"].to_list()),
            equity=tuple(float(v) for v in part["equity"].to_list()),
        )


def _view(rows: tuple[LedgerRow, ...]) -> LedgerView:
    totals = dict.fromkeys(DECIDED, 0.0)
    counts = dict.fromkeys(DECIDED, 0)
    scored = dict.fromkeys(DECIDED, 0)
    for row in rows:
        counts[row.decided] += 1
        if row.status == SCORED and row.net_pnl is not None:
            totals[row.decided] += row.net_pnl
            scored[row.decided] += 1
    return LedgerView(
        rows=rows,
        totals=MappingProxyType(totals),
        counts=MappingProxyType(counts),
        scored=MappingProxyType(scored),
    )
