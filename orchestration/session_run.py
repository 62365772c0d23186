"""One paper session end to end, in this process: the whole system on a replayed day.

:func:`run_paper_session` starts the paper exchange replaying ``day`` from the lake (on the
replay's own paper account, ``<var_dir>/replay/paper_exchange.db``, not the one of
``kitepilot paper-exchange``), runs the streaming worker against it through the real
``KiteTicker``/``KiteConnect`` clients, and in a background thread the executor (the real
``kiteconnect`` client, WebSocket order updates, reconciliation, the kill-switch triggers) with
the demo approver deciding pending proposals through the decision desk.

Market time is the exchange's: the executor, the risk engine, the desk and the approver all read
the exchange's :class:`~execution.paper.replay_clock.ReplayClock`, so market hours, TTLs and
cool-downs hold at any replay speed; the exchange's rate limits count market time too (plus the
wall time elapsed), while broker latency and the audit log stay in wall time. The exchange starts
paused at the open; it runs at a gentle speed until the worker has decided its first bar (the
champion and the warm-up history are loaded on the first ticks) and then at ``speed``.

At ``until`` (default: the session's close) the stream stops; the executor finishes what is
working, then flattens what is still open with protected LIMIT orders through the risk engine's
exit check (subject ``session-end:...``), so every replayed day's P&L is realised and the next day
starts flat. Everything is stopped in reverse order, also on errors.
"""

from __future__ import annotations

import threading
import time as wall
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Final, TypeVar

from data_contracts.config import KitepilotConfig
from data_contracts.errors import ContractError
from data_contracts.nse_calendar import NseCalendar
from data_contracts.ports import Clock
from data_contracts.timeutil import IST, UTC
from execution.console.demo_approver import DemoApprover, DemoDecision
from execution.console.replay import SESSION_END, SessionActivity, session_activity
from execution.kite.login import paper_login
from execution.kite.order_updates import OrderUpdateFeed
from execution.orders.desk import DecisionDesk
from execution.orders.executor import Executor
from execution.orders.service import ExecutionService
from execution.paper.app import ExchangeSettings, PaperExchange, build_exchange, open_market
from execution.paper.app import run_in_thread as run_exchange
from execution.store import SqlStore
from execution.store.oms import OrderPurpose
from models.live import ScoredPoint
from orchestration.broker_endpoints import BrokerEndpoints
from orchestration.broker_login import BrokerLogin
from orchestration.execution_cli import build_executor
from orchestration.paper_credentials import credentials
from orchestration.stream_setup import FeedKind, StreamSpec, build_stream
from streaming.run import run_flow

__all__ = ["SessionResult", "run_paper_session"]

_WORKER: Final = "paper"
_WARM_UP_SPEED: Final = 20.0  # market seconds per wall second until the first bar is decided
_WARM_UP_WALL: Final = 60.0  # most wall seconds to wait for it before running at full speed
_LOOP_WALL: Final = 0.02  # wall seconds between the executor's turns (TTLs are market time)
_WIND_DOWN_WALL: Final = 20.0  # most wall seconds to wait for working orders at the end
_WATCH_WALL: Final = 0.05
_T = TypeVar("_T")


@dataclass(frozen=True)
class SessionResult:
    """What one paper session did (the store holds the details; ``activity`` is its record of
    the day)."""

    day: date
    market_start: datetime
    market_end: datetime
    speed: float
    decided_by: str
    activity: SessionActivity
    decisions: tuple[DemoDecision, ...]
    latency_ms: Mapping[str, float]
    ticks: int
    scored_bars: int
    left_open: tuple[str, ...]
    findings: tuple[str, ...]
    kill_switch: str | None
    wall_seconds: float

    @property
    def proposals(self) -> int:
        return self.activity.proposals

    @property
    def approvals(self) -> int:
        return sum(1 for d in self.decisions if d.approved and d.recorded)

    @property
    def rejections(self) -> int:
        return sum(1 for d in self.decisions if not d.approved and d.recorded)

    @property
    def net_pnl(self) -> float:
        return float(self.activity.trades["net_pnl"].sum())

    @property
    def charges(self) -> float:
        return float(self.activity.trades["charges"].sum())


