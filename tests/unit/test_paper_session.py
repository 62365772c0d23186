"""Paper sessions: request tokens, the checksum exchange, access tokens and their expiry."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from data_contracts.clock import ManualClock
from data_contracts.timeutil import IST
from execution.paper.session import SessionManager, access_token_expiry
from execution.paper.types import KiteApiError

API_KEY = "kitepilot_paper"
API_SECRET = "s3cret-for-tests"  # noqa: S105 - a test fixture, not a credential
LOGIN = datetime(2026, 8, 18, 9, 20, tzinfo=IST)
GOLDEN_SESSION_KEYS = {
    "user_type", "email", "user_name", "user_shortname", "broker", "exchanges", "products",
    "order_types", "avatar_url", "user_id", "api_key", "access_token", "public_token",
    "enctoken", "refresh_token", "silo", "login_time", "meta",
}  # fmt: skip


def _checksum(request_token: str, secret: str = API_SECRET) -> str:
    return hashlib.sha256((API_KEY + request_token + secret).encode()).hexdigest()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(LOGIN)


@pytest.fixture
def sessions(clock: ManualClock) -> SessionManager:
    return SessionManager(API_KEY, API_SECRET, "PAPER1", clock)


def _login(sessions: SessionManager) -> str:
    request_token = sessions.login_redirect(API_KEY)
    session = sessions.exchange(API_KEY, request_token, _checksum(request_token))
    return str(session["access_token"])


def _assert_token_error(caught: pytest.ExceptionInfo[KiteApiError], message: str) -> None:
    assert (caught.value.error_type, caught.value.http_status) == ("TokenException", 403)
    assert caught.value.message == message


def test_exchange_valid_checksum_returns_every_golden_key(sessions: SessionManager) -> None:
    request_token = sessions.login_redirect(API_KEY)

    session = sessions.exchange(API_KEY, request_token, _checksum(request_token))

    assert set(session) >= GOLDEN_SESSION_KEYS
    assert session["login_time"] == "2026-08-18 09:20:00"
    assert (session["user_id"], session["api_key"]) == ("PAPER1", API_KEY)
    assert sessions.authenticate(f"token {API_KEY}:{session['access_token']}") == "PAPER1"


def test_golden_session_keys_match_the_mock(shared_fixtures: Path) -> None:
    golden = json.loads((shared_fixtures / "kite-mocks" / "generate_session.json").read_text())

    assert set(golden["data"]) == GOLDEN_SESSION_KEYS


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda token: (token, _checksum(token, "wrong")), id="bad-checksum"),
        pytest.param(lambda token: ("unknown", _checksum("unknown")), id="unknown-token"),
    ],
)
def test_exchange_bad_credentials_is_token_exception(
    sessions: SessionManager, tamper: Callable[[str], tuple[str, str]]
) -> None:
    request_token, checksum = tamper(sessions.login_redirect(API_KEY))

    with pytest.raises(KiteApiError) as caught:
        sessions.exchange(API_KEY, request_token, checksum)

    _assert_token_error(caught, "Invalid session credentials")


def test_exchange_request_token_is_single_use(sessions: SessionManager) -> None:
    request_token = sessions.login_redirect(API_KEY)
    sessions.exchange(API_KEY, request_token, _checksum(request_token))

    with pytest.raises(KiteApiError) as caught:
        sessions.exchange(API_KEY, request_token, _checksum(request_token))

    _assert_token_error(caught, "Invalid session credentials")


@pytest.mark.parametrize(
    ("age", "valid"), [(timedelta(minutes=5), True), (timedelta(minutes=5, seconds=1), False)]
)
def test_exchange_request_token_lives_five_minutes(
    sessions: SessionManager, clock: ManualClock, age: timedelta, valid: bool
) -> None:
    request_token = sessions.login_redirect(API_KEY)
    clock.advance(age)

    if valid:
        assert sessions.exchange(API_KEY, request_token, _checksum(request_token))["access_token"]
    else:
        with pytest.raises(KiteApiError, match="Invalid session credentials"):
            sessions.exchange(API_KEY, request_token, _checksum(request_token))


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.login_redirect("someone_else"),
        lambda s: s.exchange("someone_else", "t", "c"),
        lambda s: s.logout("someone_else", "t"),
    ],
    ids=["login", "exchange", "logout"],
)
def test_wrong_api_key_is_input_exception(
    sessions: SessionManager, call: Callable[[SessionManager], object]
) -> None:
    with pytest.raises(KiteApiError) as caught:
        call(sessions)

    assert (caught.value.error_type, caught.value.http_status) == ("InputException", 400)


@pytest.mark.parametrize(
    "header",
    [None, "", "token", "token abc", "Bearer kitepilot_paper:x", "token kitepilot_paper:nope"],
)
def test_authenticate_bad_header_is_token_exception(
    sessions: SessionManager, header: str | None
) -> None:
    _login(sessions)

    with pytest.raises(KiteApiError) as caught:
        sessions.authenticate(header)

    _assert_token_error(caught, "Incorrect `api_key` or `access_token`.")


def test_authenticate_other_api_key_is_token_exception(sessions: SessionManager) -> None:
    access_token = _login(sessions)

    with pytest.raises(KiteApiError) as caught:
        sessions.authenticate(f"token other:{access_token}")

    _assert_token_error(caught, "Incorrect `api_key` or `access_token`.")


@pytest.mark.parametrize(
    ("elapsed", "alive"),
    [
        (timedelta(hours=20, minutes=39, seconds=59), True),  # 05:59:59 IST next day
        (timedelta(hours=20, minutes=40), False),  # 06:00 IST next day
    ],
)
def test_access_token_dies_at_six_ist_next_day(
    sessions: SessionManager, clock: ManualClock, elapsed: timedelta, alive: bool
) -> None:
    access_token = _login(sessions)
    clock.advance(elapsed)

    if alive:
        assert sessions.check(API_KEY, access_token) == "PAPER1"
    else:
        with pytest.raises(KiteApiError) as caught:
            sessions.check(API_KEY, access_token)
        _assert_token_error(caught, "Token is invalid or has expired.")


def test_logout_kills_the_token_at_once(sessions: SessionManager) -> None:
    access_token = _login(sessions)

    assert sessions.logout(API_KEY, access_token) is True

    assert not sessions.is_valid(API_KEY, access_token)
    with pytest.raises(KiteApiError, match="invalid or has expired"):
        sessions.logout(API_KEY, access_token)


def test_tokens_are_random_and_never_in_repr(sessions: SessionManager) -> None:
    first, second = _login(sessions), _login(sessions)

    assert first != second
    assert len(first) >= 32
    assert first not in repr(sessions)
    assert API_SECRET not in repr(sessions)


@given(
    st.datetimes(
        min_value=datetime(2020, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive
        max_value=datetime(2030, 1, 1),  # noqa: DTZ001
        timezones=st.just(UTC),
    )
)
def test_access_token_expiry_is_the_next_six_am_ist(login: datetime) -> None:
    expiry = access_token_expiry(login)

    local = expiry.astimezone(IST)
    assert (local.hour, local.minute, local.second, local.microsecond) == (6, 0, 0, 0)
    assert timedelta(0) < expiry - login <= timedelta(days=1)
    assert expiry.tzinfo is UTC
