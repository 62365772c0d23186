"""The trading lifecycle types: construction rules and position arithmetic."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from data_contracts.enums import OrderStatus, OrderType, Product, Side
from data_contracts.errors import ContractError
from data_contracts.ids import ClientTag, InstrumentToken, TradeId
from data_contracts.trading import DECIDED_BY_MAX_CHARS, DECISION_REASON_MAX_CHARS, Position
from tests import factories


@pytest.mark.parametrize(
    ("make", "field", "value", "rule"),
    [
        (factories.proposal, "side", "SELL", "must be a Side (BUY, SELL)"),
        (factories.proposal, "proposal_id", "p-1", "must be a ProposalId"),
        (factories.proposal, "explanation", ["ret_5m"], "must be a tuple"),
        (factories.signal, "direction", "BULLISH", "must be a Direction (BULLISH, BEARISH)"),
        (factories.decision, "verdict", "MAYBE", "must be a Verdict (APPROVE, REJECT)"),
        (factories.order_intent, "order_type", "LIMIT", "must be an OrderType"),
        (factories.order_intent, "client_tag", "KP1", "must be a ClientTag"),
        (factories.order_event, "order_id", 123, "must be an OrderId or None"),
        (factories.fill, "side", "BUY", "must be a Side (BUY, SELL)"),
        (factories.position, "product", "MIS", "must be a Product (CNC, MIS, NRML)"),
    ],
)
def test_plain_string_for_enum_or_id_field_is_rejected(
    make: Callable[..., object], field: str, value: object, rule: str
) -> None:
    """A "SELL" string would slip past `side is Side.SELL` checks and be validated as a BUY."""
    with pytest.raises(ContractError) as caught:
        make(**{field: value})

    assert (caught.value.field, caught.value.value) == (field, value)
    assert caught.value.rule.startswith(rule)


class TestSignal:
    @pytest.mark.parametrize("p_win", [-0.01, 1.01, float("nan")])
    def test_signal_probability_outside_unit_interval_is_rejected(self, p_win: float) -> None:
        with pytest.raises(ContractError) as caught:
            factories.signal(p_win=p_win)

        assert caught.value.field == "p_win"

    def test_signal_without_model_version_is_rejected(self) -> None:
        with pytest.raises(ContractError, match=r"Signal\.model_version must be a non-empty"):
            factories.signal(model_version=" ")


class TestProposal:
    def test_proposal_quantity_notional_and_risk(self) -> None:
        made = factories.proposal(lots=2, lot_size=65, limit_price=100.0, stop_loss=60.0)

        assert (made.quantity, made.notional, made.risk_amount) == (130, 13000.0, 5200.0)

    @pytest.mark.parametrize(
        ("side", "stop_loss", "take_profit"),
        [
            (Side.BUY, 101.0, 150.0),  # stop above entry
            (Side.BUY, 60.0, 99.0),  # target below entry
            (Side.SELL, 60.0, 150.0),  # a SELL's stop must be above entry
        ],
    )
    def test_proposal_bracket_on_wrong_side_of_limit_is_rejected(
        self, side: Side, stop_loss: float, take_profit: float
    ) -> None:
        with pytest.raises(ContractError) as caught:
            factories.proposal(side=side, stop_loss=stop_loss, take_profit=take_profit)

        assert caught.value.field == "stop_loss"

    def test_proposal_sell_with_mirrored_bracket_is_valid(self) -> None:
        made = factories.proposal(side=Side.SELL, stop_loss=150.0, take_profit=60.0)

        assert made.side is Side.SELL

    @pytest.mark.parametrize(
        ("field", "price"), [("limit_price", 100.02), ("stop_loss", 60.01), ("take_profit", 150.07)]
    )
    def test_proposal_price_off_the_tick_grid_is_rejected(self, field: str, price: float) -> None:
        with pytest.raises(ContractError) as caught:
            factories.proposal(**{field: price})

        assert (caught.value.field, caught.value.rule) == (
            field,
            "must be on the tick grid of 0.05",
        )

    def test_proposal_expiring_before_it_is_made_is_rejected(self) -> None:
        with pytest.raises(ContractError, match=r"Proposal\.expires_at must be after ts_event"):
            factories.proposal(expires_at=factories.T0 - timedelta(seconds=1))

    @pytest.mark.parametrize(
        ("age", "expired"),
        [(timedelta(seconds=119), False), (timedelta(seconds=120), True)],
    )
    def test_proposal_is_expired_at_its_ttl(self, age: timedelta, expired: bool) -> None:
        made = factories.proposal(expires_at=factories.T0 + timedelta(seconds=120))

        assert made.is_expired(factories.T0 + age) is expired

    def test_proposal_zero_lots_error_names_symbol(self) -> None:
        with pytest.raises(ContractError) as caught:
            factories.proposal(lots=0)

        assert str(caught.value) == (
            f"Proposal.lots must be >= 1, was 0 ({factories.NIFTY_CE_SYMBOL})"
        )


class TestDecision:
    def test_decision_without_who_is_rejected(self) -> None:
        with pytest.raises(ContractError, match=r"Decision\.decided_by"):
            factories.decision(decided_by="")

    @pytest.mark.parametrize(
        ("changes", "message"),
        [
            (
                {"reason": "late \ud800"},  # what JSON "\\ud800" from a browser decodes to
                "Decision.reason must be valid Unicode text (a surrogate code point at "
                "character 5), was 'late \\ud800'",
            ),
            (
                {"decided_by": "\udcff"},  # a byte the command line could not decode
                "Decision.decided_by must be valid Unicode text (a surrogate code point at "
                "character 0), was '\\udcff'",
            ),
            (
                {"reason": "x" * (DECISION_REASON_MAX_CHARS + 1)},
                "Decision.reason must be at most 2,000 characters, was "
                f"'{'x' * 40}… (2,001 characters)'",
            ),
            (
                {"decided_by": "x" * (DECIDED_BY_MAX_CHARS + 1)},
                "Decision.decided_by must be at most 200 characters",
            ),
            ({"reason": None}, "Decision.reason must be a string, was None"),
        ],
        ids=["surrogate-reason", "surrogate-user", "long-reason", "long-user", "no-reason"],
    )
    def test_decision_text_sqlite_cannot_hold_or_too_long_is_rejected_naming_it(
        self, changes: dict[str, object], message: str
    ) -> None:
        with pytest.raises(ContractError) as caught:
            factories.decision(**changes)

        assert str(caught.value).startswith(message)

    def test_decision_text_at_the_limits_is_kept(self) -> None:
        reason = "ok ✓ " + "x" * (DECISION_REASON_MAX_CHARS - 5)
        decision = factories.decision(decided_by="y" * DECIDED_BY_MAX_CHARS, reason=reason)

        assert (len(decision.decided_by), decision.reason) == (DECIDED_BY_MAX_CHARS, reason)


class TestOrderIntent:
    def test_intent_quantity_must_be_whole_lots(self) -> None:
        with pytest.raises(ContractError, match="must be a whole number of lots of 65"):
            factories.order_intent(quantity=100)

    def test_intent_lots(self) -> None:
        assert factories.order_intent(quantity=195).lots == 3

    def test_limit_intent_without_price_is_rejected(self) -> None:
        with pytest.raises(ContractError, match=r"OrderIntent\.price is required for LIMIT"):
            factories.order_intent(price=None)

    @pytest.mark.parametrize("protection", [None, 0, 101, -2])
    def test_market_intent_without_valid_protection_is_rejected(
        self, protection: float | None
    ) -> None:
        with pytest.raises(ContractError) as caught:
            factories.order_intent(
                order_type=OrderType.MARKET, price=None, market_protection=protection
            )

        assert caught.value.field == "market_protection"

    @pytest.mark.parametrize("protection", [-1, 0.5, 100])
    def test_market_intent_with_protection_is_valid(self, protection: float) -> None:
        made = factories.order_intent(
            order_type=OrderType.MARKET, price=None, market_protection=protection
        )

        assert made.market_protection == protection

    def test_market_intent_with_price_is_rejected(self) -> None:
        with pytest.raises(ContractError, match="must be empty for MARKET"):
            factories.order_intent(order_type=OrderType.MARKET, market_protection=-1)

    @pytest.mark.parametrize(("field", "price"), [("price", 100.03), ("trigger_price", 99.99)])
    def test_intent_price_off_the_tick_grid_is_rejected(self, field: str, price: float) -> None:
        prices = {"price": 100.05, "trigger_price": 99.95} | {field: price}

        with pytest.raises(ContractError) as caught:
            factories.order_intent(order_type=OrderType.SL, **prices)

        assert str(caught.value).startswith(
            f"OrderIntent.{field} must be on the tick grid of 0.05, was {price}"
        )

    @pytest.mark.parametrize(
        ("side", "price", "trigger", "valid"),
        [
            (Side.BUY, 100.0, 99.5, True),
            (Side.BUY, 100.0, 100.0, True),
            (Side.BUY, 100.0, 100.5, False),
            (Side.SELL, 100.0, 100.5, True),
            (Side.SELL, 100.0, 99.5, False),
        ],
    )
    def test_stop_limit_trigger_must_be_on_the_right_side_of_price(
        self, side: Side, price: float, trigger: float, valid: bool
    ) -> None:
        def make() -> object:
            return factories.order_intent(
                side=side, order_type=OrderType.SL, price=price, trigger_price=trigger
            )

        if valid:
            assert make() is not None
        else:
            with pytest.raises(ContractError) as caught:
                make()
            assert caught.value.field == "trigger_price"
            assert caught.value.rule.startswith(
                f"must be {'<' if side is Side.BUY else '>'}= price"
            )

    def test_stop_intent_without_trigger_is_rejected(self) -> None:
        with pytest.raises(ContractError, match="trigger_price is required for SL"):
            factories.order_intent(order_type=OrderType.SL, price=99.0)

    @pytest.mark.parametrize("tag", ["", "a" * 21, "KP-1", "tag with space"])
    def test_client_tag_breaking_kite_rule_is_rejected(self, tag: str) -> None:
        with pytest.raises(ContractError, match="1-20 letters or digits"):
            ClientTag(tag)


class TestOrderEvent:
    def test_overfilled_event_is_rejected(self) -> None:
        with pytest.raises(ContractError, match="filled_quantity must be <= quantity 65"):
            factories.order_event(filled_quantity=130, average_price=100.0)

    def test_complete_event_must_be_fully_filled(self) -> None:
        with pytest.raises(ContractError, match="must equal quantity 65 when COMPLETE"):
            factories.order_event(status=OrderStatus.COMPLETE, filled_quantity=0)

    @pytest.mark.parametrize(
        ("status", "filled", "pending"),
        [(OrderStatus.OPEN, 0, 65), (OrderStatus.OPEN, 30, 35), (OrderStatus.CANCELLED, 30, 0)],
    )
    def test_pending_quantity(self, status: OrderStatus, filled: int, pending: int) -> None:
        event = factories.order_event(status=status, filled_quantity=filled, average_price=100.0)

        assert event.pending_quantity == pending


class TestPosition:
    def test_buy_then_sell_realises_pnl_and_goes_flat(self) -> None:
        opened = factories.position().apply(factories.fill(price=100.0, charges=25.0))

        closed = opened.apply(
            factories.fill(trade_id=TradeId("T2"), side=Side.SELL, price=120.0, charges=40.0)
        )

        assert (closed.quantity, closed.average_price) == (0, 0.0)
        assert closed.realised_pnl == pytest.approx(65 * 20.0)
        assert closed.charges == pytest.approx(65.0)
        assert closed.net_pnl(mark_price=120.0) == pytest.approx(1300.0 - 65.0)

    def test_adding_averages_the_entry_price(self) -> None:
        first = factories.position().apply(factories.fill(price=100.0))

        second = first.apply(factories.fill(trade_id=TradeId("T2"), price=110.0, quantity=130))

        assert second.quantity == 195
        assert second.average_price == pytest.approx((65 * 100 + 130 * 110) / 195)

    def test_same_fill_applied_twice_changes_nothing(self) -> None:
        once = factories.position().apply(factories.fill())

        assert once.apply(factories.fill()) is once

    def test_selling_more_than_held_flips_at_fill_price(self) -> None:
        long = factories.position().apply(factories.fill(price=100.0))

        flipped = long.apply(
            factories.fill(trade_id=TradeId("T2"), side=Side.SELL, quantity=130, price=90.0)
        )

        assert (flipped.quantity, flipped.average_price) == (-65, 90.0)
        assert flipped.realised_pnl == pytest.approx(-650.0)

    def test_fill_for_another_product_is_rejected(self) -> None:
        with pytest.raises(ContractError, match="must match the position's product NRML"):
            factories.position().apply(factories.fill(product=Product.MIS))

    def test_fill_for_another_instrument_is_rejected(self) -> None:
        with pytest.raises(ContractError, match="must match the position's token"):
            factories.position().apply(factories.fill(instrument_token=InstrumentToken(1)))

    @given(
        st.lists(
            st.tuples(
                st.sampled_from([Side.BUY, Side.SELL]),
                st.integers(min_value=1, max_value=20),
                st.integers(min_value=1, max_value=100_000).map(lambda p: p / 20),
            ),
            min_size=1,
            max_size=12,
        ),
        st.integers(min_value=1, max_value=100_000).map(lambda p: p / 20),
    )
    def test_position_pnl_equals_cash_flow_accounting(
        self, trades: list[tuple[Side, int, float]], mark: float
    ) -> None:
        """Invariant: realised + unrealised P&L == cash received - cash paid + holdings at mark."""
        held = Position(
            factories.NIFTY_CE_TOKEN, factories.NIFTY_CE_SYMBOL, factories.position().product
        )
        cash = 0.0
        for number, (side, lots, price) in enumerate(trades):
            quantity = lots * 65
            held = held.apply(
                factories.fill(
                    trade_id=TradeId(f"T{number}"),
                    side=side,
                    quantity=quantity,
                    price=price,
                    charges=0.0,
                )
            )
            cash -= side.sign * quantity * price

        assert held.realised_pnl + held.unrealised_pnl(mark) == pytest.approx(
            cash + held.quantity * mark, rel=1e-9, abs=1e-6
        )
        assert held.quantity == sum(side.sign * lots * 65 for side, lots, _ in trades)
