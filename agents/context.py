"""What the MCP tools read from, built once by the composition root (``orchestration.mcp_cli``)
and handed to :func:`agents.server.build_server`.

Everything here is read-only except the one thing an agent may do: add a proposal to the store
(:mod:`execution.console.agent_proposals`). The broker is reached only through
:class:`MarketAccess` — quotes, the account and today's books — which has no order methods; there
is no executor, decision desk, kill switch or config writer anywhere in this context.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Protocol, TypeVar

import polars as pl

from agents.errors import ErrorCode, ToolFailure, classify
from agents.news import NewsProvider
from data_contracts.charges import ChargesModel
from data_contracts.config import KitepilotConfig
from data_contracts.instruments import Instrument
from data_contracts.nse_calendar import NseCalendar
from data_contracts.ports import Clock, RegisteredModel, Scorer
from execution.kite.broker import SessionExpired
from execution.kite.retry import KiteSessionExpiredError
from execution.orders.context import AuditTrail
from execution.store.sql import SqlStore
from models.lake import Lake

__all__ = [
    "MarketAccess",
    "MarketLink",
    "ModelRegistryView",
    "RegistryLink",
    "ToolContext",
]

_T = TypeVar("_T")


class MarketAccess(Protocol):
    """The broker, read-only (``execution.kite.readonly.KiteReadOnly`` is the real one)."""

    def quote(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]: ...

    def ltp(self, keys: Sequence[str]) -> dict[str, float]: ...

    def instruments(self) -> tuple[Instrument, ...]: ...

    def option_chain(self, underlying: str, expiry: date) -> pl.DataFrame: ...

    def margins(self) -> dict[str, Any]: ...

    def positions(self) -> dict[str, list[dict[str, Any]]]: ...

    def holdings(self) -> list[dict[str, Any]]: ...

    def orders(self) -> list[dict[str, Any]]: ...

    def trades(self) -> list[dict[str, Any]]: ...

    def profile(self) -> dict[str, Any]: ...


class MarketLink:
    """The read-only broker view, built on first use by ``factory``.

    While building fails (the paper exchange is not running, no live session), the failure is
    answered again without retrying for ``retry_seconds``; a session the broker refuses in the
    middle of a call is dropped, so the next call logs in afresh (paper) or reports
    SESSION_EXPIRED again (live). Thread-safe: tools run on worker threads.
    """

    def __init__(
        self,
        factory: Callable[[], MarketAccess],
        *,
        source: str,
        retry_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._factory = factory
        self.source = source
        self._retry = retry_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._market: MarketAccess | None = None
        self._failed: tuple[float, ToolFailure] | None = None

    def call(self, read: Callable[[MarketAccess], _T]) -> _T:
        """``read(market)``; a refused session is dropped before the error goes on."""
        market = self._get()
        try:
            return read(market)
        except (SessionExpired, KiteSessionExpiredError):
            with self._lock:
                if self._market is market:
                    self._market = None
            raise

    def available(self) -> bool:
        """Whether the broker can be reached now (builds it if needed)."""
        try:
            self._get()
        except ToolFailure:
            return False
        return True

    def _get(self) -> MarketAccess:
        with self._lock:
            if self._market is not None:
                return self._market
            if self._failed is not None and self._monotonic() - self._failed[0] < self._retry:
                raise self._failed[1]
            try:
                self._market = self._factory()
            except Exception as error:
                failure = classify(error, "broker")
                if failure.code is not ErrorCode.SESSION_EXPIRED:
                    failure = ToolFailure(ErrorCode.UNAVAILABLE, failure.message, failure.hint)
                self._failed = (self._monotonic(), failure)
                raise failure from None
            self._failed = None
            return self._market


class ModelRegistryView(Protocol):
    """The model registry, read-only (``models.registry.MlflowRegistry`` has these and more)."""

    def champion(self) -> RegisteredModel | None: ...

    def version_metrics(self, version: str) -> dict[str, float]: ...

    def load(self, model: RegisteredModel) -> Scorer: ...


class RegistryLink:
    """The registry built on first use (MLflow takes seconds to import) and the loaded champion
    scorer, kept per version."""

    def __init__(self, factory: Callable[[], ModelRegistryView]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._registry: ModelRegistryView | None = None
        self._scorers: dict[str, Scorer] = {}

    def registry(self) -> ModelRegistryView:
        with self._lock:
            if self._registry is None:
                self._registry = self._factory()
            return self._registry

    def champion(self) -> RegisteredModel:
        """The champion, or NOT_FOUND."""
        found = self.registry().champion()
        if found is None:
            raise ToolFailure(
                ErrorCode.NOT_FOUND,
                "no model holds the champion alias",
                "train one: `kitepilot train`",
            )
        return found

    def scorer(self, model: RegisteredModel) -> Scorer:
        with self._lock:
            cached = self._scorers.get(model.version)
        if cached is not None:
            return cached
        loaded = self.registry().load(model)
        with self._lock:
            self._scorers = {model.version: loaded}  # the previous champion is not needed
        return loaded


@dataclass(frozen=True)
class ToolContext:
    """Everything the tools read from (and the store and audit log a proposal is written to)."""

    config: KitepilotConfig
    clock: Clock
    calendar: NseCalendar
    store: SqlStore
    lake: Lake
    market: MarketLink
    models: RegistryLink
    charges: ChargesModel
    audit_dir: Path
    audit: AuditTrail | None = None
    news: NewsProvider | None = None
    actor: str = "mcp"

    @property
    def mode(self) -> str:
        return self.config.mode.value

    @property
    def max_rows(self) -> int:
        return self.config.mcp.max_rows
