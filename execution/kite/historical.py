"""Kite historical data behind the :class:`~data_contracts.ports.MarketDataSource` port: candles,
the daily instruments dump and option chains, read through the real ``kiteconnect`` client.

Facts relied on (reference ``kite-connect.md``): §1.1 the client builds URLs with ``urljoin`` and
drops any path in ``root``; §1.3 errors arrive as exceptions carrying the HTTP status; §1.5 limits
of 3 historical requests and 1 quote request per second; §1.6 the historical route, the maximum
days per request per interval and the candle shape ``["2017-12-15T09:15:00+0530", o, h, l, c,
volume(, oi)]`` where the timestamp labels the bar's *start*; §4 the instruments CSV.

Time is converted exactly once, here: Kite's IST timestamps (aware ``+05:30`` from the candle
route, naive IST from the quote route) become aware UTC, and a bar's label (its start) becomes
``ts_event`` = its close, as ``schemas.CandleFrame`` requires. See ``docs/kite-source.md``.
"""

from __future__ import annotations

import gzip
import logging
import os
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Protocol
from urllib.parse import urlsplit

import polars as pl
from kiteconnect import KiteConnect

from data_contracts.enums import Exchange
from data_contracts.errors import ContractError
from data_contracts.ids import InstrumentToken
from data_contracts.instruments import Instrument, parse_instruments_csv
from data_contracts.nse_calendar import NseCalendar, Session
from data_contracts.ports import Clock, MarketDataSource
from data_contracts.schemas import CANDLE_SCHEMA, OPTION_CHAIN_SCHEMA, UTC_TIMESTAMP, CandleFrame
from data_contracts.symbols import parse_symbol
from data_contracts.timeutil import IST, UTC, require_aware
from data_contracts.validation import integer, non_empty, positive
from execution.kite.rate_limit import TokenBucket
from execution.kite.retry import RetryPolicy, call_with_retries

__all__ = [
    "CANDLE_SCHEMA",
    "KITE_INTERVALS",
    "OPTION_CHAIN_SCHEMA",
    "InstrumentsCache",
    "KiteHistoricalSource",
    "KiteInterval",
    "KiteMarketClient",
    "KiteSourceSettings",
    "assemble_option_chain",
    "candles_frame",
    "find_underlying",
    "kite_client",
    "kite_interval",
    "kite_time_to_utc",
    "request_windows",
    "select_option_contracts",
]

_log = logging.getLogger(__name__)

_OWNER = "KiteHistoricalSource"
_WIRE_FORMAT = "%Y-%m-%d %H:%M:%S"  # Kite's from/to: IST wall time, whole seconds
_MAX_QUOTE_BATCH = 500  # instruments per /quote request (reference §2)


# --- the client -------------------------------------------------------------------------------


class KiteMarketClient(Protocol):
    """The part of ``kiteconnect.KiteConnect`` this module uses (the real client satisfies it).

    ``_get`` is the client's own GET helper. It is used for ``/instruments`` because the public
    ``instruments()`` parses the CSV into loosely typed dicts (and fails on an empty strike cell,
    which Kite's own docs sample has), while ``data_contracts.instruments`` owns the one validated
    parser and the raw bytes are what the on-disk cache keeps.
    """

    def historical_data(
        self,
        instrument_token: int,
        from_date: str,
        to_date: str,
        interval: str,
        continuous: bool = ...,
        oi: bool = ...,
    ) -> list[dict[str, Any]]: ...

    def quote(self, *instruments: str) -> dict[str, dict[str, Any]]: ...

    def _get(
        self,
        route: str,
        url_args: dict[str, str] | None = ...,
        params: dict[str, Any] | None = ...,
        is_json: bool = ...,
    ) -> Any: ...


def kite_client(
    api_key: str, access_token: str, *, root: str | None = None, timeout: float | None = None
) -> KiteMarketClient:
    """A real ``KiteConnect`` for a logged-in session; ``root`` points it elsewhere (the paper
    exchange, a test stub). ``root`` must be ``scheme://host[:port]``: the client would silently
    drop any path in it."""
    non_empty("kite_client", "api_key", api_key)
    non_empty("kite_client", "access_token", access_token)
    if root is not None:
        parts = urlsplit(root)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            raise ContractError(
                "kite_client",
                "root",
                root,
                "must be http(s)://host[:port] without a path (kiteconnect drops any path)",
            )
    if timeout is not None:
        positive("kite_client", "timeout", timeout)
    client: KiteMarketClient = KiteConnect(
        api_key=api_key, access_token=access_token, root=root, timeout=timeout
    )
    return client


