"""Fuzz targets of what people and files hand the system: configuration, the instruments dump and
the decision API.

* **config** — any YAML mapping (mutations of the real schema's keys, unknown keys, wrong types,
  nesting where a value belongs, secrets written in the file), raw YAML text and ``KITEPILOT_*``
  variables through ``orchestration.settings.load_config``: a config, or ONE ``ConfigError`` that
  names every offending key — and never shows a secret's value.
* **instruments** — Kite dump rows with mangled cells (text, quotes, newlines, odd numbers), and
  whole texts and byte strings, through ``parse_instruments_csv``: instruments, or a
  ``ContractError`` naming the field and the line.
* **decisions** — approve / reject through ``OperatorActions`` (the decision desk behind the
  action token, as the dashboard and the CLI call it) with arbitrary tokens, ids, users and
  reasons, on a real SQLite store, while the kill switch flips: a decision is recorded exactly
  when the answer says so, never without the token, never twice, never for an expired proposal
  and never an approval while the kill switch is engaged.
"""

from __future__ import annotations

import csv
import gzip
import io
import secrets
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import yaml
from hypothesis import strategies as st

from data_contracts.clock import ManualClock
from data_contracts.config import DEFAULTS_FILE, ConfigError
from data_contracts.errors import ContractError
from data_contracts.ids import ProposalId
from data_contracts.instruments import CSV_COLUMNS, Instrument, parse_instruments_csv
from execution.audit import AuditLog
from execution.console.actions import OperatorActions
from execution.orders.executor import Executor
from execution.store import OmsStore, SqlStore
from orchestration.settings import is_secret_key, load_config
from tests import factories
from tests.reliability.fuzz_common import explore

__all__ = [
    "BAD_BYTES",
    "CSV_FIELD_LIMIT_TEXT",
    "EMPTY_KEY_VARIABLE",
    "EXPIRED_PROPOSALS",
    "HUGE_INT_YAML",
    "LIVE_PROPOSALS",
    "RECURSIVE_YAML",
    "SURROGATE_REASON",
    "TOKEN",
    "TRUNCATED_GZIP",
    "DeskWorld",
    "check_config",
    "check_decision",
    "check_instruments",
    "config_cases",
    "decision_cases",
    "instrument_cases",
    "run",
]

# No lone surrogates in generated text: those are a known bug of the store (SURROGATE_REASON).
_TEXT: Final = st.characters(exclude_categories=("Cs",))
_text = st.text(_TEXT, max_size=12)

# -- config --------------------------------------------------------------------------------------


def _dotted(mapping: dict[str, Any], prefix: str = "") -> list[str]:
    keys: list[str] = []
    for key, value in mapping.items():
        dotted = f"{prefix}{key}"
        keys.append(dotted)
        if isinstance(value, dict):
            keys += _dotted(value, f"{dotted}.")
    return keys


_DEFAULTS: Final = yaml.safe_load(DEFAULTS_FILE.read_text(encoding="utf-8"))
SCHEMA_KEYS: Final = tuple(_dotted(_DEFAULTS))
SECTIONS: Final = tuple(k for k, v in _DEFAULTS.items() if isinstance(v, dict))

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)  # beyond ~4,300 digits: a known bug (HUGE_INT_YAML)
    | st.floats()
    | _text
    | st.dates()
    | st.sampled_from(["127.0.0.1", "0.0.0.0", "::", "live", "paper", "", "09:15", "-1", "1e9"])  # noqa: S104 - a value to refuse, nothing binds
)
_yaml_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=6,
)
_keys = (
    st.sampled_from(SCHEMA_KEYS)
    | st.builds(lambda s, k: f"{s}.{k}", st.sampled_from(SECTIONS), _text)
    | _text.filter(bool)  # the empty key is a known bug (EMPTY_KEY_VARIABLE)
)


@dataclass(frozen=True, slots=True)
class ConfigCase:
    """A user YAML file (``values`` at dotted keys, or raw ``text``) and environment variables."""

    values: tuple[tuple[str, Any], ...] = ()
    text: str | None = None
    environ: tuple[tuple[str, str], ...] = ()


def _nest(values: tuple[tuple[str, Any], ...]) -> dict[Any, Any]:
    root: dict[Any, Any] = {}
    for dotted, value in values:
        parts = dotted.split(".")
        node = root
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = value
    return root


def _names_a_key(variable: str) -> bool:
    """A first key part that is not empty (KITEPILOT_ and KITEPILOT___X are a known bug,
    EMPTY_KEY_VARIABLE)."""
    return bool(variable.removeprefix("KITEPILOT_").split("__")[0])


