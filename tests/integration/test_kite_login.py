"""``kitepilot login`` against a real paper exchange over real HTTP: the browser is played by
``requests`` following the login URL and the paper exchange's 302 to our one-shot callback."""

from __future__ import annotations

import socket
import stat
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from io import StringIO
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from kiteconnect import KiteConnect
from rich.console import Console

from data_contracts.clock import ManualClock
from data_contracts.config import KitepilotConfig
from data_contracts.errors import ContractError
from data_contracts.timeutil import IST
from execution.kite.login_flow import callback_url, run_login
from execution.kite.session import KiteSession, SessionFile, check_with_broker
from execution.paper.app import (
    ExchangeSettings,
    RunningExchange,
    build_exchange,
    open_market,
    run_in_thread,
)
from execution.paper.rest import ADMIN_HEADER
from orchestration.session_cli import login, session_info
from orchestration.settings import load_config

DAY = date(2026, 8, 18)
API_KEY = "kitepilot_paper"
API_SECRET = "login-secret"  # noqa: S105 - test fixture
ADMIN = "login-admin"
INFY = 408065
WALL = datetime(2026, 8, 18, 9, 20, tzinfo=IST)  # the login's clock (not the market's)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Browser:
    """Follows a URL the way a browser would and remembers the last page it landed on."""

    def __init__(self, before: Callable[[str], None] | None = None) -> None:
        self.before = before
        self.pages: list[requests.Response] = []

    def __call__(self, url: str) -> None:
        if self.before is not None:
            self.before(url)
        self.pages.append(requests.get(url, timeout=15))


class Exchange:
    def __init__(self, running: RunningExchange, callback_port: int) -> None:
        self.running = running
        self.url = running.url
        self.callback_port = callback_port

    def login(
        self,
        open_url: Callable[[str], object],
        *,
        api_secret: str = API_SECRET,
        timeout_seconds: float = 20.0,
    ) -> KiteSession:
        return run_login(
            api_key=API_KEY,
            api_secret=api_secret,
            login_url=f"{self.url}/connect/login",
            kite_root=self.url,
            callback_port=self.callback_port,
            open_url=open_url,
            clock=ManualClock(WALL),
            timeout_seconds=timeout_seconds,
        )

    def client(self, session: KiteSession) -> KiteConnect:
        kite = KiteConnect(API_KEY, root=self.url)
        kite.set_access_token(session.access_token)
        return kite

    def market_at(self, when: str) -> None:
        response = requests.put(
            f"{self.url}/_paper/clock",
            json={"jump_to": when},
            headers={ADMIN_HEADER: ADMIN},
            timeout=10,
        )
        assert response.status_code == 200, response.text


@pytest.fixture
def exchange() -> Iterator[Exchange]:
    port = _free_port()
    market = open_market("sim", DAY, seed=7, tokens=[INFY])
    paper = build_exchange(
        market,
        ExchangeSettings(API_KEY, API_SECRET, admin_token=ADMIN, redirect_url=callback_url(port)),
        database="sqlite://",
        starting_cash=100_000,
        speed=0,
    )
    with run_in_thread(paper) as running:
        yield Exchange(running, port)


def test_run_login_paper_exchange_gives_a_saved_working_session(
    exchange: Exchange, tmp_path: Path
) -> None:
    browser = Browser()

    session = exchange.login(browser)
    file = SessionFile(tmp_path / "kp" / "kite_session.json")
    file.save(session)

    assert (session.api_key, session.user_id) == (API_KEY, "PAPER1")
    assert (session.login_time, session.expires_at) == (
        WALL,
        datetime(2026, 8, 19, 0, 30, tzinfo=UTC),
    )
    assert [page.status_code for page in browser.pages] == [200]
    assert "Logged in" in browser.pages[0].text
    assert session.access_token not in browser.pages[0].text
    assert stat.S_IMODE(file.path.stat().st_mode) == 0o600
    assert file.load() == session
    assert check_with_broker(exchange.client(file.load() or session)) is True


def test_check_with_broker_after_logout_is_false(exchange: Exchange) -> None:
    session = exchange.login(Browser())
    client = exchange.client(session)

    assert check_with_broker(client) is True
    client.invalidate_access_token()

    assert check_with_broker(client) is False


def test_check_with_broker_after_the_exchanges_six_am_is_false(exchange: Exchange) -> None:
    session = exchange.login(Browser())
    client = exchange.client(session)

    exchange.market_at("2026-08-19 06:00:00")

    assert check_with_broker(client) is False


