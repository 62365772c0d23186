"""Composition of ``kitepilot dashboard``: the config → the store, the audit log, the clock, the
operator actions (with the executor built on first use) and the action token → the Dash app on
127.0.0.1.

The token is ``dashboard.auth_token`` (``KITEPILOT_DASHBOARD__AUTH_TOKEN`` in ``.env``), else one
generated on the first start and kept in ``<storage.var_dir>/dashboard/auth_token`` (mode 0600).
It is never printed or logged: the command prints where it is.

What needs the broker (the risk pre-check on the cards, mark prices, the account state behind the
circuit-breaker table) goes through the same executor the actions use; while the broker cannot be
reached the screen stays up read-only and the building is retried every ``_RETRY_SECONDS``.
"""

from __future__ import annotations

import getpass
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Final

from rich.console import Console

from dashboard.app import create_app, make_dashboard_server
from dashboard.services import DashboardServices, Precheck, ResearchSources
from data_contracts.charges import ChargesModel
from data_contracts.clock import SystemClock
from data_contracts.config import KitepilotConfig
from data_contracts.enums import TradingMode
from data_contracts.errors import ContractError
from data_contracts.ports import Clock, RegisteredModel
from data_contracts.trading import Proposal
from execution.audit import AuditLog
from execution.console.actions import OperatorActions
from execution.kite.broker import BrokerError
from execution.kite.session import SessionFile, SessionStatus, session_status
from execution.orders.executor import Executor
from execution.risk import AccountState, RiskVerdict, check_entry
from execution.store import SqlStore
from models.backtest.fills import FillModel
from models.lake import Lake
from orchestration.broker_login import broker_session
from orchestration.execution_cli import audit_directory, build_executor
from orchestration.local_token import local_token

__all__ = ["BrokerLink", "build_services", "dashboard_token", "run_dashboard", "token_file"]

_log = logging.getLogger(__name__)
_RETRY_SECONDS: Final = 30.0
_CHAMPION_SECONDS: Final = 60.0
# What building or asking the broker may raise when it is down or refuses us.
_BROKER_ERRORS: Final = (ContractError, BrokerError, OSError)


def token_file(config: KitepilotConfig) -> Path:
    return config.storage.var_dir / "dashboard" / "auth_token"


def dashboard_token(config: KitepilotConfig) -> tuple[str, Path | None]:
    """The action token and the file it is kept in (None when it comes from the config)."""
    return local_token(config.dashboard.auth_token, token_file(config))