_variables = st.tuples(
    st.sampled_from(SCHEMA_KEYS).map(lambda k: "KITEPILOT_" + k.upper().replace(".", "__"))
    | _text.map(lambda s: "KITEPILOT_" + s),
    st.text(_TEXT, max_size=12),
).filter(lambda kv: kv[0] != "KITEPILOT_CONFIG" and _names_a_key(kv[0]))

config_cases: st.SearchStrategy[ConfigCase] = (
    st.builds(
        ConfigCase,
        values=st.lists(st.tuples(_keys, _yaml_values), max_size=6).map(tuple),
        environ=st.lists(_variables, max_size=2).map(tuple),
    )
    | st.builds(ConfigCase, text=st.text(_TEXT, max_size=80))
    | st.builds(ConfigCase, environ=st.lists(_variables, min_size=1, max_size=4).map(tuple))
)

# Known bugs, kept as seeds: an anchor cycle recurses forever; a 5,000-digit integer overflows
# Python's int parsing inside PyYAML. Both escape as other exception types.
RECURSIVE_YAML: Final = "risk: &loop\n  again: *loop\n"
HUGE_INT_YAML: Final = "capital: 1" + "0" * 5000 + "\n"
# Known bug: the empty key — this variable, or `"": 1` in the YAML — is refused under the key ''.
EMPTY_KEY_VARIABLE: Final = "KITEPILOT_"


def check_config(case: ConfigCase) -> str:
    """Load ``case``; a refusal must be one ConfigError naming its keys, never a secret."""
    sentinel = f"fuzz-secret-{secrets.token_hex(6)}"
    values = tuple(
        (key, sentinel if is_secret_key(key) and isinstance(value, str) else value)
        for key, value in case.values
    )
    environ = {name: sentinel if is_secret_key(name) else value for name, value in case.environ}
    with tempfile.TemporaryDirectory(prefix="kp-fuzz-config-") as folder:
        path = Path(folder) / "kitepilot.yaml"
        if case.text is not None:
            path.write_text(case.text, encoding="utf-8")
        else:
            path.write_text(yaml.safe_dump(_nest(values), allow_unicode=True), encoding="utf-8")
        refused: ConfigError | None = None
        try:
            load_config(path, environ=environ, dotenv_file=None)
        except ConfigError as error:
            refused = error
    if refused is None:
        return "valid"
    message = str(refused)
    assert refused.problems, message
    for problem in refused.problems:
        assert isinstance(problem.key, str), problem
        assert problem.key, f"a problem without a key: {message!r}"
        assert problem.key in message, (problem.key, message)
    assert sentinel not in message, message  # a secret is never echoed
    first = refused.problems[0]
    if first.rule == "is not a known setting":
        return "refused: unknown key"
    if first.key == str(path):
        return f"refused: the file {first.rule}"
    return f"refused: {first.key}"


# -- instruments ---------------------------------------------------------------------------------


def _row(instrument: Instrument) -> list[str]:
    return [
        str(instrument.instrument_token),
        str(instrument.exchange_token),
        instrument.tradingsymbol,
        instrument.name,
        "0.0",
        "" if instrument.expiry is None else instrument.expiry.isoformat(),
        "0" if instrument.strike is None else f"{instrument.strike:g}",
        f"{instrument.tick_size:g}",
        str(instrument.lot_size),
        instrument.instrument_type.value,
        instrument.segment,
        instrument.exchange.value,
    ]


_GOOD_ROWS: Final = (
    _row(factories.infy_instrument()),
    _row(factories.nifty_index_instrument()),
    _row(factories.nifty_ce_instrument()),
)
_cells = _text | st.sampled_from(
    [
        "",
        " ",
        "nan",
        "inf",
        "-1",
        "0",
        "1e309",
        "1_000",
        "0x10",
        "٣",
        "2026-02-30",
        "INDICES",
        "NFO-OPT",
        "CE",
        "FUT",
        "EQ",
        "BSE",
        "MCX",
        '"',
        "a,b",
        "a\nb",
        "\x00",
        "\ufeff1",
    ]
)


@dataclass(frozen=True, slots=True)
class InstrumentsCase:
    text: str
    as_bytes: bool = False
    gzipped: bool = False


@st.composite
def _dump(draw: st.DrawFn) -> InstrumentsCase:
    header = list(CSV_COLUMNS)
    if draw(st.integers(0, 9)) == 0:
        header = draw(st.permutations(header))[: draw(st.integers(0, len(header)))]
    rows = [list(draw(st.sampled_from(_GOOD_ROWS))) for _ in range(draw(st.integers(0, 4)))]
    for row in rows:
        for _ in range(draw(st.integers(0, 3))):
            row[draw(st.integers(0, len(row) - 1))] = draw(_cells)
        if draw(st.integers(0, 9)) == 0:
            del row[draw(st.integers(0, len(row) - 1)) :]
    if draw(st.booleans()):
        buffer = io.StringIO()
        csv.writer(buffer).writerows([header, *rows])
        text = buffer.getvalue()
    else:  # joined by hand: quotes and commas inside cells break the layout
        text = "\n".join(",".join(cells) for cells in [header, *rows])
    return InstrumentsCase(text, as_bytes=draw(st.booleans()), gzipped=draw(st.booleans()))