def _market_window(
    calendar: NseCalendar, day: date, until: time | None
) -> tuple[datetime, datetime]:
    session = calendar.session(day)
    if session is None:
        raise ContractError("run_paper_session", "day", day, "must be an NSE session")
    end = session.close
    if until is not None:
        end = datetime.combine(day, until, tzinfo=IST).astimezone(UTC)
        if not session.open < end <= session.close:
            rule = (
                f"must fall within the session of {day} "
                f"({session.open.astimezone(IST):%H:%M}-{session.close.astimezone(IST):%H:%M} IST)"
            )
            raise ContractError("run_paper_session", "until", until, rule)
    return session.open, end


def _exchange(
    config: KitepilotConfig, day: date, calendar: NseCalendar, tokens: Sequence[int]
) -> PaperExchange:
    paper = config.paper_exchange
    secret, _ = credentials(config)
    limiter_time = _LimiterTime()
    market = open_market(
        "lake",
        day,
        seed=paper.seed,
        lake_root=config.storage.lake_dir,
        calendar=calendar,
        tokens=list(tokens) or None,
    )
    exchange = build_exchange(
        market,
        ExchangeSettings(
            api_key=paper.api_key,
            api_secret=secret.api_secret,
            user_id=paper.user_id,
            redirect_url=paper.redirect_url,
            admin_token=secret.admin_token,
            host=paper.host,
            port=0,  # any free port: a replay never collides with a running `paper-exchange`
            heartbeat_seconds=paper.heartbeat_seconds,
        ),
        database=_venue_database(config),
        starting_cash=paper.starting_cash,
        speed=0.0,  # paused at the open until the worker and the executor are connected
        calendar=calendar,
        limiter_clock=limiter_time,
    )
    limiter_time.clock = exchange.clock
    return exchange


def _venue_database(config: KitepilotConfig) -> str:
    """The paper account replayed sessions share (not `kitepilot paper-exchange`'s): it lives as
    long as the store beside it, so the venue's order and trade ids never repeat ones the store
    has seen (the executor stores each trade id once), and cash carries from day to day."""
    folder = config.storage.var_dir / "replay"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'paper_exchange.db'}"


class _LimiterTime:
    """What the exchange's rate limits count in: the replay's market time plus the wall time
    elapsed. A replay at ``speed`` compresses time, so the system calls the broker as often per
    *market* second as it would live; counted in wall time, a fast replay would exceed Kite's
    limits with a live-paced executor. The wall part keeps the limits at least as loose as Kite's
    own while the replay is paused (start-up, reconciliation)."""

    def __init__(self) -> None:
        self.clock: Clock | None = None
        self._wall0 = wall.monotonic()

    def now(self) -> datetime:
        if self.clock is None:
            raise ContractError("run_paper_session", "clock", None, "is set once built")
        return self.clock.now() + timedelta(seconds=wall.monotonic() - self._wall0)


class _Loop:
    """The executor's thread: the demo approver, then one executor turn, until stopped."""

    def __init__(self, service: ExecutionService, approver: DemoApprover, desk: DecisionDesk):
        self.service = service
        self.approver = approver
        self.desk = desk
        self.decisions: list[DemoDecision] = []
        self.failure: BaseException | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="session-executor", daemon=True)

    def _run(self) -> None:
        try:
            while not self.stop.is_set():
                self.decisions += self.approver.review(self.desk)
                self.service.run_once()
                self.stop.wait(_LOOP_WALL)
        except BaseException as error:  # handed to the main thread, which re-raises it
            self.failure = error

    def halt(self) -> None:
        self.stop.set()
        self.thread.join(timeout=60)
        if self.failure is not None:
            raise self.failure


