"""The paper exchange's wire format: Kite's envelopes, time texts and JSON encoding."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum

import pytest

from data_contracts.errors import ContractError
from data_contracts.timeutil import IST
from execution.paper import wire
from execution.paper.types import KiteApiError

T = datetime(2026, 8, 18, 3, 45, 7, tzinfo=UTC)  # 09:15:07 IST


class _Colour(StrEnum):
    RED = "red"


def test_ist_text_is_kites_19_character_ist_time() -> None:
    assert wire.ist_text(T) == "2026-08-18 09:15:07"


def test_candle_time_is_ist_with_offset_without_colon() -> None:
    assert wire.candle_time(T) == "2026-08-18T09:15:07+0530"


@pytest.mark.parametrize("naive", [datetime(2026, 8, 18, 9, 15)])  # noqa: DTZ001 - the point
def test_ist_text_naive_datetime_raises(naive: datetime) -> None:
    with pytest.raises(ContractError, match="timezone-aware"):
        wire.ist_text(naive)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-08-18 09:15:07", datetime(2026, 8, 18, 9, 15, 7, tzinfo=IST)),
        ("2026-08-18", datetime(2026, 8, 18, tzinfo=IST)),
    ],
)
def test_parse_ist_reads_both_kite_forms(text: str, expected: datetime) -> None:
    assert wire.parse_ist(text, "from") == expected


@pytest.mark.parametrize("text", ["18-08-2026", "2026-08-18T09:15:07", "", "yesterday"])
def test_parse_ist_other_forms_are_input_exceptions(text: str) -> None:
    with pytest.raises(KiteApiError) as caught:
        wire.parse_ist(text, "from")

    assert (caught.value.error_type, caught.value.http_status) == ("InputException", 400)
    assert "`from`" in caught.value.message


def test_dumps_encodes_times_dates_enums_decimals_and_tuples() -> None:
    value = {"t": T, "d": date(2026, 8, 18), "e": _Colour.RED, "x": Decimal("1.25"), "p": (1, 2)}

    assert json.loads(wire.dumps(value)) == {
        "t": "2026-08-18 09:15:07",
        "d": "2026-08-18",
        "e": "red",
        "x": 1.25,
        "p": [1, 2],
    }


@pytest.mark.parametrize("value", [float("nan"), object()])
def test_dumps_refuses_what_json_cannot_carry(value: object) -> None:
    with pytest.raises((ValueError, ContractError)):
        wire.dumps({"v": value})


def test_success_is_the_json_envelope() -> None:
    response = wire.success({"order_id": "1"})

    assert response.status == 200
    assert response.content_type == "application/json"
    assert json.loads(response.text or "") == {"status": "success", "data": {"order_id": "1"}}


@pytest.mark.parametrize(
    ("failure", "body"),
    [
        (
            KiteApiError("TokenException", "Token is invalid or has expired.", 403),
            {
                "status": "error",
                "message": "Token is invalid or has expired.",
                "error_type": "TokenException",
            },
        ),
        (
            KiteApiError("InputException", "bad", 400, data={"field": "price"}),
            {
                "status": "error",
                "message": "bad",
                "error_type": "InputException",
                "data": {"field": "price"},
            },
        ),
    ],
)
def test_error_is_the_error_envelope_with_the_http_status(
    failure: KiteApiError, body: dict[str, object]
) -> None:
    response = wire.error(failure)

    assert response.status == failure.http_status
    assert response.content_type == "application/json"
    assert json.loads(response.text or "") == body


def test_csv_has_a_csv_content_type() -> None:
    response = wire.csv("a,b\n1,2\n")

    assert "csv" in response.content_type
    assert response.text == "a,b\n1,2\n"
