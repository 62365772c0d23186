"""The dashboard's wiring without a browser: the audit filters as typed, the action token kept
0600, and the services over a real SQLite store (reads work without a broker; actions need the
token)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from dashboard.services import AuditFilter, DashboardServices
from data_contracts.clock import ManualClock
from data_contracts.config import KitepilotConfig
from data_contracts.errors import ContractError
from data_contracts.ids import ProposalId
from data_contracts.timeutil import IST
from execution.orders.executor import Executor
from orchestration.dashboard_cli import build_services, dashboard_token, token_file
from orchestration.settings import load_config
from tests import factories

TOKEN = "unit-test-token"  # noqa: S105 - a test's own token


def _config(tmp_path: Path, **extra: str) -> KitepilotConfig:
    environ = {
        "KITEPILOT_STORAGE__VAR_DIR": str(tmp_path / "var"),
        "KITEPILOT_STORAGE__DATABASE_URL": f"sqlite:///{tmp_path / 'kitepilot.db'}",
        "KITEPILOT_STORAGE__MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
    }
    return load_config(environ=environ | extra, dotenv_file=None)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        (("", "", ""), AuditFilter()),
        (
            ("12073986", "2026-08-18 09:15", "2026-08-18"),
            AuditFilter(
                instrument_token=12073986,
                since=datetime(2026, 8, 18, 9, 15, tzinfo=IST),
                until=datetime(2026, 8, 18, tzinfo=IST),
            ),
        ),
    ],
)
def test_audit_filter_parse_typed_values_become_aware_ist_times(
    typed: tuple[str, str, str], expected: AuditFilter
) -> None:
    assert AuditFilter.parse(None, *typed) == expected


@pytest.mark.parametrize(("token", "since"), [("NIFTY", ""), ("", "18/08/2026")])
def test_audit_filter_parse_bad_input_names_the_field(token: str, since: str) -> None:
    with pytest.raises(ContractError, match="audit filter"):
        AuditFilter.parse(["order"], token, since, "")


@pytest.mark.parametrize(
    ("typed", "field"),
    [
        ((None, "²", None, None), "instrument"),  # isdigit(), but int() refuses it
        ((None, "٣", None, None), "instrument"),  # isdigit(), and int() reads 3
        ((None, "1" * 5000, None, None), "instrument"),  # beyond int()'s 4,300 digits
        ((None, "12345678901", None, None), "instrument"),  # more digits than a u32 holds
        ((None, 408065, None, None), "instrument"),  # what only a crafted request sends ...
        ((None, None, 20260818, None), "from"),
        ((None, None, None, ["2026-08-18"]), "until"),
        (("decision", None, None, None), "kinds"),
        (([{"kind": "decision"}], None, None, None), "kinds"),
        ((None, None, None, "0001-01-01"), "until"),  # before UTC's year 1
    ],
)
def test_audit_filter_parse_value_of_another_shape_names_the_field(
    typed: tuple[object, object, object, object], field: str
) -> None:
    with pytest.raises(ContractError) as raised:
        AuditFilter.parse(*typed)  # type: ignore[arg-type]  # the wrong types are the test

    assert (raised.value.owner, raised.value.field) == ("audit filter", field)


def test_audit_filter_parse_ascii_digits_and_list_of_kinds_are_read() -> None:
    parsed = AuditFilter.parse(["decision", "order"], " 4294967295 ", "0001-01-02", None)

    assert parsed == AuditFilter(
        kinds=("decision", "order"),
        instrument_token=4294967295,
        since=datetime(1, 1, 2, tzinfo=IST),
    )


def test_dashboard_token_unset_generated_once_kept_0600(tmp_path: Path) -> None:
    config = _config(tmp_path)

    first, path = dashboard_token(config)
    again, same = dashboard_token(config)

    assert path is not None
    assert (again, same) == (first, path)
    assert len(first) >= 24
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_dashboard_token_folder_is_0700_even_one_made_0755_before(tmp_path: Path) -> None:
    config = _config(tmp_path)
    folder = token_file(config).parent
    previous = os.umask(0o022)
    try:
        _, path = dashboard_token(config)
        made = stat.S_IMODE(folder.stat().st_mode)
        folder.chmod(0o755)  # as versions before this one left it
        dashboard_token(config)
    finally:
        os.umask(previous)

    assert path is not None
    assert path.parent == folder
    assert (made, stat.S_IMODE(folder.stat().st_mode)) == (0o700, 0o700)


def test_dashboard_token_configured_is_used_and_no_file_written(tmp_path: Path) -> None:
    config = _config(tmp_path, KITEPILOT_DASHBOARD__AUTH_TOKEN="from-env-token")  # noqa: S106 - test value

    token, path = dashboard_token(config)

    assert (token, path) == ("from-env-token", None)
    assert not (tmp_path / "var" / "dashboard").exists()


def _no_broker() -> Executor:
    raise ContractError("broker", "connection", None, "must be reachable")


@pytest.fixture
def services(tmp_path: Path) -> Iterator[DashboardServices]:
    from execution.store import SqlStore

    config = _config(tmp_path)
    store = SqlStore.open(config.storage.database_url)
    store.add(factories.proposal())
    built = build_services(
        config,
        store=store,
        token=TOKEN,
        clock=ManualClock(factories.T0 + timedelta(seconds=30)),
        actor="dashboard:unit",
        executor_factory=_no_broker,
        champion=lambda: None,
    )
    yield built
    store.close()


def test_services_queue_without_broker_reads_cards_without_precheck(
    services: DashboardServices,
) -> None:
    (card,) = services.queue()

    assert (card.proposal_id, card.actionable, card.precheck) == (
        "p-20260818-0930-nifty",
        True,
        None,
    )


def test_services_book_without_broker_has_no_positions(services: DashboardServices) -> None:
    book = services.book()

    assert (book.positions, book.blotter, book.net) == ((), (), 0.0)


def test_services_actions_refused_without_token_record_nothing(
    services: DashboardServices,
) -> None:
    done = services.actions.approve(None, "p-20260818-0930-nifty", services.actor)

    assert not done.ok
    assert "refused" in done.message
    assert services.store.decisions(ProposalId("p-20260818-0930-nifty")) == []


def test_services_approve_with_token_records_the_decision_by_the_actor(
    services: DashboardServices,
) -> None:
    done = services.actions.approve(TOKEN, "p-20260818-0930-nifty", services.actor, "looks good")

    (decision,) = services.store.decisions(ProposalId("p-20260818-0930-nifty"))
    assert done.ok
    assert (decision.decided_by, decision.reason) == ("dashboard:unit", "looks good")


def test_services_kill_with_broker_down_says_so_and_stays_armed(
    services: DashboardServices,
) -> None:
    from execution.store import OmsStore

    done = services.actions.kill(TOKEN, services.actor, "KILL", "test")

    assert not done.ok
    assert "must be reachable" in done.message
    assert not OmsStore.of(services.store).kill_switch().engaged
