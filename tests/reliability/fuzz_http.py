"""Fuzz targets of the HTTP inputs: the dashboard's Dash callback endpoint (and its static paths)
and the MCP server.

**Dashboard.** The real app (``dashboard.app.create_app`` over ``orchestration.dashboard_cli.
build_services``, as ``kitepilot dashboard`` builds it) is served on 127.0.0.1 by its own
single-threaded werkzeug server, over a real SQLite store with live proposals and the
hand-written fake broker behind the executor. Requests are

* garbage: any bytes, any JSON (strings with lone surrogates — JSON's ``"\ud800"``, which a
  browser can send —, integers of any size, NaN and the infinities Python's JSON reads), under
  any content type, to ``/_dash-update-component``;
* callback-shaped: a real callback of the page (from ``app.callback_map``) with fuzzed input and
  state values of every JSON type — the operator token among them, valid half the time;
* paths: ``GET`` of odd and traversing paths, and of any text percent-encoded (bytes that are not
  UTF-8 too).

After every request: nothing was decided, killed, paused, sent or cancelled unless the request
carried the valid token; the answer is an HTTP status, and a 500 is attributed to the frame that
raised (Dash's own envelope parsing, or one of our callbacks — a bug). At the end the server
still answers. The callback inputs of finding B9 (500s from our callbacks, fixed) are the
dashboard target's regression seeds (``B9_INPUTS``).

**MCP.** See :func:`mcp_target`: the ``kitepilot mcp`` server's HTTP transport, if it exists.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import sqlite3
import threading
import traceback
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

from hypothesis import strategies as st

from dashboard.app import create_app, make_dashboard_server
from data_contracts.charges import ChargesModel
from data_contracts.clock import ManualClock
from data_contracts.ids import ProposalId
from data_contracts.nse_calendar import NseCalendar
from execution.audit import AuditLog
from execution.orders.context import ExecutorSettings, OmsContext
from execution.orders.executor import Executor
from execution.store import OmsStore, SqlStore
from orchestration.dashboard_cli import build_services
from orchestration.settings import load_config
from tests import factories
from tests.fake_broker import FakeBroker
from tests.reliability.fuzz_common import Seed, any_text, error_type, explore

__all__ = [
    "B9_INPUTS",
    "PROPOSALS",
    "RESERVED",
    "TOKEN",
    "DashRequest",
    "DashWorld",
    "callbacks_of",
    "check_dash",
    "crafted",
    "crash_site",
    "dash_requests",
    "dash_world",
    "regression_seeds",
    "run",
]

REPO: Final = Path(__file__).resolve().parents[2]
TOKEN: Final = "fuzz-dashboard-token-0001"  # noqa: S105 - the test world's own action token
ACTOR: Final = "dashboard:fuzz"
CE: Final = factories.NIFTY_CE_TOKEN
NOW: Final = factories.T0 + timedelta(seconds=30)
PROPOSALS: Final = tuple(f"p-dash-{i}" for i in range(30))
# Seeded too, but never drawn by the fuzzer: for scenarios that need an undecided proposal.
RESERVED: Final = ("p-reserved-0", "p-reserved-1")
UPDATE: Final = "/_dash-update-component"
# Finding B9 (fixed): our callbacks answered HTTP 500 to input of a shape the page never sends
# (they used a value before checking its type). Each of its inputs, as (the callback's output,
# the values by "id.property", the input that fired, whether the request holds the token) — the
# regression seeds of the dashboard target and of test_fuzz_http.py.
B9_INPUTS: Final[dict[str, tuple[str, dict[str, Any], str, bool]]] = {
    "kill confirmation is a number": (
        "header-message.children...",
        {"kill-button.n_clicks": 1, "kill-confirm.value": 7},
        "kill-button.n_clicks",
        False,
    ),
    "re-arm confirmation is a list": (
        "header-message.children@",
        {"rearm-button.n_clicks": 1, "rearm-confirm.value": ["REARM"]},
        "rearm-button.n_clicks",
        False,
    ),
    "queue messages are a string": (
        "queue.children",
        {"refresh.n_intervals": 1, "card-messages.data": "x"},
        "refresh.n_intervals",
        False,
    ),
    "exit id is not an instrument": (
        "book-message",
        {"exit-now.n_clicks": [("abc:NRML", 1)]},
        '{"id":"abc:NRML","type":"exit-now"}.n_clicks',
        False,
    ),
    "audit instrument is a superscript digit": (
        "audit-chain",
        {"tabs.value": "audit", "audit-instrument.value": "²"},
        "audit-instrument.value",
        False,
    ),
    "kill reason is a list (with the token)": (
        "header-message.children...",
        {"kill-button.n_clicks": 1, "kill-confirm.value": "KILL", "kill-reason.value": ["x"]},
        "kill-button.n_clicks",
        True,
    ),
    "kill reason has a lone surrogate (with the token)": (
        "header-message.children...",
        {"kill-button.n_clicks": 1, "kill-confirm.value": "KILL", "kill-reason.value": "\ud800"},
        "kill-button.n_clicks",
        True,
    ),
    "audit since is a number": (
        "audit-chain",
        {"tabs.value": "audit", "audit-since.value": 20260818},
        "audit-since.value",
        False,
    ),
    "audit instrument is a number": (
        "audit-chain",
        {"tabs.value": "audit", "audit-instrument.value": 408065},
        "audit-instrument.value",
        False,
    ),
}
_OUR_MCP: Final = tuple(
    str(REPO / part) + "/" for part in ("agents", "execution", "models", "orchestration")
)
_OUR_CODE: Final = tuple(
    str(REPO / part) + "/"
    for part in ("dashboard", "execution", "data_contracts", "models", "orchestration")
)


class _Exceptions(logging.Handler):
    """Keeps the exceptions Flask logs ("Exception on /_dash-update-component")."""

    def __init__(self) -> None:
        # Level NOTSET: Flask then sees a handler and adds no stderr handler of its own.
        super().__init__(logging.NOTSET)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.records.append(record)


@dataclass
class DashWorld:
    """The dashboard on a free loopback port, with what must not change without the token."""

    port: int
    db: Path
    store: SqlStore
    broker: FakeBroker
    exceptions: _Exceptions
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)

    def state(self) -> tuple[int, ...]:
        """Decisions, kill-switch events, operator flags, orders sent and cancels sent."""
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as connection:
            counts = tuple(
                int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608 - fixed table names
                for table in ("decisions", "kill_switch_events", "operator_flags")
            )
        return (*counts, len(self.broker.placed), len(self.broker.cancelled))

    def release_kill_switch(self) -> None:
        """Re-arm directly in the store (a scenario that needs the switch released)."""
        OmsStore.of(self.store).record_kill_switch(False, NOW, "fuzz", "reset for a scenario")

    def send(
        self, method: str, path: str, body: bytes | None = None, content_type: str | None = None
    ) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Content-Type": content_type} if content_type else {}
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            answer = (response.status, response.read())
        finally:
            connection.close()
        self.requests += 1
        self.statuses[answer[0]] += 1
        return answer

    def last_exception(self) -> str:
        """Where the last logged exception was raised: our file:line, or Dash's."""
        if not self.exceptions.records:
            return "no exception logged"
        record = self.exceptions.records[-1]
        assert record.exc_info is not None
        _, error, trace = record.exc_info
        assert error is not None
        frames = traceback.extract_tb(trace)
        ours = [f for f in frames if f.filename.startswith(_OUR_CODE)]
        if ours:
            last = ours[-1]
            where = Path(last.filename).relative_to(REPO)
            return f"our code {where}:{last.lineno} {last.name}: {error_type(error)}"
        return f"dash internals: {error_type(error)}"


