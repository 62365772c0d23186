"""The callbacks: each one reads a view through the services (``execution.console``) or acts
through ``OperatorActions``, then renders with :mod:`dashboard.layout`. No logic of their own
beyond picking which view a tab needs and which button was pressed.

Reading needs no token; every action passes the token from the browser's session store to
``OperatorActions``, which refuses without a valid one (the refusal is shown where the button was).

Values arrive as the browser's JSON, and a crafted request can put anything where the page sends a
string or its own message store: each callback takes its values through :func:`_text`,
:func:`_token` and :func:`_card_messages` first, so a value of the wrong shape is no text, no
token, no message — never an exception (an HTTP 500).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from dash import ALL, Dash, Input, Output, State, ctx, html, no_update

from dashboard import layout
from dashboard.layout import IDS
from dashboard.services import INSTRUMENT_TOKEN_DIGITS, AuditFilter, DashboardServices
from data_contracts.errors import ContractError
from execution.console.actions import ActionResult
from execution.console.words import ist
from execution.store import OmsStore

__all__ = ["register_callbacks"]

_READ_ERRORS: Final = (ContractError, OSError)

# The countdown runs in the browser between refreshes: seconds left as of the last refresh, less
# the time since it arrived (the server's clock decides; the browser only interpolates).
_COUNTDOWN_JS: Final = """
function(tick, data) {
    const dc = window.dash_clientside;
    const c = dc.callback_context;
    if (c.triggered.some(t => t.prop_id.startsWith('ttl-data'))) { window.kpTtlAt = Date.now(); }
    const elapsed = (Date.now() - (window.kpTtlAt || Date.now())) / 1000;
    return c.outputs_list.map(function(o) {
        const left = (data || {})[o.id.id];
        if (left === undefined) { return dc.no_update; }
        const s = Math.floor(left - elapsed);
        if (s <= 0) { return 'expired'; }
        return Math.floor(s / 60) + ':' + String(s % 60).padStart(2, '0') + ' left';
    });
}
"""


def register_callbacks(app: Dash, services: DashboardServices) -> None:  # noqa: C901 - one nested callback per control
    """Wire the page of :func:`dashboard.layout.page` to ``services``."""
    actions = services.actions

    # -- token ---------------------------------------------------------------------------------

    @app.callback(
        Output(IDS.AUTH_STORE, "data"),
        Input(IDS.AUTH_INPUT, "value"),
        prevent_initial_call=True,
    )
    def keep_token(value: str | None) -> str:
        return _text(value)

    @app.callback(
        Output(IDS.AUTH_STATE, "children"),
        Output(IDS.AUTH_STATE, "className"),
        Input(IDS.AUTH_STORE, "data"),
    )
    def show_token_state(stored: str | None) -> tuple[str, str]:
        if not stored:
            return "read-only (no token)", "kp-token-state kp-muted"
        if actions.authorised(_token(stored)):
            return "token accepted", "kp-token-state kp-ok"
        return "token NOT valid — read-only", "kp-token-state kp-bad"

    # -- header: clock and kill switch -----------------------------------------------------------

    @app.callback(
        Output(IDS.KILL_STATE, "children"),
        Output(IDS.NOW, "children"),
        Input(IDS.REFRESH, "n_intervals"),
    )
    def refresh_header(_: int | None) -> tuple[Any, str]:
        return _kill_state(services), ist(services.clock.now())

    @app.callback(
        Output(IDS.HEADER_MESSAGE, "children"),
        Output(IDS.KILL_STATE, "children", allow_duplicate=True),
        Output(IDS.KILL_CONFIRM, "value"),
        Input(IDS.KILL_BUTTON, "n_clicks"),
        State(IDS.KILL_CONFIRM, "value"),
        State(IDS.KILL_REASON, "value"),
        State(IDS.AUTH_STORE, "data"),
        prevent_initial_call=True,
    )
    def fire_kill(
        clicks: int | None, typed: str | None, reason: str | None, token: str | None
    ) -> tuple[Any, Any, Any]:
        if not clicks:
            return no_update, no_update, no_update
        done = actions.kill(
            _token(token), services.actor, _text(typed).strip(), _kill_reason(reason)
        )
        return _result(done), _kill_state(services), ""

    @app.callback(
        Output(IDS.HEADER_MESSAGE, "children", allow_duplicate=True),
        Output(IDS.KILL_STATE, "children", allow_duplicate=True),
        Output(IDS.REARM_CONFIRM, "value"),
        Input(IDS.REARM_BUTTON, "n_clicks"),
        State(IDS.REARM_CONFIRM, "value"),
        State(IDS.AUTH_STORE, "data"),
        prevent_initial_call=True,
    )
    def rearm(clicks: int | None, typed: str | None, token: str | None) -> tuple[Any, Any, Any]:
        if not clicks:
            return no_update, no_update, no_update
        done = actions.rearm(_token(token), services.actor, _text(typed).strip())
        return _result(done), _kill_state(services), ""

    # -- queue ---------------------------------------------------------------------------------

    @app.callback(
        Output(IDS.QUEUE, "children"),
        Output(IDS.QUEUE_SIGNATURE, "data"),
        Output(IDS.TTL_DATA, "data"),
        Input(IDS.REFRESH, "n_intervals"),
        Input(IDS.CARD_MESSAGES, "data"),
        State({"type": IDS.REASON, "id": ALL}, "value"),
        State(IDS.QUEUE_SIGNATURE, "data"),
    )
    def refresh_queue(
        _: int | None,
        messages: Mapping[str, Mapping[str, Any]] | None,
        _reasons: Sequence[str | None],
        signature: str | None,
    ) -> tuple[Any, Any, Any]:
        try:
            cards = services.queue()
        except _READ_ERRORS as error:
            return [_error("queue", error)], None, {}
        messages = _card_messages(messages)
        ttl = {c.proposal_id: c.seconds_left for c in cards if not c.expired}
        # Re-render only when something a person reads changed, so a reason being typed survives.
        now_signature = repr(
            [
                (c.proposal_id, c.status, c.actionable, c.precheck, c.verdict, c.decision)
                for c in cards
            ]
            + sorted((k, repr(v)) for k, v in messages.items())
        )
        if now_signature == signature:
            return no_update, no_update, ttl
        typed = _pattern_values(ctx.states_list[0])
        return layout.queue_children(cards, messages, typed), now_signature, ttl

    app.clientside_callback(  # type: ignore[no-untyped-call]  # dash leaves it unannotated
        _COUNTDOWN_JS,
        Output({"type": IDS.TTL, "id": ALL}, "children"),
        Input(IDS.TTL_TICK, "n_intervals"),
        Input(IDS.TTL_DATA, "data"),
    )

    @app.callback(
        Output(IDS.CARD_MESSAGES, "data"),
        Input({"type": IDS.APPROVE, "id": ALL}, "n_clicks"),
        Input({"type": IDS.REJECT, "id": ALL}, "n_clicks"),
        State({"type": IDS.REASON, "id": ALL}, "value"),
        State(IDS.AUTH_STORE, "data"),
        State(IDS.CARD_MESSAGES, "data"),
        prevent_initial_call=True,
    )
    def decide(
        _approve: Sequence[int | None],
        _reject: Sequence[int | None],
        _reasons: Sequence[str | None],
        token: str | None,
        messages: Mapping[str, Any] | None,
    ) -> Any:
        pressed = _pressed()
        if pressed is None:
            return no_update
        kind, pid = pressed
        reason = _pattern_values(ctx.states_list[0]).get(pid, "").strip()
        if kind == IDS.APPROVE:
            done = actions.approve(_token(token), pid, services.actor, reason)
        else:
            done = actions.reject(_token(token), pid, services.actor, reason)
        return {**_card_messages(messages), pid: {"ok": done.ok, "text": done.message}}

    # -- positions and P&L ---------------------------------------------------------------------

    @app.callback(
        Output(IDS.BOOK_SUMMARY, "children"),
        Output(IDS.POSITIONS, "children"),
        Output(IDS.EQUITY, "figure"),
        Output(IDS.BLOTTER, "children"),
        Input(IDS.REFRESH, "n_intervals"),
        Input(IDS.TABS, "value"),
        Input(IDS.BOOK_MESSAGE, "children"),
    )
    def refresh_book(_: int | None, tab: str, _message: Any) -> tuple[Any, Any, Any, Any]:
        if tab != "book":
            return no_update, no_update, no_update, no_update
        try:
            book = services.book()
        except _READ_ERRORS as error:
            return _error("book", error), no_update, no_update, no_update
        return (
            layout.book_summary(book),
            layout.positions_table(book.positions),
            layout.equity_figure(book),
            layout.blotter_table(book.blotter),
        )

    @app.callback(
        Output(IDS.BOOK_MESSAGE, "children"),
        Input({"type": IDS.EXIT, "id": ALL}, "n_clicks"),
        Input({"type": IDS.CANCEL, "id": ALL}, "n_clicks"),
        State(IDS.AUTH_STORE, "data"),
        prevent_initial_call=True,
    )
    def override(
        _exits: Sequence[int | None], _cancels: Sequence[int | None], token: str | None
    ) -> Any:
        pressed = _pressed()
        if pressed is None:
            return no_update
        kind, key = pressed
        if kind == IDS.EXIT:
            done = _exit_now(services, _token(token), key)
        else:
            done = actions.cancel(_token(token), services.actor, key)
        return _result(done)

    # -- status --------------------------------------------------------------------------------

    @app.callback(
        Output(IDS.STATUS, "children"),
        Input(IDS.REFRESH, "n_intervals"),
        Input(IDS.TABS, "value"),
        Input(IDS.STATUS_MESSAGE, "children"),
    )
    def refresh_status(_: int | None, tab: str, _message: Any) -> Any:
        if tab != "status":
            return no_update
        try:
            return layout.status_panel(services.status())
        except _READ_ERRORS as error:
            return _error("status", error)

    @app.callback(
        Output(IDS.STATUS_MESSAGE, "children"),
        Input(IDS.PAUSE, "n_clicks"),
        Input(IDS.RESUME, "n_clicks"),
        State(IDS.AUTH_STORE, "data"),
        prevent_initial_call=True,
    )
    def pause(_pause: int | None, _resume: int | None, token: str | None) -> Any:
        if not ctx.triggered or not ctx.triggered[0]["value"]:
            return no_update
        paused = ctx.triggered_id == IDS.PAUSE
        done = actions.pause_proposals(_token(token), services.actor, paused, "dashboard")
        return _result(done)

    # -- audit ---------------------------------------------------------------------------------

    @app.callback(
        Output(IDS.AUDIT_CHAIN, "children"),
        Output(IDS.AUDIT_ROWS, "children"),
        Output(IDS.AUDIT_MESSAGE, "children"),
        Input(IDS.REFRESH, "n_intervals"),
        Input(IDS.TABS, "value"),
        Input(IDS.AUDIT_KINDS, "value"),
        Input(IDS.AUDIT_INSTRUMENT, "value"),
        Input(IDS.AUDIT_SINCE, "value"),
        Input(IDS.AUDIT_UNTIL, "value"),
    )
    def refresh_audit(
        _: int | None,
        tab: str,
        kinds: Sequence[str] | None,
        instrument: str | None,
        since: str | None,
        until: str | None,
    ) -> tuple[Any, Any, Any]:
        if tab != "audit":
            return no_update, no_update, no_update
        try:
            filters = AuditFilter.parse(kinds, instrument, since, until)
        except ContractError as error:
            return no_update, no_update, str(error)
        try:
            view = services.audit(filters)
        except _READ_ERRORS as error:
            return _error("audit", error), no_update, ""
        return layout.chain_line(view.chain), layout.audit_panel(view), ""

    # -- research ------------------------------------------------------------------------------

    @app.callback(
        Output(IDS.WALK_FORWARD, "children"),
        Output(IDS.LEDGER, "children"),
        Input(IDS.TABS, "value"),
        Input(IDS.RESEARCH_REFRESH, "n_clicks"),
    )
    def refresh_research(tab: str, _clicks: int | None) -> tuple[Any, Any]:
        if tab != "research":
            return no_update, no_update
        try:
            study = layout.walk_forward_panel(services.walk_forward())
        except _READ_ERRORS as error:
            study = _error("walk-forward study", error)
        try:
            ledger = layout.ledger_panel(services.ledger())
        except _READ_ERRORS as error:
            ledger = _error("counterfactual ledger", error)
        return study, ledger


# -- helpers ------------------------------------------------------------------------------------


def _kill_state(services: DashboardServices) -> Any:
    return layout.kill_banner(OmsStore.of(services.store).kill_switch())


def _pressed() -> tuple[str, str] | None:
    """The (type, id) of the pattern-matched button that fired, or None when the callback ran
    because buttons appeared (re-render) rather than because one was clicked."""
    if not ctx.triggered or not ctx.triggered[0].get("value"):
        return None
    trigger = ctx.triggered_id
    if not isinstance(trigger, Mapping) or "type" not in trigger or "id" not in trigger:
        return None
    return str(trigger["type"]), str(trigger["id"])


def _pattern_values(states: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """``{id: text}`` from an ALL state list (the proposal id is the "id" key)."""
    values = {}
    for state in states:
        ident = state.get("id") if isinstance(state, Mapping) else None
        if isinstance(ident, Mapping) and "id" in ident:
            values[str(ident["id"])] = _text(state.get("value"))
    return values


def _text(value: object) -> str:
    """A text field's value: the string the page sends, else "" (null, or a number, a list ...
    that only a crafted request puts there)."""
    return value if isinstance(value, str) else ""


def _token(value: object) -> str | None:
    """The action token from the browser's store, or None (refused as no token) for anything
    but text — a lone surrogate (JSON ``"\\ud800"``) is not text either."""
    if not isinstance(value, str):
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return value


def _kill_reason(value: object) -> str:
    """The typed kill reason as the store can keep it: the kill switch is never refused for its
    note, so a character UTF-8 cannot hold (a lone surrogate) becomes "?"."""
    typed = _text(value).encode("utf-8", "replace").decode("utf-8")
    return typed or "dashboard"


def _card_messages(value: object) -> dict[str, Mapping[str, Any]]:
    """The cards' messages the page keeps (``{proposal id: {"ok", "text"}}``, what ``decide``
    wrote), keeping only entries of that shape."""
    if not isinstance(value, Mapping):
        return {}
    return {str(pid): message for pid, message in value.items() if isinstance(message, Mapping)}


def _exit_now(services: DashboardServices, token: str | None, key: str) -> ActionResult:
    """Exit now for the pressed row's ``"<instrument token>:<product>"``; a key of another shape
    (only a crafted request sends one) is refused — after the token, like every action."""
    actions = services.actions
    instrument, _, product = key.partition(":")
    if instrument.isascii() and instrument.isdigit() and len(instrument) <= INSTRUMENT_TOKEN_DIGITS:
        return actions.exit_now(token, services.actor, int(instrument), product)
    if not actions.authorised(token):
        return actions.exit_now(token, services.actor, 0, product)  # the refusal, nothing read
    return ActionResult(False, f"exit now: {key!r} is not <instrument token>:<product>")


def _result(done: ActionResult) -> html.Div:
    return html.Div(done.message, className="kp-ok" if done.ok else "kp-bad")


def _error(what: str, error: Exception) -> html.Div:
    return html.Div(f"could not read the {what}: {error}", className="kp-bad")