# --- intervals and request windows ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KiteInterval:
    """One of Kite's candle intervals: its name on the wire, its length and the most days one
    request may span (reference §1.6, Zerodha staff on the forum; not on the docs page)."""

    name: str
    length: timedelta
    max_days: int

    @property
    def max_span(self) -> timedelta:
        return timedelta(days=self.max_days)

    @property
    def is_daily(self) -> bool:
        return self.length == timedelta(days=1)


KITE_INTERVALS: Final[Mapping[timedelta, KiteInterval]] = MappingProxyType(
    {
        spec.length: spec
        for spec in (
            KiteInterval("minute", timedelta(minutes=1), 60),
            KiteInterval("3minute", timedelta(minutes=3), 100),
            KiteInterval("5minute", timedelta(minutes=5), 100),
            KiteInterval("10minute", timedelta(minutes=10), 100),
            KiteInterval("15minute", timedelta(minutes=15), 200),
            KiteInterval("30minute", timedelta(minutes=30), 200),
            KiteInterval("60minute", timedelta(minutes=60), 400),
            KiteInterval("day", timedelta(days=1), 2000),
        )
    }
)


def kite_interval(interval: timedelta) -> KiteInterval:
    """Kite's interval for a bar length; anything Kite does not serve raises ContractError."""
    spec = KITE_INTERVALS.get(interval) if isinstance(interval, timedelta) else None
    if spec is None:
        allowed = ", ".join(str(length) for length in KITE_INTERVALS)
        raise ContractError(_OWNER, "interval", interval, f"must be one of {{{allowed}}}")
    return spec


def request_windows(
    first: datetime, last: datetime, interval: KiteInterval
) -> list[tuple[datetime, datetime]]:
    """Inclusive ``[from, to]`` windows covering ``[first, last]`` (both floored to whole
    seconds), each spanning at most ``interval.max_days`` days.

    Consecutive windows share their boundary instant: Kite's ``to`` is inclusive, so a bar that
    starts exactly there comes back twice and is de-duplicated afterwards (this is also right for
    daily bars, which Kite labels at 00:00 IST).
    """
    lo = require_aware(_OWNER, "first", first).replace(microsecond=0)
    hi = require_aware(_OWNER, "last", last).replace(microsecond=0)
    if hi < lo:
        raise ContractError(_OWNER, "last", last, f"must not be before first {first}")
    windows: list[tuple[datetime, datetime]] = []
    window_from = lo
    while True:
        window_to = min(window_from + interval.max_span, hi)
        windows.append((window_from, window_to))
        if window_to >= hi:
            return windows
        window_from = window_to


def _wire(ts: datetime) -> str:
    return ts.astimezone(IST).strftime(_WIRE_FORMAT)


# --- time conversion --------------------------------------------------------------------------


