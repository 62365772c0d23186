"""The audit log: every proposal, decision, risk verdict, order event, fill, reconciliation finding,
kill-switch action and alert, as one hash-chained JSON line, append-only.

Layout (``docs/audit.md``)::

    <directory>/.lock                 the OS file lock every writer takes (fcntl.flock)
    <directory>/.head                 the chain's high-water mark: {"day", "hash", "seq"}
    <directory>/YYYY-MM-DD.jsonl      one file per IST day of the entries' timestamps
    <directory>/YYYY-MM-DD.jsonl.torn partial lines a crash left behind, moved aside by append

Each line is the canonical JSON (sorted keys, no spaces, UTF-8) of an entry; its ``hash`` is the
SHA-256 of the canonical JSON of the entry without ``hash``, and its ``prev_hash`` is the previous
entry's ``hash`` (64 zeros for the very first), across day files. ``seq`` counts from 1.

Several processes append to one directory. An append takes the lock, reads the chain's head from
the files (the last line of the latest day file), repairs a torn tail, writes its line, fsyncs it,
then records the new head in ``.head``. ``.head`` only ever moves forward, so ``verify`` can tell
a chain cut short at a line boundary (which no hash chain shows by itself) from a complete one.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import logging
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import Enum, StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

from data_contracts.errors import ContractError
from data_contracts.timeutil import IST, require_aware
from data_contracts.validation import instance_of, integer, non_empty

if TYPE_CHECKING:
    from data_contracts.ports import Clock  # the Protocol; its module loads polars

__all__ = [
    "GENESIS_HASH",
    "AuditEntry",
    "AuditKind",
    "AuditLog",
    "AuditRecord",
    "ChainReport",
    "to_jsonable",
    "verify",
]

_log = logging.getLogger(__name__)

_T = TypeVar("_T")

GENESIS_HASH: Final = "0" * 64
"""The ``prev_hash`` of the very first entry of a chain."""

_LOCK_FILE = ".lock"
_HEAD_FILE = ".head"
_TORN_SUFFIX = ".torn"
_DAY_FILE = re.compile(r"(\d{4}-\d{2}-\d{2})\.jsonl")
_HASH = re.compile(r"[0-9a-f]{64}")
_FIELDS = frozenset(
    {"seq", "ts", "kind", "subject", "instrument_token", "actor", "payload", "prev_hash", "hash"}
)
_CHUNK = 65_536

# A payload key naming a credential is refused anywhere in the payload, at any depth. "token"
# alone would also refuse the market's identifiers, which every order and fill carries; those few
# exact names are allowed.
_SECRET_MARKERS = ("access_token", "api_secret", "password", "secret", "token")
_IDENTIFIER_KEYS = frozenset(
    {"instrument_token", "instrument_tokens", "exchange_token", "underlying_token"}
)


class AuditKind(StrEnum):
    """What an audit entry records."""

    PROPOSAL = "proposal"
    DECISION = "decision"
    VERDICT = "verdict"
    ORDER = "order"
    FILL = "fill"
    RECONCILIATION = "reconciliation"
    KILL_SWITCH = "kill_switch"
    OPERATOR = "operator"  # an operator's switch: pause/resume new proposals
    ALERT = "alert"
    SESSION = "session"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the audit log. ``ts`` is UTC; ``payload`` is JSON-safe."""

    seq: int
    ts: datetime
    kind: AuditKind
    subject: str
    instrument_token: int | None
    actor: str
    payload: Mapping[str, object]
    prev_hash: str
    hash: str

    def __post_init__(self) -> None:
        owner = "AuditEntry"
        integer(owner, "seq", self.seq, minimum=1)
        object.__setattr__(self, "ts", require_aware(owner, "ts", self.ts))
        instance_of(owner, "kind", self.kind, AuditKind)
        non_empty(owner, "subject", self.subject)
        if self.instrument_token is not None:
            integer(owner, "instrument_token", self.instrument_token, minimum=1)
        non_empty(owner, "actor", self.actor)
        instance_of(owner, "payload", self.payload, Mapping)
        for field in ("prev_hash", "hash"):
            value = getattr(self, field)
            if not isinstance(value, str) or _HASH.fullmatch(value) is None:
                raise ContractError(owner, field, value, "must be 64 lower-case hex digits")

    @property
    def day(self) -> date:
        """The IST day the entry belongs to (its file)."""
        return self.ts.astimezone(IST).date()


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """An entry to append (``AuditLog.append_many``): what ``AuditLog.append`` takes."""

    kind: AuditKind
    subject: str
    payload: Mapping[str, object]
    actor: str = "system"
    instrument_token: int | None = None


