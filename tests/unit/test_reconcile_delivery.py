"""Delivery (CNC) positions in reconciliation and in the broker adapter.

The account's demat holds kitepilot's delivery shares and its owner's own: reconciliation claims
at most what kitepilot's book holds (never adopting the rest), adjusts the book down when the
broker holds less (sold outside kitepilot), and the broker adapter reports what is held now —
today's CNC net plus what holdings carried into the day. MIS and NRML are compared as before.
Over the real SQL store with the hand-written broker behind the port (``tests/fake_broker.py``,
whose ``positions()`` is what the account holds now, as the port promises) and a hand-written
``KiteConnect`` stand-in for the adapter.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from data_contracts.charges import ChargesModel
from data_contracts.clock import ManualClock
from data_contracts.enums import AlertSeverity, ExitReason, Product, ProposalStatus, Side
from data_contracts.ids import InstrumentToken, OrderId, ProposalId, StrategyId, TradeId
from data_contracts.nse_calendar import NseCalendar
from data_contracts.trading import ExitProposal, Fill, OpenTrade, Position
from execution.alerts import Alert
from execution.kite.broker import KiteBroker
from execution.orders.context import ExecutorSettings, OmsContext
from execution.orders.executor import Executor
from execution.orders.kill_switch import engage
from execution.orders.reconcile import reconcile
from execution.orders.tags import client_tag
from tests import factories
from tests.fake_broker import FakeBroker
from tests.unit.test_executor import CE, LIMITS, T0, World

INFY = InstrumentToken(408065)
BSE_INFY = 500209  # the same stock's BSE token: Kite may list a holding under it
OUR_PRICE = 1500.0
THEIR_PRICE = 1000.0


class Recorder:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def raise_alert(self, alert: Alert) -> None:
        self.alerts.append(alert)

    def at(self, severity: AlertSeverity) -> list[str]:
        return [a.key for a in self.alerts if a.severity is severity]


class DeliveryWorld(World):
    """The executor world with INFY (NSE equity) tradable and its alerts recorded."""

    def __init__(self, url: str) -> None:
        self.recorder = Recorder()
        super().__init__(url)
        self.broker = FakeBroker(self.clock, prices={CE: 100.0, INFY: OUR_PRICE})
        self.executor = self._executor()

    def _executor(self) -> Executor:
        context = OmsContext(
            store=self.store,
            broker=self.broker,
            instruments={CE: factories.nifty_ce_instrument(), INFY: factories.infy_instrument()},
            calendar=NseCalendar.default(),
            clock=self.clock,
            settings=ExecutorSettings(limits=LIMITS, retry_backoff_seconds=0.0),
            charges=ChargesModel.default(),
            alerter=self.recorder,
        )
        return Executor(context, sleep=lambda _: None)

    def buy_cnc(self, quantity: int = 3) -> OpenTrade:
        """Kitepilot's delivery buy of INFY, filled at OUR_PRICE: an open trade."""
        proposal = self.propose(
            proposal_id=ProposalId("p-swing-infy"),
            strategy_id=StrategyId("equity-swing"),
            instrument_token=INFY,
            exchange=factories.infy_instrument().exchange,
            tradingsymbol="INFY",
            product=Product.CNC,
            lots=quantity,
            lot_size=1,
            limit_price=OUR_PRICE,
            stop_loss=1425.0,
            take_profit=1650.0,
            time_exit=T0 + timedelta(days=5),
        )
        self.approve(proposal)
        self.broker.fill(client_tag(proposal.proposal_id.value, 0).value)
        self.executor.poll_orders()
        (trade,) = self.store.open_trades()
        return trade

    def by_hand(self, trade_id: str, side: Side, quantity: int, price: float) -> None:
        """A delivery trade the account holder made in the Kite app (no kitepilot tag)."""
        now = self.clock.now()
        self.broker.add_outside_trade(
            Fill(
                trade_id=TradeId(trade_id),
                order_id=OrderId(f"app-{trade_id}"),
                client_tag=None,
                instrument_token=INFY,
                side=side,
                product=Product.CNC,
                quantity=quantity,
                price=price,
                ts_event=now,
                ts_init=now,
            )
        )

    def hold_since_long_ago(self, quantity: int) -> None:
        """Delivery shares the account held before kitepilot (carried in from holdings)."""
        self.broker.add_carried_position(
            Position(INFY, "INFY", Product.CNC, quantity=quantity, average_price=THEIR_PRICE)
        )

    def book(self) -> int:
        return self.executor.account.position_quantity(INFY, Product.CNC)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[DeliveryWorld]:
    w = DeliveryWorld(f"sqlite:///{tmp_path / 'kitepilot.db'}")
    yield w
    w.store.close()