def kite_time_to_utc(value: datetime | str) -> datetime:
    """A Kite timestamp as aware UTC: an aware value (the candle route's ``+0530``) is converted;
    a naive one (the quote route, ``yyyy-mm-dd hh:mm:ss``) is IST wall time by Kite's
    convention. Strings are parsed first."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ContractError(
                "KiteTimestamp", "value", value, "must be an ISO timestamp"
            ) from None
    if not isinstance(value, datetime):
        raise ContractError("KiteTimestamp", "value", value, "must be a datetime or string")
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=IST)
    return value.astimezone(UTC)


class _SessionCloses:
    """Session close per IST date, looked up once per date."""

    def __init__(self, calendar: NseCalendar) -> None:
        self._calendar = calendar
        self._closes: dict[date, datetime | None] = {}

    def close(self, day: date) -> datetime | None:
        if day not in self._closes:
            session = self._calendar.session(day)
            self._closes[day] = None if session is None else session.close
        return self._closes[day]


def _bar_close(start: datetime, spec: KiteInterval, closes: _SessionCloses) -> datetime:
    """A bar's close (``ts_event``) from its start label, both aware UTC.

    Daily bars close at that day's session close (15:30 IST, or a special session's close; a day
    the calendar does not know as a session is taken as a regular one, since Kite says it
    traded). Intraday bars close ``length`` after their start, cut at the session close: Kite's
    last 60-minute bar starts 15:15 and ends at 15:30, not 16:15.
    """
    day = start.astimezone(IST).date()
    close = closes.close(day)
    if spec.is_daily:
        return close if close is not None else Session.regular(day).close
    end = start + spec.length
    if close is not None and start < close < end:
        return close
    return end


# --- candles ----------------------------------------------------------------------------------


def candles_frame(
    rows: Iterable[Mapping[str, Any]],
    instrument_token: int,
    interval: KiteInterval,
    start: datetime,
    end: datetime,
    calendar: NseCalendar,
    *,
    oi: bool = False,
) -> pl.DataFrame:
    """``kiteconnect``'s candle dicts (``date`` = bar start) as a validated ``CandleFrame`` of the
    bars closing in ``(start, end]``, one row per close time (the first one seen is kept), sorted.
    ``oi`` is null unless ``oi`` is set."""
    lo = require_aware(_OWNER, "start", start)
    hi = require_aware(_OWNER, "end", end)
    closes = _SessionCloses(calendar)
    columns: dict[str, list[Any]] = {name: [] for name in CANDLE_SCHEMA}
    for row in rows:
        columns["ts_event"].append(_bar_close(kite_time_to_utc(row["date"]), interval, closes))
        for name in ("open", "high", "low", "close", "volume"):
            columns[name].append(row[name])
        columns["oi"].append(row.get("oi") if oi else None)
    columns["instrument_token"] = [instrument_token] * len(columns["ts_event"])
    frame = (
        pl.DataFrame(columns, schema=dict(CANDLE_SCHEMA))
        .filter(
            (pl.col("ts_event") > pl.lit(lo, dtype=UTC_TIMESTAMP))
            & (pl.col("ts_event") <= pl.lit(hi, dtype=UTC_TIMESTAMP))
        )
        .unique(subset=["instrument_token", "ts_event"], keep="first", maintain_order=True)
        .sort("ts_event")
    )
    return CandleFrame.validate(frame)


# --- instruments ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Dump:
    instruments: tuple[Instrument, ...]
    provisional: bool  # downloaded before the day's dump is published; fetch again later


class InstrumentsCache:
    """Kite's instruments dump, one per IST date, downloaded at most once a day.

    Kite publishes one dump a day and advises downloading it at about 08:30 IST (reference §4).
    ``get(on)`` returns the dump of ``on``'s IST date: from memory, else from ``directory`` (raw
    CSV, gzip-compressed, ``instruments-YYYY-MM-DD.csv.gz``), else — only when that date is
    today's by ``clock`` — downloaded. A download before ``ready_at`` IST may still be yesterday's
    dump, so it is kept in memory only and downloaded again once ``ready_at`` has passed. Kite
    serves no past dumps: asking for an uncached past (or a future) date raises ContractError.
    """

    def __init__(
        self,
        download: Callable[[], bytes],
        clock: Clock,
        *,
        exchanges: Collection[Exchange] | None = None,
        directory: Path | None = None,
        ready_at: clock_time = clock_time(8, 30),
        keep: int = 2,
    ) -> None:
        self._download = download
        self._clock = clock
        self._exchanges = None if exchanges is None else frozenset(exchanges)
        self._directory = directory
        self._ready_at = ready_at
        self._keep = integer("InstrumentsCache", "keep", keep, minimum=1)
        self._memory: OrderedDict[date, _Dump] = OrderedDict()
        self._lock = threading.Lock()  # one download at a time, never two for the same day

    def path_for(self, day: date) -> Path | None:
        """Where the dump of ``day`` is (or would be) kept on disk."""
        if self._directory is None:
            return None
        return self._directory / f"instruments-{day.isoformat()}.csv.gz"

    def get(self, on: datetime | None = None) -> tuple[Instrument, ...]:
        """The dump of ``on``'s IST date (default: today's by the clock)."""
        with self._lock:
            return self._get(on)

    def _get(self, on: datetime | None) -> tuple[Instrument, ...]:
        now = require_aware("InstrumentsCache", "clock.now()", self._clock.now()).astimezone(IST)
        today = now.date()
        day = (
            today
            if on is None
            else require_aware("InstrumentsCache", "on", on).astimezone(IST).date()
        )
        ready = now.time() >= self._ready_at
        held = self._memory.get(day)
        if held is not None and not (held.provisional and day == today and ready):
            self._memory.move_to_end(day)
            return held.instruments
        if held is None:
            stored = self._read(day)
            if stored is not None:
                return self._remember(day, _Dump(stored, provisional=False))
        if day != today:
            where = "" if self._directory is None else f" in {self._directory}"
            raise ContractError(
                "InstrumentsCache",
                "on",
                on,
                f"must fall on today's IST date {today}: Kite serves only the current dump and "
                f"none is cached for {day}{where}",
            )
        body = self._download()
        instruments = tuple(parse_instruments_csv(body, exchanges=self._exchanges))
        if ready:
            self._write(day, body)
        _log.info("instruments dump for %s: %d instruments", day, len(instruments))
        return self._remember(day, _Dump(instruments, provisional=not ready))

    def _remember(self, day: date, dump: _Dump) -> tuple[Instrument, ...]:
        self._memory[day] = dump
        self._memory.move_to_end(day)
        while len(self._memory) > self._keep:
            self._memory.popitem(last=False)
        return dump.instruments

    def _read(self, day: date) -> tuple[Instrument, ...] | None:
        path = self.path_for(day)
        if path is None or not path.is_file():
            return None
        return tuple(parse_instruments_csv(path, exchanges=self._exchanges))

    def _write(self, day: date, body: bytes) -> None:
        path = self.path_for(day)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
        partial.write_bytes(gzip.compress(body, mtime=0))
        partial.replace(path)  # atomic: a reader never sees half a file


# --- option chains ----------------------------------------------------------------------------

# Underlying name in the NFO dump → the index row's tradingsymbol on NSE (segment INDICES).
# Second-hand (widely used client code); any other underlying is looked up as an NSE equity.
_INDEX_SYMBOLS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "NIFTY": "NIFTY 50",
        "BANKNIFTY": "NIFTY BANK",
        "FINNIFTY": "NIFTY FIN SERVICE",
        "MIDCPNIFTY": "NIFTY MID SELECT",
        "NIFTYNXT50": "NIFTY NEXT 50",
    }
)
_CASH_MARKET: Final[Mapping[Exchange, Exchange]] = MappingProxyType(
    {Exchange.NFO: Exchange.NSE, Exchange.BFO: Exchange.BSE}
)


def select_option_contracts(
    instruments: Iterable[Instrument],
    underlying: str,
    expiry: date,
    exchange: Exchange = Exchange.NFO,
) -> list[Instrument]:
    """The CE/PE contracts on ``underlying`` expiring ``expiry``, by strike then CE before PE.

    The dump's ``name`` column names the underlying; where it is empty (older dumps and Kite's
    mocks), the tradingsymbol must parse as ``underlying``'s derivative symbol.
    """
    non_empty(_OWNER, "underlying", underlying)
    chosen = [
        i
        for i in instruments
        if i.exchange is exchange and i.is_option and i.expiry == expiry and _is_on(i, underlying)
    ]
    return sorted(chosen, key=lambda i: (i.strike or 0.0, i.instrument_type.value))


def _is_on(instrument: Instrument, underlying: str) -> bool:
    if instrument.name:
        return instrument.name == underlying
    try:
        parse_symbol(instrument.tradingsymbol, underlying)
    except ContractError:
        return False
    return True


def find_underlying(
    instruments: Iterable[Instrument], underlying: str, exchange: Exchange = Exchange.NFO
) -> Instrument | None:
    """The instrument the options of ``underlying`` on ``exchange`` are written on: the index row
    (``NIFTY`` → ``NSE:NIFTY 50``) or the cash-market equity of that name; None if absent."""
    cash = _CASH_MARKET.get(exchange)
    symbol = _INDEX_SYMBOLS.get(underlying, underlying)
    return next(
        (i for i in instruments if i.exchange is cash and i.tradingsymbol == symbol),
        None,
    )


def assemble_option_chain(
    contracts: Sequence[Instrument],
    quotes: Mapping[str, Mapping[str, Any]],
    *,
    underlying_token: int | None,
    fetched_at: datetime,
) -> pl.DataFrame:
    """One row per contract (``OPTION_CHAIN_SCHEMA``), quotes keyed ``"EXCHANGE:SYMBOL"``.

    ``ts_event`` is the quote's exchange ``timestamp`` (IST) in UTC, else ``fetched_at``. A
    contract Kite returned no quote for keeps null prices; a zero last price (never traded) and an
    empty best bid/ask level are null too.
    """
    fallback = require_aware(_OWNER, "fetched_at", fetched_at)
    columns: dict[str, list[Any]] = {name: [] for name in OPTION_CHAIN_SCHEMA}
    for contract in contracts:
        quote = quotes.get(f"{contract.exchange.value}:{contract.tradingsymbol}", {})
        stamp = quote.get("timestamp")
        depth = quote.get("depth") or {}
        columns["ts_event"].append(fallback if not stamp else kite_time_to_utc(stamp))
        columns["underlying_token"].append(underlying_token)
        columns["instrument_token"].append(contract.instrument_token)
        columns["tradingsymbol"].append(contract.tradingsymbol)
        columns["expiry"].append(contract.expiry)
        columns["strike"].append(contract.strike)
        columns["option_type"].append(contract.instrument_type.value)
        columns["last_price"].append(_price(quote.get("last_price")))
        columns["bid"].append(_best(depth.get("buy")))
        columns["ask"].append(_best(depth.get("sell")))
        columns["oi"].append(quote.get("oi"))
        columns["volume"].append(quote.get("volume"))
    return pl.DataFrame(columns, schema=dict(OPTION_CHAIN_SCHEMA))


def _price(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def _best(levels: object) -> float | None:
    """The best price of one side of Kite's depth; Kite pads an empty side with zero levels."""
    if not isinstance(levels, list) or not levels or not isinstance(levels[0], Mapping):
        return None
    top = levels[0]
    quantity = top.get("quantity")
    if not isinstance(quantity, int) or quantity <= 0:
        return None
    return _price(top.get("price"))