def _config(folder: Path) -> Any:
    var = folder / "var"
    return load_config(
        environ={
            "KITEPILOT_STORAGE__VAR_DIR": str(var),
            "KITEPILOT_STORAGE__LAKE_DIR": str(var / "lake"),
            "KITEPILOT_STORAGE__REPORTS_DIR": str(var / "reports"),
            "KITEPILOT_STORAGE__DATABASE_URL": f"sqlite:///{folder / 'kitepilot.db'}",
            "KITEPILOT_STORAGE__MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}",
        },
        dotenv_file=None,
    )


@contextmanager
def dash_world(folder: Path) -> Iterator[DashWorld]:
    """The app over a fresh store in ``folder``, served until the block ends."""
    config = _config(folder)
    clock = ManualClock(NOW)
    broker = FakeBroker(clock, prices={CE: 100.0})
    audit = AuditLog(config.storage.var_dir / "audit", clock)
    store = SqlStore.open(config.storage.database_url)
    for pid in PROPOSALS + RESERVED:
        store.add(factories.proposal(proposal_id=ProposalId(pid)))

    def executor() -> Executor:
        context = OmsContext(
            store=store,
            broker=broker,
            instruments={CE: factories.nifty_ce_instrument()},
            calendar=NseCalendar.default(),
            clock=clock,
            settings=ExecutorSettings(limits=factories.risk_limits(), retry_backoff_seconds=0.0),
            charges=ChargesModel.default(),
            audit=audit,
        )
        return Executor(context, sleep=lambda _: None)

    exceptions = _Exceptions()
    logger = logging.getLogger("dashboard.app")  # the Flask app's logger (Dash(__name__))
    logger.addHandler(exceptions)  # before Flask adds its stderr handler: none is added then
    services = build_services(
        config,
        store=store,
        token=TOKEN,
        clock=clock,
        actor=ACTOR,
        executor_factory=executor,
        champion=lambda: None,
    )
    server = make_dashboard_server(create_app(services), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        db = Path(config.storage.database_url.removeprefix("sqlite:///"))
        yield DashWorld(server.server_port, db, store, broker, exceptions)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        store.close()
        logger.removeHandler(exceptions)


# -- requests ------------------------------------------------------------------------------------

# Any code points (a lone surrogate is what JSON's "\ud800" decodes to), integers of any size
# json.dumps can write, and every float: Python's JSON writes and reads NaN and Infinity.
_text = any_text(12)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(-(10**400), 10**400)
    | st.floats()
    | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8,
)
# JSON every parser reads: no lone surrogate, no NaN or infinity.
_PLAIN_TEXT: Final = st.text(max_size=12)
_PLAIN_JSON: Final = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | _PLAIN_TEXT
    | st.sampled_from(["408065", "NSE:INFY", "INFY", "2026-08-18", "p-dash-0", "1" * 5000]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_PLAIN_TEXT, inner, max_size=3),
    max_leaves=8,
)
# Values a person (or a crafted request) puts where the page expects its own.
_values = _json | st.sampled_from(
    [TOKEN, "KILL", "REARM", "kill", "book", "status", "audit", "research", "queue", "408065",
     "²", "1" * 5000, "2026-08-18", "2026-13-45 25:61", "12073986:NRML", "12073986:XYZ",
     "abc:NRML", "KP0000000000000001", 1, 0, -1, [], {}, None]
)  # fmt: skip
_tokens = st.booleans().flatmap(lambda valid: st.just(TOKEN) if valid else _values)
_NUMBERS: Final = ["408065", "12073986", "²", "٣", "1" * 5000, "-1", " 1 ", "0x10", "1e3"]
# What the page itself would send for an input, drawn often so the callbacks get past their
# first branch (the tab shown, the typed confirmation, an instrument filter, a time).
_LIKELY: Final[dict[tuple[str, str], list[Any]]] = {
    ("tabs", "value"): ["queue", "book", "status", "audit", "research"],
    ("kill-confirm", "value"): ["KILL", " KILL ", "kill"],
    ("rearm-confirm", "value"): ["REARM", "rearm"],
    ("audit-instrument", "value"): _NUMBERS,
    ("audit-since", "value"): ["2026-08-18", "2026-08-18 09:30", "2026-02-30", "9999-12-31"],
    ("audit-until", "value"): ["2026-08-18", "0001-01-01", "2026-08-18 25:00"],
    ("audit-kinds", "value"): [["decision"], ["order"], [], ["nope"]],
}
_clicks = st.integers(0, 3)