def test_run_login_forged_and_stray_callbacks_are_refused_and_ignored(
    exchange: Exchange,
) -> None:
    answers: list[int] = []
    callback = callback_url(exchange.callback_port)

    def forge(login_url: str) -> None:
        state = parse_qs(parse_qs(urlsplit(login_url).query)["redirect_params"][0])["state"][0]
        probes = [
            (callback, {"state": "forged", "request_token": "x", "status": "success"}),
            (callback, {"request_token": "x", "status": "success"}),
            (callback, {"state": state, "status": "cancelled"}),
            (callback.replace("/callback", "/favicon.ico"), {}),
        ]
        for url, params in probes:
            answers.append(requests.get(url, params=params, timeout=5).status_code)

    browser = Browser(before=forge)

    session = exchange.login(browser)

    assert answers == [400, 400, 400, 404]
    assert [page.status_code for page in browser.pages] == [200]
    assert session.user_id == "PAPER1"


def test_run_login_wrong_secret_is_contract_error_and_a_failure_page(exchange: Exchange) -> None:
    browser = Browser()

    with pytest.raises(ContractError, match=r"kite\.api_secret was refused") as raised:
        exchange.login(browser, api_secret="wrong")  # noqa: S106 - the failure under test

    assert "wrong" not in str(raised.value)
    assert [page.status_code for page in browser.pages] == [502]


def test_run_login_without_a_callback_times_out_naming_the_redirect_url(
    exchange: Exchange,
) -> None:
    opened: list[str] = []

    with pytest.raises(ContractError, match="redirect URL") as raised:
        exchange.login(opened.append, timeout_seconds=0.3)

    assert callback_url(exchange.callback_port) in str(raised.value)
    assert len(opened) == 1
    with socket.socket() as again:  # the server is gone: the port is free again
        again.bind(("127.0.0.1", exchange.callback_port))


def test_run_login_port_in_use_is_a_clear_error(exchange: Exchange) -> None:
    opened: list[str] = []
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", exchange.callback_port))
        holder.listen()

        with pytest.raises(ContractError, match=r"kite\.login_callback_port must be free"):
            exchange.login(opened.append)

    assert opened == []


@pytest.mark.parametrize("browser_opened", [True, False])
def test_login_command_paper_mode_saves_and_reports_the_session(
    exchange: Exchange, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, browser_opened: bool
) -> None:
    monkeypatch.chdir(tmp_path)
    port = urlsplit(exchange.url).port
    config: KitepilotConfig = load_config(
        environ={
            "KITEPILOT_PAPER_EXCHANGE__PORT": str(port),
            "KITEPILOT_PAPER_EXCHANGE__API_SECRET": API_SECRET,
            "KITEPILOT_PAPER_EXCHANGE__REDIRECT_URL": callback_url(exchange.callback_port),
            "KITEPILOT_KITE__LOGIN_CALLBACK_PORT": str(exchange.callback_port),
            "KITEPILOT_KITE__SESSION_FILE": str(tmp_path / "home" / "kite_session.json"),
        },
        dotenv_file=None,
    )
    shown = StringIO()
    browser = Browser()

    def open_url(url: str) -> bool:
        browser(url)
        return browser_opened

    session = login(
        config,
        open_url=open_url,
        console=Console(file=shown, width=200),
        clock=ManualClock(WALL),
        timeout_seconds=20,
    )

    output = shown.getvalue()
    assert f"the paper exchange at {exchange.url}" in output
    assert "Logged in as PAPER1" in output
    assert "expires at 2026-08-19 06:00 IST" in output
    assert session.access_token not in output
    assert ("open this URL yourself" in output) is not browser_opened
    assert SessionFile(config.kite.session_file).load() == session
    assert session_info(config, WALL + timedelta(hours=1)).valid


def test_login_command_paper_exchange_not_running_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    callback_port = _free_port()
    config = load_config(
        environ={
            "KITEPILOT_PAPER_EXCHANGE__PORT": str(_free_port()),
            "KITEPILOT_PAPER_EXCHANGE__REDIRECT_URL": callback_url(callback_port),
            "KITEPILOT_KITE__LOGIN_CALLBACK_PORT": str(callback_port),
        },
        dotenv_file=None,
    )
    opened: list[str] = []

    with pytest.raises(ContractError, match="kitepilot paper-exchange"):
        login(config, open_url=opened.append, console=Console(file=StringIO()))

    assert opened == []