@dataclass(frozen=True, slots=True)
class ChainReport:
    """What :func:`verify` found: ``ok``, or the first problem and exactly where it is.

    ``entries`` counts the entries checked before the problem (all of them when ``ok``);
    ``line`` is 1-based within ``file``.
    """

    ok: bool
    entries: int
    files: int
    problem: str | None = None
    file: Path | None = None
    line: int | None = None


# ---------------------------------------------------------------------------------------------
# JSON


def to_jsonable(value: object, *, path: str = "payload") -> object:
    """``value`` as plain JSON data (dict, list, str, int, finite float, bool, None).

    Converted: aware datetimes (ISO 8601, UTC), dates (ISO), timedeltas (seconds, float), enums
    (their value), ``Decimal`` (its exact string), dataclasses (their fields), mappings with
    string keys, lists and tuples. Anything else — naive datetimes, NaN, sets, bytes, secrets — is a
    :class:`ContractError` naming where in the value it sits.

    A fast pass handles the common exact types (no paths built, dataclass fields and allowed keys
    remembered per type and key); anything it does not take plainly — or any refusal — goes
    through the full, path-tracking conversion, so the result and the errors are the same.
    """
    try:
        return _fast_jsonable(value)
    except (_NotFast, ContractError):
        return _checked_jsonable(value, path)


class _NotFast(Exception):
    """The fast pass met something it leaves to the full conversion."""


_PLAIN_TYPES: Final = frozenset({str, int, bool, type(None)})
_DATACLASS_FIELDS: dict[type, tuple[str, ...]] = {}  # per dataclass: its fields' names
_ALLOWED_KEYS: dict[str, None] = {}  # payload keys seen not to name a credential
_ALLOWED_KEYS_MAX: Final = 4_096


def _fast_jsonable(value: object) -> object:
    kind = type(value)
    if kind in _PLAIN_TYPES:
        return value
    if kind is float:
        if math.isfinite(value):  # type: ignore[arg-type]  # kind is float
            return value
        raise _NotFast
    if kind is datetime:
        stamp: datetime = value  # type: ignore[assignment]  # kind is datetime
        if stamp.tzinfo is UTC:
            return stamp.isoformat()
        return require_aware("AuditLog", "payload", stamp).isoformat()
    if kind is list or kind is tuple:
        return [_fast_jsonable(item) for item in value]  # type: ignore[attr-defined]  # a sequence
    if kind is dict:
        return _fast_mapping(value)  # type: ignore[arg-type]  # kind is dict
    names = _DATACLASS_FIELDS.get(kind)
    if names is None:
        if isinstance(value, Enum):
            return _fast_jsonable(value.value)
        if not dataclasses.is_dataclass(value) or isinstance(value, type):
            raise _NotFast
        names = tuple(f.name for f in dataclasses.fields(value))
        _DATACLASS_FIELDS[kind] = names
    converted: dict[str, object] = {}
    for name in names:
        _allowed_key(name)
        converted[name] = _fast_jsonable(getattr(value, name))
    return converted


def _fast_mapping(mapping: dict[object, object]) -> dict[str, object]:
    converted: dict[str, object] = {}
    for key, item in mapping.items():
        if type(key) is not str:
            raise _NotFast
        _allowed_key(key)
        converted[key] = _fast_jsonable(item)
    return converted


def _allowed_key(key: str) -> None:
    if key not in _ALLOWED_KEYS:
        _refuse_secret_key(key, "payload")
        if len(_ALLOWED_KEYS) < _ALLOWED_KEYS_MAX:
            _ALLOWED_KEYS[key] = None


def _checked_jsonable(value: object, path: str) -> object:
    """:func:`to_jsonable`'s full conversion, naming where in the value a refusal sits."""
    if isinstance(value, Enum):
        return _checked_jsonable(value.value, path)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float | Decimal):
        return _number(value, path)
    if isinstance(value, datetime):
        return require_aware("AuditLog", path, value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return _mapping_to_jsonable(fields, path)
    if isinstance(value, Mapping):
        return _mapping_to_jsonable(value, path)
    if isinstance(value, list | tuple):
        return [_checked_jsonable(item, f"{path}[{i}]") for i, item in enumerate(value)]
    raise ContractError(
        "AuditLog",
        path,
        type(value).__name__,
        "must be JSON-safe (str, int, float, bool, None, datetime, date, timedelta, Enum, "
        "Decimal, dataclass, mapping, list or tuple)",
    )


def _number(value: float | Decimal, path: str) -> float | str:
    finite = value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)
    if not finite:
        raise ContractError("AuditLog", path, value, "must be a finite number")
    return str(value) if isinstance(value, Decimal) else float(value)