instrument_cases: st.SearchStrategy[InstrumentsCase] = _dump() | st.builds(
    InstrumentsCase, st.text(_TEXT, max_size=200).map(lambda t: ",".join(CSV_COLUMNS) + "\n" + t)
)

# Known bugs, kept as seeds: bytes that are not UTF-8, a truncated gzip body and a cell beyond
# the csv module's field limit escape as UnicodeDecodeError, EOFError and _csv.Error.
BAD_BYTES: Final = (",".join(CSV_COLUMNS) + "\n").encode() + b"\xff\xfe\n"
TRUNCATED_GZIP: Final = gzip.compress((",".join(CSV_COLUMNS) + "\n").encode())[:-8]
CSV_FIELD_LIMIT_TEXT: Final = ",".join(CSV_COLUMNS) + "\n" + "1," * 2 + "X" * 140_000 + "\n"


def check_instruments(case: InstrumentsCase | bytes) -> str:
    source: str | bytes
    if isinstance(case, bytes):
        source = case
    elif case.as_bytes:
        data = case.text.encode("utf-8")
        source = gzip.compress(data) if case.gzipped else data
    else:
        source = case.text
    refused: ContractError | None = None
    try:
        parsed = parse_instruments_csv(source)
    except ContractError as error:
        refused = error
    if refused is not None:
        where = refused.subject or ""
        assert refused.owner == "InstrumentsCsv" or where.startswith("line "), refused
        return f"refused: {refused.owner}.{refused.field}"
    assert all(isinstance(i, Instrument) for i in parsed)
    return "parsed" if parsed else "parsed: no rows"


# -- decisions -----------------------------------------------------------------------------------

TOKEN: Final = "fuzz-operator-token-0001"  # noqa: S105 - the test world's own action token
NOW: Final = factories.T0 + timedelta(seconds=30)
LIVE_PROPOSALS: Final = tuple(f"p-live-{i}" for i in range(300))
EXPIRED_PROPOSALS: Final = tuple(f"p-expired-{i}" for i in range(5))
# Known bug, kept as a seed: a lone surrogate in a reason (valid JSON "\ud800") reaches SQLite.
SURROGATE_REASON: Final = "\ud800"


def _no_executor() -> Executor:
    raise AssertionError("approve/reject must not need the executor")


class DeskWorld:
    """A real SQLite store with live and expired proposals, the audit log and the actions."""

    def __init__(self, folder: Path) -> None:
        self.clock_now = NOW
        self.store = SqlStore.open(f"sqlite:///{folder / 'kitepilot.db'}")
        clock = ManualClock(NOW)
        for pid in LIVE_PROPOSALS:
            self.store.add(factories.proposal(proposal_id=ProposalId(pid)))
        for pid in EXPIRED_PROPOSALS:
            self.store.add(
                factories.proposal(
                    proposal_id=ProposalId(pid),
                    ts_event=factories.T0 - timedelta(minutes=5),
                    ts_init=factories.T0 - timedelta(minutes=5),
                    expires_at=factories.T0,
                )
            )
        self.oms = OmsStore.of(self.store)
        self.actions = OperatorActions(
            store=self.store,
            clock=clock,
            token=TOKEN,
            executor_factory=_no_executor,
            audit=AuditLog(folder / "audit", clock),
        )

    def close(self) -> None:
        self.store.close()

    def decisions(self, pid: str) -> int:
        try:
            proposal_id = ProposalId(pid)
        except ContractError:
            return 0
        return len(self.store.decisions(proposal_id))


_wrong_tokens = (
    st.sampled_from([None, "", TOKEN[:-1], TOKEN + " ", TOKEN.upper(), " " + TOKEN])
    | _text
    | st.integers()
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(_text, _text, max_size=2)
)
# The valid token half the time, so the desk behind it gets explored too.
_tokens = st.booleans().flatmap(lambda valid: st.just(TOKEN) if valid else _wrong_tokens)


@dataclass(frozen=True, slots=True)
class DecisionCase:
    token: object
    approve: bool
    proposal_id: str
    actor: str
    reason: str
    kill: bool | None  # engage (True) / release (False) the kill switch first, or leave it