def _exit(trade: OpenTrade, now: Any) -> ExitProposal:
    return factories.exit_of(
        trade,
        now,
        reference_price=OUR_PRICE,
        limit_price=OUR_PRICE - 5,
        reason=ExitReason.STOP_LOSS,
    )


# --- reconciliation -------------------------------------------------------------------------------


def test_owners_shares_beyond_the_book_are_not_adopted_and_reported_once_as_info(
    world: DeliveryWorld,
) -> None:
    world.hold_since_long_ago(5)
    world.buy_cnc(3)

    first = reconcile(world.executor)
    again = reconcile(world.executor)

    assert [f.kind for f in first] == ["holdings_not_ours"]
    assert "other 5 are the account holder's" in first[0].detail
    assert again == []
    assert world.oms.adjustments() == []
    assert world.book() == 3
    assert world.recorder.at(AlertSeverity.CRITICAL) == []
    assert world.recorder.at(AlertSeverity.INFO) == ["reconciliation:holdings_not_ours:INFY"]


def test_owners_shares_in_a_stock_kitepilot_never_traded_are_not_even_reported(
    world: DeliveryWorld,
) -> None:
    world.hold_since_long_ago(5)

    assert reconcile(world.executor) == []
    assert world.oms.adjustments() == []
    assert world.book() == 0


def test_owners_delivery_buy_in_the_kite_app_is_stored_but_never_flattened(
    world: DeliveryWorld,
) -> None:
    world.by_hand("APP1", Side.BUY, 5, THEIR_PRICE)

    findings = reconcile(world.executor)
    report = engage(world.executor, "operator", "drill")

    assert [f.kind for f in findings] == ["unknown_fill"]
    assert "the account holder's own" in findings[0].detail
    assert "APP1" in world.oms.trade_ids()
    assert world.book() == 0
    assert report.exits == ()
    assert [i.tradingsymbol for i in world.broker.placed] == []
    assert world.recorder.at(AlertSeverity.INFO) == ["reconciliation:unknown_fill:APP1"]


def test_owner_selling_some_of_the_account_leaves_kitepilots_claim_while_enough_is_held(
    world: DeliveryWorld,
) -> None:
    world.hold_since_long_ago(5)
    trade = world.buy_cnc(3)
    world.by_hand("APP1", Side.SELL, 5, 1510.0)  # 3 left: which ones were sold is unknowable

    kinds = [f.kind for f in reconcile(world.executor)]

    assert "position_mismatch" not in kinds
    assert world.oms.adjustments() == []
    assert world.book() == 3
    assert [t.proposal_id for t in world.store.open_trades()] == [trade.proposal_id]


def test_delivery_sold_outside_is_adjusted_down_at_our_price_and_alerted(
    world: DeliveryWorld,
) -> None:
    world.hold_since_long_ago(5)
    world.buy_cnc(3)
    world.by_hand("APP1", Side.SELL, 7, 1510.0)  # 1 left of the 8 held: 2 of ours are gone

    findings = reconcile(world.executor)

    mismatch = [f for f in findings if f.kind == "position_mismatch"]
    assert len(mismatch) == 1
    (adjustment,) = world.oms.adjustments()
    assert (adjustment.product, adjustment.quantity) == (Product.CNC, -2)
    assert adjustment.average_price == pytest.approx(OUR_PRICE)  # not the blend with theirs
    assert world.book() == 1
    position = world.executor.account.positions()[(INFY, Product.CNC)]
    assert position.average_price == pytest.approx(OUR_PRICE)
    assert world.recorder.at(AlertSeverity.CRITICAL) == ["reconciliation:position_mismatch:INFY"]
    assert reconcile(world.executor) == []


def test_delivery_sold_in_full_outside_closes_the_trade_without_an_order(
    world: DeliveryWorld,
) -> None:
    trade = world.buy_cnc(3)
    world.by_hand("APP1", Side.SELL, 3, 1510.0)
    placed = len(world.broker.placed)

    reconcile(world.executor)
    world.store.add_exit(_exit(trade, world.clock.now()))
    world.executor.submit_exits()

    assert world.book() == 0
    assert world.store.status(trade.proposal_id) is ProposalStatus.CLOSED
    assert len(world.broker.placed) == placed


def test_kill_switch_sells_kitepilots_delivery_shares_and_none_of_the_owners(
    world: DeliveryWorld,
) -> None:
    world.hold_since_long_ago(5)
    world.by_hand("APP1", Side.BUY, 2, THEIR_PRICE)
    world.buy_cnc(3)

    report = engage(world.executor, "operator", "drill")

    (flatten,) = report.exits
    assert flatten.accepted
    assert [(i.side, i.product, i.quantity) for i in world.broker.placed[-1:]] == [
        (Side.SELL, Product.CNC, 3)
    ]


