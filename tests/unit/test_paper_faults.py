"""Fault plans (YAML, validation naming the key) and the injector's seeded, scheduled decisions."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_contracts.errors import ContractError
from execution.paper.faults import (
    FaultInjector,
    FaultKind,
    FaultPlan,
    RejectReason,
    RequestFault,
)
from execution.paper.limits import RouteClass

PLACE = RouteClass.ORDER_PLACE


def _kinds(injector: FaultInjector, route: RouteClass, n: int) -> list[str | None]:
    decisions = [injector.on_request(route) for _ in range(n)]
    return [None if d is None else d.kind.value for d in decisions]


def test_plan_loads_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "faults.yaml"
    path.write_text(
        "seed: 3\n"
        "routes:\n"
        "  order_place: {lost_response: 0.1, http_503: 0.2, timeout_seconds: 2}\n"
        "ws: {drop: 0.01}\n"
        "schedule:\n"
        "  - {route: order_place, nth: 3, fault: lost_response}\n"
        "  - {route: ws, nth: 5, fault: ws_stall, seconds: 3}\n",
        encoding="utf-8",
    )

    plan = FaultPlan.load(path)

    assert plan.seed == 3
    assert plan.routes[PLACE].lost_response == 0.1
    assert plan.routes[PLACE].timeout_seconds == 2
    assert plan.ws.drop == 0.01
    assert [(s.route, s.nth, s.fault) for s in plan.schedule] == [
        (PLACE, 3, FaultKind.LOST_RESPONSE),
        ("ws", 5, FaultKind.WS_STALL),
    ]


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"routes": {"order_place": {"http_429": 1.5}}}, "routes.order_place.http_429"),
        ({"routes": {"order_place": {"htp_429": 0.1}}}, "routes.order_place.htp_429"),
        ({"routes": {"orders": {"http_429": 0.1}}}, "routes.orders"),
        ({"ws": {"stall_seconds": 0}}, "ws.stall_seconds"),
        ({"schedule": [{"route": "quote", "nth": 0, "fault": "http_500"}]}, "schedule.0.nth"),
        ({"schedule": [{"route": "ws", "nth": 1, "fault": "http_500"}]}, "schedule.0"),
        ({"schedule": [{"route": "quote", "nth": 1, "fault": "reject"}]}, "schedule.0"),
        ({"routes": {"quote": {"http_500": 0.6, "http_503": 0.5}}}, "routes.quote"),
        ({"sead": 1}, "sead"),
    ],
)
def test_plan_invalid_names_the_key(data: object, key: str) -> None:
    with pytest.raises(ContractError) as caught:
        FaultPlan.from_mapping(data)

    assert caught.value.field == key


def test_plan_unreadable_file_is_contract_error(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="must be readable YAML"):
        FaultPlan.load(tmp_path / "missing.yaml")


def test_injector_empty_plan_injects_nothing() -> None:
    injector = FaultInjector()

    assert _kinds(injector, PLACE, 50) == [None] * 50
    assert injector.reject_order() is None
    assert injector.partial_fill() is None
    assert (injector.drop_ws(), injector.stall_ws_seconds()) == (False, 0.0)


def test_injector_schedule_hits_exactly_the_nth_request_of_its_route() -> None:
    plan = FaultPlan.from_mapping(
        {"schedule": [{"route": "order_place", "nth": 3, "fault": "lost_response"}]}
    )
    injector = FaultInjector(plan)

    other = _kinds(injector, RouteClass.QUOTE, 5)
    placements = _kinds(injector, PLACE, 4)

    assert other == [None] * 5
    assert placements == [None, None, "lost_response", None]
    assert injector.status()["injected"] == {"lost_response": 1}


def test_injector_same_seed_same_decisions() -> None:
    plan = FaultPlan.from_mapping(
        {"seed": 11, "routes": {"quote": {"http_429": 0.2, "http_500": 0.2, "delay": 0.3}}}
    )

    first = _kinds(FaultInjector(plan), RouteClass.QUOTE, 200)
    second = _kinds(FaultInjector(plan), RouteClass.QUOTE, 200)

    assert first == second
    assert {"http_429", "http_500", "delay", None} <= set(first)


def test_injector_replace_restarts_counts_and_rng() -> None:
    plan = FaultPlan.from_mapping({"seed": 5, "routes": {"quote": {"http_503": 0.5}}})
    injector = FaultInjector(plan)
    first = _kinds(injector, RouteClass.QUOTE, 30)

    injector.replace(plan)

    assert _kinds(injector, RouteClass.QUOTE, 30) == first


def test_injector_probability_one_always_hits() -> None:
    injector = FaultInjector(FaultPlan.from_mapping({"routes": {"other": {"http_502": 1.0}}}))

    decision = injector.on_request(RouteClass.OTHER)

    assert decision == RequestFault(FaultKind.HTTP_502)
    assert not decision.does_work
    failure = decision.error()
    assert (failure.error_type, failure.http_status) == ("DataException", 502)


@pytest.mark.parametrize(
    ("kind", "error_type", "status"),
    [
        (FaultKind.HTTP_429, "NetworkException", 429),
        (FaultKind.HTTP_500, "GeneralException", 500),
        (FaultKind.HTTP_502, "DataException", 502),
        (FaultKind.HTTP_503, "NetworkException", 503),
    ],
)
def test_request_fault_errors_carry_kites_type_and_status(
    kind: FaultKind, error_type: str, status: int
) -> None:
    failure = RequestFault(kind).error()

    assert (failure.error_type, failure.http_status) == (error_type, status)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"fault": "timeout"}, RequestFault(FaultKind.TIMEOUT, 10.0)),
        ({"fault": "timeout", "seconds": 1.5}, RequestFault(FaultKind.TIMEOUT, 1.5)),
        ({"fault": "delay"}, RequestFault(FaultKind.DELAY, 0.5)),
        ({"fault": "lost_response"}, RequestFault(FaultKind.LOST_RESPONSE, 0.0)),
    ],
)
def test_injector_scheduled_holds_do_the_work(
    entry: dict[str, object], expected: RequestFault
) -> None:
    plan = FaultPlan.from_mapping({"schedule": [{"route": "order_place", "nth": 1} | entry]})

    decision = FaultInjector(plan).on_request(PLACE)

    assert decision == expected
    assert decision.does_work


def test_injector_scheduled_reject_arms_the_venue_for_that_order_only() -> None:
    plan = FaultPlan.from_mapping(
        {"schedule": [{"route": "order_place", "nth": 2, "fault": "reject", "reason": "freeze"}]}
    )
    injector = FaultInjector(plan)

    injector.on_request(PLACE)
    first = injector.reject_order()
    assert injector.on_request(PLACE) is None  # the response itself is normal
    second, again = injector.reject_order(), injector.reject_order()

    assert (first, second, again) == (None, RejectReason.FREEZE, None)
    assert "freeze" in RejectReason.FREEZE.message


def test_injector_partial_fill_from_probability() -> None:
    plan = FaultPlan.from_mapping(
        {"routes": {"order_place": {"partial_fill": 1.0, "partial_fill_fraction": 0.25}}}
    )

    assert FaultInjector(plan).partial_fill() == 0.25


@pytest.mark.parametrize(
    ("entry", "drops", "stalls"),
    [
        ({"fault": "ws_drop", "nth": 2}, [False, True, False], [0.0, 0.0, 0.0]),
        ({"fault": "ws_stall", "nth": 3, "seconds": 2}, [False] * 3, [0.0, 0.0, 2.0]),
    ],
)
def test_injector_ws_schedule(
    entry: dict[str, object], drops: list[bool], stalls: list[float]
) -> None:
    injector = FaultInjector(FaultPlan.from_mapping({"schedule": [{"route": "ws"} | entry]}))

    assert [injector.drop_ws() for _ in range(3)] == drops
    assert [injector.stall_ws_seconds() for _ in range(3)] == stalls


def test_injector_ws_probabilities() -> None:
    injector = FaultInjector(
        FaultPlan.from_mapping({"ws": {"drop": 1.0, "stall": 1.0, "stall_seconds": 4}})
    )

    assert (injector.drop_ws(), injector.stall_ws_seconds()) == (True, 4.0)


def test_plan_round_trips_through_its_mapping() -> None:
    plan = FaultPlan.from_mapping(
        {
            "seed": 2,
            "routes": {"quote": {"http_429": 0.5}},
            "schedule": [{"route": "ws", "nth": 1, "fault": "ws_drop"}],
        }
    )

    assert FaultPlan.from_mapping(plan.as_mapping()) == plan
