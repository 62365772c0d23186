"""Fuzzing the HTTP inputs (see ``fuzz_http``).

The dashboard: the real Dash app on 127.0.0.1 over a real store. Garbage and crafted callback
requests never act without the operator token and never take the server down, and none of our
callbacks answers 500 — not even to input the page never sends (finding B9, fixed: its inputs are
regression tests below).

The MCP server: ``kitepilot mcp --transport http`` as composed by ``orchestration.mcp_cli``, in a
thread on 127.0.0.1. Without the exact bearer token every request is 401; with it, garbage and
arbitrary JSON-RPC / tool calls get an HTTP status or a JSON-RPC / tool error — never a 5xx — and
nothing ever decides, orders, touches the kill switch or the operator flags."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings

from tests.reliability.fuzz_http import (
    B9_INPUTS,
    PROPOSALS,
    RESERVED,
    TOKEN,
    DashRequest,
    DashWorld,
    McpRequest,
    McpWorld,
    callbacks_of,
    check_dash,
    check_mcp,
    crafted,
    crash_site,
    dash_requests,
    dash_world,
    mcp_requests,
    mcp_target,
    mcp_world,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashWorld]:
    with dash_world(tmp_path_factory.mktemp("dash")) as served:
        yield served


@pytest.fixture(scope="module")
def callbacks(world: DashWorld) -> dict[str, Any]:
    return callbacks_of(world)


def test_dashboard_any_request_acts_only_with_the_token_and_the_server_stays_up(
    world: DashWorld, callbacks: dict[str, Any]
) -> None:
    outcomes: list[str] = []

    @settings(max_examples=300)
    @given(dash_requests(callbacks))
    def send(request: DashRequest) -> None:
        outcomes.append(check_dash(world, request))  # asserts: no change without the token

    send()

    status, _ = world.send("GET", "/")
    crash_sites = {crash_site(o) for o in outcomes} - {None}
    assert status == 200
    assert crash_sites == set()
    assert any(o.startswith("HTTP 200") for o in outcomes)


# The page's own actions, each fired the way the browser fires it: (the callback's output,
# the values by "id.property", the input that fired).
ACTIONS = {
    "approve": (
        "card-messages",
        {"approve.n_clicks": [(PROPOSALS[0], 1)]},
        '{"id":"%s","type":"approve"}.n_clicks' % PROPOSALS[0],  # noqa: UP031 - JSON braces
    ),
    "reject": (
        "card-messages",
        {"reject.n_clicks": [(RESERVED[0], 1)]},
        '{"id":"%s","type":"reject"}.n_clicks' % RESERVED[0],  # noqa: UP031 - JSON braces
    ),
    "kill": (
        "header-message.children...",
        {"kill-button.n_clicks": 1, "kill-confirm.value": "KILL", "kill-reason.value": "fuzz"},
        "kill-button.n_clicks",
    ),
    "rearm": (
        "header-message.children@",
        {"rearm-button.n_clicks": 1, "rearm-confirm.value": "REARM"},
        "rearm-button.n_clicks",
    ),
    "pause": ("status-message", {"pause-button.n_clicks": 1}, "pause-button.n_clicks"),
    "exit": (
        "book-message",
        {"exit-now.n_clicks": [("12073986:NRML", 1)]},
        '{"id":"12073986:NRML","type":"exit-now"}.n_clicks',
    ),
    "cancel": (
        "book-message",
        {"cancel.n_clicks": [("KP0000000000000001", 1)]},
        '{"id":"KP0000000000000001","type":"cancel"}.n_clicks',
    ),
}


def _fire(callbacks: dict[str, Any], action: str, token: object) -> DashRequest:
    prefix, values, changed = ACTIONS[action]
    return crafted(callbacks, prefix, values, changed, token)


@pytest.mark.parametrize("action", sorted(ACTIONS))
@pytest.mark.parametrize(
    "token", [None, "", TOKEN[:-1], TOKEN.upper(), [TOKEN], {"token": TOKEN}, 1]
)
def test_dashboard_action_without_the_valid_token_is_refused_and_changes_nothing(
    world: DashWorld, callbacks: dict[str, Any], action: str, token: object
) -> None:
    before = world.state()

    status, answer = world.send(*_args(_fire(callbacks, action, token)))

    assert status == 200
    assert b"refused: a valid action token is required" in answer
    assert world.state() == before


def test_dashboard_reject_with_the_token_records_the_decision(
    world: DashWorld, callbacks: dict[str, Any]
) -> None:
    before = world.state()

    status, answer = world.send(*_args(_fire(callbacks, "reject", TOKEN)))

    assert status == 200
    assert b"rejected" in answer
    assert world.state()[0] == before[0] + 1


def _args(request: DashRequest) -> tuple[str, str, bytes | None, str | None]:
    return request.method, request.path, request.body, request.content_type


@pytest.mark.parametrize("case", sorted(B9_INPUTS))
def test_dashboard_malformed_callback_input_is_answered_without_a_server_error(
    world: DashWorld, callbacks: dict[str, Any], case: str
) -> None:
    prefix, values, changed, with_token = B9_INPUTS[case]  # B9's inputs
    token = TOKEN if with_token else None
    world.release_kill_switch()  # an engaged switch is not recorded again (nothing to insert)
    logged = len(world.exceptions.records)

    status, _ = world.send(*_args(crafted(callbacks, prefix, values, changed, token)))

    assert status < 500
    assert len(world.exceptions.records) == logged


def test_dashboard_path_traversal_serves_nothing_outside_the_app(world: DashWorld) -> None:
    for path in (
        "/_dash-component-suites/dash/../../../../../../etc/passwd",
        "/assets/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    ):
        _, answer = world.send("GET", path)

        assert b"root:x:0:0" not in answer


# -- the MCP server's HTTP input -----------------------------------------------------------------


@pytest.fixture(scope="module")
def mcp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[McpWorld]:
    reason = mcp_target()
    if reason is not None:
        pytest.skip(reason)
    with mcp_world(tmp_path_factory.mktemp("mcp")) as served:
        yield served


def test_mcp_any_request_is_refused_without_the_token_and_never_decides_or_orders(
    mcp: McpWorld,
) -> None:
    outcomes: list[str] = []

    @settings(max_examples=300)
    @given(mcp_requests(mcp.tools))
    def send(request: McpRequest) -> None:
        outcomes.append(check_mcp(mcp, request))  # asserts: 401 without the token, no change

    send()

    status, listed = mcp.rpc("tools/list", {})
    assert status == 200
    assert listed[0]["result"]["tools"]
    assert [o for o in outcomes if o.startswith("CRASH")] == []
    assert "HTTP 401 (no valid bearer token)" in outcomes


def test_mcp_listens_on_loopback_only(mcp: McpWorld) -> None:
    from tests.reliability.security import listeners, non_loopback_address, reachable_from

    (listener,) = [found for found in listeners([os.getpid()]) if found.port == mcp.port]
    outside = non_loopback_address()

    assert listener.loopback
    assert outside is None or not reachable_from(outside, mcp.port)


@pytest.mark.parametrize(
    "tool", ["place_order", "approve_proposal", "engage_kill_switch", "set_mode"]
)
def test_mcp_has_no_tool_that_acts(mcp: McpWorld, tool: str) -> None:
    before = mcp.state()

    _, replies = mcp.rpc("tools/call", {"name": tool, "arguments": {}})

    assert tool not in mcp.tools
    assert replies[0]["result"]["isError"]
    assert mcp.state() == before
