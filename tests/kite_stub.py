"""A small local Kite Connect REST server for integration tests of the market-data adapter.

It speaks Kite's wire format (reference ``kite-connect.md`` §1.1-1.6, §4) so the real
``kiteconnect.KiteConnect`` can be pointed at it with ``root=stub.url``:

* ``GET /instruments`` and ``/instruments/{exchange}``: the dump as ``text/csv``;
* ``GET /instruments/historical/{token}/{interval}``: candles from a provider (synthetic or a
  golden Kite mock), refusing a window longer than the interval's day limit the way Kite does;
* ``GET /quote?i=EXCHANGE:SYMBOL...``: the scripted quotes (unknown keys are left out, as Kite
  does).

Success is ``{"status": "success", "data": ...}``, an error ``{"status": "error", "message": ...,
"error_type": ...}`` with the HTTP status, both ``application/json``. Faults are scripted per route
(``fail``: an error status N times; ``drop``: close the connection without answering), a session
can be expired (403 ``TokenException``), and every request is recorded with the time of an
injected clock, so a test with a fake clock can check the schedule the client kept.

The paper exchange (a later issue) is the full venue; this stays a small test double. Its limits
table is written out here on purpose rather than imported from the code under test.
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from data_contracts.timeutil import IST

__all__ = [
    "MAX_DAYS",
    "CandleProvider",
    "FakeTime",
    "GoldenCandles",
    "KiteStub",
    "RecordedRequest",
    "SyntheticCandles",
    "synthetic_quote",
]

# Kite's maximum days per historical request (reference §1.6).
MAX_DAYS: Mapping[str, int] = {
    "minute": 60,
    "3minute": 100,
    "5minute": 100,
    "10minute": 100,
    "15minute": 200,
    "30minute": 200,
    "60minute": 400,
    "day": 2000,
}
_MINUTES = {"minute": 1, "3minute": 3, "5minute": 5, "10minute": 10, "15minute": 15}
_MINUTES |= {"30minute": 30, "60minute": 60}

_WIRE = "%Y-%m-%d %H:%M:%S"
_HISTORICAL = re.compile(r"/instruments/historical/(?P<token>\d+)/(?P<interval>[a-z0-9]+)")
_INSTRUMENTS = re.compile(r"/instruments(?:/(?P<exchange>[A-Z]+))?")
_JSON = "application/json"
_CSV = "text/csv"
_DROP = 0  # a Fault with this status closes the connection instead of answering


# --- time -------------------------------------------------------------------------------------


class FakeTime:
    """A monotonic clock that moves only when something sleeps on it (records every sleep)."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0, f"slept a negative time {seconds}"
        self.sleeps.append(seconds)
        self.now += seconds


# --- candles ----------------------------------------------------------------------------------

# (token, interval, from, to, oi) -> candle rows in Kite's wire shape; from/to are aware IST.
CandleProvider = Callable[[int, str, datetime, datetime, bool], list[list[Any]]]


def _kite_stamp(ts: datetime) -> str:
    return ts.astimezone(IST).strftime("%Y-%m-%dT%H:%M:%S%z")  # "2017-12-15T09:15:00+0530"


