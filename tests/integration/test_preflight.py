"""``kitepilot preflight`` against real parts: the paper exchange in a thread (through the real
``kiteconnect`` client), a SQLite store, a real MLflow registry with a champion, and a lake with
the previous session's candles. The healthy set-up passes every check; each broken state fails its
own check (and only the checks that depend on it) and the command exits 1.

The pure checks of ``execution.console.preflight`` are specified at the end, case by case.

The champion's age is MLflow's creation time (the wall clock), so the set-up's clock is the wall
clock's reading at the start of each test, and the lake gets the previous session before it.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import polars as pl
import pytest
import requests
import typer
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from data_contracts.clock import ManualClock
from data_contracts.config import KitepilotConfig
from data_contracts.enums import Exchange, OrderStatus, Product, TradingMode
from data_contracts.ids import ClientTag
from data_contracts.nse_calendar import NseCalendar
from data_contracts.ports import RegisteredModel
from data_contracts.timeutil import to_ist
from data_contracts.trading import OrderEvent
from execution.console.preflight import (
    BROKER,
    CHAMPION,
    CHAMPION_MAX_AGE,
    DATA,
    KILL_SWITCH,
    MARGIN,
    MODE,
    ORDERS,
    RISK_LIMITS,
    PreflightReport,
    broker_check,
    champion_check,
    data_freshness_check,
    kill_switch_check,
    margin_check,
    mode_check,
    orders_check,
    previous_trading_session,
    risk_limits_check,
)
from execution.orders.tags import client_tag
from execution.paper.app import ExchangeSettings, RunningExchange, build_exchange, open_market
from execution.paper.app import run_in_thread as run_exchange
from execution.paper.rest import ADMIN_HEADER
from execution.store import OmsStore, SqlStore
from execution.store.oms import KillSwitchState, OrderPurpose, OrderRecord
from models.lake import Lake
from models.registry import MlflowRegistry
from models.training import TrainingConfig, train_model
from orchestration.preflight import register, run_preflight
from orchestration.settings import load_config
from tests.factories import order_event, order_intent, session_bars

DAY = date(2026, 8, 18)  # the paper exchange's replayed session (any will do)
API_KEY = "kitepilot_paper"
API_SECRET = "preflight-secret"  # noqa: S105 - a test fixture, not a secret
ADMIN = "preflight-admin"
WRONG_SECRET = "a-wrong-secret-value"  # noqa: S105 - a test fixture
MODEL = "kitepilot-preflight-test"
INFY = 408065
EVERY_CHECK = (MODE, BROKER, MARGIN, RISK_LIMITS, KILL_SWITCH, ORDERS, CHAMPION, DATA)
CALENDAR = NseCalendar.default()


# --- the set-up ---------------------------------------------------------------------------------


class SteppingClock:
    """The exchange's rate-limit clock: a second per reading, so back-to-back runs never trip
    the paper exchange's per-second limits."""

    def __init__(self) -> None:
        self._now = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        self._now += timedelta(seconds=1.01)
        return self._now


