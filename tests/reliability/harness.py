"""The reliability harness: a replayed trading day through the real parts, as real processes.

:class:`Stack` runs, for one scenario run in its own folder:

- the **paper exchange** replaying :data:`REPLAY_DAY` of the streaming tests' world (lake candles,
  only the chosen stocks), in this process on its own event loop (``run_in_thread``), with a
  :class:`~execution.paper.faults.FaultPlan` if the scenario has one; the harness reads its order
  book, trade book and positions directly (the venue's own state, not through the faulty API);
- the **streaming worker**: ``kitepilot stream --paper``, a child process;
- the **executor**: ``python -m tests.reliability.child executor`` — ``kitepilot execute`` on the
  exchange's market clock (see :mod:`tests.reliability.child`), a child process;
- the **approver**: the labelled demo approver deciding pending proposals through the decision
  desk in a thread here — the human at the dashboard, who does not crash with the executor;
- an **alert receiver**: a local Slack-style webhook on 127.0.0.1 the executor's alerter posts to.

Every child runs in its own process group, so :meth:`Stack.kill` is ``kill -9`` of the whole
process; :meth:`Stack.restart` starts it again and waits until it is back (the worker subscribed
on the ticker, the executor reconciled). While a killed process restarts the market runs slowly
(``restart_speed``), so the market does move (fills can happen while the executor is down) but
the day is not skipped.

:func:`integrity` then counts, from the exchange's books and the store, what must be zero:
duplicate orders, orders and fills one side has and the other lost, orders left in flight,
approvals that never got a verdict or an order, and position mismatches.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

from data_contracts.clock import SystemClock
from data_contracts.config import KitepilotConfig
from data_contracts.enums import ProposalStatus, Verdict
from data_contracts.nse_calendar import NseCalendar
from data_contracts.ports import Clock
from data_contracts.timeutil import IST, UTC
from execution.audit import AuditKind, AuditLog, verify
from execution.console.demo_approver import DemoApprover, DemoDecision
from execution.orders.desk import DecisionDesk
from execution.orders.executor import Executor
from execution.paper.app import (
    ExchangeSettings,
    PaperExchange,
    RunningExchange,
    build_exchange,
    open_market,
    run_in_thread,
)
from execution.paper.faults import FaultPlan
from execution.store import OmsStore, SqlStore
from orchestration.broker_login import BrokerLogin, paper_session
from orchestration.execution_cli import build_executor
from orchestration.paper_credentials import credentials
from orchestration.settings import CONFIG_FILE_VARIABLE, load_config
from tests.stream_world import MODEL, REPLAY_DAY, World, stream_world

__all__ = [
    "EXECUTOR",
    "REPLAY_DAY",
    "WORKER",
    "CrashLoop",
    "Integrity",
    "Outage",
    "Stack",
    "StackSettings",
    "Truth",
    "integrity",
    "market_at",
    "reliability_world",
]

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
SCENARIO_FILE: Final = Path(__file__).with_name("scenario.yaml")
WORKER: Final = "worker"
EXECUTOR: Final = "executor"
_BIN: Final = Path(sys.executable).parent
_STEP_WALL: Final = 0.02  # wall seconds between the harness's looks at the market
_CHILD_CLOCK_REFRESH: Final = 0.2  # the children's ExchangeClock refresh (wall seconds)
_READY_WALL: Final = 90.0  # most wall seconds a (re)started child may take to be back
_WARM_WALL: Final = 20.0  # most wall seconds at warm-up speed after a worker (re)start


def reliability_world(base: Path) -> World:
    """The streaming tests' world (simulated lake, registered champion) under ``base``: built once
    (about a minute), reused by every later run — pytest's session folder or var/reliability."""
    return stream_world(base)


def market_at(clock_time: dt_time, day: date = REPLAY_DAY) -> datetime:
    """``clock_time`` (IST) on ``day``, in UTC."""
    return datetime.combine(day, clock_time, tzinfo=IST).astimezone(UTC)


