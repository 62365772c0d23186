"""The page and its pieces: pure functions from the console's read models to Dash components.

Nothing here reads the store or acts; the callbacks (:mod:`dashboard.callbacks`) fetch a view
through :class:`dashboard.services.DashboardServices` and hand it to these functions. Every
number and sentence comes from :mod:`execution.console` (``rupees``, ``ist``, the cards' reasons);
these functions only choose the markup. No secret reaches any component: the operator token lives
in the browser's session storage and in a password field, never in rendered markup.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import plotly.graph_objects as go
from dash import dcc, html

from data_contracts.timeutil import to_ist
from execution.audit import AuditKind
from execution.console.actions import KILL_CONFIRMATION
from execution.console.words import ist, rupees
from execution.orders.kill_switch import REARM_CONFIRMATION
from execution.store import FlagState, KillSwitchState

if TYPE_CHECKING:
    from datetime import datetime

    from execution.audit import ChainReport
    from execution.console.audit_view import AuditView
    from execution.console.book import BlotterRow, BookView, PositionRow
    from execution.console.queue import ProposalCard
    from execution.console.research import LedgerView, WalkForwardView
    from execution.console.status import SystemStatus

__all__ = [
    "IDS",
    "audit_panel",
    "blotter_table",
    "book_summary",
    "chain_line",
    "equity_figure",
    "frame_table",
    "kill_banner",
    "ledger_panel",
    "page",
    "positions_table",
    "proposal_card",
    "queue_children",
    "status_panel",
    "ttl_text",
    "walk_forward_panel",
]


class IDS:
    """Component ids shared by the layout and the callbacks."""

    AUTH_INPUT: Final = "token-input"
    AUTH_STORE: Final = "token-store"
    AUTH_STATE: Final = "token-state"
    KILL_CONFIRM: Final = "kill-confirm"
    KILL_REASON: Final = "kill-reason"
    KILL_BUTTON: Final = "kill-button"
    REARM_CONFIRM: Final = "rearm-confirm"
    REARM_BUTTON: Final = "rearm-button"
    KILL_STATE: Final = "kill-state"
    HEADER_MESSAGE: Final = "header-message"
    MODE: Final = "mode-badge"
    NOW: Final = "now"
    TABS: Final = "tabs"
    REFRESH: Final = "refresh"
    TTL_TICK: Final = "ttl-tick"
    TTL_DATA: Final = "ttl-data"
    QUEUE: Final = "queue"
    QUEUE_SIGNATURE: Final = "queue-signature"
    CARD_MESSAGES: Final = "card-messages"
    BOOK_SUMMARY: Final = "book-summary"
    POSITIONS: Final = "positions"
    EQUITY: Final = "equity-graph"
    BLOTTER: Final = "blotter"
    BOOK_MESSAGE: Final = "book-message"
    STATUS: Final = "status"
    PAUSE: Final = "pause-button"
    RESUME: Final = "resume-button"
    STATUS_MESSAGE: Final = "status-message"
    AUDIT_KINDS: Final = "audit-kinds"
    AUDIT_INSTRUMENT: Final = "audit-instrument"
    AUDIT_SINCE: Final = "audit-since"
    AUDIT_UNTIL: Final = "audit-until"
    AUDIT_CHAIN: Final = "audit-chain"
    AUDIT_ROWS: Final = "audit-rows"
    AUDIT_MESSAGE: Final = "audit-message"
    RESEARCH_REFRESH: Final = "research-refresh"
    WALK_FORWARD: Final = "walk-forward"
    LEDGER: Final = "ledger"
    # pattern-matching types (the "id" key is the proposal id, client tag or position key)
    APPROVE: Final = "approve"
    REJECT: Final = "reject"
    REASON: Final = "reason"
    TTL: Final = "ttl"
    EXIT: Final = "exit-now"
    CANCEL: Final = "cancel"


# -- the page ---------------------------------------------------------------------------------


def page(*, mode: str, refresh_ms: int) -> html.Div:
    """The whole page: the header (mode, kill switch, token) over five tabs."""
    return html.Div(
        className="kp-page",
        children=[
            dcc.Store(id=IDS.AUTH_STORE, storage_type="session"),
            dcc.Store(id=IDS.CARD_MESSAGES, data={}),
            dcc.Store(id=IDS.QUEUE_SIGNATURE),
            dcc.Store(id=IDS.TTL_DATA, data={}),
            dcc.Interval(id=IDS.REFRESH, interval=refresh_ms, n_intervals=0),
            dcc.Interval(id=IDS.TTL_TICK, interval=1000, n_intervals=0),
            _header(mode),
            dcc.Tabs(
                id=IDS.TABS,
                value="queue",
                className="kp-tabs",
                children=[
                    dcc.Tab(label="Queue", value="queue", children=_queue_tab()),
                    dcc.Tab(label="Positions & P&L", value="book", children=_book_tab()),
                    dcc.Tab(label="Status", value="status", children=_status_tab()),
                    dcc.Tab(label="Audit", value="audit", children=_audit_tab()),
                    dcc.Tab(label="Research", value="research", children=_research_tab()),
                ],
            ),
        ],
    )


def _header(mode: str) -> html.Header:
    return html.Header(
        className="kp-header",
        children=[
            html.Div(
                className="kp-brand",
                children=[
                    html.Span("kitepilot", className="kp-title"),
                    html.Span(mode, id=IDS.MODE, className=f"kp-mode kp-mode-{mode.lower()}"),
                    html.Span("", id=IDS.NOW, className="kp-now"),
                ],
            ),
            html.Div(id=IDS.KILL_STATE, className="kp-kill-state"),
            html.Div(
                className="kp-kill-controls",
                children=[
                    dcc.Input(
                        id=IDS.KILL_CONFIRM,
                        placeholder=f"type {KILL_CONFIRMATION}",
                        autoComplete="off",
                        className="kp-confirm",
                    ),
                    dcc.Input(id=IDS.KILL_REASON, placeholder="reason", className="kp-kill-reason"),
                    html.Button("KILL SWITCH", id=IDS.KILL_BUTTON, className="kp-kill-button"),
                    dcc.Input(
                        id=IDS.REARM_CONFIRM,
                        placeholder=f"type {REARM_CONFIRMATION}",
                        autoComplete="off",
                        className="kp-confirm",
                    ),
                    html.Button("Re-arm", id=IDS.REARM_BUTTON, className="kp-rearm-button"),
                ],
            ),
            html.Div(
                className="kp-token",
                children=[
                    dcc.Input(
                        id=IDS.AUTH_INPUT,
                        type="password",
                        placeholder="operator token",
                        autoComplete="off",
                        debounce=True,
                    ),
                    html.Span("read-only", id=IDS.AUTH_STATE, className="kp-token-state"),
                ],
            ),
            html.Div(id=IDS.HEADER_MESSAGE, className="kp-message", role="status"),
        ],
    )


def _queue_tab() -> list[Any]:
    return [html.Div(id=IDS.QUEUE, className="kp-queue")]


def _book_tab() -> list[Any]:
    return [
        html.Div(id=IDS.BOOK_MESSAGE, className="kp-message", role="status"),
        html.Div(id=IDS.BOOK_SUMMARY, className="kp-summary"),
        html.H3("Open positions"),
        html.Div(id=IDS.POSITIONS),
        dcc.Graph(id=IDS.EQUITY, config={"displayModeBar": False}, style={"height": "260px"}),
        html.H3("Orders and fills"),
        html.Div(id=IDS.BLOTTER, className="kp-scroll"),
    ]


def _status_tab() -> list[Any]:
    return [
        html.Div(
            className="kp-row",
            children=[
                html.Button("Pause new proposals", id=IDS.PAUSE, className="kp-button"),
                html.Button("Resume new proposals", id=IDS.RESUME, className="kp-button"),
                html.Span(id=IDS.STATUS_MESSAGE, className="kp-message", role="status"),
            ],
        ),
        html.Div(id=IDS.STATUS),
    ]


def _audit_tab() -> list[Any]:
    return [
        html.Div(
            className="kp-row",
            children=[
                dcc.Dropdown(
                    id=IDS.AUDIT_KINDS,
                    options=[{"label": k.value, "value": k.value} for k in AuditKind],
                    multi=True,
                    placeholder="all types",
                    className="kp-audit-kinds",
                ),
                dcc.Input(id=IDS.AUDIT_INSTRUMENT, placeholder="instrument token", debounce=True),
                dcc.Input(
                    id=IDS.AUDIT_SINCE, placeholder="from YYYY-MM-DD HH:MM (IST)", debounce=True
                ),
                dcc.Input(
                    id=IDS.AUDIT_UNTIL, placeholder="until YYYY-MM-DD HH:MM (IST)", debounce=True
                ),
                html.Span(id=IDS.AUDIT_MESSAGE, className="kp-message", role="status"),
            ],
        ),
        html.Div(id=IDS.AUDIT_CHAIN),
        html.Div(id=IDS.AUDIT_ROWS, className="kp-scroll"),
    ]


def _research_tab() -> list[Any]:
    return [
        html.Button("Refresh", id=IDS.RESEARCH_REFRESH, className="kp-button"),
        html.Div(id=IDS.WALK_FORWARD),
        html.Div(id=IDS.LEDGER),
    ]


# -- header -----------------------------------------------------------------------------------


def kill_banner(state: KillSwitchState) -> html.Div:
    """ARMED, or ENGAGED with who fired it, when and why."""
    if not state.engaged:
        return html.Div("ARMED — trading allowed", className="kp-armed")
    when = "" if state.ts_event is None else f" at {_when(state.ts_event)}"
    why = f" — {state.reason}" if state.reason else ""
    return html.Div(
        f"KILL SWITCH ENGAGED by {state.actor or 'unknown'}{when}{why}", className="kp-engaged"
    )


# -- queue ------------------------------------------------------------------------------------


def ttl_text(seconds_left: float, expired: bool) -> str:
    """The countdown: ``"1:32 left"``, or ``"expired"``."""
    if expired or seconds_left <= 0:
        return "expired"
    whole = int(seconds_left)
    return f"{whole // 60}:{whole % 60:02d} left"


def queue_children(
    cards: Sequence[ProposalCard],
    messages: Mapping[str, Mapping[str, Any]],
    reasons: Mapping[str, str],
) -> list[Any]:
    """The queue: one card per proposal (the console orders them newest first)."""
    if not cards:
        return [html.P("No proposals in the last hour.", className="kp-empty")]
    return [
        proposal_card(
            card,
            message=messages.get(card.proposal_id),
            reason=reasons.get(card.proposal_id, ""),
        )
        for card in cards
    ]


def proposal_card(
    card: ProposalCard, *, message: Mapping[str, Any] | None = None, reason: str = ""
) -> html.Div:
    """One proposal: what, how much, why, the checks, the decision and the buttons (disabled
    unless the card is actionable — PROPOSED and not expired)."""
    pid = card.proposal_id
    classes = ["kp-card", f"kp-status-{card.status.lower()}"]
    if card.expired:
        classes.append("kp-expired")
    disabled = not card.actionable
    return html.Div(
        id={"type": "card", "id": pid},
        className=" ".join(classes),
        children=[
            html.Div(
                className="kp-card-head",
                children=[
                    html.Span(card.tradingsymbol, className="kp-symbol"),
                    html.Span(card.exchange, className="kp-muted"),
                    html.Span(card.side, className=f"kp-side kp-side-{card.side.lower()}"),
                    html.Span(card.status, className="kp-status-badge"),
                    html.Span(
                        ttl_text(card.seconds_left, card.expired),
                        id={"type": IDS.TTL, "id": pid},
                        className="kp-ttl",
                    ),
                ],
            ),
            html.Div(
                className="kp-card-grid",
                children=[
                    _fact(
                        "size",
                        f"{card.lots} lot(s) of {card.lot_size} = {card.quantity} ({card.product})",
                    ),
                    _fact("limit", _price(card.limit_price)),
                    _fact("stop", _price(card.stop_loss)),
                    _fact("target", _price(card.take_profit)),
                    _fact("expected net", rupees(card.expected_net_profit)),
                    _fact("charges", rupees(card.expected_charges)),
                    _fact("p(win)", f"{card.p_win:.0%}"),
                    _fact("expected return", f"{card.expected_return:+.2f}%"),
                ],
            ),
            html.Details(
                className="kp-charges",
                children=[
                    html.Summary("charges breakdown (round trip)"),
                    html.Ul(
                        [
                            html.Li(f"{name}: {rupees(value)}")
                            for name, value in card.charges_breakdown.items()
                        ]
                    ),
                ],
            ),
            html.Ul([html.Li(line) for line in card.reasons], className="kp-reasons"),
            html.Div(
                f"{pid} · created {ist(card.created_at)} · model {card.model_version} · features "
                f"{card.feature_version} · {card.origin}"
                + (f" · {card.rationale}" if card.rationale else ""),
                className="kp-muted",
            ),
            _precheck(card.precheck) if card.actionable else None,
            _verdict(card.verdict),
            _decision(card.decision),
            _message(message),
            html.Div(
                className="kp-card-actions",
                children=[
                    dcc.Input(
                        id={"type": IDS.REASON, "id": pid},
                        value=reason,
                        placeholder="reason (optional)",
                        disabled=disabled,
                        className="kp-reason-input",
                    ),
                    html.Button(
                        "Approve",
                        id={"type": IDS.APPROVE, "id": pid},
                        disabled=disabled,
                        className="kp-approve",
                    ),
                    html.Button(
                        "Reject",
                        id={"type": IDS.REJECT, "id": pid},
                        disabled=disabled,
                        className="kp-reject",
                    ),
                ],
            ),
        ],
    )


def _fact(label: str, value: str) -> html.Div:
    return html.Div(
        className="kp-fact",
        children=[html.Span(label, className="kp-label"), html.Span(value, className="kp-value")],
    )


def _price(value: float) -> str:
    return f"{value:,.2f}"


def _precheck(precheck: tuple[bool, tuple[str, ...]] | None) -> html.Div:
    if precheck is None:
        return html.Div(
            "risk pre-check: not available (broker not connected)", className="kp-muted"
        )
    passed, reasons = precheck
    if passed:
        return html.Div("risk pre-check: passes now", className="kp-ok kp-precheck")
    return html.Div(
        ["risk pre-check: would be vetoed", html.Ul([html.Li(r) for r in reasons])],
        className="kp-warn kp-precheck",
    )


def _verdict(verdict: tuple[bool, tuple[str, ...]] | None) -> html.Div | None:
    if verdict is None:
        return None
    accepted, reasons = verdict
    if accepted:
        return html.Div("ACCEPTED by the risk engine", className="kp-ok kp-verdict")
    return html.Div(
        ["VETOED by the risk engine", html.Ul([html.Li(r) for r in reasons])],
        className="kp-bad kp-verdict",
    )


def _decision(decision: tuple[str, str, datetime, str] | None) -> html.Div | None:
    if decision is None:
        return None
    verdict, by, when, reason = decision
    text = f"{verdict} by {by} at {_when(when)}" + (f" — {reason}" if reason else "")
    return html.Div(text, className="kp-decision")


def _message(message: Mapping[str, Any] | None) -> html.Div | None:
    if not message:
        return None
    good = bool(message.get("ok"))
    return html.Div(
        str(message.get("text", "")),
        className="kp-card-message " + ("kp-ok" if good else "kp-bad"),
        role="status",
    )


# -- positions and P&L ------------------------------------------------------------------------


def book_summary(book: BookView) -> html.Div:
    return html.Div(
        className="kp-card-grid",
        children=[
            _fact("realised", rupees(book.realised)),
            _fact("unrealised", rupees(book.unrealised)),
            _fact("charges", rupees(book.charges)),
            _fact("net", rupees(book.net)),
        ],
    )


def positions_table(rows: Sequence[PositionRow]) -> html.Div:
    """Open positions with mark-to-market and an "exit now" button each."""
    if not rows:
        return html.Div(html.P("No positions today.", className="kp-empty"))
    head = [
        "symbol",
        "product",
        "qty",
        "avg",
        "mark",
        "unrealised",
        "realised",
        "charges",
        "net",
        "",
    ]
    body = [
        html.Tr(
            [
                html.Td(r.tradingsymbol),
                html.Td(r.product),
                html.Td(str(r.quantity)),
                html.Td(_price(r.average_price)),
                html.Td("—" if r.mark is None else _price(r.mark)),
                html.Td(rupees(r.unrealised)),
                html.Td(rupees(r.realised)),
                html.Td(rupees(r.charges)),
                html.Td(rupees(r.net)),
                html.Td(
                    html.Button(
                        "Exit now",
                        id={"type": IDS.EXIT, "id": f"{r.instrument_token}:{r.product}"},
                        disabled=r.quantity == 0,
                        className="kp-reject",
                    )
                ),
            ],
        )
        for r in rows
    ]
    return html.Div(_table(head, body, "kp-positions"))


def equity_figure(book: BookView) -> go.Figure:
    """The intraday equity curve (capital plus net P&L after each fill), times in IST."""
    figure = go.Figure()
    if book.equity_curve:
        xs = [to_ist(t).replace(tzinfo=None) for t, _ in book.equity_curve]
        ys = [v for _, v in book.equity_curve]
        figure.add_trace(
            go.Scatter(x=xs, y=ys, mode="lines+markers", line_shape="hv", name="equity")
        )
    figure.update_layout(
        title="Equity today (₹, IST)",
        margin={"l": 50, "r": 10, "t": 40, "b": 30},
        template="plotly_white",
    )
    return figure


def blotter_table(rows: Sequence[BlotterRow]) -> html.Div:
    """Orders and fills, newest first, with slippage; a "cancel" button on working orders."""
    if not rows:
        return html.Div(html.P("No orders today.", className="kp-empty"))
    head = ["time", "kind", "tag", "purpose", "symbol", "side", "qty", "price", "status",
            "filled", "avg", "slippage", ""]  # fmt: skip
    body = [
        html.Tr(
            [
                html.Td(ist(r.time)),
                html.Td(r.kind),
                html.Td(r.client_tag),
                html.Td(r.purpose),
                html.Td(r.tradingsymbol),
                html.Td(r.side),
                html.Td(str(r.quantity)),
                html.Td("—" if r.price is None else _price(r.price)),
                html.Td(r.status),
                html.Td(str(r.filled)),
                html.Td(_price(r.average_price) if r.filled else "—"),
                html.Td("—" if r.slippage is None else rupees(r.slippage)),
                html.Td(_cancel_button(r)),
            ]
        )
        for r in rows
    ]
    return html.Div(_table(head, body, "kp-blotter"))


_WORKING: Final = frozenset({"IN FLIGHT", "OPEN", "PUT ORDER REQ RECEIVED", "TRIGGER PENDING",
                             "VALIDATION PENDING", "OPEN PENDING", "MODIFY PENDING"})  # fmt: skip


def _cancel_button(row: BlotterRow) -> html.Button | None:
    if row.kind != "order" or row.status.upper() not in _WORKING:
        return None
    return html.Button(
        "Cancel", id={"type": IDS.CANCEL, "id": row.client_tag}, className="kp-reject"
    )


# -- status -----------------------------------------------------------------------------------


def status_panel(status: SystemStatus) -> html.Div:
    """Mode in large letters, then feed, model, session, kill switch, breakers and latency."""
    lag = "—" if status.feed_lag_seconds is None else f"{status.feed_lag_seconds:.1f} s"
    tps = "—" if status.ticks_per_second is None else f"{status.ticks_per_second:,.1f}"
    dead = ", ".join(f"{k}: {v}" for k, v in sorted(status.dead_letters.items())) or "none"
    promoted = (
        "" if status.model_promoted_at is None else f" (promoted {_when(status.model_promoted_at)})"
    )
    if status.session_valid is None:
        session = f"n/a — {status.session_reason}" if status.session_reason else "n/a"
    else:
        left = status.session_expires_in_seconds
        remaining = "" if left is None else f", {_duration(left)} left"
        session = ("valid" if status.session_valid else "NOT VALID") + remaining
        session += f" — {status.session_reason}" if status.session_reason else ""
    latency = ", ".join(f"{k} {v:.1f} ms" for k, v in status.latency_ms.items()) or "—"
    return html.Div(
        className="kp-status",
        children=[
            html.Div(status.mode, className=f"kp-mode-large kp-mode-{status.mode.lower()}"),
            html.Div(
                className="kp-card-grid",
                children=[
                    _fact("feed", status.feed_state),
                    _fact("feed lag", lag),
                    _fact("ticks/s", tps),
                    _fact("dead letters", dead),
                    _fact("model", (status.model_version or "none") + promoted),
                    _fact("broker session", session),
                    _fact("tick → proposal latency", latency),
                    _fact("new proposals", _paused(status.proposals_paused)),
                ],
            ),
            kill_banner(status.kill_switch),
            html.H3("Circuit breaker"),
            _breakers(status.circuit_breaker),
        ],
    )


def _paused(flag: FlagState) -> str:
    if not flag.value:
        return "flowing"
    when = "" if flag.ts_event is None else f" at {_when(flag.ts_event)}"
    return f"PAUSED by {flag.actor or 'unknown'}{when}" + (
        f" — {flag.reason}" if flag.reason else ""
    )


def _breakers(checks: Sequence[tuple[str, bool, str]]) -> html.Div:
    if not checks:
        return html.Div(html.P("No account state (broker not connected).", className="kp-empty"))
    body = [
        html.Tr(
            [html.Td(name), html.Td("pass" if passed else "TRIPPED"), html.Td(detail)],
            className="kp-ok" if passed else "kp-bad",
        )
        for name, passed, detail in checks
    ]
    return html.Div(_table(["check", "state", "detail"], body, "kp-breakers"))


# -- audit ------------------------------------------------------------------------------------


def chain_line(chain: ChainReport) -> html.Div:
    if chain.ok:
        return html.Div(
            f"audit chain intact: {chain.entries} entries in {chain.files} file(s)",
            className="kp-ok kp-chain",
        )
    where = "" if chain.file is None else f" ({chain.file.name}:{chain.line})"
    return html.Div(f"AUDIT CHAIN BROKEN: {chain.problem}{where}", className="kp-bad kp-chain")


def audit_panel(view: AuditView) -> html.Div:
    if not view.rows:
        return html.Div(html.P("No audit entries match.", className="kp-empty"))
    body = [
        html.Tr(
            [
                html.Td(str(r.seq)),
                html.Td(_when(r.time)),
                html.Td(r.kind),
                html.Td(r.subject),
                html.Td("" if r.instrument_token is None else str(r.instrument_token)),
                html.Td(r.actor),
                html.Td(r.summary),
            ]
        )
        for r in view.rows
    ]
    head = ["seq", "time (IST)", "type", "subject", "instrument", "by", "summary"]
    return html.Div(_table(head, body, "kp-audit"))


# -- research ---------------------------------------------------------------------------------


def walk_forward_panel(view: WalkForwardView | None) -> html.Div:
    """The latest walk-forward study: per-fold metrics, the strategies compared, calibration and
    equity against the baselines."""
    if view is None:
        return html.Div(html.P("No walk-forward study saved yet.", className="kp-empty"))
    children: list[Any] = [html.H3(f"Walk-forward study ({_when(view.made_at)})")]
    if view.data_source == "simulator":
        children.append(html.Div("SIMULATED DATA — not a market result", className="kp-warn"))
    children.append(html.H4("Per fold"))
    children.append(frame_table(view.folds.to_dicts(), "kp-folds"))
    children.append(html.H4("Model vs baselines"))
    children.append(frame_table(view.comparison.to_dicts(), "kp-comparison"))
    children.append(
        html.Div(
            className="kp-row",
            children=[
                dcc.Graph(figure=calibration_figure(view), className="kp-half"),
                dcc.Graph(figure=baselines_figure(view), className="kp-half"),
            ],
        )
    )
    if view.report is not None:
        children.append(html.Div(f"full report: {view.report}", className="kp-muted"))
    return html.Div(children)


def frame_table(rows: Sequence[Mapping[str, object]], class_name: str) -> html.Div:
    """A table of plain rows (a polars frame's ``to_dicts()``)."""
    if not rows:
        return html.Div(html.P("none", className="kp-empty"))
    head = list(rows[0].keys())
    body = [html.Tr([html.Td(_cell(row.get(k))) for k in head]) for row in rows]
    return html.Div(_table(head, body, class_name), className="kp-scroll")


def calibration_figure(view: WalkForwardView) -> go.Figure:
    figure = go.Figure()
    points = view.calibration
    figure.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect", line_dash="dot"))
    figure.add_trace(
        go.Scatter(
            x=[p.mean_predicted for p in points],
            y=[p.observed_rate for p in points],
            text=[f"{p.rows} rows" for p in points],
            mode="lines+markers",
            name="model",
        )
    )
    figure.update_layout(
        title="Calibration: predicted p(win) vs observed",
        template="plotly_white",
        height=300,
        margin={"l": 50, "r": 10, "t": 40, "b": 30},
    )
    return figure


def baselines_figure(view: WalkForwardView) -> go.Figure:
    figure = go.Figure()
    for curve in view.equity:
        xs = [to_ist(t).replace(tzinfo=None) for t in curve.ts]
        figure.add_trace(go.Scatter(x=xs, y=list(curve.equity), mode="lines", name=curve.strategy))
    figure.update_layout(
        title="Out-of-sample equity (₹) vs baselines",
        template="plotly_white",
        height=300,
        margin={"l": 50, "r": 10, "t": 40, "b": 30},
    )
    return figure


def ledger_panel(view: LedgerView | None) -> html.Div:
    """The counterfactual ledger: what rejected and vetoed proposals would have made."""
    if view is None:
        return html.Div(
            html.P("No counterfactual ledger (no lake configured).", className="kp-empty")
        )
    totals = [
        _fact(
            f"{group.lower()}: {view.counts.get(group, 0)} ({view.scored.get(group, 0)} scored)",
            ("made " if group == "APPROVED" else "would have made ") + rupees(total),
        )
        for group, total in view.totals.items()
    ]
    body = [
        html.Tr(
            [
                html.Td(_when(r.created_at)),
                html.Td(r.proposal_id),
                html.Td(r.tradingsymbol),
                html.Td(r.decided),
                html.Td(r.by),
                html.Td(r.reason),
                html.Td("—" if r.net_pnl is None else rupees(r.net_pnl)),
                html.Td(r.status),
            ]
        )
        for r in view.rows
    ]
    head = [
        "created",
        "proposal",
        "symbol",
        "decided",
        "by",
        "reason",
        "net (counterfactual)",
        "status",
    ]
    return html.Div(
        [
            html.H3("Counterfactual ledger"),
            html.Div(totals, className="kp-card-grid"),
            _table(head, body, "kp-ledger")
            if body
            else html.P("Nothing decided yet.", className="kp-empty"),
        ]
    )


# -- helpers ----------------------------------------------------------------------------------


def _table(head: Sequence[str], body: Sequence[Any], class_name: str) -> html.Table:
    return html.Table(
        className=f"kp-table {class_name}",
        children=[html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(list(body))],
    )


def _when(ts: datetime) -> str:
    """``ist`` for today's times, with the date in front otherwise (the caller's business)."""
    return f"{to_ist(ts):%Y-%m-%d} {ist(ts)}"


def _duration(seconds: float) -> str:
    whole = int(max(seconds, 0))
    hours, rest = divmod(whole, 3600)
    return f"{hours}h {rest // 60:02d}m"


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}"
    return "" if value is None else str(value)
