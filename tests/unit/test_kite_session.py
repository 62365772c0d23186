"""The Kite session: expiry at 06:00 IST, the private session file, status as time passes, the
broker check, and what ``kitepilot login`` reads from the configuration."""

from __future__ import annotations

import json
import stat
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kiteconnect import exceptions as kex

from data_contracts.clock import ManualClock
from data_contracts.config import ConfigError, KitepilotConfig
from data_contracts.enums import TradingMode
from data_contracts.errors import ContractError
from data_contracts.timeutil import IST
from execution.kite.session import (
    KiteSession,
    SessionFile,
    check_with_broker,
    session_expires_at,
    session_status,
)
from orchestration.session_cli import login_target, session_info
from orchestration.settings import load_config

SIX = time(6, 0)
TOKEN = "s3cr3t-access-token-value"  # noqa: S105 - test fixture
LOGIN = datetime(2026, 8, 18, 9, 20, tzinfo=IST)


def _session(
    login: datetime = LOGIN, *, api_key: str = "kitepilot_paper", token: str = TOKEN
) -> KiteSession:
    return KiteSession(
        api_key=api_key,
        user_id="PAPER1",
        access_token=token,
        login_time=login,
        expires_at=session_expires_at(login, SIX),
    )


def _ist(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 8, day, hour, minute, second, tzinfo=IST)


# --- expiry -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("login", "expected"),
    [
        (_ist(18, 5, 59, 59), _ist(18, 6)),
        (_ist(18, 6, 0, 0), _ist(19, 6)),
        (_ist(18, 6, 0, 1), _ist(19, 6)),
        (_ist(18, 9, 20), _ist(19, 6)),
        (_ist(18, 23, 0), _ist(19, 6)),
        (_ist(18, 0, 30), _ist(18, 6)),
        (datetime(2026, 8, 31, 23, 0, tzinfo=IST), datetime(2026, 9, 1, 6, 0, tzinfo=IST)),
        # 18:30 UTC is midnight IST: the same token dies six hours later
        (datetime(2026, 8, 17, 18, 30, tzinfo=UTC), _ist(18, 6)),
    ],
)
def test_session_expires_at_boundaries_first_six_ist_strictly_after_login(
    login: datetime, expected: datetime
) -> None:
    expires = session_expires_at(login, SIX)

    assert expires == expected
    assert expires.tzinfo == UTC


def test_session_expires_at_other_expiry_time_is_honoured() -> None:
    assert session_expires_at(_ist(18, 7, 0), time(7, 30)) == _ist(18, 7, 30)


@given(
    login=st.datetimes(
        min_value=datetime(2020, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive
        max_value=datetime(2035, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive
        timezones=st.just(UTC),
    )
)
def test_session_expires_at_any_login_within_a_day_at_six_ist(login: datetime) -> None:
    expires = session_expires_at(login, SIX)

    assert login < expires <= login + timedelta(days=1)
    assert expires.astimezone(IST).time() == SIX


# --- KiteSession ----------------------------------------------------------------------------------


def test_kite_session_repr_hides_the_token() -> None:
    session = _session()

    assert TOKEN not in repr(session)
    assert TOKEN not in str(session)
    assert "PAPER1" in repr(session)


def test_kite_session_times_are_stored_in_utc() -> None:
    session = _session()

    assert session.login_time.tzinfo == UTC
    assert session.login_time == LOGIN


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"login_time": datetime(2026, 8, 18, 9, 20)}, "login_time"),  # noqa: DTZ001 - the error
        ({"expires_at": LOGIN}, "expires_at"),
        ({"access_token": " "}, "access_token"),
        ({"user_id": ""}, "user_id"),
    ],
)
def test_kite_session_invalid_field_is_contract_error(changes: dict[str, Any], field: str) -> None:
    values: dict[str, Any] = {
        "api_key": "kitepilot_paper",
        "user_id": "PAPER1",
        "access_token": TOKEN,
        "login_time": LOGIN,
        "expires_at": session_expires_at(LOGIN, SIX),
    } | changes

    with pytest.raises(ContractError) as raised:
        KiteSession(**values)

    assert raised.value.field == field
    assert TOKEN not in str(raised.value)


# --- the session file ---------------------------------------------------------------------------


def test_session_file_save_then_load_round_trips(tmp_path: Path) -> None:
    file = SessionFile(tmp_path / "kp" / "kite_session.json")
    session = _session()

    file.save(session)

    assert file.load() == session


def test_session_file_save_private_file_in_private_new_dirs(tmp_path: Path) -> None:
    file = SessionFile(tmp_path / "a" / "b" / "kite_session.json")

    file.save(_session())

    assert stat.S_IMODE(file.path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "a" / "b").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o700