class BrokerLink:
    """The actions' executor for the read-side providers, tried at most every ``retry_seconds``
    while building it fails (the broker or the paper exchange is down)."""

    def __init__(
        self,
        actions: OperatorActions,
        *,
        retry_seconds: float = _RETRY_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._actions = actions
        self._retry = retry_seconds
        self._monotonic = monotonic
        self._failed_at: float | None = None

    def executor(self) -> Executor | None:
        if self._failed_at is not None and self._monotonic() - self._failed_at < self._retry:
            return None
        try:
            executor = self._actions.executor()
        except _BROKER_ERRORS as error:
            self._failed_at = self._monotonic()
            _log.warning("dashboard: broker not available (%s); read-only", type(error).__name__)
            return None
        self._failed_at = None
        return executor

    def prechecker(self) -> Precheck | None:
        executor = self.executor()
        if executor is None:
            return None
        ctx = executor.context

        def precheck(proposal: Proposal) -> RiskVerdict:
            instrument = ctx.instruments.get(int(proposal.instrument_token))
            if instrument is None:
                rule = "must be in the executor's instrument list"
                raise ContractError("precheck", "instrument_token", proposal.instrument_token, rule)
            state = executor.account.state(fresh_prices=(proposal.instrument_token,))
            return check_entry(
                proposal,
                instrument,
                state,
                ctx.settings.limits,
                ctx.calendar,
                freeze_quantity=instrument.freeze_quantity,
            )

        return precheck

    def marks(self, tokens: Sequence[int]) -> Mapping[int, float]:
        executor = self.executor()
        if executor is None or not tokens:
            return {}
        prices = executor.account.refresh_prices(tokens)
        return {t: prices[t] for t in tokens if t in prices}

    def account(self) -> AccountState | None:
        executor = self.executor()
        return None if executor is None else executor.account.state()


class _Every:
    """``fn()``'s answer, asked again at most every ``seconds`` (the champion: an MLflow query)."""

    def __init__(self, seconds: float, fn: Callable[[], RegisteredModel | None]) -> None:
        self._seconds, self._fn = seconds, fn
        self._at: float | None = None
        self._value: RegisteredModel | None = None

    def __call__(self) -> RegisteredModel | None:
        from mlflow.exceptions import MlflowException

        now = time.monotonic()
        if self._at is None or now - self._at >= self._seconds:
            self._at = now
            try:
                self._value = self._fn()
            except (MlflowException, ContractError, OSError) as error:
                _log.warning("dashboard: model registry not available (%s)", error)
                self._value = None
        return self._value


def _champion(config: KitepilotConfig) -> Callable[[], RegisteredModel | None]:
    def ask() -> RegisteredModel | None:
        from models.registry import MlflowRegistry

        storage = config.storage
        registry = MlflowRegistry(
            storage.mlflow_tracking_uri,
            Path(storage.mlflow_artifacts_dir),
            config.training.model_name,
            clock=SystemClock(),
        )
        return registry.champion()

    return _Every(_CHAMPION_SECONDS, ask)


def _session(config: KitepilotConfig, clock: Clock) -> Callable[[], SessionStatus | None]:
    """Live: the saved `kitepilot login` session's validity; paper: not applicable (None)."""

    def status() -> SessionStatus | None:
        if config.mode is not TradingMode.LIVE:
            return None
        try:
            saved = SessionFile(config.kite.session_file.expanduser()).load()
        except (ContractError, OSError, ValueError):
            saved = None
        return session_status(saved, clock.now())

    return status


def build_services(
    config: KitepilotConfig,
    *,
    store: SqlStore,
    token: str,
    clock: Clock | None = None,
    actor: str | None = None,
    executor_factory: Callable[[], Executor] | None = None,
    champion: Callable[[], RegisteredModel | None] | None = None,
) -> DashboardServices:
    """The dashboard's services over ``store``; the executor (for actions and the broker-backed
    views) from ``executor_factory``, by default the config's broker (``build_executor``); the
    champion from ``champion``, by default the MLflow registry (asked once a minute). The
    executor runs on ``clock`` when given, else on the market's (paper: the exchange's)."""
    given = clock
    clock = clock or SystemClock()
    audit = AuditLog(audit_directory(config), clock)

    def default_factory() -> Executor:
        return build_executor(config, broker_session(config), clock=given)

    actions = OperatorActions(
        store=store,
        clock=clock,
        token=token,
        executor_factory=executor_factory or default_factory,
        audit=audit,
    )
    link = BrokerLink(actions)
    backtest = config.backtest
    research = ResearchSources(
        lake=Lake(Path(config.storage.lake_dir)),
        fills=FillModel(
            spread_bps=backtest.spread_bps,
            slippage_bps=backtest.slippage_bps,
            limit_buffer_bps=backtest.limit_buffer_bps,
        ),
        reports_dir=Path(config.storage.reports_dir),
        lookback=timedelta(days=7),
    )
    return DashboardServices(
        config=config,
        store=store,
        clock=clock,
        actions=actions,
        charges=ChargesModel.default(),
        audit_dir=audit_directory(config),
        actor=actor or f"dashboard:{getpass.getuser()}",
        prechecker=link.prechecker,
        marks=link.marks,
        account=link.account,
        session=_session(config, clock),
        champion=champion or _champion(config),
        research=research,
    )


def run_dashboard(config: KitepilotConfig, *, port: int | None) -> None:
    """``kitepilot dashboard [--port]``: serve the screen on ``dashboard.host`` (loopback) until
    Ctrl-C. Prints the address and where the action token is kept (never the token)."""
    token, path = dashboard_token(config)
    host, chosen = config.dashboard.host, port or config.dashboard.port
    store = SqlStore.open(config.storage.database_url)
    try:
        services = build_services(config, store=store, token=token)
        server = make_dashboard_server(create_app(services), host, chosen)
        where = "dashboard.auth_token (configured)" if path is None else f"{path} (mode 0600)"
        console = Console()
        console.print(f"kitepilot dashboard on http://{host}:{server.server_port}/")
        console.print(f"actions need the operator token kept in {where}")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
    finally:
        store.close()