class _Watch:
    """Market time: warm-up speed until the first decided bar, then full speed; stops the stream
    once the bar closing at ``end`` has been decided."""

    def __init__(
        self,
        exchange: PaperExchange,
        *,
        speed: float,
        stop_at: datetime,
        stream_stop: threading.Event,
        executor_loop: _Loop,
        progress: Callable[[datetime], None] | None,
    ) -> None:
        self.exchange = exchange
        self.speed = speed
        self.stop_at = stop_at
        self.stream_stop = stream_stop
        self.loop = executor_loop
        self.progress = progress
        self.first_bar = threading.Event()
        self.scored = 0
        self.thread = threading.Thread(target=self._run, name="session-clock", daemon=True)

    def observe(self, batch: list[Any]) -> None:
        """The stream sink's observer (on the worker's thread)."""
        points = sum(1 for item in batch if isinstance(item, ScoredPoint))
        if points:
            self.scored += points
            self.first_bar.set()

    def _run(self) -> None:
        clock = self.exchange.clock
        clock.set_speed(min(self.speed, _WARM_UP_SPEED))
        self.first_bar.wait(_WARM_UP_WALL)
        clock.set_speed(self.speed)
        while not self.stream_stop.is_set():
            now = clock.now()
            if self.progress is not None:
                self.progress(now)
            if now >= self.stop_at or not self.loop.thread.is_alive():
                self.stream_stop.set()
                break
            wall.sleep(_WATCH_WALL)


def run_paper_session(
    config: KitepilotConfig,
    day: date,
    *,
    until: time | None,
    speed: float,
    approver: DemoApprover,
    tokens: Sequence[int] = (),
    progress: Callable[[datetime], None] | None = None,
) -> SessionResult:
    """Replay ``day`` (a lake session) through the paper exchange, the streaming worker, the
    demo approver, the risk engine and the executor, up to ``until`` (IST; default the close) at
    ``speed`` market seconds per wall second. ``tokens``: only these instruments (and their
    derivatives); ``progress`` is called with the market time as it runs."""
    if isinstance(speed, bool) or not isinstance(speed, int | float) or not speed > 0:
        raise ContractError("run_paper_session", "speed", speed, "must be > 0")
    started = wall.monotonic()
    calendar = NseCalendar.default(override=config.calendar.holidays_file)
    market_start, market_end = _market_window(calendar, day, until)
    mark_delay = timedelta(seconds=config.loops.candle_close_timeout_seconds)
    exchange = _exchange(config, day, calendar, tokens)
    paper = config.paper_exchange
    secret, _ = credentials(config)
    with run_exchange(exchange) as running:
        endpoints = BrokerEndpoints(
            api_key=paper.api_key,
            access_token=paper_login(running.url, paper.api_key, secret.api_secret),
            rest_root=running.url,
            ticker_root=running.ticker_url,
        )
        # Decisions and checks run on the replay's market clock; broker latency and the audit
        # log stay in wall time (KiteBroker and build_executor see to that).
        executor = build_executor(config, BrokerLogin(endpoints), clock=exchange.clock)
        context = executor.context
        try:
            result = _run(
                config,
                exchange,
                executor,
                endpoints,
                approver,
                tokens=tokens,
                speed=speed,
                stop_at=market_end + mark_delay + timedelta(seconds=1),
                progress=progress,
            )
            activity = _activity(config, day)
        finally:
            context.store.close()
    latency = _latency(config)
    return SessionResult(
        day=day,
        market_start=market_start,
        market_end=market_end,
        speed=speed,
        decided_by=approver.decided_by,
        activity=activity,
        decisions=tuple(result["decisions"]),
        latency_ms={k: v / 1000 for k, v in latency.items() if k.endswith("_us")},
        ticks=int(latency.get("ticks", 0)),
        scored_bars=int(result["scored"]),
        left_open=tuple(result["left_open"]),
        findings=tuple(result["findings"]),
        kill_switch=result["kill_switch"],
        wall_seconds=wall.monotonic() - started,
    )