@dataclass(frozen=True)
class StackSettings:
    """How one run is played: market speed (market seconds per wall second), how far, how many
    stocks, the exchange's faults, and extra config keys (``SECTION__KEY``: value)."""

    speed: float = 120.0
    until: dt_time = dt_time(15, 30)
    stocks: int = 4
    faults: FaultPlan | None = None
    restart_speed: float = 5.0
    warm_speed: float = 20.0
    config: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Outage:
    """One kill -9 and the way back, in market and wall time."""

    process: str
    mode: str
    killed_at: datetime
    back_at: datetime | None = None
    resumed_at: datetime | None = None
    wall_down: float = 0.0
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["killed_at"] = f"{self.killed_at.astimezone(IST):%H:%M:%S}"
        for name in ("back_at", "resumed_at"):
            value = getattr(self, name)
            out[name] = None if value is None else f"{value.astimezone(IST):%H:%M:%S}"
        return out


class CrashLoop(RuntimeError):
    """A child died unprompted and died again while being restarted."""


class AlertReceiver:
    """A Slack-style incoming webhook on 127.0.0.1 that records every alert it is sent."""

    def __init__(self) -> None:
        self.alerts: list[str] = []
        received = self.alerts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                received.append(str(body.get("text", "")))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/services/reliability/webhook"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _LimiterTime:
    """What the exchange's rate limits count in: market time plus the wall time elapsed, as in
    ``kitepilot replay`` (a fast replay calls the broker as often per market second as live)."""

    def __init__(self) -> None:
        self.clock: Clock | None = None
        self._wall0 = time.monotonic()

    def now(self) -> datetime:
        if self.clock is None:
            raise RuntimeError("the limiter's clock is set once the exchange is built")
        return self.clock.now() + timedelta(seconds=time.monotonic() - self._wall0)