# --- the source -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KiteSourceSettings:
    """Tuning for :class:`KiteHistoricalSource`; the defaults follow Kite's published limits.

    ``exchanges`` limits which rows of the full dump are parsed (the dump carries exchanges this
    project does not model). ``cache_dir`` keeps one compressed dump per day on disk.
    """

    exchanges: tuple[Exchange, ...] = (Exchange.NSE, Exchange.NFO)
    cache_dir: Path | None = None
    dump_ready_at: clock_time = clock_time(8, 30)
    historical_rate: float = 3.0
    quote_rate: float = 1.0
    quote_batch_size: int = _MAX_QUOTE_BATCH
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        positive("KiteSourceSettings", "historical_rate", self.historical_rate)
        positive("KiteSourceSettings", "quote_rate", self.quote_rate)
        integer("KiteSourceSettings", "quote_batch_size", self.quote_batch_size, minimum=1)
        if self.quote_batch_size > _MAX_QUOTE_BATCH:
            raise ContractError(
                "KiteSourceSettings",
                "quote_batch_size",
                self.quote_batch_size,
                f"must be <= {_MAX_QUOTE_BATCH} (Kite's limit per /quote request)",
            )
        for exchange in self.exchanges:
            if not isinstance(exchange, Exchange):
                raise ContractError(
                    "KiteSourceSettings", "exchanges", exchange, "must hold Exchange values"
                )


