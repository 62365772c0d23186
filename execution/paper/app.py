"""The paper exchange put together: market replay, venue, sessions, limits, faults, REST and the
ticker on one aiohttp server, and the loop that moves market time.

:class:`PaperExchange` owns the pieces and the loop. Every ``step_seconds`` of wall time it reads
the :class:`~execution.paper.replay_clock.ReplayClock`, takes the quotes released since the last
step (``MarketReplay.quotes_until``), hands each to the venue (which matches resting orders
against it), publishes them on the ticker, and lets the venue run its clock events
(``on_time``: TTL expiry, MIS square-off, session end). The venue's order updates go to the
ticker as ``{"type": "order", ...}`` text frames. Everything runs on one event loop, so the venue
and the sessions are only ever called from one thread.

:func:`run_in_thread` starts an exchange on its own loop in a daemon thread (port 0 → a free
port) and returns a handle with the URL, for tests and for embedding.

Admin endpoints (header ``X-Paper-Admin``): ``GET/PUT /_paper/faults`` (see ``rest.py``) and
``GET/PUT /_paper/clock`` with ``{"speed": N}`` and/or ``{"jump_to": "YYYY-MM-DD HH:MM:SS"}`` (IST);
a PUT steps the market at once, so after it returns the venue has seen every quote up to the new
market time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final, TypeVar

from aiohttp import web

from data_contracts.charges import ChargesModel
from data_contracts.clock import SystemClock
from data_contracts.errors import ContractError
from data_contracts.instruments import Instrument
from data_contracts.nse_calendar import NseCalendar
from data_contracts.ports import Clock
from data_contracts.validation import non_empty, positive
from execution.paper import wire
from execution.paper.faults import FaultInjector, FaultPlan
from execution.paper.limits import RateLimiter
from execution.paper.market import MarketReplay
from execution.paper.matching import price_band
from execution.paper.replay_clock import ReplayClock
from execution.paper.rest import build_rest_app, require_admin
from execution.paper.session import SessionManager
from execution.paper.store import VenueStore
from execution.paper.ticker_hub import TickerHub
from execution.paper.types import KiteApiError, Quote
from execution.paper.venue import PaperVenue, VenueRules
from execution.paper.ws import TickerBroadcaster, ticker_handler
from execution.simulator import SimulatedMarket, SimulatorConfig

__all__ = [
    "HISTORY_SESSIONS",
    "ExchangeSettings",
    "PaperExchange",
    "RunningExchange",
    "build_exchange",
    "open_market",
    "run_in_thread",
]

log = logging.getLogger(__name__)

# The simulator source simulates this many sessions up to the replayed day, so the previous close
# and a useful stretch of historical candles exist.
HISTORY_SESSIONS: Final = 60
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class ExchangeSettings:
    """How the exchange presents itself. ``api_secret`` and ``admin_token`` are secrets."""

    api_key: str
    api_secret: str
    user_id: str = "PAPER1"
    redirect_url: str = "http://127.0.0.1/kitepilot/login"
    admin_token: str | None = None
    host: str = "127.0.0.1"
    port: int = 0
    heartbeat_seconds: float = 1.0
    # Wall seconds between market steps (quotes to the venue and the ticker).
    step_seconds: float = 0.05

    def __post_init__(self) -> None:
        non_empty("ExchangeSettings", "api_key", self.api_key)
        non_empty("ExchangeSettings", "api_secret", self.api_secret)
        non_empty("ExchangeSettings", "user_id", self.user_id)
        positive("ExchangeSettings", "heartbeat_seconds", self.heartbeat_seconds)
        positive("ExchangeSettings", "step_seconds", self.step_seconds)

    def __repr__(self) -> str:  # the secrets stay out of logs and tracebacks
        return (
            f"ExchangeSettings(api_key={self.api_key!r}, user_id={self.user_id!r}, "
            f"host={self.host!r}, port={self.port})"
        )


class PaperExchange:
    """One paper exchange: build it with :func:`build_exchange` (or from parts), then
    ``await start()`` / ``await stop()``, or :func:`run_in_thread`."""

    def __init__(
        self,
        *,
        market: MarketReplay,
        venue: PaperVenue,
        clock: ReplayClock,
        settings: ExchangeSettings,
        faults: FaultInjector | None = None,
        wall_clock: Clock | None = None,
        rules: VenueRules | None = None,
    ) -> None:
        self.market = market
        self.venue = venue
        self.clock = clock
        self.settings = settings
        self.faults = faults or FaultInjector()
        self.sessions = SessionManager(
            settings.api_key, settings.api_secret, settings.user_id, clock
        )
        # Rate limits count the client's real request rate: wall time, not market time.
        self.limiter = RateLimiter(wall_clock or SystemClock())
        self.hub = TickerHub()
        self.ticker: TickerBroadcaster = ticker_handler(
            self.hub,
            self.sessions.check,
            self.faults,
            heartbeat_seconds=settings.heartbeat_seconds,
        )
        band_rules = rules or VenueRules()

        def band(instrument: Instrument, quote: Quote) -> tuple[float, float]:
            if not instrument.is_tradable:
                return 0.0, 0.0
            lower, upper = price_band(instrument, quote, band_rules)
            return float(lower), float(upper)

        self.app = build_rest_app(
            venue=venue,
            market=market,
            sessions=self.sessions,
            limiter=self.limiter,
            faults=self.faults,
            redirect_url=settings.redirect_url,
            admin_token=settings.admin_token,
            price_band=band,
        )
        self.app.router.add_get("/", self.ticker.handle)
        self.app.router.add_get("/_paper/clock", self._get_clock)
        self.app.router.add_put("/_paper/clock", self._put_clock)
        self._updates: asyncio.Queue[dict[str, Any]] | None = None
        venue.add_listener(self._on_order_update)
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._catch_up = False
        self._url: str | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` once started (the REST root; the ticker is ``ws://`` there)."""
        if self._url is None:
            raise ContractError("PaperExchange", "url", None, "is known only after start()")
        return self._url

    # -- the market loop -----------------------------------------------------------------------

    async def step(self) -> int:
        """Release the quotes up to the clock's market time to the venue and the ticker, then
        run the venue's clock events. Returns how many quote updates were released."""
        now = self.clock.now()
        quotes = self.market.quotes_until(now, latest_only=self._catch_up)
        self._catch_up = False
        for quote in quotes:
            self.venue.on_quote(quote)
        if quotes:
            await self.ticker.publish(quotes)
        self.venue.on_time(now)
        return len(quotes)

    async def _run_market(self) -> None:
        while True:
            try:
                await self.step()
            except Exception:  # one bad step must not stop the market; it is logged
                log.exception("paper exchange: market step failed")
            await asyncio.sleep(self.settings.step_seconds)

    def _on_order_update(self, payload: dict[str, Any]) -> None:
        if self._updates is not None:
            self._updates.put_nowait(payload)

    async def _forward_order_updates(self, updates: asyncio.Queue[dict[str, Any]]) -> None:
        while True:
            payload = await updates.get()
            user_id = str(payload.get("user_id") or self.settings.user_id)
            await self.ticker.publish_order_update(user_id, payload)

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> str:
        """Serve on ``settings.host:settings.port`` (0: any free port); returns the URL."""
        updates: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._updates = updates
        runner = web.AppRunner(self.app, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.settings.host, self.settings.port)
        await site.start()
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self._url = f"http://{host}:{port}"
        self._tasks = [
            asyncio.create_task(self._run_market(), name="paper-market"),
            asyncio.create_task(self._forward_order_updates(updates), name="paper-order-updates"),
        ]
        log.info("paper exchange listening on %s", self._url)
        return self._url

    async def stop(self) -> None:
        """Stop the loop, close the ticker's sockets and the server."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.ticker.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- admin: the clock ----------------------------------------------------------------------

    def clock_status(self) -> dict[str, Any]:
        return {
            "market_time": self.clock.now(),
            "speed": self.clock.speed,
            "session_start": self.market.session_start,
            "session_end": self.market.session_end,
        }

    async def _get_clock(self, request: web.Request) -> web.StreamResponse:
        try:
            require_admin(request, self.settings.admin_token)
        except KiteApiError as failure:
            return wire.error(failure)
        return wire.success(self.clock_status())

    async def _put_clock(self, request: web.Request) -> web.StreamResponse:
        try:
            require_admin(request, self.settings.admin_token)
            body = await request.json()
            if not isinstance(body, dict) or not set(body) <= {"speed", "jump_to"}:
                raise KiteApiError("InputException", "expected {speed?: number, jump_to?: time}")
            if "speed" in body:
                self.clock.set_speed(body["speed"])
            if "jump_to" in body:
                self.clock.jump(wire.parse_ist(str(body["jump_to"]), "jump_to"))
                self._catch_up = True
        except KiteApiError as failure:
            return wire.error(failure)
        except (ContractError, ValueError) as failure:
            return wire.error(KiteApiError("InputException", str(failure)))
        await self.step()
        return wire.success(self.clock_status())


def open_market(
    source: str,
    day: date,
    *,
    seed: int,
    lake_root: Path | None = None,
    calendar: NseCalendar | None = None,
    tokens: Sequence[int] | None = None,
) -> MarketReplay:
    """The replayed session of ``day``: ``source`` ``"sim"`` (the simulator, seeded, with
    :data:`HISTORY_SESSIONS` sessions of history) or ``"lake"`` (the lake at ``lake_root``)."""
    cal = calendar or NseCalendar.default()
    if source == "sim":
        config = SimulatorConfig.ending(day, HISTORY_SESSIONS, seed, cal)
        return MarketReplay.from_simulator(SimulatedMarket(config, cal), day, tokens=tokens)
    if source == "lake":
        if lake_root is None:
            raise ContractError("open_market", "lake_root", None, "is required for source lake")
        return MarketReplay.from_lake(lake_root, day, tokens=tokens, seed=seed, calendar=cal)
    raise ContractError("open_market", "source", source, "must be sim or lake")


def build_exchange(
    market: MarketReplay,
    settings: ExchangeSettings,
    *,
    database: str,
    starting_cash: float,
    speed: float,
    start: datetime | None = None,
    faults: FaultPlan | None = None,
    charges: ChargesModel | None = None,
    calendar: NseCalendar | None = None,
    wall: Callable[[], float] | None = None,
    limiter_clock: Clock | None = None,
    rules: VenueRules | None = None,
) -> PaperExchange:
    """An exchange over ``market`` whose market time starts at ``start`` (default: the session
    open) and runs at ``speed`` (``wall``: the replay clock's wall time, default monotonic);
    orders, trades and cash persist in ``database`` (SQLAlchemy URL). ``limiter_clock`` is what
    rate limits count in (default: the system clock)."""
    clock = (
        ReplayClock(start or market.session_start, speed)
        if wall is None
        else ReplayClock(start or market.session_start, speed, wall)
    )
    venue_rules = rules or VenueRules()
    injector = FaultInjector(faults)
    venue = PaperVenue(
        instruments=market.instruments,
        charges=charges or ChargesModel.default(),
        calendar=calendar or NseCalendar.default(),
        clock=clock,
        store=VenueStore(database),
        starting_cash=starting_cash,
        user_id=settings.user_id,
        rules=venue_rules,
        api_secret=settings.api_secret,
        faults=injector,
    )
    return PaperExchange(
        market=market,
        venue=venue,
        clock=clock,
        settings=settings,
        faults=injector,
        wall_clock=limiter_clock,
        rules=venue_rules,
    )


class RunningExchange:
    """An exchange serving on its own event loop in a daemon thread."""

    def __init__(self, exchange: PaperExchange) -> None:
        self.exchange = exchange
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="paper-exchange", daemon=True
        )
        self._thread.start()
        self.url = self.call(exchange.start())

    @property
    def ticker_url(self) -> str:
        """The ``root`` for ``KiteTicker`` (``ws://host:port``)."""
        return "ws" + self.url.removeprefix("http")

    def call(self, work: Awaitable[_T], timeout: float = 30.0) -> _T:
        """Run ``work`` on the exchange's loop and wait for its result."""

        async def wrapped() -> _T:
            return await work

        future: Future[_T] = asyncio.run_coroutine_threadsafe(wrapped(), self._loop)
        return future.result(timeout)

    def step(self) -> int:
        """One market step, now (see :meth:`PaperExchange.step`)."""
        return self.call(self.exchange.step())

    def stop(self) -> None:
        if not self._loop.is_running():
            return
        try:
            self.call(self.exchange.stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()

    def __enter__(self) -> RunningExchange:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_in_thread(exchange: PaperExchange) -> RunningExchange:
    """Start ``exchange`` in a background thread and return once it is listening."""
    return RunningExchange(exchange)