def _value_for(ident: str, prop: str) -> st.SearchStrategy[Any]:
    likely = _LIKELY.get((ident, prop))
    if likely is not None:
        return st.booleans().flatmap(lambda pick: st.sampled_from(likely) if pick else _values)
    if prop in ("n_clicks", "n_intervals"):
        return st.booleans().flatmap(lambda pick: _clicks if pick else _values)
    return _values


@dataclass(frozen=True, slots=True)
class DashRequest:
    method: str
    path: str
    body: bytes | None
    content_type: str | None
    token: object = None  # the operator token the request carries (callback-shaped only)

    @property
    def authorised(self) -> bool:
        return self.token == TOKEN

    def __repr__(self) -> str:
        body = (self.body or b"")[:400].decode("utf-8", "replace")
        return f"{self.method} {self.path} [{self.content_type}] {body}"


def _concrete(spec_id: str, draw: st.DrawFn) -> list[dict[str, Any]] | str:
    """A pattern id (``{"id":["ALL"],"type":"approve"}``) as 0-3 concrete ids; else the id."""
    if not spec_id.startswith("{"):
        return spec_id
    kind = json.loads(spec_id)["type"]
    ids = draw(st.lists(st.sampled_from(PROPOSALS) | _text, max_size=3))
    return [{"id": pid, "type": kind} for pid in ids]


