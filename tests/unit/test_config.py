"""Config: shipped defaults, layering (YAML ← .env ← environment), two-stage validation, secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_contracts.config import ConfigError
from data_contracts.enums import TradingMode
from orchestration.settings import load_config, resolve_config


def _load(
    tmp_path: Path,
    yaml_text: str | None = None,
    env: dict[str, str] | None = None,
    dotenv: str | None = None,
):
    config_file = None
    if yaml_text is not None:
        config_file = tmp_path / "kitepilot.yaml"
        config_file.write_text(yaml_text, encoding="utf-8")
    dotenv_file = tmp_path / ".env"
    if dotenv is not None:
        dotenv_file.write_text(dotenv, encoding="utf-8")
    return resolve_config(config_file, environ=env or {}, dotenv_file=dotenv_file)


def test_defaults_are_safe_seed_values(tmp_path: Path) -> None:
    config = _load(tmp_path).config

    assert config.mode is TradingMode.PAPER
    assert config.capital == 10_000
    assert config.strategy.min_confidence == 0.80
    assert config.strategy.min_expected_net_profit == 150
    assert config.strategy.fno_cooldown_hours == 48
    assert (config.strategy.option_take_profit_pct, config.strategy.option_stop_loss_pct) == (
        50,
        40,
    )
    assert config.dashboard.host == "127.0.0.1"
    assert config.kite.api_key is None


def test_user_yaml_overrides_only_the_keys_it_sets(tmp_path: Path) -> None:
    resolved = _load(tmp_path, "risk:\n  daily_loss_limit: 800\n")

    assert resolved.config.risk.daily_loss_limit == 800
    assert resolved.config.risk.per_trade_risk == 500  # still the default
    assert resolved.sources["risk.daily_loss_limit"].endswith("kitepilot.yaml")
    assert resolved.sources["risk.per_trade_risk"] == "defaults.yaml"


def test_precedence_is_yaml_then_dotenv_then_environment(tmp_path: Path) -> None:
    resolved = _load(
        tmp_path,
        "risk:\n  daily_loss_limit: 800\n  per_trade_risk: 300\nstrategy:\n  min_confidence: 0.9\n",
        env={"KITEPILOT_RISK__DAILY_LOSS_LIMIT": "600"},
        dotenv="KITEPILOT_RISK__DAILY_LOSS_LIMIT=700\nKITEPILOT_RISK__PER_TRADE_RISK=250\n",
    )

    config = resolved.config
    assert (config.risk.daily_loss_limit, config.risk.per_trade_risk) == (600, 250)
    assert config.strategy.min_confidence == 0.9
    assert resolved.sources["risk.per_trade_risk"].endswith("(KITEPILOT_RISK__PER_TRADE_RISK)")


@pytest.mark.parametrize(
    ("yaml_text", "env", "message"),
    [
        (
            "risk:\n  per_trade_risk: 2000\n",
            {},
            "invalid config: risk.per_trade_risk must be <= risk.daily_loss_limit (1000), "
            "was 2000.0 (set in",
        ),
        (
            None,
            {"KITEPILOT_RISK__DAILY_LOSS_LIMIT": "-5"},
            "invalid config: risk.daily_loss_limit must be greater than 0, was '-5' (set in "
            "environment (KITEPILOT_RISK__DAILY_LOSS_LIMIT))",
        ),
        (
            "strategy:\n  min_confidence: 1.5\n",
            {},
            "invalid config: strategy.min_confidence must be less than or equal to 1, was 1.5",
        ),
        (
            "risk:\n  daily_loss_limt: 5\n",
            {},
            "invalid config: risk.daily_loss_limt is not a known setting (value not shown)",
        ),
        (
            "dashboard:\n  host: 0.0.0.0\n",
            {},
            "invalid config: dashboard.host must be a loopback address (web UIs bind to "
            "127.0.0.1), was '0.0.0.0'",
        ),
        (
            "strategy:\n  option_delta_min: 0.5\n",
            {},
            "invalid config: strategy.option_delta_min must be < strategy.option_delta_max (0.4)",
        ),
        (
            "mode: live\n",
            {"KITEPILOT_KITE__API_KEY": "abc"},
            "invalid config: kite.api_secret is required when mode is live (set "
            "KITEPILOT_KITE__API_SECRET in .env or the environment), was not set",
        ),
        ("mode: sandbox\n", {}, "invalid config: mode must be 'paper' or 'live', was 'sandbox'"),
        (
            "data:\n  source: files\n",
            {},
            "invalid config: data.files_path is required when data.source is files, was not set",
        ),
        (
            "data:\n  source: kite\n",
            {"KITEPILOT_KITE__API_KEY": "abc"},
            "invalid config: kite.access_token is required when data.source is kite",
        ),
        (
            "data:\n  simulator_start: 2026-09-01\n",
            {},
            "invalid config: data.simulator_start must be on or before data.simulator_end "
            "(2026-08-31), was datetime.date(2026, 9, 1)",
        ),
    ],
)
def test_invalid_config_stops_with_one_message_naming_the_key(
    tmp_path: Path, yaml_text: str | None, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, yaml_text, env)

    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_several_problems_are_listed_in_one_message(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, "capital: -1\nloops:\n  order_poll_seconds: 0\n")

    assert [p.key for p in caught.value.problems] == ["capital", "loops.order_poll_seconds"]
    assert str(caught.value).startswith("invalid config:\n  - capital must be greater than 0")


def test_live_mode_with_credentials_from_dotenv_is_valid_and_secret_is_masked(
    tmp_path: Path,
) -> None:
    config = _load(
        tmp_path,
        "mode: live\n",
        dotenv="KITEPILOT_KITE__API_KEY=key123\nKITEPILOT_KITE__API_SECRET=s3cr3t-value\n",
    ).config

    assert config.mode is TradingMode.LIVE
    assert config.kite.api_secret is not None
    assert config.kite.api_secret.get_secret_value() == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(config)
    assert "s3cr3t-value" not in str(config.model_dump(mode="json"))


def test_secret_written_in_yaml_is_refused_without_echoing_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, "kite:\n  api_secret: hunter2\n")

    message = str(caught.value)
    assert message.startswith("invalid config: kite.api_secret must not be written in a YAML")
    assert "KITEPILOT_KITE__API_SECRET" in message
    assert "hunter2" not in message


def test_missing_explicit_config_file_names_the_option(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--config must name an existing YAML file"):
        load_config(tmp_path / "nope.yaml", environ={}, dotenv_file=None)


def test_config_file_from_environment_variable(tmp_path: Path) -> None:
    path = tmp_path / "custom.yaml"
    path.write_text("capital: 50000\n", encoding="utf-8")

    config = load_config(environ={"KITEPILOT_CONFIG": str(path)}, dotenv_file=None)

    assert config.capital == 50_000


def test_malformed_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"kitepilot\.yaml must be valid YAML, was \"expected .* at line \d+\""
    ):
        _load(tmp_path, "risk:\n  - [unclosed\n")


def test_yaml_alias_inside_its_own_anchor_is_refused_naming_the_file_and_line(
    tmp_path: Path,
) -> None:
    with pytest.raises(
        ConfigError,
        match=r"kitepilot\.yaml must be valid YAML, was 'the alias \*loop refers to the node "
        r"&loop that contains it at line 3'",
    ):
        _load(tmp_path, "risk:\n  limits: &loop\n    again: *loop\n")


def test_yaml_alias_of_an_earlier_value_is_read_as_that_value(tmp_path: Path) -> None:
    text = "strategy:\n  option_take_profit_pct: &pct 45\n  option_stop_loss_pct: *pct\n"

    config = _load(tmp_path, text).config

    assert (config.strategy.option_take_profit_pct, config.strategy.option_stop_loss_pct) == (
        45,
        45,
    )


@pytest.mark.parametrize(
    ("line", "found"),
    [
        ("capital: 1" + "0" * 5000, "Exceeds the limit (4300 digits) for integer string"),
        ("capital: 2026-13-45", "month must be in 1..12"),
    ],
    ids=["5000-digit-integer", "impossible-date"],
)
def test_yaml_value_python_cannot_read_names_the_file_and_line(
    tmp_path: Path, line: str, found: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, "risk:\n  daily_loss_limit: 800\n" + line + "\n")

    (problem,) = caught.value.problems
    assert problem.key.endswith("kitepilot.yaml")
    assert problem.rule == "must be valid YAML"
    assert str(problem.value).startswith(f"cannot read the value: {found}")
    assert str(problem.value).endswith("at line 3")


@pytest.mark.parametrize("name", ["KITEPILOT_", "KITEPILOT___RISK", "KITEPILOT_RISK__"])
def test_variable_with_an_empty_name_part_is_refused_naming_the_variable(
    tmp_path: Path, name: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, env={name: "s3cr3t-maybe", "KITEPILOT_RISK__PER_TRADE_RISK": "abc"})

    message = str(caught.value)
    assert [p.key for p in caught.value.problems] == [name, "risk.per_trade_risk"]
    assert f"{name} must be KITEPILOT_<SECTION>__<KEY> with no empty part (set in environment)" in (
        message
    )
    assert "s3cr3t-maybe" not in message


def test_blank_setting_name_in_yaml_is_refused_without_echoing_its_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, '"": hunter2\nrisk:\n  " ": 1\n')

    message = str(caught.value)
    assert [p.key for p in caught.value.problems] == ["''", "risk.' '"]
    assert "is not a setting name: names must not be blank" in message
    assert "hunter2" not in message


def test_config_is_frozen(tmp_path: Path) -> None:
    config = _load(tmp_path).config

    with pytest.raises(ValueError, match="frozen"):
        config.capital = 1  # type: ignore[misc]


def test_freeze_quantity_override_from_environment_keeps_the_underlying_name(
    tmp_path: Path,
) -> None:
    config = _load(
        tmp_path, env={"KITEPILOT_INSTRUMENTS__FREEZE_QUANTITY_OVERRIDES__NIFTY": "1300"}
    ).config

    assert config.instruments.freeze_quantity_overrides == {"NIFTY": 1300}


@pytest.mark.parametrize(
    ("yaml_text", "env", "key"),
    [
        (None, {"KITEPILOT_KITE_API_KEY": "leakme123"}, "kite_api_key"),
        (None, {"KITEPILOT_KITE__REFRESH_TOKEN": "leakme123"}, "kite.refresh_token"),
        (None, {"KITEPILOT_SOMETHING_ELSE": "leakme123"}, "something_else"),
        ("kite:\n  API_KEY: leakme123\n", {}, "kite.API_KEY"),
        ("kite:\n  api_secret: leakme123\n", {}, "kite.api_secret"),
        ("broker_password: leakme123\n", {}, "broker_password"),
    ],
)
def test_secret_under_a_wrong_name_is_never_echoed(
    tmp_path: Path, yaml_text: str | None, env: dict[str, str], key: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, yaml_text, env)

    assert "leakme123" not in str(caught.value)
    assert [problem.key for problem in caught.value.problems] == [key]


def test_empty_section_in_user_yaml_keeps_the_defaults(tmp_path: Path) -> None:
    resolved = _load(tmp_path, "risk: {}\nstrategy:\n")

    assert resolved.config.risk.daily_loss_limit == 1000
    assert resolved.sources["risk.daily_loss_limit"] == "defaults.yaml"


@pytest.mark.parametrize(
    ("yaml_text", "env", "key"),
    [
        ("alerts:\n  telegram:\n    enabled: true\n    chat_id: '42'\n", {}, "bot_token"),
        (
            "alerts:\n  telegram:\n    enabled: true\n",
            {"KITEPILOT_ALERTS__TELEGRAM__BOT_TOKEN": "123:abc"},
            "chat_id",
        ),
        ("alerts:\n  slack:\n    enabled: true\n", {}, "webhook_url"),
        ("alerts:\n  email:\n    enabled: true\n", {}, "recipients"),
    ],
)
def test_enabled_alert_channel_without_its_address_or_secret_names_the_key(
    tmp_path: Path, yaml_text: str, env: dict[str, str], key: str
) -> None:
    with pytest.raises(ConfigError, match=rf"alerts\.\w+\.{key} is required when its channel"):
        _load(tmp_path, yaml_text, env=env)


def test_alert_secrets_come_from_the_environment_only(tmp_path: Path) -> None:
    env = {
        "KITEPILOT_ALERTS__SLACK__WEBHOOK_URL": "http://127.0.0.1:9/hook",
        "KITEPILOT_ALERTS__SLACK__ENABLED": "true",
    }
    config = _load(tmp_path, env=env).config

    assert config.alerts.slack.webhook_url is not None
    assert "127.0.0.1" not in repr(config.alerts.slack)
    with pytest.raises(ConfigError, match="webhook_url"):
        _load(tmp_path, "alerts:\n  slack:\n    webhook_url: http://127.0.0.1:9/hook\n")