@dataclass
class _Child:
    name: str
    argv: list[str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0


class Stack:
    """Exchange + worker + executor + approver + alert receiver for one run in ``run_dir``."""

    def __init__(self, world: World, run_dir: Path, settings: StackSettings) -> None:
        self.world = world
        self.run_dir = run_dir
        self.settings = settings
        self.alerts = AlertReceiver()
        self.outages: list[Outage] = []
        self.decisions: list[DemoDecision] = []
        self.startup: dict[str, float] = {}
        self.crashes: list[dict[str, Any]] = []
        self.calendar = NseCalendar.default()
        self._env: dict[str, str] = {}
        self._children: dict[str, _Child] = {}
        self._running: RunningExchange | None = None
        self._exchange: PaperExchange | None = None
        self._approver_stop = threading.Event()
        self._approver: threading.Thread | None = None
        self._approver_error: BaseException | None = None
        self._stack = contextlib.ExitStack()
        self._subscribed_before: set[str] = set()
        self._started_wall = SystemClock().now()
        self.config: KitepilotConfig | None = None
        self.tokens: list[int] = []
        self._operator: Executor | None = None

    # -- set-up ----------------------------------------------------------------------------

    def __enter__(self) -> Stack:
        try:
            return self._enter()
        except BaseException:
            self._stack.close()
            raise

    def _enter(self) -> Stack:
        if (self.run_dir / "kitepilot.db").exists():
            raise RuntimeError(f"{self.run_dir} holds an earlier run: a run starts from nothing")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "logs").mkdir(exist_ok=True)
        self.alerts.start()
        self._stack.callback(self.alerts.stop)
        self._env = self._environment()
        self.config = load_config(environ=self._env, dotenv_file=None)
        self.tokens = self.world.equities()[: self.settings.stocks]
        self._exchange = self._build_exchange(self.config)
        self._running = run_in_thread(self._exchange)
        self._stack.callback(self._running.stop)
        port = self._running.url.rsplit(":", 1)[1]
        self._env["KITEPILOT_PAPER_EXCHANGE__PORT"] = port
        self.store = self._stack.enter_context(SqlStore.open(self.config.storage.database_url))
        self.oms = OmsStore.of(self.store)
        executor_argv = [sys.executable, "-m", "tests.reliability.child", "executor"]
        executor_argv += ["--ready", str(self.run_dir / "executor.ready")]
        self._children = {
            WORKER: _Child(
                WORKER, [str(_BIN / "kitepilot"), "stream", "--paper"], self._log(WORKER)
            ),
            EXECUTOR: _Child(EXECUTOR, executor_argv, self._log(EXECUTOR)),
        }
        self._stack.callback(self._stop_children)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_approver()
        self._stack.close()

    def environment(self) -> dict[str, str]:
        """The children's environment (the config keys, the exchange's port, PYTHONPATH)."""
        return dict(self._env)

    def _log(self, name: str) -> Path:
        return self.run_dir / "logs" / f"{name}.log"

    def _environment(self) -> dict[str, str]:
        world, run = self.world.root, self.run_dir
        env = {k: v for k, v in os.environ.items() if not k.startswith("KITEPILOT_")}
        env.update(
            {
                CONFIG_FILE_VARIABLE: str(SCENARIO_FILE),
                "KITEPILOT_STORAGE__VAR_DIR": str(run / "var"),
                "KITEPILOT_STORAGE__LAKE_DIR": str(world / "lake"),
                "KITEPILOT_STORAGE__REPORTS_DIR": str(run / "reports"),
                "KITEPILOT_STORAGE__DATABASE_URL": f"sqlite:///{run / 'kitepilot.db'}",
                "KITEPILOT_STORAGE__MLFLOW_TRACKING_URI": f"sqlite:///{world / 'mlflow.db'}",
                "KITEPILOT_STORAGE__MLFLOW_ARTIFACTS_DIR": str(world / "mlartifacts"),
                "KITEPILOT_TRAINING__MODEL_NAME": MODEL,
                "KITEPILOT_PAPER_EXCHANGE__REPLAY_DAY": REPLAY_DAY.isoformat(),
                "KITEPILOT_PAPER_EXCHANGE__DATABASE": f"sqlite:///{run / 'paper_exchange.db'}",
                "KITEPILOT_ALERTS__SLACK__ENABLED": "true",
                "KITEPILOT_ALERTS__SLACK__WEBHOOK_URL": self.alerts.url,
                "PYTHONPATH": str(REPO_ROOT),
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update({f"KITEPILOT_{key}": value for key, value in self.settings.config.items()})
        return env

    def _build_exchange(self, config: KitepilotConfig) -> PaperExchange:
        paper = config.paper_exchange
        secret, _ = credentials(config)
        limiter = _LimiterTime()
        market = open_market(
            "lake",
            REPLAY_DAY,
            seed=paper.seed,
            lake_root=config.storage.lake_dir,
            calendar=self.calendar,
            tokens=self.tokens,
        )
        exchange = build_exchange(
            market,
            ExchangeSettings(
                api_key=paper.api_key,
                api_secret=secret.api_secret,
                user_id=paper.user_id,
                redirect_url=paper.redirect_url,
                admin_token=secret.admin_token,
                host="127.0.0.1",
                port=0,
                heartbeat_seconds=paper.heartbeat_seconds,
            ),
            database=f"sqlite:///{self.run_dir / 'paper_exchange.db'}",
            starting_cash=paper.starting_cash,
            speed=0.0,  # paused at the open until the worker and the executor are up
            faults=self.settings.faults,
            calendar=self.calendar,
            limiter_clock=limiter,
        )
        limiter.clock = exchange.clock
        return exchange

    @property
    def exchange(self) -> PaperExchange:
        if self._exchange is None:
            raise RuntimeError("the stack is not entered")
        return self._exchange

    def call(self, work: Callable[[], Any]) -> Any:
        """``work()`` on the exchange's event loop (the venue's own thread)."""
        if self._running is None:
            raise RuntimeError("the stack is not entered")

        async def run() -> Any:
            return work()

        return self._running.call(run())

    # -- the market clock -------------------------------------------------------------------

    def now(self) -> datetime:
        return self.exchange.clock.now()

    def set_speed(self, speed: float) -> None:
        self.exchange.clock.set_speed(speed)

    def slow_down(self) -> None:
        """Slow the market to ``restart_speed`` and let it run past where the children's clocks
        may have carried it: a child reads the exchange's clock every ``_CHILD_CLOCK_REFRESH``
        wall seconds and carries it forward at the speed it last saw, never back, so just after
        a slow-down it can be ahead by that much time at the old speed — and stamp what it does
        next later than what the harness does after it."""
        lead = timedelta(seconds=_CHILD_CLOCK_REFRESH * self.exchange.clock.speed)
        self.set_speed(self.settings.restart_speed)
        self.play_until(self.now() + lead + timedelta(seconds=1))

    def set_faults(self, plan: FaultPlan) -> None:
        self.call(lambda: self.exchange.faults.replace(plan))

    # -- children ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the executor and the worker, wait until both are up, then warm the worker up
        at ``warm_speed`` and run at ``speed``."""
        began = time.monotonic()
        self._spawn(EXECUTOR)
        self._spawn(WORKER)
        self._wait_ready(EXECUTOR)
        self.startup["executor_ready"] = time.monotonic() - began
        self._wait_ready(WORKER)
        self.startup["worker_ready"] = time.monotonic() - began
        self._start_approver()
        self._warm_up()
        self.startup["warm"] = time.monotonic() - began
        self.set_speed(self.settings.speed)

    def _spawn(self, name: str) -> None:
        child = self._children[name]
        if name == EXECUTOR:
            (self.run_dir / "executor.ready").unlink(missing_ok=True)
        self._subscribed_before = self._subscribed()
        with child.log.open("ab") as log:
            log.write(f"\n=== start {child.starts + 1}: {' '.join(child.argv)}\n".encode())
            log.flush()
            child.process = subprocess.Popen(  # noqa: S603 - our own fixed argv, no shell
                child.argv,
                cwd=self.run_dir,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill -9 takes all of it
            )
        child.starts += 1
        self._started_wall = SystemClock().now()

    def _subscribed(self) -> set[str]:
        hub = self.exchange.hub
        found: set[str] = self.call(lambda: {c for c in hub.connections if hub.subscriptions(c)})
        return found

    def _is_ready(self, name: str) -> bool:
        if name == EXECUTOR:
            return (self.run_dir / "executor.ready").exists()
        return bool(self._subscribed() - self._subscribed_before)

    def _wait_ready(self, name: str) -> None:
        child = self._children[name]
        deadline = time.monotonic() + _READY_WALL
        while not self._is_ready(name):
            process = child.process
            if process is not None and process.poll() is not None:
                raise CrashLoop(
                    f"{name} exited with {process.returncode} while starting; see {child.log}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not up after {_READY_WALL:g} s; see {child.log}")
            time.sleep(0.05)

    def _warm_up(self) -> None:
        """Warm-up speed until the worker has scored a bar (its champion and history loaded):
        its metrics (every 5 wall seconds) show bars scored since it started."""
        self.set_speed(self.settings.warm_speed)
        deadline = time.monotonic() + _WARM_WALL
        while time.monotonic() < deadline:
            latest = self.store.latest_metric_time()
            if latest is not None and latest > self._started_wall:
                metrics = self.store.latest_metrics()
                scored = sum(m.get("scored", 0.0) for w, m in metrics.items() if "paper" in w)
                if scored > 0:
                    return
            time.sleep(0.1)

    def alive(self, name: str) -> bool:
        process = self._children[name].process
        return process is not None and process.poll() is None

    def kill(self, name: str, mode: str, detail: str = "") -> Outage:
        """kill -9 ``name``'s process group now; the market slows to ``restart_speed``."""
        child = self._children[name]
        process = child.process
        if process is None:
            raise RuntimeError(f"{name} was never started")
        self.set_speed(self.settings.restart_speed)
        outage = Outage(name, mode, self.now(), detail=detail)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        self.outages.append(outage)
        return outage

    def restart(self, *outages: Outage) -> None:
        """Start the killed processes again, wait until they are back (the worker warmed up),
        then run at full speed again."""
        began = time.monotonic()
        for outage in outages:
            self._spawn(outage.process)
        for outage in outages:
            self._wait_ready(outage.process)
            outage.back_at = self.now()
        if any(o.process == WORKER for o in outages):
            self._warm_up()
        for outage in outages:
            outage.resumed_at = self.now()
            outage.wall_down = time.monotonic() - began
        self.set_speed(self.settings.speed)

    def _stop_children(self) -> None:
        for name in (WORKER, EXECUTOR):
            self.stop_child(name)

    def stop_child(self, name: str) -> None:
        """A clean stop: SIGINT (the worker's Ctrl-C) / SIGTERM (the executor), then SIGKILL."""
        process = self._children[name].process
        if process is None or process.poll() is not None:
            return
        signum = signal.SIGINT if name == WORKER else signal.SIGTERM
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signum)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)

    # -- the approver (the human at the screen) ----------------------------------------------

    def _start_approver(self) -> None:
        if self.config is None:
            raise RuntimeError("the stack is not entered")
        approver = DemoApprover(self.config.strategy.min_confidence)
        audit = AuditLog(self.config.storage.var_dir / "audit", SystemClock())
        desk = DecisionDesk(self.store, self.exchange.clock, audit)

        def loop() -> None:
            try:
                while not self._approver_stop.is_set():
                    self.decisions += approver.review(desk)
                    self._approver_stop.wait(0.05)
            except BaseException as error:  # handed to the main thread by stop_approver
                self._approver_error = error

        self._approver = threading.Thread(target=loop, name="approver", daemon=True)
        self._approver.start()

    def stop_approver(self) -> None:
        self._approver_stop.set()
        if self._approver is not None:
            self._approver.join(timeout=30)
            self._approver = None
        if self._approver_error is not None:
            error, self._approver_error = self._approver_error, None
            raise error

    # -- playing the day ---------------------------------------------------------------------

    def play_until(
        self, until: datetime, on_step: Callable[[datetime], None] | None = None
    ) -> None:
        """Let the market run until ``until`` (market time), calling ``on_step`` as it goes. A
        child that dies unprompted is a crash: recorded (with its log's last lines) and
        restarted; one that dies again while starting raises :class:`CrashLoop`."""
        while (now := self.now()) < until:
            if on_step is not None:
                on_step(now)
            for name in (WORKER, EXECUTOR):
                if not self.alive(name) and not self._being_restarted(name):
                    self._crashed(name)
            time.sleep(_STEP_WALL)

    def _crashed(self, name: str) -> None:
        self.set_speed(self.settings.restart_speed)
        child = self._children[name]
        process = child.process
        code = None if process is None else process.returncode
        tail = child.log.read_text(encoding="utf-8", errors="replace").splitlines()[-3:]
        self.crashes.append(
            {"process": name, "at": f"{self.now().astimezone(IST):%H:%M:%S}", "exit": code}
            | {"log": tail}
        )
        outage = Outage(name, "crash", self.now(), detail=" | ".join(tail))
        self.outages.append(outage)
        try:
            self.restart(outage)
        except CrashLoop as again:
            raise CrashLoop(f"{name} crashed and could not start again: {again}") from again

    def _being_restarted(self, name: str) -> bool:
        return (
            bool(self.outages) and self.outages[-1].process == name and not self.outages[-1].back_at
        )

    def finish(self, settle_wall: float = 4.0) -> None:
        """End of the run: stop the worker (no new proposals), let the executor settle working
        orders for ``settle_wall`` seconds at restart speed, then stop the approver, pause the
        market and stop the executor cleanly."""
        self.stop_child(WORKER)
        self.set_speed(self.settings.restart_speed)
        deadline = time.monotonic() + settle_wall
        while time.monotonic() < deadline and self.oms.orders(open_only=True):
            time.sleep(0.1)
        time.sleep(1.0)  # the last order update and poll
        self.stop_approver()
        self.set_speed(0.0)
        self.stop_child(EXECUTOR)

    def operator(self) -> Executor:
        """An executor in this process, as the dashboard's actions build one (on the market
        clock): what an operator's kill, re-arm or exit goes through. Built once."""
        if self._operator is None:
            config = load_config(environ=self._env, dotenv_file=None)
            login = BrokerLogin(paper_session(config))
            self._operator = build_executor(config, login, clock=self.exchange.clock)
            self._stack.callback(self._operator.context.store.close)
        return self._operator

    def audit_intact(self) -> tuple[bool, int, str]:
        if self.config is None:
            raise RuntimeError("the stack is not entered")
        report = verify(self.config.storage.var_dir / "audit")
        return report.ok, report.entries, "" if report.ok else f"{report.problem} ({report.file})"

    def audit_alerts(self) -> list[str]:
        """The alert entries of the audit log (what was alerted, whatever the channel did)."""
        if self.config is None:
            raise RuntimeError("the stack is not entered")
        log = AuditLog(self.config.storage.var_dir / "audit", SystemClock())
        return [e.subject for e in log.entries(kinds=[AuditKind.ALERT])]

    def truth(self) -> Truth:
        """The exchange's books and the store, read now."""
        venue = self.exchange.venue
        orders, trades, positions = self.call(
            lambda: (venue.orders(), venue.trades(), venue.positions())
        )
        return Truth.read(self.store, orders, trades, positions["net"])


