"""The audit log: an append-only, hash-chained JSON-lines file per IST day (docs/audit.md)."""

from __future__ import annotations

import hashlib
import itertools
import json
import multiprocessing
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_contracts.clock import ManualClock, SystemClock
from data_contracts.enums import Side
from data_contracts.errors import ContractError
from data_contracts.timeutil import IST
from execution.audit import (
    GENESIS_HASH,
    AuditEntry,
    AuditKind,
    AuditLog,
    AuditRecord,
    to_jsonable,
    verify,
)
from execution.audit.log import _checked_jsonable
from tests import factories

# 09:30 IST on Thursday 2 January 2025.
START = datetime(2025, 1, 2, 4, 0, tzinfo=UTC)


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1]


def _write_lines(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def _three_day_chain(directory: Path) -> tuple[AuditLog, list[AuditEntry]]:
    """Three entries on each of three consecutive days (9 in all)."""
    clock = ManualClock(START)
    log = AuditLog(directory, clock)
    written = []
    for day in range(3):
        clock.set(START + timedelta(days=day))
        for number in range(3):
            written.append(
                log.append(
                    AuditKind.ORDER,
                    f"TAG{day}{number}",
                    {"price": 101.5 + number, "side": Side.BUY},
                    instrument_token=408065 + number,
                )
            )
            clock.advance(timedelta(minutes=1))
    return log, written


def _day_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.jsonl"))


# --- appending and the chain ------------------------------------------------------------------


def test_audit_log_chain_over_several_days_verifies(tmp_path: Path) -> None:
    _, written = _three_day_chain(tmp_path)

    report = verify(tmp_path)

    assert (report.ok, report.entries, report.files, report.problem) == (True, 9, 3, None)
    assert [path.name for path in _day_files(tmp_path)] == [
        "2025-01-02.jsonl",
        "2025-01-03.jsonl",
        "2025-01-04.jsonl",
    ]
    assert [entry.seq for entry in written] == list(range(1, 10))
    assert written[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(written))


def test_audit_log_first_line_of_a_day_links_to_the_previous_days_last_hash(
    tmp_path: Path,
) -> None:
    _three_day_chain(tmp_path)
    first, second, _ = _day_files(tmp_path)

    last_of_first = json.loads(_lines(first)[-1])
    first_of_second = json.loads(_lines(second)[0])

    assert first_of_second["prev_hash"] == last_of_first["hash"]


def test_audit_log_line_is_canonical_json_with_utc_timestamp(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, ManualClock(START))

    entry = log.append(
        AuditKind.KILL_SWITCH, "kill_switch", {"on": True, "why": "₹ loss"}, actor="alice"
    )

    line = _lines(tmp_path / "2025-01-02.jsonl")[0]
    document = json.loads(line)
    assert line == json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")
    assert document == {
        "seq": 1,
        "ts": "2025-01-02T04:00:00+00:00",
        "kind": "kill_switch",
        "subject": "kill_switch",
        "instrument_token": None,
        "actor": "alice",
        "payload": {"on": True, "why": "₹ loss"},
        "prev_hash": GENESIS_HASH,
        "hash": entry.hash,
    }


@pytest.mark.parametrize(
    ("ts", "file_name"),
    [
        (datetime(2025, 1, 2, 18, 29, tzinfo=UTC), "2025-01-02.jsonl"),  # 23:59 IST
        (datetime(2025, 1, 2, 18, 30, tzinfo=UTC), "2025-01-03.jsonl"),  # 00:00 IST next day
    ],
)
def test_audit_log_entry_goes_to_the_file_of_its_ist_day(
    tmp_path: Path, ts: datetime, file_name: str
) -> None:
    log = AuditLog(tmp_path, ManualClock(ts))

    log.append(AuditKind.SESSION, "login", {})

    assert [path.name for path in _day_files(tmp_path)] == [file_name]


def test_audit_log_directory_is_created_private(tmp_path: Path) -> None:
    directory = tmp_path / "var" / "audit"

    AuditLog(directory, ManualClock(START))

    assert directory.stat().st_mode & 0o777 == 0o700


def test_audit_log_entry_on_an_earlier_day_than_the_head_is_refused(tmp_path: Path) -> None:
    AuditLog(tmp_path, ManualClock(START + timedelta(days=1))).append(AuditKind.SESSION, "a", {})
    behind = AuditLog(tmp_path, ManualClock(START))

    with pytest.raises(ContractError, match="before the chain's head"):
        behind.append(AuditKind.SESSION, "b", {})

    assert verify(tmp_path).entries == 1


# --- payloads ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Fill:
    instrument_token: int
    side: Side
    price: Decimal
    ts: datetime


def test_to_jsonable_converts_the_domains_values() -> None:
    value = {
        "fill": _Fill(408065, Side.SELL, Decimal("101.05"), START),
        "day": date(2025, 1, 2),
        "ttl": timedelta(minutes=2),
        "levels": (1.5, 2),
    }

    assert to_jsonable(value) == {
        "fill": {
            "instrument_token": 408065,
            "side": "SELL",
            "price": "101.05",
            "ts": "2025-01-02T04:00:00+00:00",
        },
        "day": "2025-01-02",
        "ttl": 120.0,
        "levels": [1.5, 2],
    }


def test_to_jsonable_gives_the_full_conversions_answer_for_every_kind_of_value() -> None:
    # to_jsonable takes a fast pass over plain values; the full, path-naming conversion must
    # give the same answer for everything the fast pass handles or hands over.
    ist = START.astimezone(IST)
    values: list[object] = [
        {"proposal": factories.proposal(), "exit": factories.exit_proposal()},
        {"fill": _Fill(408065, Side.SELL, Decimal("101.05"), ist), "n": np.float64(1.5)},
        {Side.BUY: [date(2025, 1, 2), timedelta(seconds=3), (True, None, 2, "x")]},
        [_Fill(1, Side.BUY, Decimal("1"), START)] * 3,
    ]

    for value in values:
        assert to_jsonable(value) == _checked_jsonable(value, "payload")
        assert json.dumps(to_jsonable(value)) == json.dumps(_checked_jsonable(value, "payload"))


def test_to_jsonable_names_where_a_refused_value_sits() -> None:
    with pytest.raises(ContractError) as nan:
        to_jsonable({"legs": [{"fill": {"price": float("nan")}}]})
    with pytest.raises(ContractError) as secret:
        to_jsonable({"legs": [{"session": {"password": "x"}}]})

    assert nan.value.field == "payload.legs[0].fill.price"
    assert secret.value.field == "payload.legs[0].session.password"


def test_audit_log_actor_with_quotes_and_unicode_verifies(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, ManualClock(START))

    log.append_many(
        [
            AuditRecord(AuditKind.PROPOSAL, "p-1", {"a": 1}, actor='stream "0" ₹'),
            AuditRecord(AuditKind.PROPOSAL, "p-2", {"a": 2}, actor="a\\b\n"),
        ]
    )

    assert verify(tmp_path).ok
    assert [e.actor for e in log.entries()] == ['stream "0" ₹', "a\\b\n"]


@pytest.mark.parametrize(
    "payload",
    [
        {"access_token": "x"},
        {"API_SECRET": "x"},
        {"Password": "x"},
        {"bot_token": "x"},
        {"request_token": "x"},
        {"session": {"kite": {"access_token": "x"}}},
        {"items": [{"password": "x"}]},
    ],
)
def test_audit_log_payload_key_naming_a_secret_is_refused(
    tmp_path: Path, payload: dict[str, object]
) -> None:
    log = AuditLog(tmp_path, ManualClock(START))

    with pytest.raises(ContractError, match="credential") as raised:
        log.append(AuditKind.SESSION, "login", payload)

    assert "x" not in repr(raised.value.value)
    assert _day_files(tmp_path) == []


@pytest.mark.parametrize(
    "payload",
    [
        {"tags": {"a", "b"}},
        {"raw": b"bytes"},
        {"price": float("nan")},
        {"price": Decimal("Infinity")},
        {"at": datetime(2025, 1, 2, 9, 30)},  # noqa: DTZ001 - the naive datetime under test
        {"thing": object()},
        {1: "non-string key"},
    ],
)
def test_audit_log_payload_that_is_not_json_safe_is_refused(
    tmp_path: Path, payload: dict[object, object]
) -> None:
    log = AuditLog(tmp_path, ManualClock(START))

    with pytest.raises(ContractError):
        log.append(AuditKind.ORDER, "TAG1", payload)

    assert _day_files(tmp_path) == []


def test_audit_log_instrument_identifiers_are_not_taken_for_secrets(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, ManualClock(START))

    entry = log.append(AuditKind.FILL, "TAG1", {"instrument_token": 408065, "exchange_token": 1594})

    assert entry.payload == {"instrument_token": 408065, "exchange_token": 1594}


# --- tampering --------------------------------------------------------------------------------


def _flip_a_byte(lines: list[bytes], index: int) -> None:
    line = bytearray(lines[index])
    position = line.index(b'"subject":"') + len(b'"subject":"')
    line[position] = ord("X") if line[position] != ord("X") else ord("Y")
    lines[index] = bytes(line)


@pytest.mark.parametrize(("file_index", "line_index"), [(0, 0), (1, 1), (2, 2)])
def test_verify_edited_byte_reports_its_file_and_line(
    tmp_path: Path, file_index: int, line_index: int
) -> None:
    _three_day_chain(tmp_path)
    path = _day_files(tmp_path)[file_index]
    lines = _lines(path)
    _flip_a_byte(lines, line_index)
    _write_lines(path, lines)

    report = verify(tmp_path)

    assert (report.ok, report.file, report.line) == (False, path, line_index + 1)
    assert report.problem is not None
    assert report.problem.startswith("hash mismatch")


def test_verify_re_hashed_line_breaks_the_next_link(tmp_path: Path) -> None:
    _three_day_chain(tmp_path)
    path = _day_files(tmp_path)[1]
    lines = _lines(path)
    document = json.loads(lines[0])
    document["payload"]["price"] = 1.0
    body = {key: value for key, value in document.items() if key != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    document["hash"] = hashlib.sha256(canonical.encode()).hexdigest()
    lines[0] = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()
    _write_lines(path, lines)

    report = verify(tmp_path)

    assert (report.ok, report.file, report.line) == (False, path, 2)
    assert report.problem == "prev_hash does not link to the previous entry's hash"


@pytest.mark.parametrize(
    ("file_index", "line_index", "reported"),
    [
        (0, 0, (0, 1)),  # the first line of the chain: its successor has seq 2, expected 1
        (0, 2, (1, 1)),  # a day's last line: the next day's first line shows the gap
        (1, 1, (1, 2)),
    ],
)
def test_verify_deleted_line_reports_where_the_gap_is(
    tmp_path: Path, file_index: int, line_index: int, reported: tuple[int, int]
) -> None:
    _three_day_chain(tmp_path)
    files = _day_files(tmp_path)
    lines = _lines(files[file_index])
    del lines[line_index]
    _write_lines(files[file_index], lines)

    report = verify(tmp_path)

    assert (report.ok, report.file, report.line) == (False, files[reported[0]], reported[1])
    assert report.problem is not None
    assert "a line was deleted, duplicated or reordered" in report.problem


def test_verify_reordered_lines_are_detected_at_the_first_moved_line(tmp_path: Path) -> None:
    _three_day_chain(tmp_path)
    path = _day_files(tmp_path)[1]
    lines = _lines(path)
    lines[0], lines[1] = lines[1], lines[0]
    _write_lines(path, lines)

    report = verify(tmp_path)

    assert (report.ok, report.file, report.line) == (False, path, 1)
    assert report.problem == "seq 5, expected 4: a line was deleted, duplicated or reordered"


def test_verify_day_file_removed_from_the_middle_is_detected(tmp_path: Path) -> None:
    _three_day_chain(tmp_path)
    _first, middle, last = _day_files(tmp_path)
    middle.unlink()

    report = verify(tmp_path)

    assert (report.ok, report.file, report.line) == (False, last, 1)


def test_verify_chain_truncated_at_a_line_boundary_is_reported(tmp_path: Path) -> None:
    _three_day_chain(tmp_path)
    last = _day_files(tmp_path)[-1]
    _write_lines(last, _lines(last)[:1])

    report = verify(tmp_path)

    assert (report.ok, report.file, report.line) == (False, last, 1)
    assert report.problem is not None
    assert report.problem.startswith("truncated: the chain ends at seq 7 but seq 9 was written")


def test_verify_last_day_file_deleted_is_reported_as_truncated(tmp_path: Path) -> None:
    _three_day_chain(tmp_path)
    _first, middle, last = _day_files(tmp_path)
    last.unlink()

    report = verify(tmp_path)

    assert (report.ok, report.file, report.line) == (False, middle, 3)
    assert report.problem is not None
    assert report.problem.startswith("truncated")


def test_verify_missing_head_record_is_reported(tmp_path: Path) -> None:
    _three_day_chain(tmp_path)
    (tmp_path / ".head").unlink()

    report = verify(tmp_path)

    assert (report.ok, report.file) == (False, tmp_path / ".head")


def test_verify_missing_directory_is_reported(tmp_path: Path) -> None:
    report = verify(tmp_path / "nowhere")

    assert (report.ok, report.entries, report.files) == (False, 0, 0)


def test_verify_fresh_log_without_entries_is_ok(tmp_path: Path) -> None:
    AuditLog(tmp_path, ManualClock(START))

    assert verify(tmp_path).ok


# --- a torn tail (a crash mid-write) ----------------------------------------------------------


def _tear(directory: Path) -> tuple[Path, bytes]:
    last = _day_files(directory)[-1]
    partial = b'{"actor":"system","hash":"ab'
    with last.open("ab") as handle:
        handle.write(partial)
    return last, partial


def test_verify_torn_last_line_is_reported_as_torn_not_tampering(tmp_path: Path) -> None:
    _three_day_chain(tmp_path)
    last, _ = _tear(tmp_path)

    report = verify(tmp_path)

    assert (report.ok, report.entries, report.file, report.line) == (False, 9, last, 4)
    assert report.problem is not None
    assert report.problem.startswith("torn last line")


def test_audit_log_append_moves_a_torn_tail_aside_and_continues_the_chain(tmp_path: Path) -> None:
    log, written = _three_day_chain(tmp_path)
    last, partial = _tear(tmp_path)

    entry = log.append(AuditKind.SESSION, "restart", {})

    assert (entry.seq, entry.prev_hash) == (10, written[-1].hash)
    assert last.with_name(last.name + ".torn").read_bytes() == partial + b"\n"
    assert verify(tmp_path).ok


def test_audit_log_entries_skip_a_line_still_being_written(tmp_path: Path) -> None:
    log, written = _three_day_chain(tmp_path)
    _tear(tmp_path)

    assert list(log.entries()) == written


# --- queries ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected_subjects"),
    [
        ({}, ["TAG00", "TAG01", "TAG02", "TAG10", "TAG11", "TAG12", "TAG20", "TAG21", "TAG22"]),
        ({"subject": "TAG11"}, ["TAG11"]),
        ({"instrument_token": 408066}, ["TAG01", "TAG11", "TAG21"]),
        ({"kinds": [AuditKind.FILL]}, []),
        ({"kinds": [AuditKind.FILL, AuditKind.ORDER], "subject": "TAG20"}, ["TAG20"]),
        ({"since": START + timedelta(days=2)}, ["TAG20", "TAG21", "TAG22"]),
        (
            {"since": START + timedelta(minutes=1), "until": START + timedelta(days=1, minutes=1)},
            ["TAG01", "TAG02", "TAG10"],
        ),
    ],
)
def test_audit_log_entries_filter_by_every_given_field(
    tmp_path: Path, query: dict[str, object], expected_subjects: list[str]
) -> None:
    log, _ = _three_day_chain(tmp_path)

    found = [entry.subject for entry in log.entries(**query)]

    assert found == expected_subjects


def test_audit_log_entries_filter_by_kind(tmp_path: Path) -> None:
    log, _ = _three_day_chain(tmp_path)
    switched = log.append(AuditKind.KILL_SWITCH, "kill_switch", {"on": True})

    assert list(log.entries(kinds=[AuditKind.KILL_SWITCH, AuditKind.ALERT])) == [switched]


# --- several processes ------------------------------------------------------------------------


def _append_many(directory: str, worker: str, count: int, barrier: Callable[[], object]) -> None:
    log = AuditLog(Path(directory), SystemClock())
    barrier()
    for number in range(count):
        log.append(AuditKind.ORDER, f"{worker}-{number}", {"n": number}, actor=worker)


def test_audit_log_two_processes_appending_concurrently_give_one_valid_chain(
    tmp_path: Path,
) -> None:
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(2)
    workers = [
        context.Process(target=_append_many, args=(str(tmp_path), name, 200, barrier.wait))
        for name in ("streamer", "executor")
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)

    report = verify(tmp_path)
    log = AuditLog(tmp_path, SystemClock())
    by_actor = {
        actor: [entry.payload["n"] for entry in log.entries() if entry.actor == actor]
        for actor in ("streamer", "executor")
    }
    assert [worker.exitcode for worker in workers] == [0, 0]
    assert (report.ok, report.entries) == (True, 400), report
    assert by_actor == {"streamer": list(range(200)), "executor": list(range(200))}


# --- invariants -------------------------------------------------------------------------------

_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
_payloads = st.dictionaries(
    st.text(alphabet="abcdefghijklmnopqrs_", min_size=1, max_size=8),
    st.recursive(
        _json_scalars,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.sampled_from(["a", "b", "price"]), inner, max_size=3)
        ),
        max_leaves=6,
    ),
    max_size=4,
)
_appends = st.lists(
    st.tuples(
        st.sampled_from(list(AuditKind)),
        st.text(min_size=1, max_size=10).filter(str.strip),
        _payloads,
        st.none() | st.integers(min_value=1, max_value=2**40),
        st.integers(min_value=0, max_value=36 * 60),  # minutes to the next entry
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=25)  # each append is fsynced: keep the disk work small
@given(appends=_appends)
def test_audit_log_any_sequence_of_appends_verifies(
    appends: list[tuple[AuditKind, str, dict[str, object], int | None, int]],
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        clock = ManualClock(START)
        log = AuditLog(Path(directory), clock)
        written = []
        for kind, subject, payload, token, minutes in appends:
            written.append(log.append(kind, subject, payload, instrument_token=token))
            clock.advance(timedelta(minutes=minutes))

        report = verify(Path(directory))

        assert (report.ok, report.entries) == (True, len(appends)), report
        assert list(log.entries()) == written


@pytest.fixture(scope="module")
def chain_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    directory = tmp_path_factory.mktemp("audit")
    _three_day_chain(directory)
    return _day_files(directory)


@given(position=st.integers(min_value=0), delta=st.integers(min_value=1, max_value=255))
def test_verify_any_single_byte_change_fails(
    chain_files: list[Path], position: int, delta: int
) -> None:
    originals = [path.read_bytes() for path in chain_files]
    offset = position % sum(len(data) for data in originals)
    index = 0
    while offset >= len(originals[index]):
        offset -= len(originals[index])
        index += 1
    changed = bytearray(originals[index])
    changed[offset] = (changed[offset] + delta) % 256
    chain_files[index].write_bytes(bytes(changed))
    try:
        report = verify(chain_files[0].parent)
    finally:
        chain_files[index].write_bytes(originals[index])

    assert not report.ok
    assert report.file is not None