def _run(
    config: KitepilotConfig,
    exchange: PaperExchange,
    executor: Executor,
    endpoints: BrokerEndpoints,
    approver: DemoApprover,
    *,
    tokens: Sequence[int],
    speed: float,
    stop_at: datetime,
    progress: Callable[[datetime], None] | None,
) -> dict[str, Any]:
    context = executor.context
    service = ExecutionService(executor)
    feed = OrderUpdateFeed(
        endpoints.api_key,
        endpoints.access_token,
        endpoints.ticker_root,
        context.clock,
        executor.on_order_update,
    )
    feed.start()
    try:
        findings = service.start()  # reconcile first, as `kitepilot execute` does
        loop = _Loop(service, approver, DecisionDesk(context.store, context.clock, context.audit))
        stream_stop = threading.Event()
        watch = _Watch(
            exchange,
            speed=speed,
            stop_at=stop_at,
            stream_stop=stream_stop,
            executor_loop=loop,
            progress=progress,
        )
        spec = StreamSpec(
            config=config,
            feed=FeedKind.KITE,
            worker_name=_WORKER,
            tokens=tuple(tokens),
            session=endpoints,
            stop=stream_stop,
        )
        flow = build_stream(spec, observer=watch.observe)
        loop.thread.start()
        watch.thread.start()
        try:
            run_flow(lambda: flow, epoch_interval=timedelta(seconds=1))
        finally:
            stream_stop.set()
            watch.thread.join(timeout=10)
            loop.halt()
        left_open = _wind_down(service)
        kill = context.oms.kill_switch()
        return {
            "decisions": loop.decisions,
            "scored": watch.scored,
            "left_open": left_open,
            "findings": [f"{f.kind}: {f.subject} {f.detail}" for f in findings + service.findings],
            "kill_switch": f"{kill.actor}: {kill.reason}" if kill.engaged else None,
        }
    finally:
        feed.close()


def _settle(service: ExecutionService) -> None:
    """Executor turns until none of our orders is working (or the wind-down's wall bound)."""
    oms = service.executor.context.oms
    deadline = wall.monotonic() + _WIND_DOWN_WALL
    while wall.monotonic() < deadline:
        service.run_once()
        if not oms.orders(open_only=True):
            service.executor.poll_orders()
            return
        wall.sleep(_LOOP_WALL)


def _wind_down(service: ExecutionService) -> list[str]:
    """Finish working orders, flatten what is still open (while the market is open), finish
    those; returns the positions left open, each with why its flatten was not sent (if so)."""
    executor = service.executor
    context = executor.context
    _settle(service)
    now = context.clock.now()
    refused: dict[str, str] = {}
    if context.calendar.is_open(now):
        trades = context.store.open_trades()
        # One quote request for all, asked again after a second if refused (the exchange allows
        # one a second, and the executor's last turns may just have used it): a flatten without
        # a price is not sent, and its trade would be left open.
        prices = executor.fresh_prices(sorted({int(t.instrument_token) for t in trades}))
        for trade in trades:
            subject = f"{SESSION_END}:{trade.instrument_token}:{trade.product.value}:{now:%Y%m%d}"
            sent = executor.flatten(
                int(trade.instrument_token),
                trade.product,
                subject_id=subject,
                purpose=OrderPurpose.MANUAL,
                last_price=prices.get(int(trade.instrument_token)),
            )
            if not sent.accepted:
                refused[trade.proposal_id.value] = "; ".join(sent.reasons)
        _settle(service)
    return [
        f"{t.tradingsymbol} {t.quantity} ({t.product.value})"
        + (f": {refused[t.proposal_id.value]}" if t.proposal_id.value in refused else "")
        for t in context.store.open_trades()
    ]


def _activity(config: KitepilotConfig, day: date) -> SessionActivity:
    start = datetime.combine(day, time(0), tzinfo=IST).astimezone(UTC)
    with SqlStore.open(config.storage.database_url) as store:
        return session_activity(store, start, start + timedelta(days=1))


def _latency(config: KitepilotConfig) -> dict[str, float]:
    with SqlStore.open(config.storage.database_url) as store:
        workers = store.latest_metrics()
    ours = [m for worker, m in workers.items() if worker.split("-")[0] == _WORKER]
    ticks = sum(m.get("ticks", 0.0) for m in ours)
    worst = {
        name: max((m.get(name, 0.0) for m in ours), default=0.0)
        for name in (f"tick_to_proposal_p{q}_us" for q in (50, 95, 99))
    }
    return {"ticks": ticks, **worst}
