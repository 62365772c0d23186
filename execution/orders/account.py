"""The account as the risk engine sees it: a snapshot built from our fills and the broker.

Positions and P&L come from the stored fills (plus reconciliation's adjustments), marked at the
broker's last prices; margin comes from the broker and is cached for ``poll_interval`` (an
approval does not wait for a margin call); pending entries are our entry orders still working.
The peak equity, the exception counter and the session flag live here, in memory: a restart
starts them afresh (the peak from the current equity), which only makes the drawdown check more
lenient for the rest of that day — noted in docs/execution.md.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Final

from data_contracts.enums import Product
from data_contracts.timeutil import to_ist
from data_contracts.trading import Fill, Position
from execution.kite.broker import BrokerError
from execution.orders.context import OmsContext
from execution.orders.positions import PositionKey, book_positions
from execution.risk import AccountState, Exposure
from execution.store.oms import OrderPurpose, PositionAdjustment

__all__ = ["AccountBook"]

_MINUTE: Final = timedelta(minutes=1)


class AccountBook:
    """Builds :class:`AccountState` snapshots; caches what the broker is slow to tell."""

    def __init__(self, context: OmsContext) -> None:
        self._ctx = context
        self._prices: dict[int, float] = {}
        self._prices_at: datetime | None = None
        self._margin: float | None = None
        self._margin_at: datetime | None = None
        self._peak: float | None = None
        self._exceptions: deque[datetime] = deque()
        self._session_valid = True

    # -- health signals ------------------------------------------------------------------

    def count_exception(self) -> None:
        self._exceptions.append(self._ctx.clock.now())

    def exceptions_last_minute(self) -> int:
        now = self._ctx.clock.now()
        while self._exceptions and now - self._exceptions[0] > _MINUTE:
            self._exceptions.popleft()
        return len(self._exceptions)

    def session_expired(self) -> None:
        self._session_valid = False

    def refresh_session(self) -> bool:
        """Ask the broker whether the session still works (reconciliation does, periodically)."""
        try:
            self._session_valid = bool(self._ctx.broker.profile_ok())
        except BrokerError:
            self.count_exception()
        return self._session_valid

    @property
    def session_valid(self) -> bool:
        """False once the broker refused the token, or past the session's known expiry."""
        expires = self._ctx.session_expires_at
        if expires is not None and self._ctx.clock.now() >= expires:
            return False
        return self._session_valid

    # -- the book ------------------------------------------------------------------------

    def positions(self) -> dict[PositionKey, Position]:
        fills = [stored.fill for stored in self._ctx.oms.fills()]
        return self._book(fills, self._ctx.oms.adjustments())

    def _book(
        self, fills: list[Fill], adjustments: Sequence[PositionAdjustment]
    ) -> dict[PositionKey, Position]:
        symbols = {token: i.tradingsymbol for token, i in self._ctx.instruments.items()}
        return book_positions(fills, adjustments, symbols)

    def position_quantity(self, instrument_token: int, product: Product) -> int:
        position = self.positions().get((instrument_token, product))
        return 0 if position is None else position.quantity

    def refresh_prices(self, tokens: Iterable[int]) -> dict[int, float]:
        """Every last price known: ``tokens``' fetched now (when the broker answers)."""
        self.fetch_prices(tokens)
        return dict(self._prices)

    def fetch_prices(self, tokens: Iterable[int]) -> dict[int, float]:
        """The last prices of ``tokens`` the broker gives now (none when it does not answer):
        what an exit is priced at, never an older mark."""
        wanted = sorted(set(tokens))
        if not wanted:
            return {}
        try:
            fetched = {t: p for t, p in self._ctx.broker.last_prices(wanted).items() if p > 0}
        except BrokerError:
            self.count_exception()
            return {}
        self._prices.update(fetched)
        return fetched

    def _available_margin(self) -> float:
        ctx = self._ctx
        now = ctx.clock.now()
        stale = self._margin_at is None or now - self._margin_at >= ctx.settings.poll_interval
        if stale:
            try:
                self._margin = float(ctx.broker.available_margin())
                self._margin_at = now
            except BrokerError:
                self.count_exception()
        return 0.0 if self._margin is None else self._margin

    def state(self, fresh_prices: Iterable[int] = ()) -> AccountState:
        """A snapshot now; ``fresh_prices``: instruments whose last price is fetched now."""
        ctx = self._ctx
        now = ctx.clock.now()
        fills = [stored.fill for stored in ctx.oms.fills()]
        adjustments = ctx.oms.adjustments()
        book = self._book(fills, adjustments)
        open_positions = {key: p for key, p in book.items() if not p.is_flat}
        # Marks for open positions at most every poll interval (Kite allows one quote call a
        # second); the instrument being decided on is always fetched fresh.
        wanted = list(fresh_prices)
        if self._prices_at is None or now - self._prices_at >= ctx.settings.poll_interval:
            wanted += [k[0] for k in open_positions]
            self._prices_at = now
        prices = self.refresh_prices(wanted)
        today = to_ist(now).date()
        before = self._book([f for f in fills if to_ist(f.ts_event).date() < today], adjustments)
        realised_today = _net_realised(book) - _net_realised(before)
        unrealised = sum(
            p.unrealised_pnl(prices[key[0]])
            for key, p in open_positions.items()
            if key[0] in prices
        )
        cumulative = sum(p.realised_pnl - p.charges for p in book.values()) + unrealised
        equity = ctx.settings.limits.capital + cumulative
        self._peak = equity if self._peak is None else max(self._peak, equity)
        exposures = tuple(
            Exposure(
                instrument_token=token,
                tradingsymbol=p.tradingsymbol,
                quantity=p.quantity,
                notional=abs(p.quantity) * prices.get(token, p.average_price),
                underlying=self._underlying(token),
            )
            for (token, _), p in open_positions.items()
        )
        return AccountState(
            now=now,
            realised_pnl_today=realised_today,
            unrealised_pnl=unrealised,
            peak_equity=self._peak,
            equity=equity,
            available_margin=self._available_margin(),
            positions=exposures,
            pending_entries=self._pending_entries(),
            last_prices={t: p for t, p in prices.items() if p > 0},
            broker_latency_p95_ms=ctx.broker.latency_p95_ms(),
            exceptions_last_minute=self.exceptions_last_minute(),
            kill_switch_engaged=ctx.oms.kill_switch().engaged,
            session_valid=self.session_valid,
        )

    def _underlying(self, token: int) -> str:
        instrument = self._ctx.instruments.get(token)
        return "" if instrument is None else instrument.underlying

    def _pending_entries(self) -> tuple[Exposure, ...]:
        pending = []
        for record in self._ctx.oms.orders(open_only=True, purpose=OrderPurpose.ENTRY):
            intent = record.intent
            filled = record.latest.filled_quantity if record.latest else 0
            remaining = intent.quantity - filled
            if remaining <= 0:
                continue
            pending.append(
                Exposure(
                    instrument_token=intent.instrument_token,
                    tradingsymbol=intent.tradingsymbol,
                    quantity=remaining * intent.side.sign,
                    notional=remaining * (intent.price or record.reference_price),
                    underlying=self._underlying(intent.instrument_token),
                )
            )
        return tuple(pending)


def _net_realised(book: dict[PositionKey, Position]) -> float:
    return sum(p.realised_pnl - p.charges for p in book.values())
