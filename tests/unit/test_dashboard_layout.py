"""The dashboard's rendering helpers (no browser): cards, the kill banner, tables, figures."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashboard.layout import (
    IDS,
    blotter_table,
    equity_figure,
    kill_banner,
    page,
    positions_table,
    proposal_card,
    queue_children,
    ttl_text,
)
from execution.console.book import BlotterRow, BookView, PositionRow
from execution.console.queue import ProposalCard
from execution.store import KillSwitchState

T0 = datetime(2026, 8, 18, 4, 0, tzinfo=UTC)  # 09:30 IST


def _card(**overrides: Any) -> ProposalCard:
    values: dict[str, Any] = {
        "proposal_id": "p-1",
        "created_at": T0,
        "tradingsymbol": "NIFTY2681824400CE",
        "exchange": "NFO",
        "side": "BUY",
        "product": "NRML",
        "lots": 2,
        "lot_size": 65,
        "quantity": 130,
        "limit_price": 100.0,
        "stop_loss": 60.0,
        "take_profit": 150.0,
        "expected_net_profit": 480.0,
        "expected_charges": 65.11,
        "charges_breakdown": {"brokerage": 40.0, "stt": 9.75, "total": 65.11},
        "p_win": 0.83,
        "expected_return": 12.5,
        "reasons": ("RSI (14) at 72.4 pushed the win chance up (+0.12)",),
        "model_version": "7",
        "feature_version": "f1",
        "origin": "STRATEGY",
        "rationale": "",
        "expires_at": T0 + timedelta(minutes=2),
        "seconds_left": 92.0,
        "expired": False,
        "status": "PROPOSED",
        "actionable": True,
        "precheck": (True, ()),
        "verdict": None,
        "decision": None,
    }
    return ProposalCard(**(values | overrides))


def _walk(component: Any) -> Iterator[Any]:
    yield component
    children = getattr(component, "children", None)
    if children is None or isinstance(children, str | int | float):
        return
    for child in children if isinstance(children, list | tuple) else [children]:
        if child is not None:
            yield from _walk(child)


def _text(component: Any) -> str:
    """Every string in the tree (direct children and strings mixed into child lists)."""
    found: list[str] = []
    for node in _walk(component):
        children = getattr(node, "children", None)
        items = children if isinstance(children, list | tuple) else [children]
        found += [str(c) for c in items if isinstance(c, str | int | float)]
    return " ".join(found)


def _button(component: Any, kind: str) -> Any:
    (found,) = [
        c
        for c in _walk(component)
        if isinstance(getattr(c, "id", None), dict) and c.id["type"] == kind
    ]
    return found


def test_proposal_card_expired_disables_both_buttons_and_greys_out() -> None:
    card = _card(expired=True, actionable=False, seconds_left=0.0, precheck=None)

    rendered = proposal_card(card)

    assert _button(rendered, IDS.APPROVE).disabled
    assert _button(rendered, IDS.REJECT).disabled
    assert "kp-expired" in rendered.className
    assert "expired" in _text(rendered)


def test_proposal_card_actionable_enables_buttons_and_shows_every_field() -> None:
    rendered = proposal_card(_card())

    text = _text(rendered)
    assert not _button(rendered, IDS.APPROVE).disabled
    assert not _button(rendered, IDS.REJECT).disabled
    for expected in (
        "NIFTY2681824400CE",
        "BUY",
        "2 lot(s) of 65 = 130 (NRML)",
        "100.00",
        "60.00",
        "150.00",
        "₹480.00",
        "₹65.11",
        "brokerage: ₹40.00",
        "83%",
        "+12.50%",
        "RSI (14) at 72.4 pushed the win chance up (+0.12)",
        "model 7",
        "risk pre-check: passes now",
        "1:32 left",
    ):
        assert expected in text, expected


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"verdict": (True, ())}, "ACCEPTED by the risk engine"),
        ({"verdict": (False, ("margin ₹10 short",))}, "margin ₹10 short"),
        ({"precheck": (False, ("market closed",))}, "would be vetoed"),
        (
            {"decision": ("REJECT", "ops", T0, "too wide")},
            "REJECT by ops at 2026-08-18 09:30:00 IST",
        ),
    ],
)
def test_proposal_card_checks_and_decision_come_back_in_words(
    overrides: dict[str, Any], expected: str
) -> None:
    decided = "decision" in overrides or "verdict" in overrides
    card = _card(**overrides, **({"actionable": False, "status": "APPROVED"} if decided else {}))

    assert expected in _text(proposal_card(card))


def test_proposal_card_decided_hides_the_precheck_and_disables_buttons() -> None:
    card = _card(status="REJECTED", actionable=False, precheck=None)

    rendered = proposal_card(card)

    assert "pre-check" not in _text(rendered)
    assert _button(rendered, IDS.APPROVE).disabled


@pytest.mark.parametrize(("ok", "css"), [(False, "kp-bad"), (True, "kp-ok")])
def test_proposal_card_action_message_is_shown_on_the_card(ok: bool, css: str) -> None:
    rendered = proposal_card(_card(), message={"ok": ok, "text": "refused: token"})

    (shown,) = [
        c for c in _walk(rendered) if "kp-card-message" in (getattr(c, "className", "") or "")
    ]
    assert shown.children == "refused: token"
    assert css in shown.className


def test_queue_children_keeps_the_typed_reason_and_the_order() -> None:
    cards = [_card(proposal_id="p-2"), _card(proposal_id="p-1")]

    rendered = queue_children(cards, {}, {"p-1": "late"})

    assert [c.id["id"] for c in rendered] == ["p-2", "p-1"]
    reason = [
        c for c in _walk(rendered[1]) if getattr(c, "id", None) == {"type": IDS.REASON, "id": "p-1"}
    ]
    assert reason[0].value == "late"


def test_queue_children_empty_says_so() -> None:
    assert "No proposals" in _text(queue_children([], {}, {})[0])


@given(st.floats(min_value=0.0, max_value=86_400.0), st.booleans())
def test_ttl_text_is_expired_exactly_when_nothing_is_left(seconds: float, expired: bool) -> None:
    shown = ttl_text(seconds, expired)

    assert (shown == "expired") is (expired or seconds <= 0)


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (KillSwitchState(False), "ARMED"),
        (
            KillSwitchState(True, T0, "dashboard:ops", "runaway"),
            "KILL SWITCH ENGAGED by dashboard:ops at 2026-08-18 09:30:00 IST — runaway",
        ),
    ],
)
def test_kill_banner_shows_who_and_when(state: KillSwitchState, expected: str) -> None:
    assert expected in _text(kill_banner(state))


def _position(**overrides: Any) -> PositionRow:
    values: dict[str, Any] = {
        "instrument_token": 12073986,
        "tradingsymbol": "NIFTY2681824400CE",
        "product": "NRML",
        "quantity": 65,
        "average_price": 100.0,
        "mark": 104.0,
        "unrealised": 260.0,
        "realised": 0.0,
        "charges": 26.53,
        "net": 233.47,
    }
    return PositionRow(**(values | overrides))


@pytest.mark.parametrize(("quantity", "disabled"), [(65, False), (0, True)])
def test_positions_table_exit_now_only_for_open_quantity(quantity: int, disabled: bool) -> None:
    rendered = positions_table([_position(quantity=quantity)])

    button = _button(rendered, IDS.EXIT)
    assert button.id["id"] == "12073986:NRML"
    assert button.disabled is disabled


def _blotter(**overrides: Any) -> BlotterRow:
    values: dict[str, Any] = {
        "time": T0,
        "client_tag": "KP0123456789ABCDEF00",
        "purpose": "entry",
        "tradingsymbol": "NIFTY2681824400CE",
        "side": "BUY",
        "quantity": 65,
        "price": 100.0,
        "status": "OPEN",
        "filled": 0,
        "average_price": 0.0,
        "slippage": None,
        "kind": "order",
    }
    return BlotterRow(**(values | overrides))


@pytest.mark.parametrize(
    ("row", "cancellable"),
    [
        (_blotter(), True),
        (_blotter(status="IN FLIGHT"), True),
        (_blotter(status="COMPLETE", filled=65, average_price=100.0), False),
        (_blotter(kind="fill", status="FILLED", slippage=1.5), False),
    ],
)
def test_blotter_table_cancel_only_on_working_orders(row: BlotterRow, cancellable: bool) -> None:
    rendered = blotter_table([row])

    buttons = [
        c
        for c in _walk(rendered)
        if isinstance(getattr(c, "id", None), dict) and c.id["type"] == IDS.CANCEL
    ]
    assert len(buttons) == int(cancellable)


def test_equity_figure_steps_through_each_point_in_ist() -> None:
    book = BookView(
        (), 0.0, 0.0, 0.0, 0.0, ((T0, 1_000_000.0), (T0 + timedelta(minutes=1), 999_973.47)), ()
    )

    figure = equity_figure(book)

    (trace,) = figure.data
    assert list(trace.y) == [1_000_000.0, 999_973.47]
    assert trace.x[0] == datetime(2026, 8, 18, 9, 30)  # noqa: DTZ001 - plotly axis: naive IST
    assert trace.line.shape == "hv"


def test_page_keeps_the_token_in_session_storage_and_a_password_field() -> None:
    rendered = page(mode="PAPER", refresh_ms=2000)

    by_id = {c.id: c for c in _walk(rendered) if isinstance(getattr(c, "id", None), str)}
    assert by_id[IDS.AUTH_STORE].storage_type == "session"
    assert by_id[IDS.AUTH_INPUT].type == "password"
    assert by_id[IDS.REFRESH].interval == 2000


def test_book_view_zero_rows_say_nothing_traded() -> None:
    assert "No positions" in _text(positions_table([]))
    assert "No orders" in _text(blotter_table([]))