@st.composite
def _callback_request(draw: st.DrawFn, callbacks: dict[str, Any]) -> DashRequest:
    output = draw(st.sampled_from(sorted(callbacks)))
    spec = callbacks[output]
    token = draw(_tokens)
    inputs: list[Any] = []
    changed: list[str] = []
    for kind in ("inputs", "state"):
        for item in spec[kind]:
            ident = _concrete(item["id"], draw)
            prop = item["property"]
            if isinstance(ident, list):
                entry: Any = [{"id": i, "property": prop, "value": draw(_values)} for i in ident]
                if kind == "inputs" and ident:
                    picked = json.dumps(ident[0], sort_keys=True, separators=(",", ":"))
                    changed.append(f"{picked}.{prop}")
            else:
                value = token if ident == "token-store" else draw(_value_for(ident, prop))
                entry = {"id": ident, "property": prop, "value": value}
                if kind == "inputs":
                    changed.append(f"{ident}.{prop}")
            inputs.append((kind, entry))
    parts = output.strip(".").split("...") if output.startswith("..") else [output]
    outputs = [
        {"id": part.rsplit(".", 1)[0], "property": part.rsplit(".", 1)[1]}
        for part in parts
        if not part.startswith("{")
    ]
    body = {
        "output": output,
        "outputs": outputs if len(outputs) != 1 else outputs[0],
        "inputs": [e for k, e in inputs if k == "inputs"],
        "state": [e for k, e in inputs if k == "state"],
        "changedPropIds": draw(st.lists(st.sampled_from(changed), max_size=2, unique=True))
        if changed
        else [],
    }
    return DashRequest("POST", UPDATE, json.dumps(body).encode(), "application/json", token)


_garbage = st.builds(
    DashRequest,
    method=st.just("POST"),
    path=st.just(UPDATE),
    body=st.binary(max_size=200)
    | _json.map(lambda v: json.dumps(v).encode())
    # a number beyond Python's 4,300-digit limit for reading an int
    | st.integers(4_000, 6_000).map(lambda n: b'{"output": "x", "inputs": ' + b"9" * n + b"}"),
    content_type=st.sampled_from(["application/json", "text/plain", None]),
)
_paths = st.builds(
    DashRequest,
    method=st.sampled_from(["GET", "POST"]),
    path=st.sampled_from(
        [
            "/_dash-component-suites/dash/../../../../../../etc/passwd",
            "/_dash-component-suites/dash/..%2f..%2f..%2f..%2fetc%2fpasswd",
            "/_dash-component-suites/os/path.py",
            "/assets/../../../../etc/passwd",
            "/assets/%2e%2e/%2e%2e/etc/passwd",
            "/_dash-layout",
            "/_dash-dependencies",
            "/_reload-hash",
            "/%00",
        ]
    )
    # (a lone surrogate as the bytes surrogatepass gives it: not UTF-8)
    | _text.map(lambda t: "/" + urllib.parse.quote(t, errors="surrogatepass")),
    body=st.none(),
    content_type=st.none(),
)


