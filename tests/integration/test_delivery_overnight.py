"""A delivery (CNC) trade held overnight, through the real ``kiteconnect`` client against the paper
exchange over two sessions (one exchange per day over one venue database, as a restart would).

On the day after a CNC buy Kite's ``positions()`` no longer has it (it moved to ``holdings()``):
the trade must stay open, reconciliation must not "repair" it away, its exit must sell it, and
the kill switch must sell it — and never the shares the account holds that kitepilot did not
buy (here: a CNC buy placed by hand, without a kitepilot tag, as in the Kite app).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from kiteconnect import KiteConnect

from data_contracts.charges import ChargesModel
from data_contracts.clock import ManualClock, SystemClock
from data_contracts.enums import AlertSeverity, Exchange, Product, ProposalStatus, Side
from data_contracts.ids import InstrumentToken, ProposalId, StrategyId
from data_contracts.nse_calendar import NseCalendar
from data_contracts.pricegrid import round_for_side
from data_contracts.trading import ExitProposal, OpenTrade, Proposal
from execution.alerts import Alert
from execution.kite.broker import KiteBroker, kite_broker
from execution.kite.login import paper_login
from execution.orders.context import ExecutorSettings, OmsContext
from execution.orders.desk import DecisionDesk
from execution.orders.executor import Executor
from execution.orders.kill_switch import engage
from execution.orders.reconcile import reconcile
from execution.paper.app import ExchangeSettings, build_exchange, open_market, run_in_thread
from execution.store import OmsStore, SqlStore
from tests import factories
from tests.integration.test_kite_broker import ADMIN, API_KEY, API_SECRET, SteppingClock
from tests.integration.test_kite_broker import INFY as INFY_TOKEN
from tests.unit.test_executor import LIMITS

INFY = InstrumentToken(INFY_TOKEN)

DAY1 = date(2026, 8, 18)  # a trading Tuesday
DAY2 = date(2026, 8, 19)  # the next session
OURS = 3  # kitepilot's CNC buy
THEIRS = 5  # the account holder's own CNC buy, by hand (no kitepilot tag)


def _ist(day: date, hhmmss: str) -> datetime:
    hour, minute, second = (int(part) for part in hhmmss.split(":"))
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC) - timedelta(
        hours=5, minutes=30
    )


class Recorder:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def raise_alert(self, alert: Alert) -> None:
        self.alerts.append(alert)


class Session:
    """One day's paper exchange (over the shared venue database), a broker logged in to it, and
    a fresh executor process over kitepilot's store."""

    def __init__(self, running: Any, store: SqlStore, clock: ManualClock, alerts: Recorder):
        self.running = running
        token = paper_login(running.url, API_KEY, API_SECRET)
        self.kite = KiteConnect(API_KEY, access_token=token, root=running.url)
        self.broker: KiteBroker = kite_broker(
            API_KEY,
            token,
            clock=SystemClock(),
            root=running.url,
            charges=ChargesModel.default(),
            symbols={INFY: ("NSE", "INFY")},
        )
        self.store = store
        self.clock = clock
        context = OmsContext(
            store=store,
            broker=self.broker,
            instruments={INFY: factories.infy_instrument()},
            calendar=NseCalendar.default(),
            clock=clock,
            settings=ExecutorSettings(limits=LIMITS, retry_backoff_seconds=0.05),
            charges=ChargesModel.default(),
            alerter=alerts,
        )
        self.executor = Executor(context)

    def last(self) -> float:
        return self.broker.last_prices([INFY])[INFY]

    def marketable(self, side: Side) -> float:
        """A LIMIT 1 % through the last price (fills on arrival: the market stands still)."""
        factor = Decimal("1.01") if side is Side.BUY else Decimal("0.99")
        price = Decimal(str(self.last())) * factor
        return float(round_for_side(price, Decimal("0.05"), side))

    def buy_by_hand(self, quantity: int) -> None:
        """The account holder's own delivery buy, in the Kite app: no kitepilot tag."""
        self.kite.place_order(
            variety="regular",
            exchange="NSE",
            tradingsymbol="INFY",
            transaction_type="BUY",
            quantity=quantity,
            product="CNC",
            order_type="LIMIT",
            price=self.marketable(Side.BUY),
            validity="DAY",
        )

    def held(self) -> int:
        """What the broker says the account holds in INFY delivery now."""
        return sum(
            p.quantity
            for p in self.broker.positions()
            if p.instrument_token == INFY and p.product is Product.CNC
        )

    def book(self) -> int:
        return self.executor.account.position_quantity(INFY, Product.CNC)


