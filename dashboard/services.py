"""What the dashboard reads and does, gathered in one object the composition root builds.

Every number the screen shows comes from :mod:`execution.console` (the read models) and every
action goes through :class:`execution.console.actions.OperatorActions` (token, desk, executor,
kill switch, audit). This module only holds the wiring: which store, clock and providers those
functions are called with. Providers that need the broker or MLflow (marks, the account state for
the pre-check and the circuit breaker, the session, the champion) are plain callables, so the
screen works read-only when they answer nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final

from data_contracts.charges import ChargesModel
from data_contracts.config import KitepilotConfig
from data_contracts.errors import ContractError
from data_contracts.ports import Clock, RegisteredModel
from data_contracts.timeutil import IST, UTC, to_ist
from data_contracts.trading import Proposal
from execution.console.actions import OperatorActions
from execution.kite.session import SessionStatus
from execution.risk import AccountState, RiskVerdict
from execution.store import OmsStore, SqlStore

if TYPE_CHECKING:  # the read models are imported when first used (see _console)
    from execution.console.audit_view import AuditView
    from execution.console.book import BookView
    from execution.console.queue import ProposalCard
    from execution.console.research import LedgerView, WalkForwardView
    from execution.console.status import SystemStatus
    from models.backtest.fills import FillModel
    from models.lake import Lake

__all__ = [
    "INSTRUMENT_TOKEN_DIGITS",
    "AuditFilter",
    "DashboardServices",
    "Precheck",
    "ResearchSources",
]

Precheck = Callable[[Proposal], RiskVerdict]


def _nothing() -> None:
    return None


def _no_marks(tokens: Sequence[int]) -> Mapping[int, float]:
    return {}


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """The audit viewer's filters (times aware; None: open-ended)."""

    kinds: tuple[str, ...] = ()
    instrument_token: int | None = None
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def parse(
        cls,
        kinds: Sequence[str] | None,
        instrument: str | None,
        since: str | None,
        until: str | None,
    ) -> AuditFilter:
        """The filters as typed: an instrument token (digits), times as ``YYYY-MM-DD HH:MM`` or
        ``YYYY-MM-DD`` in IST (blank: open-ended). ContractError names the bad field — also for
        a value the page never sends (a number, a list), which only a crafted request holds."""
        return cls(
            kinds=_kinds(kinds),
            instrument_token=_instrument_token(instrument),
            since=_ist_time("from", since),
            until=_ist_time("until", until),
        )


# An instrument token is a u32: at most 10 decimal digits.
INSTRUMENT_TOKEN_DIGITS: Final = 10


def _kinds(chosen: object) -> tuple[str, ...]:
    if chosen is None:
        return ()
    if not isinstance(chosen, list | tuple) or not all(isinstance(k, str) for k in chosen):
        raise ContractError("audit filter", "kinds", chosen, "must be a list of entry kinds")
    return tuple(chosen)


def _instrument_token(typed: object) -> int | None:
    rule = f"must be a token (digits, at most {INSTRUMENT_TOKEN_DIGITS})"
    if typed is not None and not isinstance(typed, str):
        raise ContractError("audit filter", "instrument", typed, rule)
    token = (typed or "").strip()
    if not token:
        return None
    # isdigit() alone accepts "²" (int() refuses it) and "٣" (int() reads it as 3).
    if not (token.isascii() and token.isdigit() and len(token) <= INSTRUMENT_TOKEN_DIGITS):
        raise ContractError("audit filter", "instrument", token, rule)
    return int(token)


def _ist_time(field: str, text: object) -> datetime | None:
    rule = "must be YYYY-MM-DD [HH:MM] (IST)"
    if text is not None and not isinstance(text, str):
        raise ContractError("audit filter", field, text, rule)
    typed = (text or "").strip()
    if not typed:
        return None
    for form in ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            moment = datetime.strptime(typed, form).replace(tzinfo=IST)
        except ValueError:
            continue
        try:
            moment.astimezone(UTC)  # what the audit log compares in
        except OverflowError:  # the first hours of 0001-01-01 IST are before UTC's year 1
            raise ContractError("audit filter", field, typed, "must be after 0001-01-01") from None
        return moment
    raise ContractError("audit filter", field, typed, rule)


@dataclass(frozen=True, slots=True)
class ResearchSources:
    """Where the research pages read from: the lake (prices after each proposal), the fill
    model the backtest scores with, the walk-forward study's folder, and how far back the
    counterfactual ledger looks."""

    lake: Lake
    fills: FillModel
    reports_dir: Path
    lookback: timedelta = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class DashboardServices:
    """Everything a callback needs. ``actor`` is who the screen's actions are recorded as."""

    config: KitepilotConfig
    store: SqlStore
    clock: Clock
    actions: OperatorActions
    charges: ChargesModel
    audit_dir: Path
    actor: str
    prechecker: Callable[[], Precheck | None] = _nothing
    marks: Callable[[Sequence[int]], Mapping[int, float]] = _no_marks
    account: Callable[[], AccountState | None] = _nothing
    session: Callable[[], SessionStatus | None] = _nothing
    champion: Callable[[], RegisteredModel | None] = _nothing
    research: ResearchSources | None = None
    queue_limit: int = 50

    @property
    def refresh_ms(self) -> int:
        return round(self.config.dashboard.refresh_seconds * 1000)

    # -- reading ---------------------------------------------------------------------------

    def queue(self) -> list[ProposalCard]:
        from execution.console.queue import proposal_queue

        return proposal_queue(
            self.store,
            self.clock.now(),
            charges=self.charges,
            precheck=self.prechecker(),
            limit=self.queue_limit,
        )

    def book(self) -> BookView:
        from execution.console.book import book_view

        day = to_ist(self.clock.now()).date()
        held = {int(t.instrument_token) for t in self.store.open_trades()}
        since = datetime.combine(day, time(0), tzinfo=IST)
        fills = OmsStore.of(self.store).fills(since=since)
        held |= {int(stored.fill.instrument_token) for stored in fills}
        return book_view(
            self.store, day, capital=float(self.config.capital), marks=self.marks(sorted(held))
        )

    def status(self) -> SystemStatus:
        from execution.console.status import system_status

        champion = self.champion()
        return system_status(
            self.config,
            self.store,
            self.clock.now(),
            account=self.account(),
            session=self.session(),
            champion=champion,
            promoted_at=None if champion is None else champion.promoted_at,
        )

    def audit(self, filters: AuditFilter) -> AuditView:
        from execution.console.audit_view import audit_view

        return audit_view(
            self.audit_dir,
            kinds=filters.kinds,
            instrument_token=filters.instrument_token,
            since=filters.since,
            until=filters.until,
        )

    def walk_forward(self) -> WalkForwardView | None:
        from execution.console.research import latest_walk_forward

        if self.research is None:
            return None
        return latest_walk_forward(self.research.reports_dir)

    def ledger(self) -> LedgerView | None:
        from execution.console.research import counterfactual_ledger

        if self.research is None:
            return None
        now = self.clock.now()
        return counterfactual_ledger(
            self.store,
            self.research.lake,
            since=now - self.research.lookback,
            until=now,
            fills=self.research.fills,
            charges=self.charges,
        )
