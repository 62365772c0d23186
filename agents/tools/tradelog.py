"""Trade-log tools, read-only: proposals (the approval queue's cards), one proposal's whole story
(status history, decision, risk verdicts, orders, fills), risk verdicts, fills, the audit log
with its chain check, and the counterfactual ledger."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from agents.context import ToolContext
from agents.errors import ErrorCode, ToolFailure
from agents.tools.common import Result, limit_rows, parse_day, parse_time, today
from data_contracts.enums import ProposalStatus
from data_contracts.errors import ContractError
from data_contracts.ids import ProposalId
from data_contracts.timeutil import IST
from data_contracts.trading import ExitProposal, Proposal
from execution.audit import AuditKind
from execution.console.audit_view import audit_view
from execution.console.queue import charges_breakdown, proposal_queue
from execution.console.research import counterfactual_ledger
from execution.store.oms import OmsStore, OrderRecord
from models.backtest import FillModel

__all__ = [
    "audit_log",
    "counterfactual",
    "fills",
    "proposal",
    "proposals",
    "verdicts",
]

_STORE = "the operational store"


def _summary(proposal: Proposal, status: ProposalStatus | None) -> dict[str, object]:
    return {
        "proposal_id": proposal.proposal_id.value,
        "status": None if status is None else status.value,
        "origin": proposal.origin.value,
        "strategy_id": proposal.strategy_id.value,
        "created_at": proposal.ts_event,
        "symbol": f"{proposal.exchange.value}:{proposal.tradingsymbol}",
        "side": proposal.side.value,
        "product": proposal.product.value,
        "lots": proposal.lots,
        "quantity": proposal.quantity,
        "limit_price": proposal.limit_price,
        "stop_loss": proposal.stop_loss,
        "take_profit": proposal.take_profit,
        "time_exit": proposal.time_exit,
        "expires_at": proposal.expires_at,
        "p_win": proposal.p_win,
        "expected_net_profit": proposal.expected_net_profit,
        "expected_charges": proposal.expected_charges,
        "model_version": proposal.model_version,
        "rationale": proposal.rationale,
    }


def proposals(ctx: ToolContext, status: str | None, limit: int | None) -> Result:
    """Without ``status``: the approval queue as the dashboard shows it (pending, and the ones
    decided or expired in the last hour). With it: the newest proposals whose latest status it
    is."""
    rows = limit_rows(ctx, limit, 50)
    if status is None or not status.strip():
        cards = proposal_queue(ctx.store, ctx.clock.now(), charges=ctx.charges, limit=rows)
        return Result(f"{_STORE} (the approval queue)", {"proposals": cards})
    try:
        wanted = ProposalStatus(status.strip().upper())
    except ValueError:
        known = ", ".join(s.value for s in ProposalStatus)
        raise ContractError("list_proposals", "status", status, f"must be one of {known}") from None
    found = list(ctx.store.with_status(wanted))[-rows:]
    found.reverse()
    return Result(
        _STORE, {"status": wanted.value, "proposals": [_summary(p, wanted) for p in found]}
    )


def _order(record: OrderRecord) -> dict[str, object]:
    intent, latest = record.intent, record.latest
    return {
        "client_tag": intent.client_tag.value,
        "purpose": record.purpose.value,
        "side": intent.side.value,
        "quantity": intent.quantity,
        "order_type": intent.order_type.value,
        "price": intent.price,
        "created_at": record.created_at,
        "status": "IN FLIGHT" if latest is None else latest.status.value,
        "filled_quantity": 0 if latest is None else latest.filled_quantity,
        "average_price": 0.0 if latest is None else latest.average_price,
        "status_message": "" if latest is None else latest.status_message,
    }


def proposal(ctx: ToolContext, proposal_id: str) -> Result:
    """One proposal and everything that happened to it."""
    try:
        pid = ProposalId(proposal_id.strip())
    except ContractError:
        raise ContractError(
            "get_proposal", "proposal_id", proposal_id, "must be a proposal id"
        ) from None
    found = ctx.store.get(pid)
    if found is None:
        raise ToolFailure(ErrorCode.NOT_FOUND, f"no proposal {proposal_id!r}", "see list_proposals")
    oms = OmsStore.of(ctx.store)
    exit_id = ExitProposal.id_for(pid).value
    orders = [*oms.orders(subject_id=pid.value), *oms.orders(subject_id=exit_id)]
    tags = {o.client_tag.value for o in orders}
    fills = [
        s for s in oms.fills() if s.fill.client_tag is not None and s.fill.client_tag.value in tags
    ]
    return Result(
        _STORE,
        {
            "proposal": _summary(found, ctx.store.status(pid))
            | {
                "explanation": found.explanation,
                "max_price_drift_pct": found.max_price_drift_pct,
                "charges_breakdown": charges_breakdown(found, ctx.charges),
            },
            "history": ctx.store.history(pid),
            "decisions": ctx.store.decisions(pid),
            "risk_verdicts": [*oms.verdicts(pid.value), *oms.verdicts(exit_id)],
            "orders": [_order(o) for o in orders],
            "fills": [{"fill": s.fill, "slippage": s.slippage} for s in fills],
        },
    )


def verdicts(ctx: ToolContext, limit: int | None) -> Result:
    found = list(OmsStore.of(ctx.store).verdicts())[-limit_rows(ctx, limit, 50) :]
    found.reverse()
    return Result(_STORE, {"risk_verdicts": found})


def fills(ctx: ToolContext, since: str | None, limit: int | None) -> Result:
    start = parse_time(since, "since")
    found = list(OmsStore.of(ctx.store).fills(since=start))[-limit_rows(ctx, limit, 100) :]
    found.reverse()
    return Result(_STORE, {"fills": [{"fill": s.fill, "slippage": s.slippage} for s in found]})


def audit_log(
    ctx: ToolContext,
    kinds: list[str] | None,
    since: str | None,
    until: str | None,
    instrument_token: int | None,
    limit: int | None,
) -> Result:
    """The audit log, newest first, with the hash chain's verification (secrets scrubbed)."""
    view = audit_view(
        ctx.audit_dir,
        kinds=[k.strip().lower() for k in kinds or ()],
        instrument_token=instrument_token,
        since=parse_time(since, "since"),
        until=parse_time(until, "until", end=True),
        limit=limit_rows(ctx, limit, 100),
    )
    chain = view.chain
    return Result(
        "the hash-chained audit log (execution.audit)",
        {
            "kinds": [k.value for k in AuditKind],
            "chain": chain,
            "entries": view.rows,
        },
    )