def test_session_file_save_leaves_an_existing_dir_mode_alone(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    file = SessionFile(tmp_path / "kite_session.json")

    file.save(_session())

    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755


def test_session_file_save_expands_the_home_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))

    file = SessionFile(Path("~/.kitepilot/kite_session.json"))
    file.save(_session())

    assert file.path == tmp_path / ".kitepilot" / "kite_session.json"
    assert file.path.is_file()


def test_session_file_save_replaces_atomically_leaving_no_temp_file(tmp_path: Path) -> None:
    file = SessionFile(tmp_path / "kite_session.json")
    file.save(_session())
    later = _session(_ist(19, 9, 15), token="second-token")  # noqa: S106 - test fixture

    file.save(later)

    assert file.load() == later
    assert [p.name for p in tmp_path.iterdir()] == ["kite_session.json"]


class _Unwritable(KiteSession):
    """A session whose serialisation fails half way (a full disk, say)."""

    def to_json(self) -> dict[str, object]:
        raise OSError("No space left on device")


def test_session_file_save_failure_keeps_the_old_file_and_no_temp(tmp_path: Path) -> None:
    file = SessionFile(tmp_path / "kite_session.json")
    old = _session()
    file.save(old)
    broken = _Unwritable("kitepilot_paper", "PAPER1", "x", LOGIN, session_expires_at(LOGIN, SIX))

    with pytest.raises(OSError, match="No space"):
        file.save(broken)

    assert file.load() == old
    assert [p.name for p in tmp_path.iterdir()] == ["kite_session.json"]


@pytest.mark.parametrize("marker", ["dir", "file"])
def test_session_file_save_inside_a_git_repository_is_refused(tmp_path: Path, marker: str) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    if marker == "dir":
        (repo / ".git").mkdir()
    else:  # a worktree or submodule has a .git file
        (repo / ".git").write_text("gitdir: ../elsewhere\n", encoding="utf-8")
    file = SessionFile(repo / "var" / "kite_session.json")

    with pytest.raises(ContractError, match=r"kite\.session_file must be outside any git repo"):
        file.save(_session())

    assert not (repo / "var").exists()


def test_session_file_save_through_a_symlink_into_a_repository_is_refused(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "secrets").mkdir()
    (tmp_path / "link").symlink_to(repo / "secrets")

    with pytest.raises(ContractError, match="git repository"):
        SessionFile(tmp_path / "link" / "kite_session.json").save(_session())


def test_session_file_load_missing_is_none(tmp_path: Path) -> None:
    assert SessionFile(tmp_path / "nothing.json").load() is None


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o666, 0o620, 0o602])
def test_session_file_load_looser_than_0600_is_refused_with_chmod_hint(
    tmp_path: Path, mode: int
) -> None:
    file = SessionFile(tmp_path / "kite_session.json")
    file.save(_session())
    file.path.chmod(mode)

    with pytest.raises(ContractError, match=r"chmod 600") as raised:
        file.load()

    assert f"{mode:04o}" in str(raised.value)
    assert TOKEN not in str(raised.value)


def test_session_file_load_owner_read_only_is_accepted(tmp_path: Path) -> None:
    file = SessionFile(tmp_path / "kite_session.json")
    file.save(_session())
    file.path.chmod(0o400)

    assert file.load() == _session()


def _valid_json() -> dict[str, object]:
    return _session().to_json()


@pytest.mark.parametrize(
    "content",
    [
        "not json at all",
        "[]",
        json.dumps({k: v for k, v in _valid_json().items() if k != "user_id"}),
        json.dumps(_valid_json() | {"version": 99}),
        json.dumps(_valid_json() | {"login_time": "2026-08-18T09:20:00"}),  # naive
        json.dumps(_valid_json() | {"expires_at": "yesterday"}),
        json.dumps(_valid_json() | {"access_token": ""}),
    ],
)
def test_session_file_load_corrupt_is_contract_error_and_file_kept(
    tmp_path: Path, content: str
) -> None:
    path = tmp_path / "kite_session.json"
    path.write_text(content, encoding="utf-8")
    path.chmod(0o600)

    with pytest.raises(ContractError, match=r"kite\.session_file is not a valid session") as err:
        SessionFile(path).load()

    assert TOKEN not in str(err.value)
    assert path.read_text(encoding="utf-8") == content


def test_session_file_clear_removes_and_tolerates_absence(tmp_path: Path) -> None:
    file = SessionFile(tmp_path / "kite_session.json")
    file.save(_session())

    file.clear()
    file.clear()

    assert file.load() is None


# --- status ---------------------------------------------------------------------------------------


def test_session_status_missing_is_invalid() -> None:
    status = session_status(None, LOGIN)

    assert (status.valid, status.expires_at, status.seconds_left) == (False, None, 0.0)
    assert "kitepilot login" in status.reason