# -- what happened: the exchange's books against the store ----------------------------------------


@dataclass(frozen=True)
class Truth:
    """The exchange's order book, trade book and net positions, and the store's records."""

    exchange_orders: list[dict[str, Any]]
    exchange_trades: list[dict[str, Any]]
    exchange_positions: dict[tuple[int, str], int]
    store_orders: dict[str, dict[str, Any]]
    store_fills: dict[str, dict[str, Any]]
    adjustments: dict[tuple[int, str], int]
    proposals: dict[str, dict[str, Any]]
    verdicts: dict[str, bool]
    findings: list[tuple[str, str]]
    kill_switch: bool
    open_trades: dict[str, int]
    exits: dict[str, str]  # exit id -> the entry proposal it closes

    @classmethod
    def read(
        cls,
        store: SqlStore,
        orders: list[dict[str, Any]],
        trades: list[dict[str, Any]],
        net: Sequence[Mapping[str, Any]],
    ) -> Truth:
        oms = OmsStore.of(store)
        store_orders = {
            r.client_tag.value: {
                "subject": r.subject_id,
                "purpose": r.purpose.value,
                "quantity": r.intent.quantity,
                "status": None if r.latest is None else r.latest.status.value,
                "order_id": r.order_id,
                "final": r.is_final,
            }
            for r in oms.orders()
        }
        fills = {
            s.fill.trade_id.value: {
                "tag": None if s.fill.client_tag is None else s.fill.client_tag.value,
                "quantity": s.fill.quantity * s.fill.side.sign,
                "token": int(s.fill.instrument_token),
                "product": s.fill.product.value,
            }
            for s in oms.fills()
        }
        adjustments: Counter[tuple[int, str]] = Counter()
        for a in oms.adjustments():
            adjustments[(int(a.instrument_token), a.product.value)] += a.quantity
        return cls(
            exchange_orders=orders,
            exchange_trades=trades,
            exchange_positions={
                (int(p["instrument_token"]), str(p["product"])): int(p["quantity"]) for p in net
            },
            store_orders=store_orders,
            store_fills=fills,
            adjustments=dict(adjustments),
            proposals=_proposals(store),
            verdicts={v.subject_id: v.accepted for v in oms.verdicts()},
            findings=[(f.kind, f.subject) for f in oms.findings()],
            kill_switch=oms.kill_switch().engaged,
            open_trades={t.proposal_id.value: t.quantity for t in store.open_trades()},
            exits={e.exit_id.value: e.entry_proposal_id.value for e in store.exits()},
        )

    def fill_positions(self) -> dict[tuple[int, str], int]:
        """Net quantity per (instrument, product) from the stored fills alone."""
        out: Counter[tuple[int, str]] = Counter()
        for fill in self.store_fills.values():
            out[(fill["token"], fill["product"])] += fill["quantity"]
        return dict(out)

    def book_positions(self) -> dict[tuple[int, str], int]:
        """Fills plus reconciliation's adjustments (what the executor believes it holds)."""
        out = Counter(self.fill_positions())
        out.update(self.adjustments)
        return dict(out)


