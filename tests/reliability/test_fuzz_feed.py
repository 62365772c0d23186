"""Fuzzing the market-data path (see ``fuzz_feed``): whatever arrives is a tick, a candle or a
dead letter with a reason, and the counters add up. Hypothesis shrinks any failure to its
smallest input; ``python -m tests.reliability`` runs the same targets longer and counts outcomes.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given

from data_contracts import validation
from data_contracts.errors import ContractError
from tests.reliability.fuzz_feed import (
    HUGE_INTEGER,
    HUGE_PRICE_CASE,
    QuoteCase,
    candle_streams,
    check_candles,
    check_quote,
    check_validator,
    check_wire,
    quotes,
    run,
    validator_inputs,
    wire_frames,
)


@given(wire_frames)
def test_ticker_wire_any_frame_every_packet_is_a_tick_or_a_counted_dead_letter(
    frame: bytes,
) -> None:
    check_wire(frame)


def test_ticker_wire_known_instrument_with_zero_price_is_a_counted_dead_letter() -> None:
    packet = (408065).to_bytes(4, "big") + bytes(4)  # INFY, ltp mode, last price 0
    frame = (1).to_bytes(2, "big") + len(packet).to_bytes(2, "big") + packet

    outcomes = check_wire(frame)

    assert outcomes == {"dead letter: non_positive_price": 1}


@given(quotes)
def test_paper_codec_any_quote_is_refused_naming_a_field_or_read_back_at_its_price(
    case: QuoteCase,
) -> None:
    check_quote(case)


def test_paper_codec_price_whose_paise_overflow_a_float_is_refused_naming_it() -> None:
    assert check_quote(HUGE_PRICE_CASE) == "encoder refused: last_price"  # B1's input


@given(candle_streams)
def test_candle_builder_ticks_in_any_order_candles_hold_exactly_the_accepted_ticks(
    stream: list[tuple[int, float, int, int, bool]],
) -> None:
    check_candles(stream)


@given(validator_inputs)
def test_validators_any_value_is_returned_or_refused_with_a_contract_error(
    case: tuple[str, Any],
) -> None:
    check_validator(case)


def test_validators_integer_beyond_a_float_is_refused_with_a_contract_error() -> None:
    with pytest.raises(ContractError, match="must be a finite number"):  # B2's input
        validation.finite("Fuzz", "value", HUGE_INTEGER)


def test_validators_text_with_a_lone_surrogate_is_refused_with_a_contract_error() -> None:
    assert check_validator(("text", "ok\ud800")) == "text: refused (must be valid Unicode text)"


def test_run_counts_every_outcome_and_the_regression_seeds_of_b1_b2_are_refusals() -> None:
    report = run(examples=15)

    targets = {t["target"]: t for t in report["targets"]}
    seeds = {
        (seed["finding"], seed["input"]): seed["outcome"]
        for t in targets.values()
        for seed in t["regression_seeds"]
    }
    assert seeds == {
        ("B1", "Quote(last_price=1e307), ltp mode: paise overflow a float"): (
            "encoder refused: last_price"
        ),
        ("B2", "validation.finite(10**400)"): "finite: refused (must be a finite number)",
        ("B2", "validation.positive(-10**400)"): "positive: refused (must be a finite number)",
        ("B2", "validation.probability(10**400)"): (
            "probability: refused (must be a finite number)"
        ),
    }
    assert [label for t in targets.values() for label in t["outcomes"] if "CRASH" in label] == []
    assert all(t["examples"] >= 15 for t in targets.values())
    assert all(not t["violations"] for t in targets.values())
    assert report["passed"]