def test_session_status_walks_from_valid_to_expired_with_the_clock() -> None:
    session = _session()
    clock = ManualClock(LOGIN)

    at_login = session_status(session, clock.now())
    clock.set(_ist(19, 5, 59, 59))
    last_second = session_status(session, clock.now())
    clock.advance(timedelta(seconds=1))
    at_expiry = session_status(session, clock.now())
    clock.advance(timedelta(hours=3))
    later = session_status(session, clock.now())

    assert at_login.valid
    assert at_login.seconds_left == (_ist(19, 6) - LOGIN).total_seconds()
    assert (last_second.valid, last_second.seconds_left) == (True, 1.0)
    assert (at_expiry.valid, at_expiry.seconds_left) == (False, 0.0)
    assert "expired at 2026-08-19 06:00 IST" in at_expiry.reason
    assert not later.valid
    assert at_login.expires_at == later.expires_at == _ist(19, 6)


def test_session_status_naive_now_is_contract_error() -> None:
    with pytest.raises(ContractError, match="timezone-aware"):
        session_status(_session(), datetime(2026, 8, 18, 10, 0))  # noqa: DTZ001 - the error


# --- the broker check ---------------------------------------------------------------------------


class _Profile:
    """A stand-in for ``KiteConnect.profile``: returns the profile or raises ``error``."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.calls = 0

    def profile(self) -> Mapping[str, Any]:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return {"user_id": "PAPER1"}


@pytest.mark.parametrize(
    ("error", "expected"),
    [(None, True), (kex.TokenException("Token is invalid or has expired.", 403), False)],
)
def test_check_with_broker_token_exception_is_false(
    error: Exception | None, expected: bool
) -> None:
    client = _Profile(error)

    assert check_with_broker(client) is expected
    assert client.calls == 1


@pytest.mark.parametrize(
    "error",
    [kex.NetworkException("Gateway timed out", 503), ConnectionError("refused")],
)
def test_check_with_broker_other_errors_propagate(error: Exception) -> None:
    with pytest.raises(type(error)):
        check_with_broker(_Profile(error))


# --- what `kitepilot login` reads from the configuration ----------------------------------------


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> KitepilotConfig:
    monkeypatch.chdir(tmp_path)
    environ = {
        "KITEPILOT_KITE__SESSION_FILE": str(tmp_path / "home" / "kite_session.json"),
        "KITEPILOT_PAPER_EXCHANGE__API_SECRET": "paper-secret",
        "KITEPILOT_PAPER_EXCHANGE__REDIRECT_URL": "http://127.0.0.1:8000/callback",
    }
    return load_config(environ=environ, dotenv_file=None)


def test_session_info_missing_file_is_invalid(config: KitepilotConfig) -> None:
    status = session_info(config, LOGIN)

    assert not status.valid
    assert "kitepilot login" in status.reason


def test_session_info_saved_paper_session_is_valid_until_six(config: KitepilotConfig) -> None:
    SessionFile(config.kite.session_file).save(_session())

    before = session_info(config, _ist(19, 5, 0))
    after = session_info(config, _ist(19, 6, 0))

    assert (before.valid, before.seconds_left) == (True, 3600.0)
    assert not after.valid


def test_session_info_session_of_another_app_is_invalid(config: KitepilotConfig) -> None:
    SessionFile(config.kite.session_file).save(_session(api_key="live_app_key"))

    status = session_info(config, LOGIN + timedelta(minutes=1))

    assert not status.valid
    assert "another app" in status.reason


def test_session_info_loose_file_is_invalid_with_the_reason(config: KitepilotConfig) -> None:
    file = SessionFile(config.kite.session_file)
    file.save(_session())
    file.path.chmod(0o644)

    status = session_info(config, LOGIN)

    assert not status.valid
    assert "chmod 600" in status.reason


def test_login_target_live_without_credentials_names_both_keys(config: KitepilotConfig) -> None:
    live = config.model_copy(update={"mode": TradingMode.LIVE})

    with pytest.raises(ConfigError) as raised:
        login_target(live)

    assert [p.key for p in raised.value.problems] == ["kite.api_key", "kite.api_secret"]


def test_login_target_paper_uses_the_paper_exchange(config: KitepilotConfig) -> None:
    target = login_target(config)

    assert target.login_url == "http://127.0.0.1:8765/connect/login"
    assert target.kite_root == "http://127.0.0.1:8765"
    assert (target.api_key, target.api_secret) == ("kitepilot_paper", "paper-secret")
    assert "paper-secret" not in repr(target)


@pytest.mark.parametrize(
    "redirect",
    [
        "http://127.0.0.1:8050/kite/login",  # the dashboard's address, not the callback
        "http://127.0.0.1:8001/callback",  # another port than kite.login_callback_port
        "http://example.com:8000/callback",
    ],
)
def test_login_target_paper_redirect_elsewhere_is_config_error(
    config: KitepilotConfig, redirect: str
) -> None:
    paper = config.paper_exchange.model_copy(update={"redirect_url": redirect})

    with pytest.raises(ConfigError, match=r"paper_exchange\.redirect_url must be http://127"):
        login_target(config.model_copy(update={"paper_exchange": paper}))