@pytest.fixture(scope="module")
def exchange() -> Iterator[RunningExchange]:
    market = open_market("sim", DAY, seed=11, tokens=[INFY])
    built = build_exchange(
        market,
        ExchangeSettings(API_KEY, API_SECRET, admin_token=ADMIN),
        database="sqlite://",
        starting_cash=1_000_000,
        speed=0,
        limiter_clock=SteppingClock(),
    )
    with run_exchange(built) as running:
        answer = requests.put(
            running.url + "/_paper/clock",
            json={"jump_to": f"{DAY} 09:30:00"},
            headers={ADMIN_HEADER: ADMIN},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        yield running


@dataclass(frozen=True)
class MlflowStore:
    uri: str
    artifacts: Path


@pytest.fixture(scope="module")
def champion_store(tmp_path_factory: pytest.TempPathFactory) -> MlflowStore:
    """A real MLflow store whose model has a champion: a tiny XGBoost model on synthetic rows."""
    root = tmp_path_factory.mktemp("mlflow")
    rng = np.random.default_rng(3)
    n = 300
    t0 = datetime(2026, 8, 3, 4, 0, tzinfo=UTC)
    ts = [t0 + timedelta(minutes=i) for i in range(n)]
    signal = rng.normal(size=n)
    net = signal + rng.normal(scale=0.7, size=n)
    rows = pl.DataFrame(
        {
            "instrument_token": [INFY] * n,
            "ts_event": ts,
            "exit_ts": [t + timedelta(minutes=5) for t in ts],
            "feature_version": ["fs-preflight"] * n,
            "ret_1": signal,
            "net_return_pct": net,
            "win": net > 0,
        }
    ).with_columns(pl.col("ts_event", "exit_ts").dt.cast_time_unit("us"))
    model = train_model(
        rows,
        feature_columns=("ret_1",),
        feature_version="fs-preflight",
        config=TrainingConfig(n_estimators=10, early_stopping_rounds=5, embargo_minutes=0),
    )
    store = MlflowStore(f"sqlite:///{root / 'mlflow.db'}", root / "mlartifacts")
    registry = MlflowRegistry(
        store.uri, store.artifacts, MODEL, clock=ManualClock(datetime.now(UTC))
    )
    version = registry.log_training(
        model=model,
        params={},
        metrics={"auc": 0.6},
        fold_metrics=[],
        artifacts={},
        lineage={"data_source": "simulator"},
        input_example=rows.head(5),
    )
    registry.promote(version.version)
    return store


@dataclass
class Setup:
    """One test's kitepilot: its own var dir, store and lake; the shared exchange and registry."""

    root: Path
    environ: dict[str, str]
    clock: ManualClock
    overrides: dict[str, str] = field(default_factory=dict)

    def config(self) -> KitepilotConfig:
        return load_config(environ=self.environ | self.overrides, dotenv_file=None)

    @property
    def lake(self) -> Lake:
        return Lake(self.root / "lake")

    def store(self) -> SqlStore:
        return SqlStore.open(self.config().storage.database_url)

    def report(self) -> PreflightReport:
        return run_preflight(self.config(), clock=self.clock)


def _write_candles(lake: Lake, day: date) -> None:
    session = CALENDAR.session(day)
    assert session is not None
    lake.write("candles_1m", day, session_bars(INFY, session.close, 10))


@pytest.fixture
def setup(tmp_path: Path, exchange: RunningExchange, champion_store: MlflowStore) -> Setup:
    now = datetime.now(UTC)
    environ = {
        "KITEPILOT_STORAGE__VAR_DIR": str(tmp_path / "var"),
        "KITEPILOT_STORAGE__LAKE_DIR": str(tmp_path / "lake"),
        "KITEPILOT_STORAGE__REPORTS_DIR": str(tmp_path / "reports"),
        "KITEPILOT_STORAGE__DATABASE_URL": f"sqlite:///{tmp_path / 'kitepilot.db'}",
        "KITEPILOT_STORAGE__MLFLOW_TRACKING_URI": champion_store.uri,
        "KITEPILOT_STORAGE__MLFLOW_ARTIFACTS_DIR": str(champion_store.artifacts),
        "KITEPILOT_TRAINING__MODEL_NAME": MODEL,
        "KITEPILOT_PAPER_EXCHANGE__PORT": str(urlsplit(exchange.url).port),
        "KITEPILOT_PAPER_EXCHANGE__API_SECRET": API_SECRET,
    }
    made = Setup(tmp_path, environ, ManualClock(now))
    _write_candles(made.lake, previous_trading_session(CALENDAR, to_ist(now).date()))
    return made


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # nothing listens on it once the probe is closed


def _failed(report: PreflightReport) -> set[str]:
    return {check.name for check in report.failed}


def _detail(report: PreflightReport, name: str) -> str:
    (check,) = [c for c in report.checks if c.name == name]
    return check.detail


def _cli(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> tuple[int, dict[str, Any]]:
    """``kitepilot preflight --json`` in ``setup`` (no ./kitepilot.yaml or .env in the way)."""
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """kitepilot (only the preflight command)."""

    register(app)
    monkeypatch.chdir(setup.root)
    result = CliRunner().invoke(app, ["preflight", "--json"], env=setup.environ | setup.overrides)
    return result.exit_code, json.loads(result.stdout)


# --- a passing state ----------------------------------------------------------------------------


def test_preflight_healthy_paper_setup_passes_every_check(setup: Setup) -> None:
    report = setup.report()

    assert [c.name for c in report.checks] == list(EVERY_CHECK)
    assert report.ok, [f"{c.name}: {c.detail}" for c in report.failed]
    assert "PAPER" in _detail(report, MODE)
    assert f"{MODEL} v1" in _detail(report, CHAMPION)


def test_preflight_command_healthy_setup_exits_zero_with_every_check(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, printed = _cli(setup, monkeypatch)

    assert code == 0
    assert printed["ok"] is True
    assert printed["mode"] == "paper"
    assert [c["name"] for c in printed["checks"]] == list(EVERY_CHECK)


def test_preflight_secrets_never_printed(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    setup.overrides["KITEPILOT_PAPER_EXCHANGE__API_SECRET"] = WRONG_SECRET

    code, printed = _cli(setup, monkeypatch)

    assert code == 1
    assert WRONG_SECRET not in json.dumps(printed)


# --- failing states -----------------------------------------------------------------------------


def _engage_kill_switch(setup: Setup) -> None:
    with setup.store() as store:
        OmsStore.of(store).record_kill_switch(True, setup.clock.now(), "alice", "feed looked wrong")


def _stuck_order(setup: Setup) -> None:
    """An order claimed an hour ago that the broker never heard of."""
    intent = order_intent(
        client_tag=client_tag("stuck-proposal"), ts_init=setup.clock.now() - timedelta(hours=1)
    )
    with setup.store() as store:
        OmsStore.of(store).claim_order(
            intent,
            subject_id="stuck-proposal",
            purpose=OrderPurpose.ENTRY,
            slice_index=0,
            reference_price=100.0,
        )


def _no_champion(setup: Setup) -> None:
    setup.overrides["KITEPILOT_STORAGE__MLFLOW_TRACKING_URI"] = (
        f"sqlite:///{setup.root / 'empty-mlflow.db'}"
    )
    setup.overrides["KITEPILOT_STORAGE__MLFLOW_ARTIFACTS_DIR"] = str(setup.root / "empty-art")


def _stale_lake(setup: Setup) -> None:
    for day in setup.lake.days("candles_1m"):
        setup.lake.delete("candles_1m", day)
    _write_candles(setup.lake, date(2026, 7, 9))


def _broker_unreachable(setup: Setup) -> None:
    setup.overrides["KITEPILOT_PAPER_EXCHANGE__PORT"] = str(_free_port())


def _margin_short(setup: Setup) -> None:
    setup.overrides["KITEPILOT_CAPITAL"] = "5000000"  # the paper account holds ₹10 lakh


BROKEN: dict[str, tuple[Callable[[Setup], None], set[str], str]] = {
    "kill switch engaged": (_engage_kill_switch, {KILL_SWITCH}, "alice"),
    "stuck order": (_stuck_order, {ORDERS}, "unknown to the broker"),
    "no champion": (_no_champion, {CHAMPION}, "no `champion` alias"),
    "stale lake": (_stale_lake, {DATA}, "ends 2026-07-09"),
    "broker unreachable": (_broker_unreachable, {BROKER, MARGIN, ORDERS}, "could not be asked"),
    "margin short": (_margin_short, {MARGIN}, "add funds"),
}


@pytest.mark.parametrize("state", list(BROKEN))
def test_preflight_broken_state_fails_its_own_check(setup: Setup, state: str) -> None:
    breaks, failing, said = BROKEN[state]
    breaks(setup)

    report = setup.report()

    assert _failed(report) == failing, [f"{c.name}: {c.detail}" for c in report.failed]
    first = next(name for name in EVERY_CHECK if name in failing)
    assert said in _detail(report, first)


@pytest.mark.parametrize("state", ["kill switch engaged", "stuck order", "broker unreachable"])
def test_preflight_command_broken_state_exits_one(
    setup: Setup, monkeypatch: pytest.MonkeyPatch, state: str
) -> None:
    breaks, failing, _ = BROKEN[state]
    breaks(setup)

    code, printed = _cli(setup, monkeypatch)

    assert code == 1
    assert printed["ok"] is False
    checks = printed["checks"]
    assert isinstance(checks, list)
    failed = [c for c in checks if not c["ok"]]
    assert {c["name"] for c in failed} == failing, failed


def test_preflight_order_the_broker_filled_but_store_thinks_open_fails_orders(
    setup: Setup, exchange: RunningExchange
) -> None:
    """An order placed at the paper exchange (filled there) whose fill the store never heard of."""
    from execution.kite.broker import kite_broker
    from execution.kite.login import paper_login

    broker = kite_broker(
        API_KEY,
        paper_login(exchange.url, API_KEY, API_SECRET),
        clock=setup.clock,
        root=exchange.url,
        symbols={INFY: ("NSE", "INFY")},
    )
    last = broker.last_prices([INFY])[INFY]
    tag = client_tag("filled-elsewhere")
    intent = order_intent(
        client_tag=tag,
        instrument_token=INFY,
        exchange=Exchange.NSE,
        tradingsymbol="INFY",
        quantity=1,
        lot_size=1,
        product=Product.MIS,
        price=round(round(last * 1.01 / 0.05) * 0.05, 2),
        ts_init=setup.clock.now(),
    )
    order_id = broker.place_order(intent)
    with setup.store() as store:
        oms = OmsStore.of(store)
        oms.claim_order(
            intent,
            subject_id="filled-elsewhere",
            purpose=OrderPurpose.ENTRY,
            slice_index=0,
            reference_price=last,
        )
        oms.record_order_event(
            order_event(
                client_tag=tag,
                order_id=order_id,
                quantity=1,
                ts_event=setup.clock.now(),
                ts_init=setup.clock.now(),
            ),
            "test",
        )

    report = setup.report()

    assert _failed(report) == {ORDERS}, [f"{c.name}: {c.detail}" for c in report.failed]
    assert f"{tag.value} (INFY): OPEN here, COMPLETE at the broker" in _detail(report, ORDERS)


# --- the pure checks ----------------------------------------------------------------------------

NOW = datetime(2026, 8, 18, 4, 0, tzinfo=UTC)  # 09:30 IST, a Tuesday
GRACE = timedelta(seconds=30)


def _event(subject: str, status: OrderStatus) -> OrderEvent:
    filled = (
        {"filled_quantity": 65, "average_price": 100.0} if status is OrderStatus.COMPLETE else {}
    )
    return order_event(client_tag=client_tag(subject), status=status, **filled)


def _record(subject: str, status: OrderStatus | None, age: timedelta = GRACE * 2) -> OrderRecord:
    tag = client_tag(subject)
    latest = None if status is None else _event(subject, status)
    return OrderRecord(
        intent=order_intent(client_tag=tag),
        subject_id=subject,
        purpose=OrderPurpose.ENTRY,
        slice_index=0,
        created_at=NOW - age,
        reference_price=100.0,
        latest=latest,
    )


def _at_broker(subject: str, status: OrderStatus) -> OrderEvent:
    return _event(subject, status)


@pytest.mark.parametrize(
    ("ours", "theirs", "ok"),
    [
        pytest.param([], [], True, id="nothing anywhere"),
        pytest.param(
            [_record("a", OrderStatus.OPEN)], [_at_broker("a", OrderStatus.OPEN)], True, id="open"
        ),
        pytest.param(
            [_record("a", OrderStatus.COMPLETE)], [], True, id="final, from an earlier day"
        ),
        pytest.param([_record("a", None, age=GRACE / 2)], [], True, id="just sent, not listed yet"),
        pytest.param([_record("a", None)], [], False, id="in flight, never reached the broker"),
        pytest.param([_record("a", OrderStatus.OPEN)], [], False, id="open here, unknown there"),
        pytest.param(
            [_record("a", OrderStatus.OPEN)],
            [_at_broker("a", OrderStatus.CANCELLED)],
            False,
            id="open here, cancelled there",
        ),
        pytest.param(
            [_record("a", OrderStatus.CANCELLED)],
            [_at_broker("a", OrderStatus.OPEN)],
            False,
            id="cancelled here, still open there",
        ),
        pytest.param(
            [_record("a", OrderStatus.CANCELLED)],
            [_at_broker("a", OrderStatus.COMPLETE)],
            False,
            id="cancelled here, filled there",
        ),
        pytest.param([], [_at_broker("b", OrderStatus.OPEN)], False, id="ours, never claimed"),
    ],
)
def test_orders_check_store_against_broker(
    ours: list[OrderRecord], theirs: list[OrderEvent], ok: bool
) -> None:
    check = orders_check(ours, theirs, NOW, GRACE)

    assert (check.name, check.ok) == (ORDERS, ok)


def test_orders_check_orders_without_our_tag_are_not_ours() -> None:
    manual = order_event(client_tag=ClientTag("MANUAL1"), status=OrderStatus.OPEN)

    assert orders_check([], [manual], NOW, GRACE).ok


@given(
    statuses=st.lists(st.sampled_from(list(OrderStatus)), min_size=1, max_size=8),
    broken=st.integers(min_value=0),
)
def test_orders_check_mirror_passes_and_one_divergence_fails(
    statuses: list[OrderStatus], broken: int
) -> None:
    ours = [_record(f"s{i}", status) for i, status in enumerate(statuses)]
    mirror = [_at_broker(f"s{i}", status) for i, status in enumerate(statuses)]
    i = broken % len(statuses)
    flipped = OrderStatus.OPEN if statuses[i].is_final else OrderStatus.CANCELLED
    diverged = [*mirror[:i], _at_broker(f"s{i}", flipped), *mirror[i + 1 :]]

    assert orders_check(ours, mirror, NOW, GRACE).ok
    assert not orders_check(ours, diverged, NOW, GRACE).ok


def test_orders_check_lists_at_most_five_problems() -> None:
    ours = [_record(f"s{i}", OrderStatus.OPEN) for i in range(8)]

    check = orders_check(ours, [], NOW, GRACE)

    assert not check.ok
    assert check.detail.startswith("8 mismatched")
    assert "and 3 more" in check.detail


def _champion(version: str = "3") -> RegisteredModel:
    return RegisteredModel(MODEL, version, "fs-1", promoted_at=None)


@pytest.mark.parametrize(
    ("champion", "age", "ok"),
    [
        pytest.param(_champion(), timedelta(days=1), True, id="a day old"),
        pytest.param(_champion(), CHAMPION_MAX_AGE, True, id="exactly 14 days"),
        pytest.param(_champion(), CHAMPION_MAX_AGE + timedelta(seconds=1), False, id="older"),
        pytest.param(_champion(), None, False, id="creation time unknown"),
        pytest.param(None, timedelta(days=1), False, id="no champion"),
    ],
)
def test_champion_check_present_and_recent(
    champion: RegisteredModel | None, age: timedelta | None, ok: bool
) -> None:
    created = None if age is None else NOW - age

    check = champion_check(MODEL, champion, created, NOW)

    assert (check.name, check.ok) == (CHAMPION, ok)
    if ok:
        assert f"{MODEL} v3 (features fs-1) created" in check.detail


@pytest.mark.parametrize(
    ("latest", "today", "ok"),
    [
        pytest.param(date(2026, 8, 17), date(2026, 8, 18), True, id="yesterday's session"),
        pytest.param(date(2026, 8, 18), date(2026, 8, 18), True, id="today's already"),
        pytest.param(date(2026, 8, 14), date(2026, 8, 18), False, id="a session missing"),
        pytest.param(date(2026, 8, 14), date(2026, 8, 17), True, id="Monday: Friday's"),
        pytest.param(date(2026, 8, 14), date(2026, 8, 16), True, id="Sunday: Friday's"),
        pytest.param(None, date(2026, 8, 18), False, id="no candles at all"),
    ],
)
def test_data_freshness_check_previous_session_or_later(
    latest: date | None, today: date, ok: bool
) -> None:
    check = data_freshness_check(latest, today, CALENDAR)

    assert (check.name, check.ok) == (DATA, ok)


def test_previous_trading_session_skips_holidays() -> None:
    holiday = next(h.date for h in CALENDAR.holidays(date(2026, 1, 1), date(2026, 12, 31)))
    after = holiday + timedelta(days=1)

    assert previous_trading_session(CALENDAR, after) < holiday


@pytest.mark.parametrize(
    ("available", "ok"),
    [(9_000.0, True), (8_999.99, False), (50_000.0, True), (0.0, False)],
)
def test_margin_check_capital_less_buffer(available: float, ok: bool) -> None:
    check = margin_check(available, capital=10_000, margin_buffer_pct=10)

    assert (check.name, check.ok) == (MARGIN, ok)
    assert "₹9,000.00" in check.detail


def test_kill_switch_check_engaged_says_who_when_and_why() -> None:
    engaged = KillSwitchState(True, NOW, "auto", "daily loss ₹1,200 beyond ₹1,000")

    armed = kill_switch_check(KillSwitchState(False))
    fired = kill_switch_check(engaged)

    assert armed.ok
    assert not fired.ok
    assert "auto" in fired.detail
    assert "daily loss" in fired.detail
    assert f"{to_ist(NOW):%Y-%m-%d %H:%M} IST" in fired.detail


def test_risk_limits_check_shows_limits_and_fails_a_cross_field_problem() -> None:
    config = load_config(environ={}, dotenv_file=None)
    risky = config.model_copy(
        update={"risk": config.risk.model_copy(update={"per_trade_risk": 5_000.0})}
    )

    sane = risk_limits_check(config)
    insane = risk_limits_check(risky)

    assert sane.ok
    assert "daily loss limit ₹1,000.00" in sane.detail
    assert not insane.ok
    assert "risk.per_trade_risk must be <= risk.daily_loss_limit" in insane.detail


def test_mode_check_states_the_mode() -> None:
    config = load_config(environ={}, dotenv_file=None)
    live = config.model_copy(update={"mode": TradingMode.LIVE})

    assert mode_check(config, "the paper exchange").detail.startswith("PAPER")
    assert mode_check(live, "Kite").detail.startswith("LIVE")
    assert mode_check(live, "Kite").ok


@pytest.mark.parametrize(
    ("kwargs", "ok"),
    [
        ({"accepted": True}, True),
        ({"accepted": False}, False),
        ({}, False),
        ({"error": "ConnectionError: refused"}, False),
        ({"saved_session": "session of AB1234 expired", "saved_valid": False}, False),
        ({"saved_session": "AB1234 logged in until …", "accepted": True}, True),
    ],
)
def test_broker_check_reachable_and_session_accepted(kwargs: dict[str, Any], ok: bool) -> None:
    check = broker_check("Kite", **kwargs)

    assert (check.name, check.ok) == (BROKER, ok)