def counterfactual(ctx: ToolContext, from_date: str | None, to_date: str | None) -> Result:
    """What the rejected, vetoed and approved proposals decided in the range would have made
    after charges (scored on the lake's candles)."""
    last = parse_day(to_date, "to_date") or today(ctx)
    first = parse_day(from_date, "from_date") or last - timedelta(days=7)
    if last < first:
        raise ContractError("get_counterfactual_ledger", "to_date", last, f"must be >= {first}")
    backtest = ctx.config.backtest
    since = _midnight(first)
    until = _midnight(last + timedelta(days=1))
    ledger = counterfactual_ledger(
        ctx.store,
        ctx.lake,
        since=since,
        until=until,
        fills=FillModel(
            spread_bps=backtest.spread_bps,
            slippage_bps=backtest.slippage_bps,
            limit_buffer_bps=backtest.limit_buffer_bps,
        ),
        charges=ctx.charges,
    )
    return Result(
        f"{_STORE} and the lake's candles (execution.console.research)",
        {
            "from_date": first,
            "to_date": last,
            "totals_net_pnl": ledger.totals,
            "counts": ledger.counts,
            "scored": ledger.scored,
            "rows": ledger.rows[: ctx.max_rows],
            "note": "net_pnl is what the proposal would have made at its own terms after all "
            "charges; rows that could not be scored say why in status (docs/counterfactual.md)",
        },
    )


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=IST)
