"""The day's Kite session: who logged in, the access token, and when it dies; kept in a private
file between runs, and checked without (``session_status``) or with (``check_with_broker``) the
broker.

Kite invalidates every access token at 06:00 IST (reference ``kite-connect.md`` §1.4), and at a
logout or a login elsewhere. The file holds a live credential, so it is written atomically with
mode 0600 in a 0700 directory, never inside a git repository, and a file anyone else could read
is refused rather than used. The token never appears in a repr, a log line or an error message.

Whether the system may open positions without a valid session is the risk engine's decision
(it receives ``session_valid``); this module only says whether the session is valid.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any, Final, Protocol

from kiteconnect.exceptions import TokenException

from data_contracts.errors import ContractError
from data_contracts.timeutil import IST, UTC, require_aware, to_ist
from data_contracts.validation import non_empty

__all__ = [
    "SESSION_FILE_KEY",
    "KiteSession",
    "ProfileClient",
    "SessionFile",
    "SessionStatus",
    "check_with_broker",
    "session_expires_at",
    "session_status",
]

SESSION_FILE_KEY: Final = "kite.session_file"
_FORMAT_VERSION: Final = 1
_FILE_MODE: Final = 0o600
_DIR_MODE: Final = 0o700
_LOGIN_HINT: Final = "run `kitepilot login`"


def session_expires_at(login_time: datetime, expiry: time) -> datetime:
    """The first ``expiry`` (IST wall time) strictly after ``login_time``, in UTC: with 06:00, a
    05:59 IST login expires at 06:00 the same day and a 06:00:00 or later one at 06:00 the next."""
    local = to_ist(login_time)
    wall = expiry.replace(tzinfo=None)
    at = datetime.combine(local.date(), wall, tzinfo=IST)
    if at <= local:
        at = datetime.combine(local.date() + timedelta(days=1), wall, tzinfo=IST)
    return at.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class KiteSession:
    """One logged-in Kite (or paper exchange) session. Times are aware and stored in UTC; the
    access token is left out of ``repr``."""

    api_key: str
    user_id: str
    access_token: str = field(repr=False)
    login_time: datetime
    expires_at: datetime

    def __post_init__(self) -> None:
        owner = "KiteSession"
        non_empty(owner, "api_key", self.api_key)
        non_empty(owner, "user_id", self.user_id)
        if not isinstance(self.access_token, str) or not self.access_token.strip():
            raise ContractError(owner, "access_token", "<not shown>", "must be a non-empty text")
        login = require_aware(owner, "login_time", self.login_time)
        expires = require_aware(owner, "expires_at", self.expires_at)
        if expires <= login:
            raise ContractError(owner, "expires_at", expires, f"must be after login_time {login}")
        object.__setattr__(self, "login_time", login)
        object.__setattr__(self, "expires_at", expires)

    def to_json(self) -> dict[str, object]:
        """The file's form (ISO 8601 UTC timestamps)."""
        return {
            "version": _FORMAT_VERSION,
            "api_key": self.api_key,
            "user_id": self.user_id,
            "access_token": self.access_token,
            "login_time": self.login_time.isoformat(),
            "expires_at": self.expires_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> KiteSession:
        """The inverse of :meth:`to_json`; anything else is a :class:`ContractError` (which never
        shows the token)."""
        if data.get("version") != _FORMAT_VERSION:
            raise ValueError(f"version must be {_FORMAT_VERSION}")
        texts = {}
        for key in ("api_key", "user_id", "access_token", "login_time", "expires_at"):
            value = data.get(key)
            if not isinstance(value, str):
                raise ValueError(f"{key} must be a text")
            texts[key] = value
        return cls(
            api_key=texts["api_key"],
            user_id=texts["user_id"],
            access_token=texts["access_token"],
            login_time=datetime.fromisoformat(texts["login_time"]),
            expires_at=datetime.fromisoformat(texts["expires_at"]),
        )


def _git_repository_of(path: Path) -> Path | None:
    """The nearest directory at or above ``path`` holding a ``.git`` (a directory, or the file a
    worktree or submodule has), else None."""
    for directory in (path, *path.parents):
        if (directory / ".git").exists():
            return directory
    return None


class SessionFile:
    """The session on disk (JSON). ``path`` may start with ``~``."""

    def __init__(self, path: Path) -> None:
        self._path = Path(path).expanduser()

    def __repr__(self) -> str:
        return f"SessionFile({str(self._path)!r})"

    @property
    def path(self) -> Path:
        return self._path

    def save(self, session: KiteSession) -> None:
        """Write ``session`` atomically (a temp file in the same directory, then ``os.replace``)
        with mode 0600; a missing directory is created with mode 0700. A path inside a git
        repository is refused: a token must never be one ``git add`` away from being published."""
        target = self._path.resolve()
        repository = _git_repository_of(target.parent)
        if repository is not None:
            raise ContractError(
                "kite",
                "session_file",
                str(self._path),
                f"must be outside any git repository (this one is inside {repository}); "
                "set kite.session_file to a path such as ~/.kitepilot/kite_session.json",
            )
        _make_private_dirs(target.parent)
        descriptor, temp_name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
        )
        temp = Path(temp_name)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                os.fchmod(handle.fileno(), _FILE_MODE)
                json.dump(session.to_json(), handle, indent=2)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    def load(self) -> KiteSession | None:
        """The saved session, or None when there is no file. A file with any group or other
        permission (looser than 0600) is refused, and so is one that does not parse; either is
        left as it is."""
        try:
            info = self._path.stat()
        except FileNotFoundError:
            return None
        loose = stat.S_IMODE(info.st_mode) & 0o077
        if loose:
            raise ContractError(
                "kite",
                "session_file",
                str(self._path),
                f"must be readable by its owner only (mode 0600), its mode is "
                f"{stat.S_IMODE(info.st_mode):04o}; run `chmod 600 {self._path}` "
                f"(or delete it and {_LOGIN_HINT})",
            )
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("must hold a JSON object")
            return KiteSession.from_json(data)
        except (ValueError, UnicodeDecodeError) as error:
            # ContractError is a ValueError too; its message never holds the token.
            raise ContractError(
                "kite",
                "session_file",
                str(self._path),
                f"is not a valid session file ({_describe(error)}); delete it and {_LOGIN_HINT}",
            ) from None

    def clear(self) -> None:
        """Delete the file (no error when there is none)."""
        self._path.unlink(missing_ok=True)