def _proposals(store: SqlStore) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for status in ProposalStatus:
        for proposal in store.with_status(status):
            decisions = store.decisions(proposal.proposal_id)
            out[proposal.proposal_id.value] = {
                "status": status.value,
                "ts_event": proposal.ts_event,
                "expires_at": proposal.expires_at,
                "p_win": proposal.p_win,
                "symbol": proposal.tradingsymbol,
                "decision": decisions[-1].verdict.value if decisions else None,
                "decided": [d.verdict is Verdict.APPROVE for d in decisions],
            }
    return out


@dataclass(frozen=True)
class Integrity:
    """What must be zero after any run (each a list of the offending ids, for the report)."""

    duplicate_orders: list[str]
    orders_lost_by_store: list[str]
    orders_lost_by_exchange: list[str]
    orders_in_flight: list[str]
    state_disagrees: list[str]
    fills_lost: list[str]
    fills_unknown_to_exchange: list[str]
    approvals_without_verdict: list[str]
    accepted_without_order: list[str]
    exits_lost: list[str]
    entries_without_trade: list[str]
    position_mismatches: list[str]
    position_mismatch_findings: list[str]

    def counts(self) -> dict[str, int]:
        return {name: len(value) for name, value in asdict(self).items()}

    @property
    def clean(self) -> bool:
        return not any(self.counts().values())


