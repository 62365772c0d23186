"""Agent proposals (``propose_trade``'s core): checked, moved onto the tick grid, priced with the
one charges model, stored in the approval queue once, audited once."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from data_contracts.charges import ChargesModel
from data_contracts.clock import ManualClock
from data_contracts.enums import ChargeSegment, InstrumentType, ProposalOrigin, ProposalStatus, Side
from data_contracts.errors import ContractError
from data_contracts.nse_calendar import NseCalendar
from data_contracts.timeutil import to_ist
from execution.audit import AuditKind, AuditLog
from execution.console.agent_proposals import (
    AgentProposalRules,
    TradeRequest,
    agent_proposal_id,
    prepare_agent_proposal,
    submit_agent_proposal,
)
from execution.console.queue import proposal_queue
from execution.store import SqlStore
from models.expectation import bracket_expectation
from tests import factories

NOW = factories.T0  # 09:30 IST on Tuesday 2026-08-18
CHARGES = ChargesModel.default()


def _rules(**overrides: Any) -> AgentProposalRules:
    values: dict[str, Any] = {
        "default_ttl": timedelta(seconds=120),
        "max_ttl": timedelta(seconds=900),
        "equity_max_hold": timedelta(minutes=30),
        "option_max_hold": timedelta(minutes=240),
        "max_price_drift_pct": 2.0,
        "min_confidence": 0.8,
        "min_expected_net_profit": 150.0,
        "calendar": NseCalendar.default(),
        "charges": CHARGES,
    }
    return AgentProposalRules(**(values | overrides))


def _infy(**overrides: Any) -> TradeRequest:
    values: dict[str, Any] = {
        "exchange": factories.infy_instrument().exchange,
        "tradingsymbol": "INFY",
        "side": Side.BUY,
        "lots": 10,
        "limit_price": 1500.03,
        "stop_loss": 1490.02,
        "take_profit": 1520.08,
        "p_win": 0.85,
        "rationale": "breakout above the opening range",
    }
    return TradeRequest(**(values | overrides))


def test_agent_proposal_prices_move_onto_the_grid_and_every_move_is_reported() -> None:
    prepared = prepare_agent_proposal(_infy(), factories.infy_instrument(), NOW, _rules())

    proposal = prepared.proposal
    assert (proposal.limit_price, proposal.stop_loss, proposal.take_profit) == (
        1500.0,
        1490.0,
        1520.1,
    )
    assert len(prepared.adjustments) == 3
    assert "down (a BUY never pays more)" in prepared.adjustments[0]


def test_agent_proposal_sell_limit_rounds_up() -> None:
    request = _infy(side=Side.SELL, limit_price=1500.01, stop_loss=1510.0, take_profit=1480.0)

    prepared = prepare_agent_proposal(request, factories.infy_instrument(), NOW, _rules())

    assert prepared.proposal.limit_price == 1500.05


def test_agent_proposal_expected_values_are_the_charges_models_round_trips() -> None:
    rules = _rules(min_expected_net_profit=100.0)

    prepared = prepare_agent_proposal(_infy(), factories.infy_instrument(), NOW, rules)

    proposal = prepared.proposal
    day = to_ist(NOW).date()
    win = float(CHARGES.round_trip(ChargeSegment.INTRADAY, 1500.0, 1520.1, 10, day).total)
    loss = float(CHARGES.round_trip(ChargeSegment.INTRADAY, 1500.0, 1490.0, 10, day).total)
    charges = 0.85 * win + 0.15 * loss
    assert proposal.expected_charges == pytest.approx(charges)
    assert proposal.expected_net_profit == pytest.approx(0.85 * 201 - 0.15 * 100 - charges)
    assert proposal.expected_return == pytest.approx(proposal.expected_net_profit / 15_000 * 100)
    assert (proposal.origin, proposal.rationale) == (
        ProposalOrigin.AGENT,
        "breakout above the opening range",
    )
    assert proposal.expires_at == NOW + timedelta(seconds=120)
    assert proposal.time_exit == NOW + timedelta(minutes=30)


def test_agent_option_proposal_is_priced_as_options_and_holds_to_the_fno_square_off() -> None:
    option = factories.nifty_ce_instrument()
    request = _infy(
        exchange=option.exchange,
        tradingsymbol=option.tradingsymbol,
        lots=1,
        limit_price=100.0,
        stop_loss=60.0,
        take_profit=150.0,
        hold_minutes=None,
    )
    late = NOW + timedelta(hours=3, minutes=30)  # 13:00 IST: 240 minutes would pass 15:25

    prepared = prepare_agent_proposal(request, option, late, _rules())

    expected = bracket_expectation(
        CHARGES,
        ChargeSegment.OPTIONS,
        Side.BUY,
        entry=100.0,
        stop_loss=60.0,
        take_profit=150.0,
        quantity=65,
        p_win=0.85,
        on=to_ist(late).date(),
    )
    assert prepared.proposal.expected_charges == pytest.approx(expected.expected_charges)
    assert to_ist(prepared.proposal.time_exit).strftime("%H:%M") == "15:25"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lots": 0}, "lots"),
        ({"p_win": 1.0}, "p_win"),
        ({"p_win": 0.0}, "p_win"),
        ({"stop_loss": 1505.0}, "stop_loss"),
        ({"take_profit": 1495.0}, "stop_loss"),
        ({"limit_price": -1.0}, "limit_price"),
        ({"ttl_seconds": 5.0}, "ttl_seconds"),
        ({"ttl_seconds": 3600.0}, "ttl_seconds"),
        ({"hold_minutes": 31}, "hold_minutes"),
        ({"rationale": "  "}, "rationale"),
        ({"rationale": "x" * 2001}, "rationale"),
    ],
)
def test_agent_proposal_refuses_a_broken_rule_naming_it(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ContractError) as refused:
        prepare_agent_proposal(_infy(**change), factories.infy_instrument(), NOW, _rules())

    assert refused.value.field == field


def test_agent_proposal_refuses_selling_an_option_an_index_and_a_future() -> None:
    option = factories.nifty_ce_instrument()
    sell_option = _infy(
        exchange=option.exchange,
        tradingsymbol=option.tradingsymbol,
        side=Side.SELL,
        limit_price=100.0,
        stop_loss=150.0,
        take_profit=60.0,
    )
    future = replace(
        option,
        tradingsymbol="NIFTY26AUGFUT",
        segment="NFO-FUT",
        instrument_type=InstrumentType.FUT,
        strike=None,
    )

    with pytest.raises(ContractError, match="long options only"):
        prepare_agent_proposal(sell_option, option, NOW, _rules())
    with pytest.raises(ContractError, match="index cannot be traded"):
        prepare_agent_proposal(_infy(), factories.nifty_index_instrument(), NOW, _rules())
    with pytest.raises(ContractError, match="no futures"):
        prepare_agent_proposal(_infy(), future, NOW, _rules())


def test_agent_proposal_warnings_reach_the_approver_through_the_rationale() -> None:
    closed = NOW + timedelta(hours=9)  # 18:30 IST
    request = _infy(p_win=0.55, lots=1)

    prepared = prepare_agent_proposal(
        request, factories.infy_instrument(), closed, _rules(), last_price=1400.0
    )

    texts = " | ".join(prepared.warnings)
    assert "market is closed" in texts
    assert "drift limit" in texts
    assert "min_confidence 0.80" in texts
    assert "below ₹150.00" in texts
    assert prepared.proposal.rationale.startswith("breakout above the opening range\n")
    assert "kitepilot checks: " in prepared.proposal.rationale


def test_agent_proposal_id_is_stable_in_a_minute_and_differs_for_another_request() -> None:
    same = agent_proposal_id(_infy(), 408065, NOW)
    later_in_minute = agent_proposal_id(_infy(), 408065, NOW + timedelta(seconds=40))
    next_minute = agent_proposal_id(_infy(), 408065, NOW + timedelta(seconds=70))
    other = agent_proposal_id(_infy(lots=11), 408065, NOW)

    assert same == later_in_minute
    assert len({same, next_minute, other}) == 3
    assert same.value.startswith("agent:408065:20260818T0400Z:")


def test_submitted_agent_proposal_waits_in_the_queue_and_is_audited_once(tmp_path: Path) -> None:
    prepared = prepare_agent_proposal(_infy(), factories.infy_instrument(), NOW, _rules())
    audit = AuditLog(tmp_path / "audit", ManualClock(NOW))
    with SqlStore.open(f"sqlite:///{tmp_path / 'store.db'}") as store:
        first = submit_agent_proposal(store, audit, prepared, actor="mcp:test")
        second = submit_agent_proposal(store, audit, prepared, actor="mcp:test")
        pending = store.pending(NOW + timedelta(seconds=1))
        cards = proposal_queue(store, NOW + timedelta(seconds=1), charges=CHARGES)
        status = store.status(prepared.proposal.proposal_id)

    assert (first, second) == (True, False)
    assert [p.proposal_id for p in pending] == [prepared.proposal.proposal_id]
    assert status is ProposalStatus.PROPOSED
    assert (cards[0].origin, cards[0].actionable) == ("AGENT", True)
    (entry,) = list(audit.entries(kinds=[AuditKind.PROPOSAL]))
    assert (entry.actor, entry.subject) == ("mcp:test", prepared.proposal.proposal_id.value)


def test_bracket_expectation_of_a_sell_mirrors_a_buy() -> None:
    common: dict[str, Any] = {"quantity": 10, "p_win": 0.6, "on": to_ist(NOW).date()}
    buy = bracket_expectation(
        CHARGES,
        ChargeSegment.INTRADAY,
        Side.BUY,
        entry=100.0,
        stop_loss=95.0,
        take_profit=110.0,
        **common,
    )
    sell = bracket_expectation(
        CHARGES,
        ChargeSegment.INTRADAY,
        Side.SELL,
        entry=100.0,
        stop_loss=105.0,
        take_profit=90.0,
        **common,
    )

    assert (buy.gross_win, buy.gross_loss) == (sell.gross_win, sell.gross_loss) == (100.0, 50.0)
    assert buy.expected_net_profit == pytest.approx(0.6 * 100 - 0.4 * 50 - buy.expected_charges)
    with pytest.raises(ContractError, match="either side"):
        bracket_expectation(
            CHARGES,
            ChargeSegment.INTRADAY,
            Side.SELL,
            entry=100.0,
            stop_loss=95.0,
            take_profit=110.0,
            **common,
        )