class KiteHistoricalSource:
    """Kite's historical candles, instruments dump and option chains (a ``MarketDataSource``).

    ``client`` is a real ``KiteConnect`` (:func:`kite_client`), pointed at Kite, the paper
    exchange or a test stub. ``clock`` dates the instruments dump and stamps option chains;
    ``monotonic``/``sleep``/``draw`` drive the rate limiters and retry backoff (tests pass a fake
    clock, so nothing really sleeps).
    """

    def __init__(
        self,
        client: KiteMarketClient,
        clock: Clock,
        *,
        calendar: NseCalendar | None = None,
        settings: KiteSourceSettings | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self._client = client
        self._clock = clock
        self._calendar = calendar if calendar is not None else NseCalendar.default()
        self._settings = settings if settings is not None else KiteSourceSettings()
        self._sleep = sleep
        self._draw = draw
        self._historical_limit = TokenBucket(
            self._settings.historical_rate, monotonic=monotonic, sleep=sleep
        )
        self._quote_limit = TokenBucket(self._settings.quote_rate, monotonic=monotonic, sleep=sleep)
        self._instruments = InstrumentsCache(
            self._download_instruments,
            clock,
            exchanges=self._settings.exchanges,
            directory=self._settings.cache_dir,
            ready_at=self._settings.dump_ready_at,
        )

    # -- MarketDataSource ---------------------------------------------------------------------

    def instruments(self, on: datetime) -> Sequence[Instrument]:
        """The dump of ``on``'s IST date (see :class:`InstrumentsCache`)."""
        return self._instruments.get(on)

    def candles(
        self,
        instrument_token: InstrumentToken,
        start: datetime,
        end: datetime,
        interval: timedelta,
        *,
        oi: bool = False,
    ) -> pl.DataFrame:
        """Bars closing in ``(start, end]`` as a ``CandleFrame``; with ``oi`` the open interest.

        Asks Kite for bars *starting* in ``[start - interval, end]``, split into windows within
        the interval's day limit and paced by the historical rate limit; retries per settings.
        """
        token = integer(_OWNER, "instrument_token", instrument_token, minimum=1)
        lo = require_aware(_OWNER, "start", start)
        hi = require_aware(_OWNER, "end", end)
        if hi <= lo:
            raise ContractError(_OWNER, "end", end, f"must be after start {start}")
        spec = kite_interval(interval)
        rows: list[Mapping[str, Any]] = []
        for window_from, window_to in request_windows(lo - spec.length, hi, spec):
            rows.extend(self._historical(token, spec, _wire(window_from), _wire(window_to), oi))
        return candles_frame(rows, token, spec, lo, hi, self._calendar, oi=oi)

    # -- option chains ------------------------------------------------------------------------

    def option_chain(
        self,
        underlying: str,
        expiry: date,
        *,
        exchange: Exchange = Exchange.NFO,
        underlying_token: int | None = None,
    ) -> pl.DataFrame:
        """Today's chain of ``underlying``'s options expiring ``expiry`` with live quotes
        (``OPTION_CHAIN_SCHEMA``). ``underlying_token`` defaults to the index or equity row in
        the dump (null if the dump has none)."""
        instruments = self._instruments.get()
        contracts = select_option_contracts(instruments, underlying, expiry, exchange)
        if not contracts:
            raise ContractError(
                _OWNER,
                "underlying",
                underlying,
                f"has no {exchange.value} options expiring {expiry} in today's instruments dump",
            )
        if underlying_token is None:
            found = find_underlying(instruments, underlying, exchange)
            underlying_token = None if found is None else found.instrument_token
        keys = [f"{c.exchange.value}:{c.tradingsymbol}" for c in contracts]
        quotes: dict[str, Mapping[str, Any]] = {}
        size = self._settings.quote_batch_size
        for first in range(0, len(keys), size):
            quotes.update(self._quote(keys[first : first + size]))
        return assemble_option_chain(
            contracts, quotes, underlying_token=underlying_token, fetched_at=self._clock.now()
        )

    # -- requests -----------------------------------------------------------------------------

    def _historical(
        self, token: int, spec: KiteInterval, window_from: str, window_to: str, oi: bool
    ) -> list[Mapping[str, Any]]:
        def call() -> list[dict[str, Any]]:
            return self._client.historical_data(
                token, window_from, window_to, spec.name, continuous=False, oi=oi
            )

        return list(
            call_with_retries(
                call,
                what=f"historical {token} {spec.name} {window_from} to {window_to}",
                policy=self._settings.retry,
                before_attempt=self._historical_limit.acquire,
                sleep=self._sleep,
                draw=self._draw,
            )
        )

    def _quote(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        return call_with_retries(
            lambda: self._client.quote(*keys),
            what=f"quote of {len(keys)} instruments ({keys[0]}...)",
            policy=self._settings.retry,
            before_attempt=self._quote_limit.acquire,
            sleep=self._sleep,
            draw=self._draw,
        )

    def _download_instruments(self) -> bytes:
        body: object = call_with_retries(
            lambda: self._client._get("market.instruments.all"),
            what="instruments dump",
            policy=self._settings.retry,
            sleep=self._sleep,
            draw=self._draw,
        )
        if not isinstance(body, bytes):  # kiteconnect returns the body raw for text/csv
            raise ContractError(
                _OWNER, "instruments", type(body).__name__, "must arrive as CSV bytes (text/csv)"
            )
        return body


if TYPE_CHECKING:  # mypy proves the source fits the port; nothing runs here

    def _fits_the_port(source: KiteHistoricalSource) -> MarketDataSource:
        return source