_EXCHANGE_FINAL: Final = frozenset({"COMPLETE", "CANCELLED", "REJECTED"})


def integrity(truth: Truth) -> Integrity:
    """Count every way the store and the exchange disagree, or an order went twice or astray."""
    tags = Counter(o.get("tag") for o in truth.exchange_orders if o.get("tag"))
    by_tag = {o["tag"]: o for o in truth.exchange_orders if o.get("tag")}
    order_tag = {o["order_id"]: o.get("tag") for o in truth.exchange_orders}
    ours = truth.store_orders
    disagree = []
    for tag, record in ours.items():
        theirs = by_tag.get(tag)
        if theirs is None or record["status"] is None:
            continue
        if record["final"] != (theirs["status"] in _EXCHANGE_FINAL) or (
            record["final"] and record["status"] != theirs["status"]
        ):
            disagree.append(f"{tag}: store {record['status']}, exchange {theirs['status']}")
    exchange_trade_ids = {t["trade_id"] for t in truth.exchange_trades}
    return Integrity(
        duplicate_orders=[f"{tag} x{n}" for tag, n in tags.items() if n > 1],
        orders_lost_by_store=sorted(set(by_tag) - set(ours)),
        orders_lost_by_exchange=sorted(
            tag for tag, r in ours.items() if tag not in by_tag and r["order_id"] is not None
        ),
        orders_in_flight=sorted(tag for tag, r in ours.items() if r["status"] is None),
        state_disagrees=disagree,
        fills_lost=sorted(
            t["trade_id"]
            for t in truth.exchange_trades
            if order_tag.get(t["order_id"]) and t["trade_id"] not in truth.store_fills
        ),
        fills_unknown_to_exchange=sorted(set(truth.store_fills) - exchange_trade_ids),
        approvals_without_verdict=sorted(
            pid
            for pid, p in truth.proposals.items()
            if p["status"] == ProposalStatus.APPROVED.value and pid not in truth.verdicts
        ),
        accepted_without_order=sorted(
            pid
            for pid, p in truth.proposals.items()
            if truth.verdicts.get(pid) and not any(r["subject"] == pid for r in ours.values())
        ),
        exits_lost=_exits_lost(truth),
        entries_without_trade=_entries_without_trade(truth),
        position_mismatches=_position_mismatches(truth),
        position_mismatch_findings=[s for k, s in truth.findings if k == "position_mismatch"],
    )


