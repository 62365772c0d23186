"""Reconciliation of positions: a difference between the book and the broker is adjusted only
when two consecutive reads of the broker agree on it, and an adjustment always carries a price."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from data_contracts.enums import Product, Side
from data_contracts.ids import OrderId, TradeId
from data_contracts.trading import Fill, Position
from execution.kite.broker import BrokerUnavailable
from execution.orders.reconcile import reconcile
from execution.orders.tags import client_tag
from tests.fake_broker import FakeBroker
from tests.unit.test_executor import CE, T0, World


@dataclass
class ShakyBroker(FakeBroker):
    """Fills ``fill_on_read`` right after the next trade-book read (Kite's trade book and
    positions are separate requests) and refuses the positions reads numbered in
    ``refuse_positions`` (1-based)."""

    fill_on_read: list[str] = field(default_factory=list)
    refuse_positions: set[int] = field(default_factory=set)
    positions_reads: int = 0

    def fills(self) -> Sequence[Fill]:
        seen = super().fills()
        for tag in self.fill_on_read:
            self.fill(tag, price=100.0)
        self.fill_on_read.clear()
        return seen

    def positions(self) -> Sequence[Position]:
        self.positions_reads += 1
        if self.positions_reads in self.refuse_positions:
            raise BrokerUnavailable("connection reset")
        return super().positions()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(f"sqlite:///{tmp_path / 'kitepilot.db'}")
    w.broker = ShakyBroker(w.clock, prices={CE: 100.0})
    w.executor = w._executor()
    yield w
    w.store.close()


def _working_entry(world: World) -> str:
    proposal = world.propose()
    world.approve(proposal)
    return client_tag(proposal.proposal_id.value, 0).value


def _broker(world: World) -> ShakyBroker:
    assert isinstance(world.broker, ShakyBroker)
    return world.broker


def test_fill_between_the_reads_is_not_adjusted_and_is_stored_once(world: World) -> None:
    _broker(world).fill_on_read.append(_working_entry(world))

    findings = reconcile(world.executor)
    world.executor.poll_orders()

    assert findings == []
    assert world.oms.adjustments() == []
    assert world.executor.account.position_quantity(CE, Product.NRML) == 65
    assert reconcile(world.executor) == []


def test_difference_that_changes_between_the_reads_waits_for_the_next_pass(world: World) -> None:
    broker = _broker(world)
    broker.add_carried_position(Position(CE, "NIFTY-CE", Product.NRML, 10, 90.0))
    broker.fill_on_read.append(_working_entry(world))

    assert reconcile(world.executor) == []  # read 1: 0 vs 75; read 2: 65 vs 75
    world.executor.poll_orders()
    (finding,) = reconcile(world.executor)

    assert finding.kind == "position_mismatch"
    (adjustment,) = world.oms.adjustments()
    assert adjustment.quantity == 10
    assert adjustment.average_price > 0
    assert world.executor.account.position_quantity(CE, Product.NRML) == 75
    assert reconcile(world.executor) == []


def test_adjustment_to_a_flat_broker_keeps_a_price_and_the_book_reads(world: World) -> None:
    phantom = Fill(
        trade_id=TradeId("X1"),
        order_id=OrderId("77"),
        client_tag=None,
        instrument_token=CE,
        side=Side.BUY,
        product=Product.NRML,
        quantity=65,
        price=101.0,
        ts_event=T0,
        ts_init=T0,
    )
    world.oms.add_fill(phantom)  # a fill the broker never made: the broker is flat

    (finding,) = reconcile(world.executor)

    assert finding.kind == "position_mismatch"
    (adjustment,) = world.oms.adjustments()
    assert (adjustment.quantity, adjustment.average_price) == (-65, 101.0)
    assert world.executor.account.position_quantity(CE, Product.NRML) == 0
    assert reconcile(world.executor) == []


def test_broker_unreachable_on_the_second_read_adjusts_nothing(world: World) -> None:
    broker = _broker(world)
    broker.add_carried_position(Position(CE, "NIFTY-CE", Product.NRML, 10, 90.0))
    broker.refuse_positions = {2}

    assert reconcile(world.executor) == []
    assert world.oms.adjustments() == []
    (finding,) = reconcile(world.executor)
    assert finding.kind == "position_mismatch"
    assert world.executor.account.position_quantity(CE, Product.NRML) == 10