def crafted(
    callbacks: dict[str, Any],
    output_prefix: str,
    values: dict[str, Any],
    changed: str,
    token: object = None,
) -> DashRequest:
    """One callback request the way the page sends it: the callback whose output starts with
    ``output_prefix``; ``values`` by ``"id.property"`` (a pattern input by ``"type.property"``
    with a list of ``(id, value)``); ``changed`` the input that fired; ``token`` the one the
    browser holds."""
    (output,) = [o for o in callbacks if o.lstrip(".").startswith(output_prefix)]
    spec = callbacks[output]

    def entry(item: dict[str, Any]) -> Any:
        ident, prop = item["id"], item["property"]
        if ident.startswith("{"):
            kind = json.loads(ident)["type"]
            given = values.get(f"{kind}.{prop}", [])
            return [{"id": {"id": i, "type": kind}, "property": prop, "value": v} for i, v in given]
        value = token if ident == "token-store" else values.get(f"{ident}.{prop}")
        return {"id": ident, "property": prop, "value": value}

    parts = output.strip(".").split("...") if output.startswith("..") else [output]
    outputs = [
        {"id": p.rsplit(".", 1)[0], "property": p.rsplit(".", 1)[1]}
        for p in parts
        if not p.startswith("{")
    ]
    body = {
        "output": output,
        "outputs": outputs if len(outputs) != 1 else outputs[0],
        "inputs": [entry(i) for i in spec["inputs"]],
        "state": [entry(i) for i in spec["state"]],
        "changedPropIds": [changed],
    }
    return DashRequest("POST", UPDATE, json.dumps(body).encode(), "application/json", token)


def callbacks_of(world: DashWorld) -> dict[str, Any]:
    """The page's server-side callbacks, as the browser learns them (``/_dash-dependencies``)."""
    status, answer = world.send("GET", "/_dash-dependencies")
    assert status == 200, status
    return {
        item["output"]: {"inputs": item["inputs"], "state": item["state"]}
        for item in json.loads(answer)
        if not item.get("clientside_function")
    }


def regression_seeds(callbacks: dict[str, Any]) -> list[Seed]:
    """The requests of finding B9's inputs (``B9_INPUTS``)."""
    return [
        Seed("B9", what, crafted(callbacks, prefix, values, changed, TOKEN if token else None))
        for what, (prefix, values, changed, token) in B9_INPUTS.items()
    ]


def dash_requests(callbacks: dict[str, Any]) -> st.SearchStrategy[DashRequest]:
    """Garbage, callback-shaped requests (most of them) and odd paths."""
    shaped = _callback_request(callbacks)
    return shaped | shaped | shaped | _garbage | _paths


def crash_site(label: str) -> str | None:
    """``"dashboard/callbacks.py decide"`` of a ``CRASH HTTP 500 in <file>:<line> <fn>: <E>``
    label (None for other labels)."""
    prefix = "CRASH HTTP 500 in "
    if not label.startswith(prefix):
        return None
    place, _, rest = label.removeprefix(prefix).partition(" ")
    return f"{place.rsplit(':', 1)[0]} {rest.split(':', 1)[0]}"


def check_dash(world: DashWorld, request: DashRequest) -> str:
    before = world.state()
    logged = len(world.exceptions.records)
    status, answer = world.send(request.method, request.path, request.body, request.content_type)
    after = world.state()
    if not request.authorised:
        assert after == before, f"changed without the token: {before} -> {after} ({request})"
    assert b"root:x:0:0" not in answer, request  # no file outside the app's own is served
    assert 100 <= status < 600, status
    if status >= 500:
        assert len(world.exceptions.records) > logged, "a 500 without a logged exception"
        where = world.last_exception()
        if where.startswith("our code"):
            return f"CRASH HTTP {status} in {where.removeprefix('our code ')}"
        return f"HTTP {status} ({where})"
    return f"HTTP {status}" + (" (changed state, with the token)" if after != before else "")


# -- MCP -----------------------------------------------------------------------------------------

MCP_TOKEN: Final = "fuzz-mcp-bearer-token-000000000001"  # noqa: S105 - the test world's own token
_ACCEPT: Final = "application/json, text/event-stream"


def mcp_target() -> str | None:
    """Why the MCP server's HTTP input cannot be fuzzed here, or None when it can."""
    try:
        import agents.http
        import agents.server  # noqa: F401 - as above
        import orchestration.mcp_cli  # noqa: F401 - as above
    except ImportError as error:
        return f"no MCP server to fuzz: {error}"
    return None