class TwoDays:
    def __init__(self, tmp_path: Path) -> None:
        self.venue_db = f"sqlite:///{tmp_path / 'paper.db'}"
        self.store = SqlStore.open(f"sqlite:///{tmp_path / 'kitepilot.db'}")
        self.clock = ManualClock(_ist(DAY1, "09:30:30"))
        self.alerts = Recorder()

    @property
    def oms(self) -> OmsStore:
        return OmsStore.of(self.store)

    @contextmanager
    def day(self, day: date) -> Iterator[Session]:
        market = open_market("sim", day, seed=11, tokens=[INFY])
        exchange = build_exchange(
            market,
            ExchangeSettings(API_KEY, API_SECRET, admin_token=ADMIN, step_seconds=0.02),
            database=self.venue_db,
            starting_cash=1_000_000,
            speed=0,
            start=_ist(day, "09:30:00"),
            limiter_clock=SteppingClock(),
        )
        self.clock.set(_ist(day, "09:30:30"))
        with run_in_thread(exchange) as running:
            yield Session(running, self.store, self.clock, self.alerts)

    def critical(self) -> list[Alert]:
        return [a for a in self.alerts.alerts if a.severity is AlertSeverity.CRITICAL]


@pytest.fixture
def days(tmp_path: Path) -> Iterator[TwoDays]:
    world = TwoDays(tmp_path)
    yield world
    world.store.close()


def _swing_proposal(session: Session) -> Proposal:
    last = Decimal(str(session.last()))
    proposal = factories.proposal(
        proposal_id=ProposalId("p-swing-infy"),
        strategy_id=StrategyId("equity-swing"),
        instrument_token=INFY,
        exchange=Exchange.NSE,
        tradingsymbol="INFY",
        product=Product.CNC,
        lots=OURS,
        lot_size=1,
        limit_price=session.marketable(Side.BUY),
        stop_loss=float(round_for_side(last * Decimal("0.95"), Decimal("0.05"), Side.BUY)),
        take_profit=float(round_for_side(last * Decimal("1.10"), Decimal("0.05"), Side.SELL)),
        time_exit=factories.T0 + timedelta(days=5),
    )
    session.store.add(proposal)
    return proposal


def _day_one(days: TwoDays) -> OpenTrade:
    """Kitepilot buys OURS INFY for delivery; the account holder buys THEIRS by hand."""
    with days.day(DAY1) as session:
        session.buy_by_hand(THEIRS)
        proposal = _swing_proposal(session)
        DecisionDesk(session.store, days.clock).approve(proposal.proposal_id, "operator")
        session.executor.submit_entry(proposal)
        session.executor.poll_orders()
        reconcile(session.executor)

        assert session.held() == OURS + THEIRS
        assert session.book() == OURS
        (trade,) = session.store.open_trades()
        assert trade.quantity == OURS
    assert days.oms.adjustments() == []
    assert days.critical() == []  # the hand-made buy is reported, not alerted as critical
    return trade


def _exit(trade: OpenTrade, session: Session) -> ExitProposal:
    return factories.exit_of(
        trade,
        session.clock.now(),
        reference_price=session.last(),
        limit_price=session.marketable(Side.SELL),
    )


def test_cnc_trade_bought_yesterday_stays_open_and_its_exit_sells_only_it(days: TwoDays) -> None:
    trade = _day_one(days)

    with days.day(DAY2) as session:
        assert session.held() == OURS + THEIRS  # carried overnight, from holdings

        findings = reconcile(session.executor)
        session.executor.submit_exits()  # no exit yet: nothing is "closed outside"

        assert "position_mismatch" not in {f.kind for f in findings}
        assert days.oms.adjustments() == []
        assert session.book() == OURS
        assert [t.proposal_id for t in session.store.open_trades()] == [trade.proposal_id]
        assert days.critical() == []

        session.store.add_exit(_exit(trade, session))
        session.executor.submit_exits()
        session.executor.poll_orders()

        assert session.store.status(trade.proposal_id) is ProposalStatus.CLOSED
        assert session.store.open_trades() == []
        assert session.book() == 0
        assert session.held() == THEIRS  # the account holder's shares are untouched
        assert [f.kind for f in reconcile(session.executor)] == []
        assert days.oms.adjustments() == []
        assert days.critical() == []
    kinds = [f.kind for f in days.oms.findings()]
    assert kinds.count("holdings_not_ours") == 1  # reported once, on day 1, at INFO
    assert "position_mismatch" not in kinds


def test_kill_switch_the_day_after_sells_the_delivery_trade_and_only_it(days: TwoDays) -> None:
    trade = _day_one(days)

    with days.day(DAY2) as session:
        report = engage(session.executor, "operator", "drill")
        session.executor.poll_orders()

        assert len(report.exits) == 1
        assert report.flat
        (flatten,) = report.exits
        assert sum(order.intent.quantity for order in flatten.orders) == OURS
        assert {order.intent.side for order in flatten.orders} == {Side.SELL}
        assert session.book() == 0
        assert session.held() == THEIRS
        assert session.store.status(trade.proposal_id) is ProposalStatus.CLOSED
        assert days.oms.adjustments() == []
