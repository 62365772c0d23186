"""The generated configuration reference: committed and current, complete, and honest about rules
and secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from data_contracts.config import KitepilotConfig
from orchestration.config_docs import (
    config_keys,
    cross_field_rules,
    register,
    render_config_doc,
    yaml_comments,
)

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "docs" / "CONFIG.md"


def _schema_keys(model: type[KitepilotConfig] | type, prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
            keys |= _schema_keys(annotation, f"{prefix}{name}.")
        else:
            keys.add(f"{prefix}{name}")
    return keys


@pytest.fixture(scope="module")
def rendered() -> str:
    return render_config_doc()


def test_config_doc_committed_file_equals_the_generators_output(rendered: str) -> None:
    committed = COMMITTED.read_text(encoding="utf-8")

    assert committed == rendered, "docs/CONFIG.md is stale: run `kitepilot config docs`"


def test_config_doc_lists_every_schema_key_once(rendered: str) -> None:
    # Arrange
    schema = _schema_keys(KitepilotConfig)

    # Act
    rows = [line for line in rendered.splitlines() if line.startswith("| `")]
    listed = [row.split("`")[1] for row in rows]

    # Assert
    assert len(schema) > 100
    assert sorted(listed) == sorted(schema)


@pytest.mark.parametrize(
    ("key", "type_name", "default", "rule"),
    [
        ("capital", "float", "10000", "> 0"),
        ("strategy.min_confidence", "float", "0.8", "> 0.5, <= 1.0"),
        ("dashboard.port", "int", "8050", ">= 1, <= 65535"),
        ("training.window", "enum", "expanding", "one of `expanding`, `rolling`"),
        ("strategy.last_entry_time", "time (HH:MM, IST)", "15:00", ""),
        ("kite.api_key", "secret string or null", "null", ""),
        ("instruments.freeze_quantity_overrides", "map of str to int", "{}", "each >= 1"),
        ("training.model_name", "str", "kitepilot-equity-intraday", "matches `^[A-Za-z0-9]"),
    ],
)
def test_config_keys_type_default_and_rule_come_from_schema_and_defaults(
    key: str, type_name: str, default: str, rule: str
) -> None:
    found = {k.key: k for k in config_keys()}[key]

    assert (found.type, found.default) == (type_name, default)
    assert found.rule.startswith(rule)


@pytest.mark.parametrize(
    ("key", "secret", "env_only"),
    [
        ("kite.api_secret", True, True),
        ("dashboard.auth_token", True, True),
        ("alerts.email.password", True, True),
        ("paper_exchange.api_key", False, True),  # not secret, but its name is treated as one
        ("storage.database_url", False, False),
    ],
)
def test_config_keys_mark_secrets_and_env_only_keys(key: str, secret: bool, env_only: bool) -> None:
    found = {k.key: k for k in config_keys()}[key]

    assert (found.secret, found.env_only) == (secret, env_only)


@pytest.mark.parametrize(
    ("key", "rule_start"),
    [
        ("risk.per_trade_risk", "must be <= risk.daily_loss_limit (1000)"),
        ("risk.daily_loss_limit", "must be <= capital (10000)"),
        ("risk.max_symbol_exposure", "must be <= risk.max_total_exposure"),
        ("strategy.option_delta_min", "must be < strategy.option_delta_max (0.4)"),
        ("training.validation_fraction", "plus training.calibration_fraction must be < 0.7"),
        ("dashboard.host", "must be a loopback address"),
        ("paper_exchange.host", "must be a loopback address"),
        ("data.simulator_start", "must be on or before data.simulator_end (2026-08-31)"),
        ("data.files_path", "is required when data.source is files"),
        ("alerts.telegram.chat_id", "is required when its channel is enabled"),
        ("alerts.telegram.bot_token", "is required when its channel is enabled"),
        ("alerts.slack.webhook_url", "is required when its channel is enabled"),
        ("alerts.email.sender", "is required when its channel is enabled"),
        ("alerts.email.recipients", "is required when its channel is enabled"),
        ("kite.api_key", "is required when data.source is kite"),
        ("kite.access_token", "is required when data.source is kite"),
        ("kite.api_key", "is required when mode is live"),
        ("kite.api_secret", "is required when mode is live"),
    ],
)
def test_cross_field_rules_found_by_probing_are_worded_with_the_defaults(
    key: str, rule_start: str
) -> None:
    rules = cross_field_rules()

    assert any(r.key == key and r.rule.startswith(rule_start) for r in rules)


def test_cross_field_rules_quote_no_probe_value() -> None:
    texts = [rule.rule for rule in cross_field_rules()]

    assert not [t for t in texts if "1e+12" in t or "0001-01-01" in t or "9999-12-31" in t]


def test_yaml_comments_attach_each_block_to_the_key_below_it() -> None:
    # Arrange
    text = (
        "# file header\n\n"
        "# the mode\nmode: paper\n"
        "risk:\n"
        "  # first line\n  # second line\n  daily_loss_limit: 1\n"
        "  per_trade_risk: 2\n\n"
        "  # orphan\n\n  margin: 3\n"
    )

    # Act
    comments = yaml_comments(text)

    # Assert
    assert comments == {"mode": "the mode", "risk.daily_loss_limit": "first line second line"}


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """kitepilot."""

    register(app)
    return app


def test_config_docs_command_writes_then_check_passes(tmp_path: Path) -> None:
    # Arrange
    output = tmp_path / "docs" / "CONFIG.md"
    runner = CliRunner()

    # Act
    written = runner.invoke(_app(), ["config", "docs", "--output", str(output)])
    checked = runner.invoke(_app(), ["config", "docs", "--check", "--output", str(output)])

    # Assert
    assert (written.exit_code, checked.exit_code) == (0, 0), written.output + checked.output
    assert output.read_text(encoding="utf-8") == render_config_doc()


def test_config_docs_check_fails_on_a_stale_file_and_leaves_it(tmp_path: Path) -> None:
    # Arrange
    output = tmp_path / "CONFIG.md"
    output.write_text("# old\n", encoding="utf-8")

    # Act
    result = CliRunner().invoke(_app(), ["config", "docs", "--check", "--output", str(output)])

    # Assert
    assert result.exit_code == 1
    assert output.read_text(encoding="utf-8") == "# old\n"


def test_config_docs_register_adds_to_an_existing_config_group() -> None:
    # Arrange
    app = typer.Typer()
    config_app = typer.Typer()
    app.add_typer(config_app, name="config")

    @config_app.command("show")
    def show() -> None: ...

    # Act
    register(app)

    # Assert
    assert [g.name for g in app.registered_groups] == ["config"]
    assert {c.name for c in config_app.registered_commands} == {"show", "docs"}