@dataclass
class McpWorld:
    """``kitepilot mcp --transport http`` as ``orchestration.mcp_cli`` composes it, served in a
    thread on a free loopback port over a real store (the broker unreachable: its tools answer
    with their structured error), with one initialised session."""

    port: int
    db: Path
    exceptions: _Exceptions
    session: str = ""
    protocol: str = ""
    tools: dict[str, dict[str, Any]] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def state(self) -> tuple[int, ...]:
        """Decisions, orders, kill-switch events, operator flags: never changed by MCP."""
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as connection:
            return tuple(
                int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608 - fixed table names
                for table in ("decisions", "orders", "kill_switch_events", "operator_flags")
            )

    def post(
        self,
        body: bytes,
        headers: dict[str, str],
        method: str = "POST",
        path: str = "/mcp",
        timeout: float = 30.0,
    ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            answer = (response.status, dict(response.getheaders()), response.read())
        finally:
            connection.close()
        self.statuses[answer[0]] += 1
        return answer

    def headers(self, *, session: bool = True) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {MCP_TOKEN}",
            "Content-Type": "application/json",
            "Accept": _ACCEPT,
        }
        if session and self.session:
            headers["mcp-session-id"] = self.session
            headers["mcp-protocol-version"] = self.protocol
        return headers

    def rpc(self, method: str, params: Any, ident: Any = 1) -> tuple[int, list[dict[str, Any]]]:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        if ident is not None:
            message["id"] = ident
        status, _, body = self.post(json.dumps(message).encode(), self.headers())
        return status, replies(body)


def replies(body: bytes) -> list[dict[str, Any]]:
    """The JSON-RPC messages of a response: a JSON body, or the ``data:`` lines of an SSE one."""
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return []
    if text.startswith(("{", "[")):
        loaded = json.loads(text)
        return loaded if isinstance(loaded, list) else [loaded]
    lines = (line.rstrip("\r") for line in text.split("\n"))  # not splitlines(): U+2028 is data
    return [json.loads(line[5:]) for line in lines if line.startswith("data:") and line[5:].strip()]


def _initialise(world: McpWorld) -> None:
    params = {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "kitepilot-fuzz", "version": "0"},
    }
    body = json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params})
    status, headers, answer = world.post(body.encode(), world.headers(session=False))
    assert status == 200, (status, answer[:300])
    lowered = {k.lower(): v for k, v in headers.items()}
    world.session = lowered.get("mcp-session-id", "")
    (reply,) = replies(answer)
    world.protocol = str(reply["result"]["protocolVersion"])
    world.rpc("notifications/initialized", None, ident=None)
    _, listed = world.rpc("tools/list", {})
    world.tools = {t["name"]: t.get("inputSchema", {}) for t in listed[0]["result"]["tools"]}


@contextmanager
def mcp_world(folder: Path) -> Iterator[McpWorld]:
    from agents.http import HttpServer, http_app
    from agents.server import build_server
    from orchestration.mcp_cli import open_runtime

    (closed,) = _free_ports(1)  # nothing listens there: the broker is down
    var = folder / "var"
    config = load_config(
        environ={
            "KITEPILOT_STORAGE__VAR_DIR": str(var),
            "KITEPILOT_STORAGE__LAKE_DIR": str(var / "lake"),
            "KITEPILOT_STORAGE__REPORTS_DIR": str(var / "reports"),
            "KITEPILOT_STORAGE__DATABASE_URL": f"sqlite:///{folder / 'kitepilot.db'}",
            "KITEPILOT_STORAGE__MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}",
            "KITEPILOT_PAPER_EXCHANGE__PORT": str(closed),
        },
        dotenv_file=None,
    )
    exceptions = _Exceptions()
    loggers = [logging.getLogger(name) for name in ("uvicorn.error", "mcp", "agents")]
    for logger in loggers:
        logger.addHandler(exceptions)
    runtime = open_runtime(config, actor="mcp-fuzz")
    server = HttpServer(
        http_app(build_server(runtime.context), MCP_TOKEN, host="127.0.0.1"), "127.0.0.1", 0
    ).start()
    try:
        db = Path(config.storage.database_url.removeprefix("sqlite:///"))
        world = McpWorld(server.port, db, exceptions)
        _initialise(world)
        yield world
    finally:
        server.stop()
        runtime.close()
        for logger in loggers:
            logger.removeHandler(exceptions)


def _free_ports(count: int) -> list[int]:
    import socket

    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@dataclass(frozen=True, slots=True)
