"""The small checks every domain constructor uses: the value back, or a ContractError naming the
owner, the field and the rule — for any Python value, not only the expected type."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from data_contracts import validation
from data_contracts.errors import ContractError

NUMBER_CHECKS: dict[str, Callable[[Any], float]] = {
    "finite": lambda v: validation.finite("Owner", "field", v),
    "positive": lambda v: validation.positive("Owner", "field", v),
    "non_negative": lambda v: validation.non_negative("Owner", "field", v),
    "probability": lambda v: validation.probability("Owner", "field", v),
}


@pytest.mark.parametrize("check", sorted(NUMBER_CHECKS))
@pytest.mark.parametrize(
    "value",
    [10**400, -(10**400), 2**1024, math.nan, math.inf, True, "1", None],
    ids=["10**400", "-10**400", "2**1024", "nan", "inf", "bool", "str", "none"],
)
def test_number_checks_value_no_float_holds_is_refused_as_not_finite(
    check: str, value: object
) -> None:
    with pytest.raises(ContractError) as caught:
        NUMBER_CHECKS[check](value)

    assert (caught.value.owner, caught.value.field, caught.value.rule) == (
        "Owner",
        "field",
        "must be a finite number",
    )


@pytest.mark.parametrize(
    ("check", "value", "expected"),
    [
        ("finite", 2**1023, float(2**1023)),  # the largest power of two a float holds
        ("finite", -7, -7.0),
        ("positive", 10**300, 1e300),
        ("non_negative", 0, 0.0),
        ("probability", 1, 1.0),
    ],
)
def test_number_checks_int_a_float_holds_is_returned_as_that_float(
    check: str, value: int, expected: float
) -> None:
    result = NUMBER_CHECKS[check](value)

    assert (type(result), result) == (float, expected)


@pytest.mark.parametrize(
    ("value", "required", "rule"),
    [
        (None, False, "must be a string"),
        (b"bytes", False, "must be a string"),
        ("  ", True, "must be a non-empty string"),
        ("a\ud800b", False, "must be valid Unicode text (a surrogate code point at character 1)"),
        ("x" * 11, False, "must be at most 10 characters"),
    ],
)
def test_text_value_that_cannot_be_stored_is_refused_naming_the_rule(
    value: object, required: bool, rule: str
) -> None:
    with pytest.raises(ContractError) as caught:
        validation.text("Owner", "field", value, 10, required=required)  # type: ignore[arg-type]  # the wrong types are the test

    assert (caught.value.field, caught.value.rule) == ("field", rule)


def test_text_too_long_shows_its_start_and_length_not_all_of_it() -> None:
    with pytest.raises(ContractError) as caught:
        validation.text("Owner", "field", "y" * 1_000_000, 2_000)

    assert str(caught.value) == (
        f"Owner.field must be at most 2,000 characters, was '{'y' * 40}… (1,000,000 characters)'"
    )


@pytest.mark.parametrize("value", ["", "ok", "नमस्ते ✓ 🚀", "x" * 10])
def test_text_any_unicode_within_the_limit_is_returned(value: str) -> None:
    assert validation.text("Owner", "field", value, 10) == value


def test_a_contract_error_about_a_huge_integer_describes_it_instead_of_failing() -> None:
    from data_contracts.errors import ContractError

    error = ContractError("Owner", "field", 10**5000, "must be small")

    assert "must be small, was <an integer of 16610 bits>" in str(error)


def test_require_aware_a_time_before_the_first_utc_instant_is_a_contract_error() -> None:
    from datetime import datetime

    from data_contracts.errors import ContractError
    from data_contracts.timeutil import IST, require_aware

    with pytest.raises(ContractError, match="must be representable in UTC"):
        require_aware("Owner", "ts", datetime(1, 1, 1, 2, 0, tzinfo=IST))
