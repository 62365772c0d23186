"""Live mode: the streaming worker and the executor take the broker session from the same place,
the day's ``kitepilot login`` session file — and refuse, naming the key, when there is none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from data_contracts.config import KitepilotConfig
from data_contracts.errors import ContractError
from execution.kite.session import KiteSession, SessionFile
from orchestration.broker_login import broker_session
from orchestration.settings import load_config
from orchestration.stream_cli import stream_spec

LOGIN = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


# The batch side's historical-source token in the environment: not the session (a test value).
ENV_TOKEN = {"KITEPILOT_KITE__ACCESS_TOKEN": "env-token"}


def _live_config(session_file: Path, **extra: str) -> KitepilotConfig:
    environ = {
        "KITEPILOT_MODE": "live",
        "KITEPILOT_KITE__API_KEY": "live-key",
        "KITEPILOT_KITE__API_SECRET": "live-secret",
        "KITEPILOT_KITE__SESSION_FILE": str(session_file),
        **extra,
    }
    return load_config(environ=environ, dotenv_file=None)


def _logged_in(path: Path) -> KiteSession:
    session = KiteSession(
        api_key="live-key",
        user_id="AB1234",
        access_token="stored-token",  # noqa: S106 - a test value, not a secret
        login_time=LOGIN,
        expires_at=LOGIN + timedelta(hours=22),
    )
    SessionFile(path).save(session)
    return session


def test_live_stream_and_executor_use_the_stored_login_not_the_environment(
    tmp_path: Path,
) -> None:
    path = tmp_path / "home" / "kite_session.json"
    stored = _logged_in(path)
    config = _live_config(path, **ENV_TOKEN)

    spec = stream_spec(config, live=True, replay=None, processes=1)
    login = broker_session(config)

    assert spec.session is not None
    assert spec.session.access_token == login.endpoints.access_token == stored.access_token
    assert login.expires_at == stored.expires_at
    assert spec.worker_name == "live"


def test_live_stream_without_a_login_is_refused_naming_the_session_file(tmp_path: Path) -> None:
    config = _live_config(tmp_path / "nowhere.json", **ENV_TOKEN)

    with pytest.raises(ContractError, match=r"kite\.session_file.*kitepilot login"):
        stream_spec(config, live=True, replay=None, processes=1)


def test_live_stream_needs_live_mode(tmp_path: Path) -> None:
    path = tmp_path / "home" / "kite_session.json"
    _logged_in(path)
    config = load_config(environ={"KITEPILOT_KITE__SESSION_FILE": str(path)}, dotenv_file=None)

    with pytest.raises(ContractError, match="mode"):
        stream_spec(config, live=True, replay=None, processes=1)
