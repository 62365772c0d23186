"""The ticker hub: subscriptions from client messages, and one frame per connection per publish."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kiteconnect import KiteTicker

from data_contracts.errors import ContractError
from execution.paper.ticker_codec import (
    TickerMode,
    encode_framed_packet,
    encode_packet,
    split_frame,
)
from execution.paper.ticker_hub import TickerHub
from execution.paper.types import DepthLevel, Quote

T0 = datetime(2026, 8, 18, 4, 0, 5, tzinfo=UTC)
INFY, TCS, NIFTY_CE = 408065, 2953217, 12073986


def quote(token: int = INFY, last_price: float = 1573.7) -> Quote:
    return Quote(
        instrument_token=token,
        ts_event=T0,
        last_price=last_price,
        volume=1000,
        close=1567.8,
        bids=(DepthLevel(last_price - 0.05, 10, 1),),
        asks=(DepthLevel(last_price, 12, 2),),
    )


def subscribe(tokens: list[Any]) -> str:
    return json.dumps({"a": "subscribe", "v": tokens})


def mode(name: str, tokens: list[int]) -> str:
    return json.dumps({"a": "mode", "v": [name, tokens]})


def error_of(replies: list[str]) -> str:
    (reply,) = replies
    message = json.loads(reply)
    assert message["type"] == "error"
    text: str = message["data"]
    return text


@pytest.fixture
def hub() -> TickerHub:
    hub = TickerHub(max_tokens_per_connection=3)
    hub.connect("c1")
    return hub


def test_handle_text_subscribe_defaults_to_quote_mode(hub: TickerHub) -> None:
    replies = hub.handle_text("c1", subscribe([INFY, TCS]))

    assert replies == []
    assert hub.subscriptions("c1") == {INFY: "quote", TCS: "quote"}
    assert hub.subscriber_count(INFY) == 1


def test_handle_text_mode_changes_subscribed_tokens_only(hub: TickerHub) -> None:
    hub.handle_text("c1", subscribe([INFY, TCS]))

    replies = hub.handle_text("c1", mode("full", [INFY, NIFTY_CE]))

    assert replies == []
    assert hub.subscriptions("c1") == {INFY: "full", TCS: "quote"}
    assert hub.subscriber_count(NIFTY_CE) == 0


def test_handle_text_subscribe_again_resets_mode_to_quote(hub: TickerHub) -> None:
    hub.handle_text("c1", subscribe([INFY]))
    hub.handle_text("c1", mode("ltp", [INFY]))

    hub.handle_text("c1", subscribe([INFY]))

    assert hub.subscriptions("c1") == {INFY: "quote"}


def test_handle_text_unsubscribe_removes_tokens_and_ignores_unknown(hub: TickerHub) -> None:
    hub.handle_text("c1", subscribe([INFY, TCS]))

    replies = hub.handle_text("c1", json.dumps({"a": "unsubscribe", "v": [INFY, NIFTY_CE]}))

    assert replies == []
    assert hub.subscriptions("c1") == {TCS: "quote"}
    assert hub.subscriber_count(INFY) == 0


def test_handle_text_over_the_limit_subscribes_up_to_it_and_reports_the_rest(
    hub: TickerHub,
) -> None:
    hub.handle_text("c1", subscribe([INFY]))

    replies = hub.handle_text("c1", subscribe([INFY, TCS, NIFTY_CE, 256265, 260105]))

    assert set(hub.subscriptions("c1")) == {INFY, TCS, NIFTY_CE}
    assert error_of(replies) == (
        "subscription limit: at most 3 instruments a connection; not subscribed: 256265, 260105"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "invalid message: not JSON"),
        ('["subscribe", [408065]]', 'expected {"a": action, "v": value}'),
        ('{"a": "subscribe"}', 'expected {"a": action, "v": value}'),
        ('{"a": "snapshot", "v": [408065]}', "unknown action 'snapshot'"),
        ('{"a": "subscribe", "v": 408065}', "expected a list of instrument tokens"),
        ('{"a": "subscribe", "v": [408065, "2953217"]}', "invalid instrument tokens ['2953217']"),
        ('{"a": "subscribe", "v": [true, 0, 4294967296]}', "invalid instrument tokens [True, 0, "),
        ('{"a": "mode", "v": ["full"]}', "expected [mode, [token, ...]]"),
        ('{"a": "mode", "v": ["snap", [408065]]}', "invalid mode 'snap': expected one of ltp"),
    ],
)
def test_handle_text_malformed_message_replies_error_and_changes_nothing(
    hub: TickerHub, text: str, message: str
) -> None:
    hub.handle_text("c1", subscribe([INFY]))

    replies = hub.handle_text("c1", text)

    assert message in error_of(replies)
    assert hub.subscriptions("c1") == {INFY: "quote"}


def test_error_text_client_calls_on_error_with_the_message() -> None:
    client = KiteTicker("api_key", "access_token")
    seen: list[tuple[int, str]] = []
    client.on_error = lambda ws, code, reason: seen.append((code, reason))

    client._parse_text_message(TickerHub.error_text("too many tokens").encode())

    assert seen == [(0, "too many tokens")]


def test_connect_twice_and_unknown_connection_raise(hub: TickerHub) -> None:
    with pytest.raises(ContractError, match="is already connected"):
        hub.connect("c1")
    with pytest.raises(ContractError, match="is not connected"):
        hub.handle_text("nope", subscribe([INFY]))


def test_disconnect_forgets_subscriptions_and_frames(hub: TickerHub) -> None:
    hub.handle_text("c1", subscribe([INFY]))

    hub.disconnect("c1")
    hub.disconnect("c1")  # idempotent

    assert hub.connections == ()
    assert hub.subscriber_count(INFY) == 0
    assert hub.frames_for([quote(INFY)]) == {}


def test_frames_for_each_connection_gets_its_tokens_in_its_modes(hub: TickerHub) -> None:
    hub.connect("c2")
    hub.connect("idle")
    hub.handle_text("c1", subscribe([INFY, TCS]))
    hub.handle_text("c1", mode("full", [INFY]))
    hub.handle_text("c2", subscribe([INFY]))
    hub.handle_text("c2", mode("ltp", [INFY]))
    infy, tcs, other = quote(INFY), quote(TCS, 3500.0), quote(NIFTY_CE, 101.5)

    frames = hub.frames_for([infy, tcs, other])

    assert set(frames) == {"c1", "c2"}
    assert split_frame(frames["c1"]) == [encode_packet(infy, "full"), encode_packet(tcs, "quote")]
    assert split_frame(frames["c2"]) == [encode_packet(infy, "ltp")]


def test_frames_for_several_quotes_of_a_token_sends_the_latest(hub: TickerHub) -> None:
    hub.handle_text("c1", subscribe([INFY]))
    first, second = quote(INFY, 1573.7), quote(INFY, 1574.0)

    frames = hub.frames_for([first, second])

    assert split_frame(frames["c1"]) == [encode_packet(second, "quote")]


def test_frames_for_encodes_each_quote_once_per_mode(
    hub: TickerHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[int, TickerMode]] = []

    def counting(q: Quote, m: TickerMode) -> bytes:
        calls.append((q.instrument_token, m))
        return encode_framed_packet(q, m)

    monkeypatch.setattr("execution.paper.ticker_hub.encode_framed_packet", counting)
    for conn in ("c2", "c3", "c4"):
        hub.connect(conn)
        hub.handle_text(conn, subscribe([INFY]))
    hub.handle_text("c4", mode("full", [INFY]))

    frames = hub.frames_for([quote(INFY)])

    assert len(frames) == 3
    assert sorted(calls) == [(INFY, "full"), (INFY, "quote")]


def test_order_update_text_wraps_payload_and_client_delivers_it() -> None:
    payload = {
        "order_id": "1953341975595868160",
        "status": "COMPLETE",
        "order_timestamp": datetime(2026, 8, 18, 4, 0, 5, tzinfo=UTC),
        "filled_quantity": 65,
    }
    client = KiteTicker("api_key", "access_token")
    seen: list[dict[str, Any]] = []
    client.on_order_update = lambda ws, data: seen.append(data)

    text = TickerHub.order_update_text(payload)
    client._parse_text_message(text.encode())

    assert json.loads(text)["type"] == "order"
    assert seen == [payload | {"order_timestamp": "2026-08-18 09:30:05"}]


def test_order_update_text_naive_datetime_raises() -> None:
    with pytest.raises(ContractError, match="must be timezone-aware"):
        TickerHub.order_update_text({"order_timestamp": datetime(2026, 8, 18, 9, 30)})  # noqa: DTZ001  # the naive value is the test


@pytest.mark.parametrize("limit", [0, 65536])
def test_ticker_hub_limit_out_of_range_raises(limit: int) -> None:
    with pytest.raises(ContractError, match="max_tokens_per_connection"):
        TickerHub(max_tokens_per_connection=limit)


# -- invariant: the hub's state equals a plain model of the messages ---------------------------

TOKENS = st.sampled_from([INFY, TCS, NIFTY_CE, 256265, 260105])
MESSAGES = st.one_of(
    st.tuples(st.just("subscribe"), st.lists(TOKENS, max_size=4)),
    st.tuples(st.just("unsubscribe"), st.lists(TOKENS, max_size=4)),
    st.tuples(st.sampled_from(["ltp", "quote", "full"]), st.lists(TOKENS, max_size=4)),
)


@given(
    script=st.lists(st.tuples(st.sampled_from(["c1", "c2"]), MESSAGES), max_size=30),
    limit=st.integers(1, 4),
)
def test_handle_text_any_script_matches_model_and_respects_limit(
    script: list[tuple[str, tuple[str, list[int]]]], limit: int
) -> None:
    hub = TickerHub(max_tokens_per_connection=limit)
    model: dict[str, dict[int, str]] = {"c1": {}, "c2": {}}
    for conn in model:
        hub.connect(conn)

    for conn, (action, tokens) in script:
        subs = model[conn]
        if action == "subscribe":
            hub.handle_text(conn, subscribe(tokens))
            for t in tokens:
                if t in subs or len(subs) < limit:
                    subs[t] = "quote"
        elif action == "unsubscribe":
            hub.handle_text(conn, json.dumps({"a": "unsubscribe", "v": tokens}))
            for t in tokens:
                subs.pop(t, None)
        else:
            hub.handle_text(conn, mode(action, tokens))
            subs.update({t: action for t in tokens if t in subs})

    for conn, subs in model.items():
        assert hub.subscriptions(conn) == subs
        assert len(subs) <= limit
    for token in {INFY, TCS, NIFTY_CE, 256265, 260105}:
        expected = sum(token in subs for subs in model.values())
        assert hub.subscriber_count(token) == expected