@dataclass(frozen=True, slots=True)
class SyntheticCandles:
    """Deterministic bars on every weekday (no holiday calendar: this is the venue's record).

    Intraday bars start every interval from 09:15 IST to before 15:30, or only at ``times`` when
    given (fewer rows keep long-range tests fast); daily bars are labelled 00:00 IST like Kite's.
    Prices depend only on the token and the bar start, so two requests agree on a bar.
    """

    times: tuple[clock_time, ...] | None = None

    def __call__(
        self, token: int, interval: str, first: datetime, last: datetime, oi: bool
    ) -> list[list[Any]]:
        return [self.row(token, start, oi) for start in self.starts(interval, first, last)]

    def starts(self, interval: str, first: datetime, last: datetime) -> Iterator[datetime]:
        """Bar starts (aware IST) within ``[first, last]``."""
        day = first.astimezone(IST).date()
        while day <= last.astimezone(IST).date():
            if day.weekday() < 5:  # Monday-Friday
                for start in self._day_starts(interval, day):
                    if first <= start <= last:
                        yield start
            day += timedelta(days=1)

    def _day_starts(self, interval: str, day: date) -> list[datetime]:
        if interval == "day":
            return [datetime.combine(day, clock_time(0, 0), tzinfo=IST)]
        if self.times is not None:
            return [datetime.combine(day, t, tzinfo=IST) for t in self.times]
        step = timedelta(minutes=_MINUTES[interval])
        start = datetime.combine(day, clock_time(9, 15), tzinfo=IST)
        close = datetime.combine(day, clock_time(15, 30), tzinfo=IST)
        found = []
        while start < close:
            found.append(start)
            start += step
        return found

    @staticmethod
    def row(token: int, start: datetime, oi: bool) -> list[Any]:
        base = 100.0 + (token % 97) + (int(start.timestamp()) // 60) % 50
        row: list[Any] = [_kite_stamp(start), base, base + 2.5, base - 1.5, base + 1.0]
        row.append(1_000 + (int(start.timestamp()) // 60) % 500)
        if oi:
            row.append(50_000 + (int(start.timestamp()) // 60) % 1_000)
        return row


@dataclass(frozen=True, slots=True)
class GoldenCandles:
    """Serve a golden Kite response (``{"status": ..., "data": {"candles": [...]}}``) filtered to
    the requested window; the oi element is kept only when asked for."""

    payload: Mapping[str, Any]

    def __call__(
        self, token: int, interval: str, first: datetime, last: datetime, oi: bool
    ) -> list[list[Any]]:
        rows = []
        for candle in self.payload["data"]["candles"]:
            start = datetime.strptime(candle[0], "%Y-%m-%dT%H:%M:%S%z")
            if first <= start <= last:
                rows.append(list(candle) if oi else list(candle[:6]))
        return rows


# --- quotes -----------------------------------------------------------------------------------


def synthetic_quote(
    instrument_token: int,
    *,
    timestamp: str,
    last_price: float,
    bid: float | None,
    ask: float | None,
    oi: int = 0,
    volume: int = 0,
) -> dict[str, Any]:
    """One ``/quote`` entry in Kite's shape (MOCK ``quote.json``); a missing side of the book is
    padded with zero levels as Kite does."""

    def side(price: float | None) -> list[dict[str, Any]]:
        first = {"price": price or 0, "quantity": 75 if price else 0, "orders": 1 if price else 0}
        return [first] + [{"price": 0, "quantity": 0, "orders": 0} for _ in range(4)]

    return {
        "instrument_token": instrument_token,
        "timestamp": timestamp,
        "last_trade_time": timestamp,
        "last_price": last_price,
        "last_quantity": 75,
        "buy_quantity": 750,
        "sell_quantity": 750,
        "volume": volume,
        "average_price": last_price,
        "oi": oi,
        "oi_day_high": oi,
        "oi_day_low": oi,
        "net_change": 0,
        "lower_circuit_limit": 0.05,
        "upper_circuit_limit": last_price * 2,
        "ohlc": {"open": last_price, "high": last_price, "low": last_price, "close": last_price},
        "depth": {"buy": side(bid), "sell": side(ask)},
    }


# --- the server -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the stub saw it; ``status`` 0 means the connection was dropped and
    ``rows`` is the number of candles or quotes returned (None for other answers)."""

    method: str
    path: str
    route: str
    query: Mapping[str, Sequence[str]]
    at: float
    status: int
    rows: int | None = None

    def param(self, name: str) -> str:
        return self.query[name][0]


@dataclass(frozen=True, slots=True)
class _Fault:
    status: int
    error_type: str
    message: str


@dataclass
class _Answer:
    status: int
    content_type: str
    body: bytes
    rows: int | None = None


@dataclass
class KiteStub:
    """The server. Use as a context manager (``with KiteStub(...) as stub:``); ``stub.url`` is
    the ``root`` for ``KiteConnect``."""

    instruments_csv: bytes = b""
    candles: CandleProvider = field(default_factory=SyntheticCandles)
    quotes: dict[str, dict[str, Any]] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic
    api_key: str = "stub_key"
    access_token: str = "stub_token"  # noqa: S105 - a test double's placeholder, not a secret
    requests: list[RecordedRequest] = field(default_factory=list)
    _faults: dict[str, deque[_Fault]] = field(default_factory=dict)
    _expired: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # -- lifecycle --

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        # A short poll interval keeps stop() quick (shutdown waits for the next poll).
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    @property
    def url(self) -> str:
        assert self._server is not None, "the stub is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- scripting --

    def fail(
        self,
        route: str,
        *,
        status: int,
        error_type: str,
        message: str = "scripted failure",
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` requests to ``route`` (``historical``, ``instruments``,
        ``quote``) with a Kite error envelope and this HTTP status."""
        with self._lock:
            queue = self._faults.setdefault(route, deque())
            queue.extend(_Fault(status, error_type, message) for _ in range(times))

    def drop(self, route: str, *, times: int = 1) -> None:
        """Close the connection without answering the next ``times`` requests to ``route``."""
        with self._lock:
            queue = self._faults.setdefault(route, deque())
            queue.extend(_Fault(_DROP, "", "") for _ in range(times))

    def expire_session(self) -> None:
        """From now on every request gets 403 ``TokenException`` (as after Kite's 06:00 expiry)."""
        self._expired = True

    def routed(self, route: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.route == route]

    # -- answering --

    def answer(
        self, method: str, path: str, query: dict[str, list[str]], auth: str | None
    ) -> _Answer | None:
        """The response to one request, or None to drop the connection. Records the request."""
        at = self.clock()
        route = _route_of(path)
        answer = self._scripted(route)
        if answer is None and not (
            auth == f"token {self.api_key}:{self.access_token}" and not self._expired
        ):
            answer = _error(403, "TokenException", "Incorrect `api_key` or `access_token`.")
        if answer is None:
            answer = self._route(route, path, query)
        with self._lock:
            self.requests.append(
                RecordedRequest(
                    method,
                    path,
                    route,
                    query,
                    at,
                    0 if answer.status == _DROP else answer.status,
                    answer.rows,
                )
            )
        return None if answer.status == _DROP else answer

    def _scripted(self, route: str) -> _Answer | None:
        with self._lock:
            queue = self._faults.get(route)
            fault = queue.popleft() if queue else None
        if fault is None:
            return None
        if fault.status == _DROP:
            return _Answer(_DROP, "", b"")
        return _error(fault.status, fault.error_type, fault.message)

    def _route(self, route: str, path: str, query: dict[str, list[str]]) -> _Answer:
        if route == "historical":
            return self._historical(path, query)
        if route == "quote":
            keys = query.get("i", [])
            data = {key: self.quotes[key] for key in keys if key in self.quotes}
            return _success(data, rows=len(data))
        if route == "instruments":
            match = _INSTRUMENTS.fullmatch(path)
            assert match is not None
            return _Answer(200, _CSV, _only_exchange(self.instruments_csv, match["exchange"]))
        return _error(404, "GeneralException", f"Route not found: {path}")

    def _historical(self, path: str, query: dict[str, list[str]]) -> _Answer:
        match = _HISTORICAL.fullmatch(path)
        assert match is not None
        interval = match["interval"]
        if interval not in MAX_DAYS:
            return _error(400, "InputException", f"invalid interval: {interval}")
        try:
            first = datetime.strptime(query["from"][0], _WIRE).replace(tzinfo=IST)
            last = datetime.strptime(query["to"][0], _WIRE).replace(tzinfo=IST)
        except (KeyError, ValueError):
            return _error(400, "InputException", "invalid from or to date")
        if last < first:
            return _error(400, "InputException", "from date is after to date")
        if last - first > timedelta(days=MAX_DAYS[interval]):
            return _error(
                400, "InputException", f"interval exceeds max limit: {MAX_DAYS[interval]} days"
            )
        oi = query.get("oi", ["0"])[0] == "1"
        rows = self.candles(int(match["token"]), interval, first, last, oi)
        return _success({"candles": rows}, rows=len(rows))


def _route_of(path: str) -> str:
    if _HISTORICAL.fullmatch(path):
        return "historical"
    if _INSTRUMENTS.fullmatch(path):
        return "instruments"
    if path == "/quote":
        return "quote"
    return "unknown"


def _success(data: object, *, rows: int | None = None) -> _Answer:
    body = json.dumps({"status": "success", "data": data}).encode()
    return _Answer(200, _JSON, body, rows)


def _error(status: int, error_type: str, message: str) -> _Answer:
    body = {"status": "error", "message": message, "data": None, "error_type": error_type}
    return _Answer(status, _JSON, json.dumps(body).encode())


def _only_exchange(dump: bytes, exchange: str | None) -> bytes:
    if exchange is None:
        return dump
    reader = csv.DictReader(io.StringIO(dump.decode()))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=reader.fieldnames or [], lineterminator="\n")
    writer.writeheader()
    writer.writerows(row for row in reader if row["exchange"] == exchange)
    return out.getvalue().encode()


def _handler_for(stub: KiteStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.0: one request per connection, so a dropped connection is never a reused one.
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query, keep_blank_values=True)
            answer = stub.answer("GET", parts.path, query, self.headers.get("Authorization"))
            if answer is None:
                self.close_connection = True
                return  # nothing written: the client sees the connection closed
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        def log_message(self, format: str, *args: Any) -> None:
            """Silence the per-request log line."""

    return Handler
