"""The store's JSON codec: exact round-trips, a pinned format, and refusal of bad payloads."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from data_contracts.enums import Exchange, OrderStatus, OrderType, Product, ProposalOrigin, Side
from data_contracts.errors import ContractError
from data_contracts.feed import DeadLetter
from data_contracts.ids import InstrumentToken, ProposalId, StrategyId
from data_contracts.timeutil import IST
from data_contracts.trading import (
    Decision,
    ExitProposal,
    FeatureContribution,
    OpenTrade,
    Proposal,
)
from execution.store.codec import Stored, decode, encode
from tests import factories

_IDS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}", fullmatch=True)
_TEXT = st.text(min_size=1).filter(str.strip)
_FLOATS = st.floats(allow_nan=False, allow_infinity=False)
_AWARE = st.datetimes(
    min_value=datetime(2000, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive by design
    max_value=datetime(2090, 1, 1),  # noqa: DTZ001
    timezones=st.sampled_from([UTC, IST]),
)
_LATER = st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=3650))


@st.composite
def _proposals(draw: st.DrawFn) -> Proposal:
    tick = draw(st.sampled_from(["0.01", "0.05", "0.1", "0.5", "1"]))
    ticks = sorted(draw(st.lists(st.integers(1, 10**7), min_size=3, max_size=3, unique=True)))
    stop, limit, take = (float(Decimal(n) * Decimal(tick)) for n in ticks)
    side = draw(st.sampled_from(Side))
    if side is Side.SELL:
        stop, take = take, stop
    ts_event = draw(_AWARE)
    contributions = st.builds(FeatureContribution, _TEXT, _FLOATS, _FLOATS)
    return Proposal(
        proposal_id=ProposalId(draw(_IDS)),
        ts_event=ts_event,
        ts_init=draw(_AWARE),
        origin=draw(st.sampled_from(ProposalOrigin)),
        strategy_id=StrategyId(draw(_IDS)),
        instrument_token=InstrumentToken(draw(st.integers(1, 2**40))),
        exchange=draw(st.sampled_from(Exchange)),
        tradingsymbol=draw(_TEXT),
        side=side,
        product=draw(st.sampled_from(Product)),
        lots=draw(st.integers(1, 10_000)),
        lot_size=draw(st.integers(1, 5_000)),
        tick_size=float(tick),
        limit_price=limit,
        stop_loss=stop,
        take_profit=take,
        time_exit=ts_event + draw(_LATER),
        expires_at=ts_event + draw(_LATER),
        max_price_drift_pct=draw(st.floats(min_value=0, exclude_min=True, allow_infinity=False)),
        p_win=draw(st.floats(min_value=0, max_value=1)),
        expected_return=draw(_FLOATS),
        expected_net_profit=draw(_FLOATS),
        expected_charges=draw(st.floats(min_value=0, allow_infinity=False)),
        model_version=draw(_TEXT),
        feature_version=draw(_TEXT),
        explanation=tuple(draw(st.lists(contributions, max_size=5))),
        rationale=draw(st.text()),
    )


@given(_proposals())
def test_codec_any_valid_proposal_round_trips_exactly(proposal: Proposal) -> None:
    text = encode(proposal)

    decoded = decode(Proposal, text)

    assert decoded == proposal
    assert _types(decoded) == _types(proposal)  # ids, enums, floats come back as themselves
    assert encode(decoded) == text  # canonical, and the same float bits (-0.0 too)


def _types(value: Stored) -> list[type]:
    return [type(getattr(value, field.name)) for field in dataclasses.fields(value)]


@pytest.mark.parametrize(
    "value",
    [
        factories.proposal(),
        factories.proposal(
            explanation=(),
            rationale="momentum + IV crush risk ₹",
            ts_event=datetime(2026, 8, 18, 9, 30, tzinfo=IST),
        ),
        factories.decision(),
        factories.decision(
            reason="too close to the close", ts_event=factories.T0 + timedelta(microseconds=123456)
        ),
        factories.exit_proposal(),
        factories.open_trade(),
        factories.dead_letter(),
        factories.dead_letter(instrument_token=None, ts_event=None, detail=""),
        factories.order_intent(),
        factories.order_intent(order_type=OrderType.MARKET, price=None, market_protection=-1.0),
        factories.order_event(),
        factories.order_event(order_id=None, status=OrderStatus.REJECTED, status_message="x"),
        factories.fill(),
        factories.fill(client_tag=None),
    ],
    ids=lambda value: type(value).__name__,
)
def test_codec_each_stored_type_round_trips_exactly(value: Stored) -> None:
    decoded = decode(type(value), encode(value))

    assert decoded == value
    assert repr(decoded) == repr(value)


def test_codec_decision_encoding_is_pinned() -> None:
    # Stored payloads must stay readable: a change to this text needs a data migration.
    expected = (
        '{"decided_by":"operator","decision_id":"d-1","proposal_id":"p-20260818-0930-nifty",'
        '"reason":"","ts_event":"2026-08-18T04:00:30+00:00","verdict":"APPROVE"}'
    )

    assert encode(factories.decision()) == expected


def test_codec_ist_timestamp_is_stored_as_utc() -> None:
    value = factories.decision(ts_event=datetime(2026, 8, 18, 9, 30, tzinfo=IST))

    stored = json.loads(encode(value))

    assert stored["ts_event"] == "2026-08-18T04:00:00+00:00"


def test_codec_payload_without_a_defaulted_field_decodes_with_its_default() -> None:
    payload = json.loads(encode(factories.proposal(rationale="kept")))
    del payload["rationale"]

    decoded = decode(Proposal, json.dumps(payload))

    assert decoded == factories.proposal(rationale="")


def _edited(value: Stored, **changes: Any) -> str:
    payload = json.loads(encode(value))
    payload.update(changes)
    return json.dumps(payload)


def _without(value: Stored, field: str) -> str:
    payload = json.loads(encode(value))
    del payload[field]
    return json.dumps(payload)


@pytest.mark.parametrize(
    ("kind", "text", "field"),
    [
        (Decision, _edited(factories.decision(), approver="x"), "approver"),
        (Decision, _without(factories.decision(), "verdict"), "verdict"),
        (Decision, _edited(factories.decision(), verdict="MAYBE"), "verdict"),
        (Decision, _edited(factories.decision(), ts_event="2026-08-18T04:00:30"), "ts_event"),
        (Decision, _edited(factories.decision(), ts_event="yesterday"), "ts_event"),
        (Decision, _edited(factories.decision(), decision_id="has space"), "value"),
        (Decision, _edited(factories.decision(), decided_by=7), "decided_by"),
        (OpenTrade, _edited(factories.open_trade(), quantity="65"), "quantity"),
        (OpenTrade, _edited(factories.open_trade(), quantity=True), "quantity"),
        (OpenTrade, _edited(factories.open_trade(), entry_price="100"), "entry_price"),
        (OpenTrade, _edited(factories.open_trade(), quantity=66), "quantity"),
        (
            ExitProposal,
            _edited(factories.exit_proposal(), instrument_token=None),
            "instrument_token",
        ),
        (DeadLetter, _edited(factories.dead_letter(), reason="bad"), "reason"),
        (Proposal, _edited(factories.proposal(), explanation={"a": 1}), "explanation"),
        (Proposal, _edited(factories.proposal(), explanation=[{"feature": "x"}]), "value"),
        (
            Proposal,
            _edited(factories.proposal(), expires_at="2026-08-18T03:00:00+00:00"),
            "expires_at",
        ),
        (Decision, encode(factories.proposal()), "exchange"),
        (Decision, "[1, 2]", "payload"),
        (Decision, "{not json", "payload"),
    ],
)
def test_codec_decode_bad_payload_raises_contract_error_naming_field(
    kind: type[Stored], text: str, field: str
) -> None:
    with pytest.raises(ContractError) as raised:
        decode(kind, text)

    assert raised.value.field == field


def test_codec_encode_of_an_unstored_type_raises_contract_error() -> None:
    with pytest.raises(ContractError) as raised:
        encode(factories.position())  # type: ignore[arg-type]  # the wrong type is the point

    assert raised.value.field == "value"


def test_codec_decode_to_an_unstored_type_raises_contract_error() -> None:
    with pytest.raises(ContractError) as raised:
        decode(FeatureContribution, "{}")  # type: ignore[type-var]  # the wrong type is the point

    assert raised.value.field == "kind"