class McpRequest:
    """``kind``: ``unauthorised`` (any request without the exact bearer token), ``raw`` (the
    token, any body and headers) or ``rpc`` (a JSON-RPC message in the session)."""

    kind: str
    method: str = "POST"
    path: str = "/mcp"
    authorization: str | None = None
    body: bytes = b""
    accept: str | None = _ACCEPT
    rpc_method: str = ""
    params: Any = None
    ident: Any = 1

    def __repr__(self) -> str:
        if self.kind == "rpc":
            shown = json.dumps({"method": self.rpc_method, "params": self.params}, default=str)
            return f"rpc {shown[:400]}"
        return (
            f"{self.kind} {self.method} {self.path} auth={self.authorization!r} {self.body[:300]!r}"
        )


_authorizations = st.sampled_from(
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        f"Bearer {MCP_TOKEN[:-1]}",
        f"Bearer {MCP_TOKEN}x",
        f"Basic {MCP_TOKEN}",
        f"Token {MCP_TOKEN}",
        f"Bearer{MCP_TOKEN}",
        f"Bearer {MCP_TOKEN.upper()}",
    ]
) | st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40).map(
    lambda t: f"Bearer {t}"  # what an HTTP header can carry
)
_bodies = st.binary(max_size=200) | _json.map(lambda v: json.dumps(v).encode())
_unauthorised = st.builds(
    McpRequest,
    kind=st.just("unauthorised"),
    method=st.sampled_from(["GET", "POST", "DELETE", "PUT"]),
    path=st.sampled_from(["/mcp", "/", "/mcp/", "/messages", "/sse"]),
    authorization=_authorizations,
    body=_bodies,
)
_raw = st.builds(
    McpRequest,
    kind=st.just("raw"),
    method=st.sampled_from(["POST", "POST", "GET", "DELETE"]),
    authorization=st.just(f"Bearer {MCP_TOKEN}"),
    body=_bodies,
    accept=st.sampled_from([_ACCEPT, "application/json", "text/event-stream", None, "*/*"]),
)


def _rpc_requests(tools: dict[str, dict[str, Any]]) -> st.SearchStrategy[McpRequest]:
    names = sorted(tools)

    @st.composite
    def call(draw: st.DrawFn) -> McpRequest:
        # The MCP SDK refuses a message holding a lone surrogate or NaN as a parse error
        # (-32700) before any tool runs: half the calls hold neither, so the tools get explored.
        text, values = (_PLAIN_TEXT, _PLAIN_JSON) if draw(st.booleans()) else (_text, _values)
        name = draw(st.sampled_from(names) | text) if names else draw(text)
        properties = sorted(tools.get(name, {}).get("properties", {}))
        keys = st.sampled_from(properties) | text if properties else text
        objects = st.dictionaries(keys, values, max_size=4)
        arguments = draw(objects | objects | objects | values)  # an object three times in four
        params = {"name": name, "arguments": arguments}
        ident = draw(st.integers(1, 10**6) | text)
        return McpRequest("rpc", rpc_method="tools/call", params=params, ident=ident)

    other = st.builds(
        McpRequest,
        kind=st.just("rpc"),
        rpc_method=st.sampled_from(
            ["tools/list", "ping", "resources/list", "prompts/list", "initialize",
             "completion/complete", "logging/setLevel", "tools/call"]
        ) | _text,
        params=_json,
        ident=st.integers() | _text | st.none(),
    )  # fmt: skip
    return call() | call() | call() | other


def mcp_requests(tools: dict[str, dict[str, Any]]) -> st.SearchStrategy[McpRequest]:
    return _unauthorised | _raw | _rpc_requests(tools)


