"""The proposal queue's cards over a real store, the executor and the decision desk."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from data_contracts.enums import ChargeSegment, Exchange, Product, ProposalStatus, Side
from data_contracts.trading import FeatureContribution
from execution.console.queue import RECENT, charges_breakdown, proposal_queue
from execution.console.words import contribution_words
from tests import factories
from tests.unit.test_console_world import CHARGES, T0, ConsoleWorld, world

__all__ = ["world"]  # the fixture, imported


def test_proposal_queue_lists_open_proposals_newest_first(world: ConsoleWorld) -> None:
    world.propose("p-old", ts_event=T0)
    world.propose("p-new", ts_event=T0 + timedelta(seconds=20))
    world.propose("p-mid", ts_event=T0 + timedelta(seconds=10))

    cards = proposal_queue(world.store, world.clock.now(), charges=CHARGES)

    assert [c.proposal_id for c in cards] == ["p-new", "p-mid", "p-old"]
    assert all(c.actionable and c.status == "PROPOSED" for c in cards)


def test_proposal_queue_card_copies_the_trade_and_explains_in_words(world: ConsoleWorld) -> None:
    explanation = (
        FeatureContribution("rsi_14", 72.4, 0.12),
        FeatureContribution("ema_12_rel", 0.004, -0.03),
    )
    proposal = world.propose(lots=2, explanation=explanation, rationale="breakout")

    (card,) = proposal_queue(world.store, world.clock.now(), charges=CHARGES)

    assert (card.tradingsymbol, card.exchange, card.side, card.product) == (
        proposal.tradingsymbol,
        "NFO",
        "BUY",
        "NRML",
    )
    assert (card.lots, card.lot_size, card.quantity) == (2, 65, 130)
    assert (card.limit_price, card.stop_loss, card.take_profit) == (100.0, 60.0, 150.0)
    assert (card.p_win, card.expected_return) == (proposal.p_win, proposal.expected_return)
    assert card.reasons == tuple(contribution_words(c) for c in explanation)
    assert card.reasons[0] == "RSI (14) at 72.4 pushed the win chance up (+0.12)"
    assert (card.model_version, card.origin, card.rationale) == ("7", "STRATEGY", "breakout")
    assert card.created_at == proposal.ts_event


def test_proposal_queue_charges_breakdown_is_the_models_round_trip_to_target(
    world: ConsoleWorld,
) -> None:
    world.propose(lots=3)

    (card,) = proposal_queue(world.store, world.clock.now(), charges=CHARGES)

    expected = CHARGES.round_trip(ChargeSegment.OPTIONS, 100.0, 150.0, 195, date(2026, 8, 18))
    assert card.charges_breakdown == expected.as_dict()
    assert card.charges_breakdown["total"] == pytest.approx(float(expected.total), abs=0.005)


def test_charges_breakdown_of_a_sell_buys_back_at_the_target() -> None:
    short = factories.proposal(
        side=Side.SELL,
        exchange=Exchange.NSE,
        tradingsymbol="INFY",
        product=Product.MIS,
        lot_size=1,
        lots=10,
        stop_loss=1_550.0,
        limit_price=1_500.0,
        take_profit=1_450.0,
    )

    found = charges_breakdown(short, CHARGES)

    expected = CHARGES.round_trip(ChargeSegment.INTRADAY, 1_450.0, 1_500.0, 10, date(2026, 8, 18))
    assert found == expected.as_dict()


@pytest.mark.parametrize(
    ("elapsed", "seconds_left", "actionable"),
    [
        (timedelta(0), 120.0, True),
        (timedelta(seconds=75), 45.0, True),
        (timedelta(seconds=119), 1.0, True),
        (timedelta(seconds=120), 0.0, False),
        (timedelta(minutes=30), 0.0, False),
    ],
)
def test_proposal_queue_counts_down_and_greys_out_at_expiry(
    world: ConsoleWorld, elapsed: timedelta, seconds_left: float, actionable: bool
) -> None:
    proposal = world.propose()  # expires two minutes after T0

    (card,) = proposal_queue(world.store, T0 + elapsed, charges=CHARGES)

    assert card.seconds_left == pytest.approx(seconds_left)
    assert card.expired is not actionable
    assert card.actionable is actionable
    assert card.expires_at == proposal.expires_at


def test_proposal_queue_drops_proposals_expired_more_than_an_hour_ago(world: ConsoleWorld) -> None:
    proposal = world.propose()

    cards = proposal_queue(world.store, proposal.expires_at + RECENT, charges=CHARGES)

    assert cards == []


def test_proposal_queue_shows_decision_and_verdict_after_approval(world: ConsoleWorld) -> None:
    proposal = world.propose()

    world.approve(proposal, reason="looks clean")
    (card,) = proposal_queue(world.store, world.clock.now(), charges=CHARGES)

    assert card.status == ProposalStatus.SENT.value
    assert not card.actionable
    assert card.decision == ("APPROVE", "asha", world.clock.now(), "looks clean")
    assert card.verdict == (True, ())
    assert card.precheck is None


def test_proposal_queue_shows_the_veto_and_its_reasons(world: ConsoleWorld) -> None:
    world.broker.prices[factories.NIFTY_CE_TOKEN] = 110.0  # beyond the 2 % drift band
    proposal = world.propose()

    world.approve(proposal)
    (card,) = proposal_queue(world.store, world.clock.now(), charges=CHARGES)

    assert card.status == "VETOED"
    assert card.verdict is not None
    accepted, reasons = card.verdict
    assert not accepted
    assert len(reasons) == 1
    assert "over the allowed 2.00%" in reasons[0]


def test_proposal_queue_shows_a_rejection_without_a_verdict(world: ConsoleWorld) -> None:
    proposal = world.propose()

    world.desk.reject(proposal.proposal_id, "asha", "too late in the day")
    (card,) = proposal_queue(world.store, world.clock.now(), charges=CHARGES)

    assert (card.status, card.actionable, card.verdict) == ("REJECTED", False, None)
    assert card.decision is not None
    assert card.decision[0] == "REJECT"
    assert card.decision[3] == "too late in the day"


def test_proposal_queue_prechecks_actionable_cards_against_the_account_now(
    world: ConsoleWorld,
) -> None:
    fine = world.propose("p-fine")
    world.broker.prices[factories.NIFTY_CE_TOKEN] = 110.0

    (card,) = proposal_queue(
        world.store, world.clock.now(), charges=CHARGES, precheck=world.precheck
    )

    assert card.proposal_id == fine.proposal_id.value
    assert card.precheck is not None
    accepted, reasons = card.precheck
    assert not accepted
    assert any("over the allowed 2.00%" in reason for reason in reasons)


def test_proposal_queue_precheck_passes_when_the_market_agrees(world: ConsoleWorld) -> None:
    world.propose()

    (card,) = proposal_queue(
        world.store, world.clock.now(), charges=CHARGES, precheck=world.precheck
    )

    assert card.precheck == (True, ())


def test_proposal_queue_limit_keeps_the_newest(world: ConsoleWorld) -> None:
    for n in range(5):
        world.propose(f"p-{n}", ts_event=T0 + timedelta(seconds=n))

    cards = proposal_queue(world.store, world.clock.now(), charges=CHARGES, limit=2)

    assert [c.proposal_id for c in cards] == ["p-4", "p-3"]


def test_proposal_queue_marks_a_recorded_expiry_as_expired(world: ConsoleWorld) -> None:
    proposal = world.propose()
    world.store.record_status(proposal.proposal_id, ProposalStatus.EXPIRED, world.clock.now())

    (card,) = proposal_queue(world.store, world.clock.now(), charges=CHARGES)

    assert (card.status, card.expired, card.actionable) == ("EXPIRED", True, False)
