"""Agent proposals (``propose_trade``'s core): checked, moved onto the tick grid, priced with the
one charges model, stored in the approval queue once, audited once. NSE equities intraday (MIS)
or for delivery (CNC); long NFO options intraday (MIS) or overnight (NRML), with the long-options
strategy's premium exits by default."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from data_contracts.charges import ChargesModel
from data_contracts.clock import ManualClock
from data_contracts.enums import (
    ChargeSegment,
    InstrumentType,
    Product,
    ProposalOrigin,
    ProposalStatus,
    Side,
)
from data_contracts.errors import ContractError
from data_contracts.nse_calendar import NseCalendar
from data_contracts.timeutil import to_ist
from execution.audit import AuditKind, AuditLog
from execution.console.agent_proposals import (
    MAX_DELIVERY_HOLD,
    AgentProposalRules,
    TradeRequest,
    agent_proposal_id,
    option_contract,
    prepare_agent_proposal,
    submit_agent_proposal,
)
from execution.console.queue import proposal_queue
from execution.store import SqlStore
from models.expectation import bracket_expectation
from orchestration.settings import load_config
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


# -- long options -------------------------------------------------------------------------------

NEXT_EXPIRY = date(2026, 8, 25)  # the monthly expiry after T0's weekly one


def _monthly_ce(strike: float = 24_400.0, kind: InstrumentType = InstrumentType.CE) -> Any:
    """A NIFTY option of the 2026-08-25 monthly expiry (lot 65, tick 0.05)."""
    exchange_token = 47_200 + int(strike) // 50 + (1 if kind is InstrumentType.PE else 0) * 1000
    return factories.nifty_ce_instrument(
        instrument_token=exchange_token * 256 + 2,  # NFO-OPT is segment 2
        exchange_token=exchange_token,
        tradingsymbol=f"NIFTY26AUG{strike:.0f}{kind.value}",
        instrument_type=kind,
        expiry=NEXT_EXPIRY,
        strike=strike,
        freeze_quantity=None,
    )


def _option_buy(option: Any, **overrides: Any) -> TradeRequest:
    values: dict[str, Any] = {
        "exchange": option.exchange,
        "tradingsymbol": option.tradingsymbol,
        "lots": 2,
        "limit_price": 101.03,
        "stop_loss": None,
        "take_profit": None,
    }
    return _infy(**(values | overrides))


def test_agent_option_without_stop_and_target_gets_the_strategys_premium_exits() -> None:
    option = factories.nifty_ce_instrument()

    prepared = prepare_agent_proposal(_option_buy(option), option, NOW, _rules())

    proposal = prepared.proposal
    # 101.03 -> 101.0 (BUY down); -40 % = 60.6 (floor), +50 % = 151.5 (ceil): never tighter
    assert (proposal.limit_price, proposal.stop_loss, proposal.take_profit) == (101.0, 60.6, 151.5)
    assert (proposal.product, proposal.quantity, prepared.segment) == (
        Product.MIS,
        130,
        ChargeSegment.OPTIONS,
    )
    assert "stop_loss not given: -40% of the 101 premium" in prepared.adjustments[1]
    assert "take_profit not given: +50% of the 101 premium" in prepared.adjustments[2]


def test_agent_option_premium_exits_round_away_from_the_premium() -> None:
    option = factories.nifty_ce_instrument()
    rules = _rules(option_take_profit_pct=33.0, option_stop_loss_pct=33.0)

    prepared = prepare_agent_proposal(_option_buy(option, limit_price=10.1), option, NOW, rules)

    # 10.1 x 0.67 = 6.767 -> 6.75 (down), 10.1 x 1.33 = 13.433 -> 13.45 (up)
    assert (prepared.proposal.stop_loss, prepared.proposal.take_profit) == (6.75, 13.45)


def test_agent_option_expectation_is_the_bracket_expectation_of_the_options_segment() -> None:
    option = _monthly_ce()
    request = _option_buy(option, product=Product.NRML, stop_loss=70.0, take_profit=150.0)

    prepared = prepare_agent_proposal(request, option, NOW, _rules())

    expected = bracket_expectation(
        CHARGES,
        ChargeSegment.OPTIONS,
        Side.BUY,
        entry=101.0,
        stop_loss=70.0,
        take_profit=150.0,
        quantity=130,
        p_win=0.85,
        on=to_ist(NOW).date(),
    )
    proposal = prepared.proposal
    assert prepared.expectation == expected
    assert (proposal.expected_charges, proposal.expected_net_profit) == (
        expected.expected_charges,
        expected.expected_net_profit,
    )
    assert proposal.expected_return == pytest.approx(expected.expected_net_profit / 13_130 * 100)


def test_agent_nrml_option_holds_to_the_pre_expiry_exit_by_default() -> None:
    option = _monthly_ce()

    prepared = prepare_agent_proposal(
        _option_buy(option, product=Product.NRML), option, NOW, _rules()
    )

    # one session before the 25th's expiry: Monday the 24th, at the F&O square-off time
    assert to_ist(prepared.proposal.time_exit).strftime("%Y-%m-%d %H:%M") == "2026-08-24 15:25"
    assert prepared.proposal.product is Product.NRML


def test_agent_nrml_option_hold_past_the_pre_expiry_exit_is_cut_and_reported() -> None:
    option = _monthly_ce()
    request = _option_buy(option, product=Product.NRML, hold_minutes=60 * 24 * 10)

    prepared = prepare_agent_proposal(request, option, NOW, _rules())
    short = prepare_agent_proposal(replace(request, hold_minutes=600), option, NOW, _rules())

    assert to_ist(prepared.proposal.time_exit).strftime("%Y-%m-%d %H:%M") == "2026-08-24 15:25"
    assert "time exit cut at the pre-expiry exit 2026-08-24 15:25 IST" in prepared.adjustments
    assert short.proposal.time_exit == NOW + timedelta(minutes=600)  # overnight: no MIS cut


def test_agent_nrml_option_is_refused_once_its_pre_expiry_exit_has_passed() -> None:
    weekly = factories.nifty_ce_instrument()  # expires today: its NRML exit was yesterday 15:25
    request = _option_buy(weekly, product=Product.NRML)

    with pytest.raises(ContractError) as refused:
        prepare_agent_proposal(request, weekly, NOW, _rules())
    on_expiry_day = prepare_agent_proposal(
        request, weekly, NOW, _rules(option_exit_days_before_expiry=0)
    )

    assert refused.value.field == "product"
    assert "use MIS or a later expiry" in refused.value.rule
    assert to_ist(on_expiry_day.proposal.time_exit).strftime("%H:%M") == "15:25"


def test_agent_option_sale_is_refused_naming_the_long_options_rule() -> None:
    option = _monthly_ce()
    sell = _option_buy(option, side=Side.SELL, stop_loss=150.0, take_profit=60.0)

    with pytest.raises(ContractError) as refused:
        prepare_agent_proposal(sell, option, NOW, _rules())

    assert (refused.value.field, refused.value.value) == ("side", "SELL")
    assert "long options only" in refused.value.rule


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"product": Product.CNC}, "product", "MIS (intraday) or NRML (overnight)"),
        ({"take_profit": 24_500.0}, "take_profit", "below its 24400 strike"),
        ({"limit_price": 24_450.0}, "limit_price", "a level of the underlying is not a premium"),
        ({"limit_price": 0.05}, "stop_loss", "below one tick"),
    ],
)
def test_agent_option_refuses_a_broken_rule_naming_it(
    change: dict[str, Any], field: str, rule: str
) -> None:
    option = _monthly_ce()

    with pytest.raises(ContractError) as refused:
        prepare_agent_proposal(_option_buy(option, **change), option, NOW, _rules())

    assert refused.value.field == field
    assert rule in refused.value.rule


def test_agent_option_that_has_expired_is_refused() -> None:
    option = factories.nifty_ce_instrument()

    with pytest.raises(ContractError, match="must not have expired") as refused:
        prepare_agent_proposal(_option_buy(option), option, NOW + timedelta(days=1), _rules())

    assert refused.value.field == "tradingsymbol"


def test_agent_mis_option_on_its_expiry_day_warns_of_the_strategys_no_entry_days() -> None:
    weekly = factories.nifty_ce_instrument()
    monthly = _monthly_ce()

    on_expiry = prepare_agent_proposal(_option_buy(weekly), weekly, NOW, _rules())
    before = prepare_agent_proposal(_option_buy(monthly), monthly, NOW, _rules())

    assert any("expiry-day gamma" in w for w in on_expiry.warnings)
    assert not any("expiry-day gamma" in w for w in before.warnings)


# -- equity delivery ----------------------------------------------------------------------------


def test_agent_cnc_buy_is_priced_as_delivery_and_holds_up_to_the_delivery_maximum() -> None:
    request = _infy(product=Product.CNC)

    prepared = prepare_agent_proposal(request, factories.infy_instrument(), NOW, _rules())

    day = to_ist(NOW).date()
    win = float(CHARGES.round_trip(ChargeSegment.DELIVERY, 1500.0, 1520.1, 10, day).total)
    loss = float(CHARGES.round_trip(ChargeSegment.DELIVERY, 1500.0, 1490.0, 10, day).total)
    intraday = prepare_agent_proposal(_infy(), factories.infy_instrument(), NOW, _rules())
    proposal = prepared.proposal
    assert (proposal.product, prepared.segment) == (Product.CNC, ChargeSegment.DELIVERY)
    assert proposal.expected_charges == pytest.approx(0.85 * win + 0.15 * loss)
    assert proposal.expected_charges > intraday.proposal.expected_charges  # STT both ways, DP
    assert proposal.time_exit == NOW + MAX_DELIVERY_HOLD
    assert proposal.proposal_id != intraday.proposal.proposal_id


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        (
            {"product": Product.CNC, "side": Side.SELL, "stop_loss": 1510.0, "take_profit": 1480.0},
            "side",
            "must be BUY for CNC",
        ),
        ({"product": Product.NRML}, "product", "NRML is for F&O"),
        ({"product": Product.CNC, "hold_minutes": 60 * 24 * 31}, "hold_minutes", "CNC hold"),
        ({"stop_loss": None}, "stop_loss", "required for an NSE equity"),
        ({"take_profit": None}, "take_profit", "required for an NSE equity"),
    ],
)
def test_agent_equity_refuses_a_product_or_side_it_cannot_take(
    change: dict[str, Any], field: str, rule: str
) -> None:
    with pytest.raises(ContractError) as refused:
        prepare_agent_proposal(_infy(**change), factories.infy_instrument(), NOW, _rules())

    assert refused.value.field == field
    assert rule in refused.value.rule


def test_agent_mis_after_the_square_off_cut_and_a_risk_beyond_the_limit_warn() -> None:
    late = NOW + timedelta(hours=5, minutes=55)  # 15:25 IST: the equity MIS cut was 15:20
    rules = _rules(per_trade_risk=50.0)

    prepared = prepare_agent_proposal(_infy(), factories.infy_instrument(), late, rules)
    delivery = prepare_agent_proposal(
        _infy(product=Product.CNC), factories.infy_instrument(), late, rules
    )

    texts = " | ".join(prepared.warnings)
    assert "MIS entries stop at 15:20 IST" in texts
    assert "risk to the stop ₹100.00 (10 x |1500 - 1490|) exceeds risk.per_trade_risk" in texts
    assert not any("MIS entries stop" in w for w in delivery.warnings)


# -- finding a contract -------------------------------------------------------------------------


def _chain() -> list[Any]:
    strikes = (24_300.0, 24_400.0, 24_500.0)
    monthly = [_monthly_ce(k, t) for k in strikes for t in (InstrumentType.CE, InstrumentType.PE)]
    return [factories.infy_instrument(), factories.nifty_index_instrument(), *monthly]


@pytest.mark.parametrize("underlying", ["NIFTY", "nifty", "NIFTY 50", "NSE:NIFTY 50", "NFO:NIFTY"])
def test_option_contract_is_found_by_underlying_expiry_strike_and_type(underlying: str) -> None:
    found = option_contract(_chain(), underlying, NEXT_EXPIRY, 24_400, "pe")

    assert (found.tradingsymbol, found.instrument_type) == ("NIFTY26AUG24400PE", InstrumentType.PE)


@pytest.mark.parametrize(
    ("underlying", "expiry", "strike", "kind", "field", "rule"),
    [
        ("INFY", NEXT_EXPIRY, 24_400.0, "CE", "symbol", "listed NFO options"),
        ("NIFTY", date(2026, 8, 18), 24_400.0, "CE", "expiry", "CE options: 2026-08-25"),
        ("NIFTY", NEXT_EXPIRY, 24_420.0, "CE", "strike", "nearest: 24300, 24400, 24500"),
        ("NIFTY", NEXT_EXPIRY, 24_400.0, "CALL", "option_type", "CE (call) or PE (put)"),
        ("NIFTY", NEXT_EXPIRY, -1.0, "CE", "strike", "> 0"),
    ],
)
def test_option_contract_that_is_not_listed_is_refused_naming_what_is(
    underlying: str, expiry: date, strike: float, kind: str, field: str, rule: str
) -> None:
    with pytest.raises(ContractError) as refused:
        option_contract(_chain(), underlying, expiry, strike, kind)

    assert refused.value.field == field
    assert rule in refused.value.rule


def test_agent_proposal_rules_read_the_strategy_and_risk_config() -> None:
    config = load_config(
        environ={
            "KITEPILOT_STRATEGY__OPTION_TAKE_PROFIT_PCT": "60",
            "KITEPILOT_STRATEGY__OPTION_STOP_LOSS_PCT": "30",
            "KITEPILOT_STRATEGY__OPTION_EXIT_DAYS_BEFORE_EXPIRY": "2",
        },
        dotenv_file=None,
    )

    rules = AgentProposalRules.from_config(config, NseCalendar.default(), CHARGES)

    assert (
        rules.option_take_profit_pct,
        rules.option_stop_loss_pct,
        rules.option_exit_days_before_expiry,
        rules.per_trade_risk,
        rules.max_delivery_hold,
    ) == (60.0, 30.0, 2, config.risk.per_trade_risk, MAX_DELIVERY_HOLD)