decision_cases: st.SearchStrategy[DecisionCase] = st.builds(
    DecisionCase,
    token=_tokens,
    approve=st.booleans(),
    proposal_id=st.booleans().flatmap(
        lambda stored: (
            st.sampled_from(LIVE_PROPOSALS + EXPIRED_PROPOSALS)
            if stored
            else _text | st.text(_TEXT, max_size=300)
        )
    ),
    actor=st.sampled_from(["dashboard:operator", "cli:me"]) | _text,
    reason=_text | st.text(_TEXT, max_size=2_000),
    kill=st.sampled_from([None, None, None, True, False]),
)


def _rule(message: str) -> str:
    return message.split(", was ")[0].split(" (")[0][:90]


def check_decision(world: DeskWorld, case: DecisionCase) -> str:
    """One decision through the actions; the store must agree with the answer."""
    if case.kill is not None:
        world.oms.record_kill_switch(case.kill, world.clock_now, "fuzz", "fuzz")
    engaged = world.oms.kill_switch().engaged
    before = world.decisions(case.proposal_id)
    act = world.actions.approve if case.approve else world.actions.reject
    token: Any = case.token  # anything the browser's JSON can carry
    result = act(token, case.proposal_id, case.actor, case.reason)
    after = world.decisions(case.proposal_id)
    assert result.message, result
    if case.token != TOKEN:
        assert not result.ok, (case, result)
        assert after == before, (case, result)
        return "refused: no valid action token"
    if not result.ok:
        assert after == before, (case, result)
        return f"refused: {_rule(result.message)}"
    assert after == before + 1 == 1, (case, result, before, after)  # never decided twice
    assert not case.proposal_id.startswith("p-expired"), case
    assert not (case.approve and engaged), case
    (decision,) = world.store.decisions(ProposalId(case.proposal_id))
    assert (decision.decided_by, decision.reason) == (case.actor, case.reason), decision
    return "approved" if case.approve else "rejected"


# -- the runner's entry ---------------------------------------------------------------------------


def run(examples: int = 1_000) -> dict[str, Any]:
    """Every target of this module over ``examples`` inputs each (the reliability runner)."""
    explorations = [
        explore(
            "config loading (orchestration.settings.load_config)",
            config_cases,
            check_config,
            examples=examples,
            seeds=[
                ConfigCase(text=RECURSIVE_YAML),
                ConfigCase(text=HUGE_INT_YAML),
                ConfigCase(environ=((EMPTY_KEY_VARIABLE, "1"),)),
            ],
            known_bugs=[
                "an anchor cycle in the YAML recurses forever: RecursionError "
                "(orchestration/settings.py:140 _reject_secrets_in_file)",
                "an integer of more than 4,300 digits: ValueError from PyYAML "
                "(orchestration/settings.py:121 _read_yaml catches only yaml.YAMLError)",
                "an empty top-level key (the variables KITEPILOT_ and KITEPILOT___X, or "
                "'\"\": 1' in the YAML) is refused under the key '': 'invalid config:  is not a "
                "known setting' (orchestration/settings.py:180-188 _merge_variables, _merge)",
            ],
        ),
        explore(
            "instruments CSV (data_contracts.instruments.parse_instruments_csv)",
            instrument_cases,
            check_instruments,
            examples=examples,
            seeds=[BAD_BYTES, TRUNCATED_GZIP, InstrumentsCase(CSV_FIELD_LIMIT_TEXT)],
            known_bugs=[
                "bytes that are not UTF-8 or a broken gzip body: UnicodeDecodeError / EOFError "
                "(data_contracts/instruments.py:309-315 _read_text)",
                "a cell longer than 131,072 characters: _csv.Error "
                "(data_contracts/instruments.py:301, the row loop)",
            ],
        ),
    ]
    with tempfile.TemporaryDirectory(prefix="kp-fuzz-desk-") as folder:
        world = DeskWorld(Path(folder))
        try:
            seed = DecisionCase(TOKEN, False, LIVE_PROPOSALS[0], "fuzz", SURROGATE_REASON, False)
            explorations.append(
                explore(
                    "decision API (OperatorActions → DecisionDesk → SQLite)",
                    decision_cases,
                    lambda case: check_decision(world, case),
                    examples=examples,
                    seeds=[seed],
                    known_bugs=[
                        "a lone surrogate in the reason or the user (JSON '\\ud800') reaches "
                        "SQLite: UnicodeEncodeError (data_contracts/trading.py:261 Decision "
                        "checks decided_by only with non_empty, reason not at all)"
                    ],
                )
            )
        finally:
            world.close()
    return {
        "scenario": "fuzzing: inputs",
        "passed": all(e.passed for e in explorations),
        "goal_met": all(e.passed for e in explorations),
        "targets": [e.as_dict() for e in explorations],
    }
