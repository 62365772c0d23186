"""Ports: what the core needs from the world, as Protocols.

Each port has a real adapter (Kite, MLflow, SQL, the wall clock) and a hand-written fake or an
embedded implementation (the market simulator, the paper exchange, an in-memory store), chosen by
configuration in ``orchestration``. The core depends only on these shapes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

import polars as pl

from data_contracts.enums import ProposalStatus
from data_contracts.feed import DeadLetter
from data_contracts.ids import ClientTag, InstrumentToken, OrderId, ProposalId
from data_contracts.instruments import Instrument
from data_contracts.trading import (
    Decision,
    ExitProposal,
    Fill,
    OpenTrade,
    OrderEvent,
    OrderIntent,
    Position,
    Proposal,
)

__all__ = [
    "Broker",
    "Clock",
    "FeedLog",
    "MarketDataSource",
    "ModelRegistry",
    "ProposalStore",
    "RegisteredModel",
    "Scorer",
    "Scores",
    "TradeBook",
]


@runtime_checkable
class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, tz-aware (UTC)."""
        ...


class MarketDataSource(Protocol):
    """Historical market data: the simulator, Kite's historical API, or the user's files."""

    def instruments(self, on: datetime) -> Sequence[Instrument]:
        """The instruments tradable at ``on`` (an instruments dump as of that day)."""
        ...

    def candles(
        self,
        instrument_token: InstrumentToken,
        start: datetime,
        end: datetime,
        interval: timedelta,
    ) -> pl.DataFrame:
        """Bars closing in ``(start, end]``, as a frame satisfying ``schemas.CandleFrame``."""
        ...


class Broker(Protocol):
    """Where orders go. Implemented over ``kiteconnect`` for both Kite and the paper exchange
    (``execution.kite.broker.KiteBroker``).

    Failures raise the adapter's ``BrokerError`` subclasses (``execution.kite.broker``):
    ``OrderRejected`` (refused, nothing done), ``BrokerUnavailable`` (nothing done, retry later),
    ``OrderOutcomeUnknown`` (a placement or cancel may have happened: look the tag up, never
    resend blindly) and ``SessionExpired`` (log in again). See ``docs/broker.md``.
    """

    def place_order(self, intent: OrderIntent) -> OrderId:
        """Send an order. A timeout is *not* a rejection: look the tag up before any retry."""
        ...

    def cancel_order(self, order_id: OrderId) -> None: ...

    def order_by_tag(self, tag: ClientTag) -> OrderEvent | None:
        """The latest state of the order we sent with ``tag`` today, if the broker has it."""
        ...

    def orders(self) -> Sequence[OrderEvent]:
        """Today's orders that carry a client tag, latest state each (for reconciliation)."""
        ...

    def order_history(self, order_id: OrderId) -> Sequence[OrderEvent]: ...

    def fills(self) -> Sequence[Fill]:
        """Today's executions."""
        ...

    def positions(self) -> Sequence[Position]: ...

    def available_margin(self) -> float:
        """Rupees available for new positions."""
        ...

    def last_prices(self, tokens: Iterable[int]) -> Mapping[int, float]:
        """Last traded price per instrument token (tokens without a price are absent)."""
        ...

    def profile_ok(self) -> bool:
        """Whether the session is valid (False when the broker refuses the token)."""
        ...

    def latency_p95_ms(self) -> float | None:
        """p95 of the recent broker REST calls in milliseconds; None before any call."""
        ...


@dataclass(frozen=True, slots=True)
class Scores:
    """Per-row model outputs: calibrated probability of a net win and expected net return (%)."""

    p_win: Sequence[float]
    expected_return: Sequence[float]


class Scorer(Protocol):
    """A trained model ready to score feature rows of the version it was trained on."""

    @property
    def model_version(self) -> str: ...

    @property
    def feature_version(self) -> str: ...

    def score(self, features: pl.DataFrame) -> Scores:
        """Score rows of a ``schemas.FeatureFrame``; refuses another feature version."""
        ...


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    name: str
    version: str
    feature_version: str
    promoted_at: datetime | None


class ModelRegistry(Protocol):
    """The model registry (MLflow): which model is the champion, and loading it."""

    def champion(self) -> RegisteredModel | None: ...

    def load(self, model: RegisteredModel) -> Scorer: ...

    def promote(self, version: str) -> RegisteredModel:
        """Point the ``champion`` alias at ``version`` (callers gate this on evaluation)."""
        ...


class ProposalStore(Protocol):
    """Durable, append-only record of proposals and the decisions on them."""

    def add(self, proposal: Proposal) -> bool:
        """Store ``proposal``; False if a proposal with that id is already stored (idempotent)."""
        ...

    def get(self, proposal_id: ProposalId) -> Proposal | None: ...

    def pending(self, now: datetime) -> Sequence[Proposal]:
        """Undecided proposals that have not expired at ``now``, newest first."""
        ...

    def record_decision(self, decision: Decision) -> None:
        """Append a decision; deciding an unknown or expired proposal raises ContractError."""
        ...

    def decisions(self, proposal_id: ProposalId) -> Sequence[Decision]: ...

    def record_status(
        self, proposal_id: ProposalId, status: ProposalStatus, ts_event: datetime, detail: str = ""
    ) -> None:
        """Append a status event of a stored proposal (an unknown id raises ContractError)."""
        ...

    def status(self, proposal_id: ProposalId) -> ProposalStatus | None:
        """The latest status event of the proposal, None if it is not stored."""
        ...

    def add_exit(self, exit_proposal: ExitProposal) -> bool:
        """Store an exit; False if that exit id is already stored (idempotent)."""
        ...

    def exits(self) -> Sequence[ExitProposal]:
        """Every stored exit, oldest first."""
        ...


class TradeBook(Protocol):
    """Open trades (filled entries not yet closed): the executor writes, the exit monitor reads."""

    def open_trade(self, trade: OpenTrade) -> bool:
        """Record a filled entry; False if its proposal already has an open trade."""
        ...

    def close_trade(self, proposal_id: ProposalId, ts_event: datetime) -> None: ...

    def open_trades(self, instrument_token: int | None = None) -> Sequence[OpenTrade]:
        """Open trades, of one instrument or all, oldest first."""
        ...


class FeedLog(Protocol):
    """What the live feed refused, and the streaming worker's metrics."""

    def add_dead_letters(self, letters: Sequence[DeadLetter]) -> int:
        """Append dead letters; returns how many were written."""
        ...

    def dead_letter_counts(self) -> Mapping[str, int]:
        """Dead letters stored so far, by reason."""
        ...

    def record_metrics(self, worker: str, ts_event: datetime, metrics: Mapping[str, float]) -> None:
        """Replace ``worker``'s latest metrics snapshot."""
        ...

    def latest_metrics(self) -> Mapping[str, Mapping[str, float]]:
        """Each worker's latest metrics snapshot."""
        ...