def _describe(error: Exception) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"not JSON: {error.msg} at line {error.lineno}"
    if isinstance(error, ContractError):
        return f"{error.field} {error.rule}"
    return str(error)


def _make_private_dirs(directory: Path) -> None:
    """Create ``directory`` and any missing parents with mode 0700 (despite the umask); an
    existing directory is left as it is."""
    missing = [d for d in (directory, *directory.parents) if not d.exists()]
    for created in reversed(missing):
        created.mkdir(mode=_DIR_MODE, exist_ok=True)
        created.chmod(_DIR_MODE)


@dataclass(frozen=True, slots=True)
class SessionStatus:
    """Whether the saved session may be used now, and why (for preflight and the dashboard)."""

    valid: bool
    reason: str
    expires_at: datetime | None
    seconds_left: float


def session_status(session: KiteSession | None, now: datetime) -> SessionStatus:
    """Missing, expired (at or after ``expires_at``) or valid, as of ``now`` (aware)."""
    now = require_aware("session_status", "now", now)
    if session is None:
        return SessionStatus(False, f"no saved Kite session; {_LOGIN_HINT}", None, 0.0)
    shown = f"{to_ist(session.expires_at):%Y-%m-%d %H:%M} IST"
    left = (session.expires_at - now).total_seconds()
    if left <= 0:
        return SessionStatus(
            False,
            f"the session of {session.user_id} expired at {shown}; {_LOGIN_HINT}",
            session.expires_at,
            0.0,
        )
    return SessionStatus(
        True, f"{session.user_id} logged in until {shown}", session.expires_at, left
    )


class ProfileClient(Protocol):
    """The one call :func:`check_with_broker` needs (``kiteconnect.KiteConnect`` has it)."""

    def profile(self) -> Mapping[str, Any]: ...


def check_with_broker(client: ProfileClient) -> bool:
    """Whether the broker still accepts the client's access token (``GET /user/profile``). A
    ``TokenException`` (expired, logged out, logged in elsewhere) is False; any other failure
    (network, rate limit) propagates: it says nothing about the session."""
    try:
        client.profile()
    except TokenException:
        return False
    return True
