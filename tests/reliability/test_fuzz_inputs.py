"""Fuzzing what people and files hand the system (see ``fuzz_inputs``): configuration, the
instruments dump and the decision API. Each either works or refuses with the one error type its
contract names. The inputs of the fixed findings B3-B8 are regression tests here; the crashes
found since and not fixed (B13-B17, ``fuzz_inputs.OPEN_FINDINGS``) are pinned as strict xfails,
and the property tests pass over exactly those — any other crash fails them."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from hypothesis import given, settings

from data_contracts.config import ConfigError, ConfigProblem
from data_contracts.errors import ContractError
from data_contracts.instruments import CSV_COLUMNS, parse_instruments_csv
from orchestration.settings import load_config
from tests.reliability.fuzz_inputs import (
    BAD_BYTES,
    CSV_FIELD_LIMIT_TEXT,
    DEEP_YAML,
    EMPTY_KEY_VARIABLE,
    HUGE_INT_YAML,
    INFINITE_CAPITAL_YAML,
    LIVE_PROPOSALS,
    NOT_UTF8_YAML,
    OPEN_FINDINGS,
    RECURSIVE_YAML,
    SURROGATE_KEY_YAML,
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
    run,
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


def _load_text(tmp_path: Path, text: str | bytes) -> None:
    path = tmp_path / "kitepilot.yaml"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    load_config(path, environ={}, dotenv_file=None)


def _problems(tmp_path: Path, text: str | bytes) -> list[ConfigProblem] | None:
    """The problems loading ``text`` as the settings file gives, or None for a valid config."""
    try:
        _load_text(tmp_path, text)
    except ConfigError as refused:
        return list(refused.problems)
    return None


def test_config_anchor_cycle_is_one_config_error(tmp_path: Path) -> None:  # B3
    with pytest.raises(ConfigError, match=r"kitepilot\.yaml"):
        _load_text(tmp_path, RECURSIVE_YAML)


def test_config_integer_of_5000_digits_is_one_config_error(tmp_path: Path) -> None:  # B4
    with pytest.raises(ConfigError, match=r"capital|kitepilot\.yaml"):
        _load_text(tmp_path, HUGE_INT_YAML)


@pytest.mark.parametrize("variable", [EMPTY_KEY_VARIABLE, "KITEPILOT___RISK", "KITEPILOT_RISK__"])
def test_config_variable_with_an_empty_key_part_is_refused_naming_it(variable: str) -> None:  # B5
    with pytest.raises(ConfigError) as refused:
        load_config(environ={variable: "1"}, dotenv_file=None)

    assert [problem.key for problem in refused.value.problems] == [variable]


def test_config_blank_key_in_the_yaml_is_refused_naming_it(tmp_path: Path) -> None:  # B5
    problems = _problems(tmp_path, '"": 1\n')

    assert problems is not None
    assert [problem.key for problem in problems] == ["''"]


def test_config_file_that_is_not_utf8_is_one_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"kitepilot\.yaml"):
        _load_text(tmp_path, NOT_UTF8_YAML)


def test_config_yaml_nested_a_thousand_deep_is_one_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"kitepilot\.yaml"):
        _load_text(tmp_path, DEEP_YAML)


@pytest.mark.parametrize("source", ["yaml", "variable"])
def test_config_setting_name_with_a_lone_surrogate_is_refused_naming_it(
    tmp_path: Path, source: str
) -> None:
    if source == "yaml":
        problems = _problems(tmp_path, SURROGATE_KEY_YAML)
    else:
        with pytest.raises(ConfigError) as refused:
            load_config(environ={"KITEPILOT_\udcff": "1"}, dotenv_file=None)
        problems = list(refused.value.problems)

    assert problems is not None
    assert all(problem.key for problem in problems), problems


@pytest.mark.parametrize("source", ["yaml", "variable"])
def test_config_infinite_capital_is_refused(tmp_path: Path, source: str) -> None:
    if source == "yaml":
        problems = _problems(tmp_path, INFINITE_CAPITAL_YAML)
    else:
        try:
            load_config(environ={"KITEPILOT_CAPITAL": "inf"}, dotenv_file=None)
            problems = None
        except ConfigError as refused:
            problems = list(refused.problems)

    assert problems is not None, "capital: inf is a valid config"
    assert [problem.key for problem in problems] == ["capital"]


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


@pytest.mark.parametrize("field", ["reason", "user"])
def test_decision_api_text_with_a_lone_surrogate_is_refused_not_a_crash(  # B8
    tmp_path: Path, field: str
) -> None:
    world = DeskWorld(tmp_path)
    actor, reason = ("fuzz", SURROGATE_REASON) if field == "reason" else ("\udcff", "")
    try:
        case = DecisionCase(TOKEN, False, LIVE_PROPOSALS[1], actor, reason, None)
        outcome = check_decision(world, case)
    finally:
        world.close()

    wanted = "Decision.reason" if field == "reason" else "Decision.decided_by"
    assert outcome == f"refused: {wanted} must be valid Unicode text"


def test_decision_api_token_with_a_lone_surrogate_is_refused_not_a_crash(tmp_path: Path) -> None:
    world = DeskWorld(tmp_path)
    try:
        case = DecisionCase("\ud800", True, LIVE_PROPOSALS[2], "fuzz", "", None)
        outcome = check_decision(world, case)
    finally:
        world.close()

    assert outcome == "refused: no valid action token"


# -- the runner's entry ---------------------------------------------------------------------------


def test_run_reports_what_each_fixed_findings_input_ends_as_and_names_open_ones() -> None:
    report = run(examples=10)

    seeds = {
        (seed["finding"], seed["outcome"])
        for target in report["targets"]
        for seed in target["regression_seeds"]
    }
    assert seeds == {
        ("B3", "refused: the file must be valid YAML"),
        ("B4", "refused: the file must be valid YAML"),
        ("B5", "refused: KITEPILOT_"),
        ("B5", "refused: KITEPILOT___RISK"),
        ("B5", "refused: ''"),
        ("B6", "refused: InstrumentsCsv.source"),
        ("B7", "refused: InstrumentsCsv.row"),
        ("B8", "refused: Decision.reason must be valid Unicode text"),
        ("B8", "refused: Decision.decided_by must be valid Unicode text"),
    }
    # Every crash or violation is one of the open findings, named.
    open_names = {f"(open finding {f.finding})" for fs in OPEN_FINDINGS.values() for f in fs}
    unnamed = [
        label
        for target in report["targets"]
        for label in target["outcomes"]
        if label.startswith(("CRASH", "VIOLATION")) and not any(n in label for n in open_names)
    ]
    assert unnamed == []