def test_intraday_beyond_the_book_is_still_adopted(world: DeliveryWorld) -> None:
    world.broker.add_carried_position(Position(INFY, "INFY", Product.MIS, 4, OUR_PRICE))

    kinds = [f.kind for f in reconcile(world.executor)]

    assert kinds == ["position_mismatch"]
    assert world.executor.account.position_quantity(INFY, Product.MIS) == 4


# --- the broker adapter ---------------------------------------------------------------------------


class PortfolioKite:
    """``KiteConnect``'s portfolio answers from canned rows (the rest of the client unused)."""

    access_token: str | None = None

    def __init__(self, net: list[dict[str, Any]], holdings: list[dict[str, Any]]) -> None:
        self.net = net
        self.holding_rows = holdings

    def positions(self) -> dict[str, list[dict[str, Any]]]:
        return {"net": self.net, "day": []}

    def holdings(self) -> list[dict[str, Any]]:
        return self.holding_rows

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"not a portfolio call: {name}")


def _net(token: int, product: str, quantity: int, average: float) -> dict[str, Any]:
    return {
        "tradingsymbol": "INFY",
        "exchange": "NSE",
        "instrument_token": token,
        "product": product,
        "quantity": quantity,
        "overnight_quantity": 0,
        "average_price": average,
        "realised": 0,
    }


def _holding(token: int, exchange: str, opening: int, t1: int, average: float) -> dict[str, Any]:
    """A row shaped like Kite's ``/portfolio/holdings`` (kite-mocks holdings.json)."""
    return {
        "tradingsymbol": "INFY",
        "exchange": exchange,
        "instrument_token": token,
        "isin": "INE009A01021",
        "product": "CNC",
        "price": 0,
        "quantity": opening,
        "used_quantity": 0,
        "t1_quantity": t1,
        "realised_quantity": opening - t1,
        "opening_quantity": opening,
        "average_price": average,
        "last_price": 1520.0,
        "close_price": 1510.0,
    }


def _positions(net: list[dict[str, Any]], holdings: list[dict[str, Any]]) -> list[Position]:
    client = PortfolioKite(net, holdings)
    broker = KiteBroker(
        client,  # only the portfolio calls are answered (others fail the test)
        clock=ManualClock(T0),
        symbols={INFY: ("NSE", "INFY"), BSE_INFY: ("BSE", "INFY")},
    )
    return list(broker.positions())


def test_broker_delivery_is_todays_net_plus_what_holdings_carried_in() -> None:
    positions = _positions(
        [_net(INFY, "CNC", 2, 1530.0), _net(INFY, "MIS", 4, 1525.0)],
        [_holding(INFY, "NSE", opening=3, t1=3, average=1500.0)],  # t1 is within opening
    )

    by_product = {p.product: p for p in positions}
    assert by_product[Product.CNC].quantity == 5
    assert by_product[Product.CNC].average_price == pytest.approx((2 * 1530 + 3 * 1500) / 5)
    assert (by_product[Product.MIS].quantity, by_product[Product.MIS].average_price) == (4, 1525)


def test_broker_sale_of_carried_shares_today_nets_against_them_at_their_cost() -> None:
    (position,) = _positions(
        [_net(INFY, "CNC", -2, 1540.0)],  # Kite: a sale of holdings is a negative position
        [_holding(INFY, "NSE", opening=5, t1=0, average=1500.0)],
    )

    assert (position.product, position.quantity) == (Product.CNC, 3)
    assert position.average_price == pytest.approx(1500.0)


def test_broker_holding_listed_under_the_bse_token_counts_under_the_nse_one() -> None:
    positions = _positions([], [_holding(BSE_INFY, "BSE", opening=7, t1=0, average=1490.0)])

    assert [(p.instrument_token, p.product, p.quantity) for p in positions] == [
        (INFY, Product.CNC, 7)
    ]


def test_broker_holding_sold_out_today_is_flat_and_an_empty_holding_adds_nothing() -> None:
    positions = _positions(
        [_net(INFY, "CNC", -5, 1540.0)],
        [_holding(INFY, "NSE", opening=5, t1=0, average=1500.0)],
    )
    only_today = _positions([_net(INFY, "CNC", 3, 1530.0)], [])

    assert [(p.product, p.quantity) for p in positions] == [(Product.CNC, 0)]
    assert [(p.product, p.quantity) for p in only_today] == [(Product.CNC, 3)]