def _mapping_to_jsonable(mapping: Mapping[Any, object], path: str) -> dict[str, object]:
    converted: dict[str, object] = {}
    for key, item in mapping.items():
        name = key.value if isinstance(key, Enum) else key
        if not isinstance(name, str):
            raise ContractError("AuditLog", path, key, "keys must be strings")
        _refuse_secret_key(name, path)
        converted[name] = _checked_jsonable(item, f"{path}.{name}")
    return converted


def _refuse_secret_key(key: str, path: str) -> None:
    lowered = key.lower()
    if lowered in _IDENTIFIER_KEYS:
        return
    if any(marker in lowered for marker in _SECRET_MARKERS):
        raise ContractError(
            "AuditLog",
            f"{path}.{key}",
            "<not shown>",
            "must not be written: the key names a credential (access_token, api_secret, "
            "password, secret, token)",
        )


def _canonical(document: Mapping[str, object]) -> bytes:
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _with_hash(body: bytes, actor: str, digest: str) -> bytes:
    """The line of an entry: ``body`` (the canonical JSON of the entry without ``hash``) with
    its ``hash`` put in — the canonical JSON of the whole entry, without encoding it again.
    Keys are sorted, and ``"actor"`` < ``"hash"`` < every other field, so the hash goes right
    after the actor."""
    head = b'{"actor":' + json.dumps(actor, ensure_ascii=False).encode("utf-8")
    if not body.startswith(head + b","):  # never: the canonical form starts with the actor
        raise ContractError("AuditLog", "line", body[:80], "must start with the actor")
    return head + b',"hash":"' + digest.encode("ascii") + b'"' + body[len(head) :] + b"\n"


def _digest(document: Mapping[str, object]) -> str:
    body = {key: value for key, value in document.items() if key != "hash"}
    return hashlib.sha256(_canonical(body)).hexdigest()


def _entry_from_document(document: Mapping[str, object]) -> AuditEntry:
    """An entry from a parsed line (already checked to have exactly the entry's fields)."""
    ts = _field(document, "ts", str)
    try:
        parsed_ts = datetime.fromisoformat(ts)
    except ValueError as error:
        raise ContractError("AuditEntry", "ts", ts, "must be an ISO 8601 timestamp") from error
    kind = _field(document, "kind", str)
    try:
        audit_kind = AuditKind(kind)
    except ValueError as error:
        raise ContractError("AuditEntry", "kind", kind, "must be an AuditKind") from error
    token = document["instrument_token"]
    return AuditEntry(
        seq=_field(document, "seq", int),
        ts=parsed_ts,
        kind=audit_kind,
        subject=_field(document, "subject", str),
        instrument_token=None if token is None else _field(document, "instrument_token", int),
        actor=_field(document, "actor", str),
        payload=_field(document, "payload", dict),
        prev_hash=_field(document, "prev_hash", str),
        hash=_field(document, "hash", str),
    )