def check_mcp(world: McpWorld, request: McpRequest) -> str:
    before = world.state()
    logged = len(world.exceptions.records)
    if request.kind == "rpc":
        status, messages = world.rpc(request.rpc_method, request.params, request.ident)
    else:
        headers = {"Content-Type": "application/json"}
        if request.authorization is not None:
            headers["Authorization"] = request.authorization
        if request.accept is not None:
            headers["Accept"] = request.accept
        if request.kind == "raw" and request.method == "POST" and world.session:
            # (a DELETE in the session would end it, and a GET holds its event stream open)
            headers |= {"mcp-session-id": world.session, "mcp-protocol-version": world.protocol}
        try:
            status, _, answer = world.post(
                request.body, headers, request.method, request.path, timeout=5.0
            )
        except TimeoutError:
            return f"CRASH no answer within 5 s to {request.method}"
        messages = []
        with contextlib.suppress(ValueError):
            messages = replies(answer)
    assert world.state() == before, f"MCP changed decisions/orders/kill/flags: {request!r}"
    if request.kind == "unauthorised":
        assert status == 401, (status, request)
        return "HTTP 401 (no valid bearer token)"
    if status >= 500:
        where = _mcp_exception(world, logged)
        return f"CRASH HTTP {status} in {where}"
    if request.kind == "raw":
        return f"HTTP {status}"
    return _rpc_outcome(status, messages)


def _rpc_outcome(status: int, messages: list[dict[str, Any]]) -> str:
    if not messages:
        return f"HTTP {status}, no reply"
    reply = messages[-1]
    if "error" in reply:
        return f"JSON-RPC error {reply['error'].get('code')}"
    result = reply.get("result")
    if isinstance(result, dict) and result.get("isError"):
        structured = result.get("structuredContent") or {}
        code = (structured.get("error") or {}).get("code") if isinstance(structured, dict) else None
        if code:
            return f"tool error {code}"
        texts = [str(item.get("text", "")) for item in result.get("content", [])]
        text = texts[0] if texts else ""
        if text.startswith("Error executing tool") and "validation error" in text:
            return "tool error: arguments refused by the SDK's schema validation"
        if text.startswith("Error executing tool"):  # our tool raised; the SDK caught it
            return f"CRASH tool raised: {text[:160]}"
        return f"tool error: {text.split(':')[0][:40]}"
    return "result"


def _mcp_exception(world: McpWorld, logged: int) -> str:
    if len(world.exceptions.records) <= logged:
        return "a 5xx with nothing logged"
    record = world.exceptions.records[-1]
    assert record.exc_info is not None
    _, error, trace = record.exc_info
    assert error is not None
    frames = [f for f in traceback.extract_tb(trace) if f.filename.startswith(_OUR_MCP)]
    if frames:
        last = frames[-1]
        where = Path(last.filename).relative_to(REPO)
        return f"{where}:{last.lineno} {last.name}: {error_type(error)}"
    return f"the MCP SDK: {error_type(error)}"


# -- the runner's entry ---------------------------------------------------------------------------


def run(examples: int = 1_000, folder: Path | None = None) -> dict[str, Any]:
    """The dashboard and MCP targets over ``examples`` requests each (the reliability runner)."""
    import tempfile

    targets: list[dict[str, Any]] = []
    passed = True
    with tempfile.TemporaryDirectory(prefix="kp-fuzz-http-") as temporary:
        root = folder or Path(temporary)
        with dash_world(root / "dash") as world:
            callbacks = callbacks_of(world)
            found = explore(
                "dashboard HTTP (/_dash-update-component, paths)",
                dash_requests(callbacks),
                lambda request: check_dash(world, request),
                examples=examples,
                seeds=regression_seeds(callbacks),
            )
            alive, _ = world.send("GET", "/")
        report = found.as_dict()
        report["server_answers_afterwards"] = alive == 200
        report["statuses"] = dict(world.statuses)
        sites = {crash_site(label) for label in found.outcomes}
        report["crash_sites"] = sorted(s for s in sites if s)  # our code's 500s: none expected
        passed = passed and alive == 200 and found.passed
        targets.append(report)
        skipped = mcp_target()
        if skipped is None:
            with mcp_world(root / "mcp") as served:
                mcp = explore(
                    "MCP server HTTP (/mcp: bearer token, JSON-RPC, tool arguments)",
                    mcp_requests(served.tools),
                    lambda request: check_mcp(served, request),
                    examples=examples,
                )
                status, listed = served.rpc("tools/list", {})
            report = mcp.as_dict()
            report["server_answers_afterwards"] = status == 200 and bool(listed)
            report["statuses"] = dict(served.statuses)
            passed = passed and mcp.passed and report["server_answers_afterwards"]
            targets.append(report)
    return {
        "scenario": "fuzzing: HTTP inputs",
        "passed": passed,
        "goal_met": passed,
        "targets": targets,
        "skipped": [skipped] if skipped else [],
    }