def _exits_lost(truth: Truth) -> list[str]:
    """Exits the worker decided for a trade still open at the end with nothing working to close
    it: every order of the exit ended, or the exit was vetoed and never sent (a stop or target
    that will not happen)."""
    lost = []
    for exit_id, entry in truth.exits.items():
        if entry not in truth.open_trades:
            continue
        orders = [r for r in truth.store_orders.values() if r["subject"] == exit_id]
        if orders and all(r["final"] for r in orders):
            lost.append(f"{exit_id}: {', '.join(str(r['status']) for r in orders)}")
        elif not orders and truth.verdicts.get(exit_id) is False:
            lost.append(f"{exit_id}: vetoed")
    return lost


def _entries_without_trade(truth: Truth) -> list[str]:
    """Entries that filled but never became a trade (the proposal neither FILLED nor CLOSED): the
    exit monitor does not know the position, so no stop, target or time exit will close it."""
    filled: dict[str, int] = {}
    for fill in truth.store_fills.values():
        record = truth.store_orders.get(fill["tag"] or "")
        if record is not None and record["purpose"] == "entry":
            filled[record["subject"]] = filled.get(record["subject"], 0) + abs(fill["quantity"])
    done = {ProposalStatus.FILLED.value, ProposalStatus.CLOSED.value}
    return sorted(
        f"{pid}: {quantity} filled, {truth.proposals[pid]['status']}"
        for pid, quantity in filled.items()
        if pid in truth.proposals and truth.proposals[pid]["status"] not in done
    )


def _position_mismatches(truth: Truth) -> list[str]:
    book = truth.fill_positions()
    keys = set(book) | set(truth.exchange_positions)
    return [
        f"{token} {product}: store {book.get((token, product), 0)}, "
        f"exchange {truth.exchange_positions.get((token, product), 0)}"
        for token, product in sorted(keys)
        if book.get((token, product), 0) != truth.exchange_positions.get((token, product), 0)
    ]
