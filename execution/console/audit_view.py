"""The audit log viewer: entries filtered by kind, instrument and time, newest first, each with a
one-line summary in words, and the result of walking the hash chain (``execution.audit.verify``).

Reading only: the directory is never created or written (an empty or missing one shows no rows,
and ``verify`` says what is missing). A line that is not an entry stops the reading there; the
rows read so far are shown and the chain report names the line.

No secret is ever shown: the log refuses credential keys when it is written, and every shown
text (subject, actor, summary) is scrubbed again here — a value under a key that names a
credential, and any long token-like word (24+ letters, digits or ``_-./+=`` with both letters
and digits, the shape of an access token or API secret), become ``[hidden]``.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from data_contracts.clock import ManualClock
from data_contracts.errors import ContractError
from data_contracts.timeutil import require_aware
from data_contracts.validation import integer
from execution.audit import AuditEntry, AuditKind, AuditLog, ChainReport, verify
from execution.console.words import rupees

__all__ = ["HIDDEN", "AuditRow", "AuditView", "audit_view", "scrub", "summary"]

HIDDEN: Final = "[hidden]"
_TOKEN_LIKE: Final = re.compile(r"[A-Za-z0-9_\-./+=]{24,}")
_CREDENTIAL_KEYS: Final = (
    "access_token",
    "api_key",
    "api_secret",
    "password",
    "secret",
    "token",
    "authorization",
    "cookie",
    "totp",
)
_IDENTIFIER_KEYS: Final = frozenset(
    {"instrument_token", "instrument_tokens", "exchange_token", "underlying_token"}
)
# The reader needs no clock (only appends are timestamped); a fixed one keeps the wall clock out.
_UNUSED_CLOCK: Final = ManualClock(datetime(1970, 1, 1, tzinfo=UTC))


@dataclass(frozen=True, slots=True)
class AuditRow:
    seq: int
    time: datetime
    kind: str
    subject: str
    instrument_token: int | None
    actor: str
    summary: str


@dataclass(frozen=True, slots=True)
class AuditView:
    rows: tuple[AuditRow, ...]  # newest first
    chain: ChainReport


def audit_view(
    directory: Path,
    *,
    kinds: Sequence[str] = (),
    instrument_token: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 200,
) -> AuditView:
    """The newest ``limit`` entries matching every filter given (``kinds``: any of these
    ``AuditKind`` values, none = all; ``since <= ts < until``), newest first, and the chain
    report of the whole directory."""
    integer("audit_view", "limit", limit, minimum=1)
    wanted = [_kind(k) for k in kinds] or None
    for name, value in (("since", since), ("until", until)):
        if value is not None:
            require_aware("audit_view", name, value)
    directory = Path(directory)
    chain = verify(directory)
    newest: deque[AuditEntry] = deque(maxlen=limit)
    if directory.is_dir() and any(directory.glob("*.jsonl")):
        log = AuditLog(directory, _UNUSED_CLOCK)  # writes nothing where day files exist
        try:
            newest.extend(
                log.entries(
                    kinds=wanted, instrument_token=instrument_token, since=since, until=until
                )
            )
        except ContractError:
            pass  # a line that is not an entry: keep what was read; ``chain`` names the line
    rows = tuple(_row(entry) for entry in reversed(newest))
    return AuditView(rows, chain)


def _kind(value: str) -> AuditKind:
    try:
        return AuditKind(value)
    except ValueError:
        kinds = ", ".join(k.value for k in AuditKind)
        raise ContractError("audit_view", "kinds", value, f"must be one of {kinds}") from None


def _row(entry: AuditEntry) -> AuditRow:
    return AuditRow(
        seq=entry.seq,
        time=entry.ts,
        kind=entry.kind.value,
        subject=scrub(entry.subject),
        instrument_token=entry.instrument_token,
        actor=scrub(entry.actor),
        summary=summary(entry.kind, entry.payload),
    )


def scrub(text: str) -> str:
    """``text`` with every token-like word replaced by ``[hidden]``."""

    def hide(match: re.Match[str]) -> str:
        word = match.group(0)
        if any(c.isalpha() for c in word) and any(c.isdigit() for c in word):
            return HIDDEN
        return word

    return _TOKEN_LIKE.sub(hide, text)


def summary(kind: AuditKind, payload: Mapping[str, object]) -> str:
    """One line in words for an entry's payload (scrubbed); an unexpected shape falls back to
    its top-level fields."""
    describe = _SUMMARIES.get(kind)
    text = None
    if describe is not None:
        try:
            text = describe(payload)
        except (KeyError, TypeError, ValueError, AttributeError, ContractError):
            text = None
    return scrub(text if text is not None else _fields(payload))


# -- per kind -----------------------------------------------------------------------------------


def _map(value: object) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise TypeError("not a mapping")
    return value


def _num(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError("not a number")
    return float(value)


def _proposal(payload: Mapping[str, object]) -> str:
    if "exit" in payload:
        e = _map(payload["exit"])
        return (
            f"exit ({e['reason']}): {e['side']} {e['quantity']} {e['tradingsymbol']} "
            f"@ {rupees(_num(e['limit_price']))}"
        )
    p = _map(payload["proposal"])
    return (
        f"{p['side']} {p['lots']} x {p['lot_size']} {p['tradingsymbol']} "
        f"@ {rupees(_num(p['limit_price']))}, stop {rupees(_num(p['stop_loss']))}, "
        f"target {rupees(_num(p['take_profit']))}, p_win {_num(p['p_win']):.2f}, "
        f"expected net {rupees(_num(p['expected_net_profit']))}"
    )


def _decision(payload: Mapping[str, object]) -> str:
    d = _map(payload["decision"])
    reason = f": {d['reason']}" if d.get("reason") else ""
    return f"{d['verdict']} by {d['decided_by']}{reason}"


def _verdict(payload: Mapping[str, object]) -> str:
    reasons = payload.get("reasons") or []
    if not isinstance(reasons, list):
        raise TypeError("reasons")
    text = "accepted" if payload["accepted"] else "vetoed: " + "; ".join(map(str, reasons))
    return text + (" (reduce-only)" if payload.get("reduce_only") else "")


def _order(payload: Mapping[str, object]) -> str:
    event = payload.get("event")
    if event == "cancel_requested":
        return "cancel requested"
    o = _map(payload["order"])
    text = f"{o['status']} {o['filled_quantity']}/{o['quantity']}"
    if _num(o["filled_quantity"]) > 0:
        text += f" @ {rupees(_num(o['average_price']))}"
    if payload.get("source"):
        text += f" (from {payload['source']})"
    return text + (f": {o['status_message']}" if o.get("status_message") else "")


def _fill(payload: Mapping[str, object]) -> str:
    f = _map(payload["fill"])
    slippage = payload.get("slippage")
    slipped = "n/a" if slippage is None else rupees(_num(slippage))
    return (
        f"{f['side']} {f['quantity']} @ {rupees(_num(f['price']))}, "
        f"charges {rupees(_num(f['charges']))}, slippage {slipped}"
    )


def _reconciliation(payload: Mapping[str, object]) -> str:
    return f"{str(payload['kind']).replace('_', ' ')}: {payload['detail']}"


def _kill_switch(payload: Mapping[str, object]) -> str:
    if "paused" in payload:
        return "new proposals paused" if payload["paused"] else "new proposals resumed"
    action = payload["action"]
    if action == "engage":
        return f"engaged: {payload.get('reason', '')}".rstrip(": ")
    if action == "rearm":
        return "re-armed"
    return str(action)


def _alert(payload: Mapping[str, object]) -> str:
    return f"{payload['severity']}: {payload['title']} - {payload['body']}"


_SUMMARIES: Final[Mapping[AuditKind, Callable[[Mapping[str, object]], str]]] = {
    AuditKind.PROPOSAL: _proposal,
    AuditKind.DECISION: _decision,
    AuditKind.VERDICT: _verdict,
    AuditKind.ORDER: _order,
    AuditKind.FILL: _fill,
    AuditKind.RECONCILIATION: _reconciliation,
    AuditKind.KILL_SWITCH: _kill_switch,
    AuditKind.OPERATOR: _kill_switch,
    AuditKind.ALERT: _alert,
}


def _fields(payload: Mapping[str, object]) -> str:
    """``key=value`` of the top-level scalars (nested ones as ``key=...``), credentials hidden."""
    parts = []
    for key in sorted(payload):
        value = payload[key]
        lowered = key.lower()
        if lowered not in _IDENTIFIER_KEYS and any(m in lowered for m in _CREDENTIAL_KEYS):
            shown = HIDDEN
        elif isinstance(value, Mapping | list):
            shown = "..."
        else:
            shown = str(value)
        parts.append(f"{key}={shown}")
    return ", ".join(parts) if parts else "(no details)"