def _field(document: Mapping[str, object], name: str, kind: type[_T]) -> _T:
    value = document[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ContractError("AuditEntry", name, value, f"must be a {kind.__name__}")
    return value


# ---------------------------------------------------------------------------------------------
# Files


def _day_files(directory: Path) -> list[tuple[date, Path]]:
    """The day files, oldest first."""
    found = []
    for path in directory.iterdir():
        match = _DAY_FILE.fullmatch(path.name)
        if match is not None and path.is_file():
            found.append((date.fromisoformat(match.group(1)), path))
    return sorted(found)


def _file_for(directory: Path, day: date) -> Path:
    return directory / f"{day.isoformat()}.jsonl"


def _last_line(path: Path) -> bytes | None:
    """The last line of ``path`` (which ends in a newline: torn tails are repaired first), read
    backwards from the end; None for an empty file."""
    with path.open("rb") as handle:
        position = handle.seek(0, os.SEEK_END)
        tail = b""
        while position > 0:
            step = min(_CHUNK, position)
            position -= step
            handle.seek(position)
            tail = handle.read(step) + tail
            newline = tail.rfind(b"\n", 0, len(tail) - 1)
            if newline >= 0:
                return tail[newline + 1 : -1]
        return tail[:-1] if tail else None


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@dataclass(frozen=True, slots=True)
class _Head:
    seq: int
    hash: str
    day: date | None


_GENESIS = _Head(seq=0, hash=GENESIS_HASH, day=None)


def _repair_torn_tail(path: Path) -> None:
    """Move the bytes after the last newline of ``path`` to ``<path>.torn`` and cut them off."""
    with path.open("rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return
        keep = 0
        position = size
        while position > 0:
            step = min(_CHUNK, position)
            position -= step
            handle.seek(position)
            chunk = handle.read(step)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                keep = position + newline + 1
                break
        handle.seek(keep)
        partial = handle.read()
        torn = path.with_name(path.name + _TORN_SUFFIX)
        with torn.open("ab") as aside:
            aside.write(partial + b"\n")
            aside.flush()
            os.fsync(aside.fileno())
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())
    _log.warning(
        "audit log %s ended in a torn line (%d bytes, a crash mid-write); moved it to %s",
        path,
        len(partial),
        torn,
    )


def _read_head(directory: Path) -> _Head:
    """The chain's head from the files: the last line of the latest non-empty day file."""
    for day, path in reversed(_day_files(directory)):
        _repair_torn_tail(path)
        line = _last_line(path)
        if line is None:
            continue
        try:
            document = json.loads(line)
            seq, digest = document["seq"], document["hash"]
        except (ValueError, TypeError, KeyError) as error:
            raise ContractError(
                "AuditLog", "head", path.name, "the last line must be an audit entry (run verify)"
            ) from error
        return _Head(seq=seq, hash=digest, day=day)
    return _GENESIS


def _read_anchor(directory: Path) -> _Head | None:
    path = directory / _HEAD_FILE
    try:
        document = json.loads(path.read_bytes())
        return _Head(
            seq=int(document["seq"]),
            hash=str(document["hash"]),
            day=date.fromisoformat(document["day"]) if document["day"] else None,
        )
    except FileNotFoundError:
        return None
    except (ValueError, TypeError, KeyError) as error:
        raise ContractError("AuditLog", _HEAD_FILE, str(path), "must be a head record") from error


def _write_anchor(directory: Path, head: _Head, *, durable: bool) -> None:
    """Replace ``.head`` atomically (write aside, rename).

    After an append it is not fsynced (one fsync per append, the line's): a power cut can leave it
    behind the chain, which is harmless (it is a lower bound), or — on a file system that does not
    order the rename after the data — unreadable until the next append rewrites it; ``verify``
    then says so. The genesis record is durable: a missing ``.head`` beside entries is a problem.
    """
    record = {"day": head.day.isoformat() if head.day else None, "hash": head.hash, "seq": head.seq}
    temporary = directory / f"{_HEAD_FILE}.tmp"
    with temporary.open("wb") as handle:
        handle.write(_canonical(record) + b"\n")
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(temporary, directory / _HEAD_FILE)
    if durable:
        _fsync_directory(directory)


class _DirectoryLock:
    """``fcntl.flock`` on ``<directory>/.lock``: one writer at a time across processes (and
    threads: each holder opens its own descriptor)."""

    def __init__(self, directory: Path) -> None:
        self._path = directory / _LOCK_FILE
        self._descriptor: int | None = None

    def __enter__(self) -> None:
        descriptor = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        except BaseException:
            os.close(descriptor)
            raise
        self._descriptor = descriptor

    def __exit__(self, *_: object) -> None:
        if self._descriptor is not None:
            fcntl.flock(self._descriptor, fcntl.LOCK_UN)
            os.close(self._descriptor)
            self._descriptor = None


# ---------------------------------------------------------------------------------------------
# The log


class AuditLog:
    """Appends audit entries to ``directory`` and reads them back. Safe across processes."""

    def __init__(self, directory: Path, clock: Clock) -> None:
        self._directory = Path(directory)
        self._clock = clock
        self._directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with _DirectoryLock(self._directory):
            if not (self._directory / _HEAD_FILE).exists() and not _day_files(self._directory):
                _write_anchor(self._directory, _GENESIS, durable=True)

    @property
    def directory(self) -> Path:
        return self._directory

    def __repr__(self) -> str:
        return f"AuditLog({str(self._directory)!r})"

    def append(
        self,
        kind: AuditKind,
        subject: str,
        payload: Mapping[str, object],
        *,
        actor: str = "system",
        instrument_token: int | None = None,
    ) -> AuditEntry:
        """Append one entry, timestamped by the clock, and return it as written.

        Refused with a :class:`ContractError` (nothing written): a payload that is not JSON-safe
        or has a key naming a credential, and a timestamp on an earlier IST day than the chain's
        head (day files only move forward).
        """
        record = AuditRecord(kind, subject, payload, actor, instrument_token)
        return self.append_many([record])[0]

    def append_many(self, records: Sequence[AuditRecord]) -> list[AuditEntry]:
        """Append ``records`` in order, under one lock, one write and one fsync: the same lines
        and chain as appending them one by one (they share the clock's one reading), durable
        together. Every record is checked first; a refused one writes nothing."""
        bodies = []
        for record in records:
            instance_of("AuditLog", "kind", record.kind, AuditKind)
            non_empty("AuditLog", "subject", record.subject)
            non_empty("AuditLog", "actor", record.actor)
            if record.instrument_token is not None:
                integer("AuditLog", "instrument_token", record.instrument_token, minimum=1)
            instance_of("AuditLog", "payload", record.payload, Mapping)
            bodies.append(to_jsonable(record.payload))
        if not records:
            return []
        ts = require_aware("AuditLog", "clock.now()", self._clock.now())
        day = ts.astimezone(IST).date()
        documents: list[dict[str, object]] = []
        lines: list[bytes] = []
        with _DirectoryLock(self._directory):
            head = _read_head(self._directory)
            if head.day is not None and day < head.day:
                raise ContractError(
                    "AuditLog",
                    "ts",
                    ts,
                    f"must not be on an IST day before the chain's head ({head.day})",
                )
            seq, previous = head.seq, head.hash
            for record, body in zip(records, bodies, strict=True):
                seq += 1
                document: dict[str, object] = {
                    "seq": seq,
                    "ts": ts.isoformat(),
                    "kind": record.kind.value,
                    "subject": record.subject,
                    "instrument_token": record.instrument_token,
                    "actor": record.actor,
                    "payload": body,
                    "prev_hash": previous,
                }
                body = _canonical(document)
                document["hash"] = previous = hashlib.sha256(body).hexdigest()
                documents.append(document)
                lines.append(_with_hash(body, record.actor, previous))
            path = _file_for(self._directory, day)
            created = not path.exists()
            descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(descriptor, b"".join(lines))
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
            if created:
                _fsync_directory(self._directory)
            _write_anchor(self._directory, _Head(seq, previous, day), durable=False)
        return [_entry_from_document(document) for document in documents]

    def entries(
        self,
        *,
        kinds: Iterable[AuditKind] | None = None,
        subject: str | None = None,
        instrument_token: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Iterator[AuditEntry]:
        """The entries matching every filter given, in chain order; ``since <= ts < until``.

        Reads without the lock: a line still being written (no newline yet) is not returned. It
        does not verify the chain (that is :func:`verify`); a line that is not an entry is a
        :class:`ContractError` naming the file and line.
        """
        wanted = None if kinds is None else frozenset(kinds)
        start = None if since is None else require_aware("AuditLog", "since", since)
        end = None if until is None else require_aware("AuditLog", "until", until)
        first_day = None if start is None else start.astimezone(IST).date()
        last_day = None if end is None else end.astimezone(IST).date()
        for day, path in _day_files(self._directory):
            if (first_day is not None and day < first_day) or (
                last_day is not None and day > last_day
            ):
                continue
            for number, raw in enumerate(_complete_lines(path), start=1):
                try:
                    entry = _entry_from_document(_parse_line(raw))
                except ContractError as error:
                    raise ContractError(
                        "AuditLog", "entries", f"{path.name}:{number}", f"must be an entry: {error}"
                    ) from error
                if (
                    (wanted is None or entry.kind in wanted)
                    and (subject is None or entry.subject == subject)
                    and (instrument_token is None or entry.instrument_token == instrument_token)
                    and (start is None or entry.ts >= start)
                    and (end is None or entry.ts < end)
                ):
                    yield entry


def _complete_lines(path: Path) -> list[bytes]:
    data = path.read_bytes()
    return data.split(b"\n")[:-1]


def _parse_line(raw: bytes) -> dict[str, object]:
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise ContractError("AuditLog", "line", raw[:80], f"must be JSON ({error})") from error
    if not isinstance(document, dict) or set(document) != _FIELDS:
        keys = sorted(document) if isinstance(document, dict) else type(document).__name__
        raise ContractError("AuditLog", "line", keys, f"must have the fields {sorted(_FIELDS)}")
    return document


# ---------------------------------------------------------------------------------------------
# Verification


class _Problem(Exception):
    def __init__(self, what: str, line: int) -> None:
        super().__init__(what)
        self.what = what
        self.line = line


@dataclass
class _Walk:
    entries: int = 0
    seq: int = 0
    hash: str = GENESIS_HASH


def verify(directory: Path) -> ChainReport:
    """Walk every day file in date order and report the first problem, precisely.

    Checked per line: UTF-8 JSON with exactly the entry's fields, written canonically; the hash
    recomputed; ``seq`` one more than the previous line's; ``prev_hash`` the previous line's
    ``hash``; the timestamp on the file's IST day. At the end the chain must reach the head record
    (``.head``): a chain cut short at a line boundary is reported as truncated. A last line without
    its newline is reported as ``torn last line`` — a crash mid-write, not tampering; the next
    append moves it aside.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return ChainReport(False, 0, 0, f"no audit directory at {directory}")
    files = _day_files(directory)
    try:
        anchor = _read_anchor(directory)
    except ContractError as error:
        return ChainReport(False, 0, len(files), str(error), directory / _HEAD_FILE)
    walk = _Walk()
    last_file: Path | None = None
    last_line = 0
    non_empty_files = [(day, path) for day, path in files if path.stat().st_size > 0]
    for index, (day, path) in enumerate(non_empty_files):
        is_last = index == len(non_empty_files) - 1
        try:
            last_line = _verify_file(path, day, walk, anchor, is_last=is_last)
        except _Problem as problem:
            return ChainReport(False, walk.entries, len(files), problem.what, path, problem.line)
        last_file = path
    if anchor is None:
        if walk.entries:
            return ChainReport(
                False,
                walk.entries,
                len(files),
                f"the head record {_HEAD_FILE} is missing (a truncated chain cannot be ruled out)",
                directory / _HEAD_FILE,
            )
    elif walk.seq < anchor.seq:
        return ChainReport(
            False,
            walk.entries,
            len(files),
            f"truncated: the chain ends at seq {walk.seq} but seq {anchor.seq} was written "
            f"(head record {_HEAD_FILE})",
            last_file,
            last_line or None,
        )
    return ChainReport(True, walk.entries, len(files))


def _verify_file(path: Path, day: date, walk: _Walk, anchor: _Head | None, *, is_last: bool) -> int:
    """Check one day file, advancing ``walk``; the number of its last line."""
    data = path.read_bytes()
    lines = data.split(b"\n")
    tail = lines.pop()
    number = 0
    for number, raw in enumerate(lines, start=1):
        _verify_line(raw, number, day, walk)
        if anchor is not None and walk.seq == anchor.seq and walk.hash != anchor.hash:
            raise _Problem(
                f"seq {walk.seq} does not match the head record {_HEAD_FILE} "
                "(the chain was rewritten from here)",
                number,
            )
    if tail:
        what = "torn last line" if is_last else "unterminated line inside the chain"
        raise _Problem(
            f"{what}: {len(tail)} bytes without a newline"
            + (" (a crash mid-write; the next append moves them aside)" if is_last else ""),
            number + 1,
        )
    return number


def _verify_line(raw: bytes, number: int, day: date, walk: _Walk) -> None:
    try:
        document = _parse_line(raw)
    except ContractError as error:
        raise _Problem(f"not an audit entry: {error.rule}", number) from error
    if _canonical(document) != raw:
        raise _Problem("not in canonical form: the line was edited", number)
    if _digest(document) != document["hash"]:
        raise _Problem("hash mismatch: the line was changed after it was written", number)
    seq = document["seq"]
    if seq != walk.seq + 1:
        raise _Problem(
            f"seq {seq}, expected {walk.seq + 1}: a line was deleted, duplicated or reordered",
            number,
        )
    if document["prev_hash"] != walk.hash:
        raise _Problem("prev_hash does not link to the previous entry's hash", number)
    try:
        entry = _entry_from_document(document)
    except ContractError as error:
        raise _Problem(f"not an audit entry: {error}", number) from error
    if entry.day != day:
        raise _Problem(f"timestamp {entry.ts.isoformat()} is on {entry.day}, not {day}", number)
    walk.entries += 1
    walk.seq = entry.seq
    walk.hash = entry.hash
