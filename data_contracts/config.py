"""The configuration schema and its two validation stages.

Stage 1 (shape) is the pydantic models below: types, ranges, no unknown keys. Stage 2
(:func:`cross_field_problems`) checks rules that span keys, such as "per-trade risk <= daily loss
limit" or "live mode needs an API key and secret". Defaults are not here: they live in the YAML file
shipped with the package (``data/defaults.yaml``), the one place a default value is written.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import date, time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from data_contracts.enums import AlertSeverity, TradingMode

__all__ = [
    "DEFAULTS_FILE",
    "HIDDEN",
    "AlertsConfig",
    "AnalysisConfig",
    "Calibration",
    "ConfigError",
    "ConfigProblem",
    "DataSource",
    "ExecutionConfig",
    "KitepilotConfig",
    "LlmConfig",
    "McpConfig",
    "NewsConfig",
    "NewsSource",
    "PaperExchangeConfig",
    "PaperSource",
    "PromotionMetric",
    "WindowKind",
    "cross_field_problems",
]

DEFAULTS_FILE = Path(__file__).with_name("data") / "defaults.yaml"

# A swing decision or exit is a time of the regular session (IST).
_REGULAR_OPEN, _REGULAR_CLOSE = time(9, 15), time(15, 30)

PositiveMoney = Annotated[float, Field(gt=0)]
Percent = Annotated[float, Field(gt=0, le=100)]
PositiveInt = Annotated[int, Field(ge=1)]
Seconds = Annotated[float, Field(gt=0)]
Port = Annotated[int, Field(ge=1, le=65535)]


class _Section(BaseModel):
    # No setting is infinite or NaN: `capital: .inf` or KITEPILOT_CAPITAL=inf is refused by name.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class RiskConfig(_Section):
    daily_loss_limit: PositiveMoney
    per_trade_risk: PositiveMoney
    max_concurrent_positions: PositiveInt
    max_drawdown_pct: Percent
    margin_buffer_pct: Annotated[float, Field(ge=0, lt=100)]
    max_symbol_exposure: PositiveMoney
    max_total_exposure: PositiveMoney
    max_price_drift_pct: Percent
    max_exceptions_per_minute: PositiveInt


class StrategyConfig(_Section):
    min_confidence: Annotated[float, Field(gt=0.5, le=1.0)]
    min_expected_net_profit: Annotated[float, Field(ge=0)]
    fno_cooldown_hours: Annotated[float, Field(ge=0)]
    option_take_profit_pct: Annotated[float, Field(gt=0, le=1000)]
    option_stop_loss_pct: Annotated[float, Field(gt=0, lt=100)]
    option_delta_min: Annotated[float, Field(gt=0, lt=1)]
    option_delta_max: Annotated[float, Field(gt=0, lt=1)]
    option_exit_days_before_expiry: Annotated[int, Field(ge=0)]
    option_min_oi: Annotated[int, Field(ge=0)]
    option_max_spread_pct: Annotated[float, Field(gt=0, le=100)]
    equity_take_profit_atr: Annotated[float, Field(gt=0)]
    equity_stop_loss_atr: Annotated[float, Field(gt=0)]
    proposal_ttl_seconds: Seconds
    equity_max_hold_minutes: PositiveInt
    option_max_hold_minutes: PositiveInt
    last_entry_time: time
    swing_enabled: bool
    swing_take_profit_atr: Annotated[float, Field(gt=0)]
    swing_stop_loss_atr: Annotated[float, Field(gt=0)]
    swing_max_hold_sessions: Annotated[int, Field(ge=1, le=60)]
    swing_decision_time: time
    swing_exit_time: time


class BacktestConfig(_Section):
    spread_bps: Annotated[float, Field(ge=0, le=1000)]
    slippage_bps: Annotated[float, Field(ge=0, le=1000)]
    limit_buffer_bps: Annotated[float, Field(ge=0, le=1000)]
    intraday_leverage: Annotated[float, Field(ge=1, le=20)]


class WindowKind(StrEnum):
    EXPANDING = "expanding"
    ROLLING = "rolling"


class Calibration(StrEnum):
    ISOTONIC = "isotonic"
    PLATT = "platt"


class TrainingConfig(_Section):
    window: WindowKind
    train_days: PositiveInt
    test_days: PositiveInt
    embargo_minutes: Annotated[int, Field(ge=0)]
    seed: Annotated[int, Field(ge=0)]
    n_estimators: PositiveInt
    learning_rate: Annotated[float, Field(gt=0, le=1)]
    max_depth: Annotated[int, Field(ge=1, le=16)]
    early_stopping_rounds: PositiveInt
    validation_fraction: Annotated[float, Field(gt=0, lt=0.5)]
    calibration_fraction: Annotated[float, Field(gt=0, lt=0.5)]
    calibration: Calibration
    model_name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    retrain_cron: Annotated[str, Field(pattern=r"^\S+( \S+){4}$")]


class PromotionMetric(StrEnum):
    NET_PNL = "net_pnl"
    SHARPE = "sharpe"
    AUC = "auc"


class PromotionConfig(_Section):
    primary_metric: PromotionMetric
    min_improvement: Annotated[float, Field(ge=0)]
    min_auc: Annotated[float, Field(ge=0, le=1)]
    max_calibration_error: Annotated[float, Field(gt=0, le=1)]
    min_net_pnl: float


class LoopsConfig(_Section):
    order_poll_seconds: Seconds
    champion_recheck_seconds: Seconds
    feed_silence_seconds: Seconds
    candle_close_timeout_seconds: Seconds
    order_fill_timeout_seconds: Seconds


class LatencyConfig(_Section):
    broker_api_p95_ms: Annotated[float, Field(gt=0)]
    tick_to_proposal_p95_ms: Annotated[float, Field(gt=0)]


class KiteConfig(_Section):
    root: str
    ticker_root: str
    api_key: SecretStr | None
    api_secret: SecretStr | None
    access_token: SecretStr | None
    session_file: Path
    login_callback_port: Port
    session_expiry: time


class ExecutionConfig(_Section):
    exit_buffer_pct: Annotated[float, Field(gt=0, le=20)]
    max_send_attempts: Annotated[int, Field(ge=1, le=10)]
    reconcile_seconds: Seconds
    rejection_burst: PositiveInt
    rejection_window_seconds: Seconds
    stale_feed_kill_seconds: Seconds


class TelegramAlerts(_Section):
    enabled: bool
    api_root: str
    chat_id: str | None
    bot_token: SecretStr | None


class SlackAlerts(_Section):
    enabled: bool
    webhook_url: SecretStr | None


class EmailAlerts(_Section):
    enabled: bool
    host: str
    port: Port
    starttls: bool
    sender: str
    recipients: tuple[str, ...]
    username: str | None
    password: SecretStr | None


class AlertsConfig(_Section):
    min_severity: AlertSeverity
    repeat_seconds: Annotated[float, Field(ge=0)]
    max_per_minute: PositiveInt
    timeout_seconds: Seconds
    telegram: TelegramAlerts
    slack: SlackAlerts
    email: EmailAlerts


class PaperSource(StrEnum):
    """Where the paper exchange's market comes from: the simulator or the lake's candles."""

    SIM = "sim"
    LAKE = "lake"


class PaperExchangeConfig(_Section):
    host: str
    port: Port
    starting_cash: PositiveMoney
    source: PaperSource
    speed: Annotated[float, Field(ge=0, le=100_000)]
    seed: Annotated[int, Field(ge=0)]
    replay_day: date | None
    # Not a secret (it is in every request header), but named like one: set it in the environment.
    api_key: Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{1,64}$")]
    api_secret: SecretStr | None
    admin_token: SecretStr | None
    user_id: Annotated[str, Field(pattern=r"^[A-Z0-9]{2,10}$")]
    redirect_url: Annotated[str, Field(pattern=r"^https?://\S+$")]
    heartbeat_seconds: Annotated[float, Field(gt=0, le=2)]
    database: str
    faults_file: Path | None


class DashboardConfig(_Section):
    host: str
    port: Port
    auth_token: SecretStr | None
    refresh_seconds: Annotated[float, Field(ge=0.5, le=60)]


class NewsSource(StrEnum):
    """Where the MCP server's news tool reads dated headlines from."""

    NONE = "none"
    FILE = "file"
    NEWSAPI = "newsapi"


class NewsConfig(_Section):
    provider: NewsSource
    file: Path | None
    api_root: Annotated[str, Field(pattern=r"^https?://\S+$")]
    api_key: SecretStr | None
    timeout_seconds: Seconds


class McpConfig(_Section):
    host: str
    port: Port
    auth_token: SecretStr | None
    max_rows: Annotated[int, Field(ge=10, le=10_000)]
    max_proposal_ttl_seconds: Annotated[float, Field(ge=10, le=3600)]
    broker_retry_seconds: Seconds
    news: NewsConfig


class LlmConfig(_Section):
    enabled: bool
    base_url: Annotated[str, Field(pattern=r"^https?://\S+$")] | None
    model: str | None
    api_key: SecretStr | None
    timeout_seconds: Seconds
    # Named without 'token' (a credential word the loader keeps out of YAML files).
    completion_limit: Annotated[int, Field(ge=16, le=32_000)]


class AnalysisConfig(_Section):
    lookback_sessions: Annotated[int, Field(ge=2, le=60)]
    llm: LlmConfig


class InstrumentsConfig(_Section):
    freeze_quantity_overrides: dict[str, PositiveInt]

    @field_validator("freeze_quantity_overrides", mode="after")
    @classmethod
    def _underlyings_upper_case(cls, value: dict[str, int]) -> dict[str, int]:
        # Underlyings are upper-case (NIFTY); environment variable names arrive lower-cased.
        return {underlying.upper(): quantity for underlying, quantity in value.items()}


class CalendarConfig(_Section):
    holidays_file: Path | None


class DataSource(StrEnum):
    SIMULATOR = "simulator"
    KITE = "kite"
    FILES = "files"


class DataConfig(_Section):
    source: DataSource
    simulator_seed: Annotated[int, Field(ge=0)]
    simulator_start: date
    simulator_end: date
    simulator_momentum_15m: Annotated[float, Field(ge=-0.5, le=0.5)]
    kite_universe: tuple[str, ...]
    files_path: Path | None
    files_preset: str | None


class StorageConfig(_Section):
    var_dir: Path
    lake_dir: Path
    reports_dir: Path
    database_url: str
    mlflow_tracking_uri: str
    mlflow_artifacts_dir: Path


class KitepilotConfig(_Section):
    """The whole configuration, frozen. Build it with ``orchestration.settings.load_config``."""

    mode: TradingMode
    capital: PositiveMoney
    risk: RiskConfig
    strategy: StrategyConfig
    backtest: BacktestConfig
    training: TrainingConfig
    promotion: PromotionConfig
    loops: LoopsConfig
    latency: LatencyConfig
    kite: KiteConfig
    execution: ExecutionConfig
    alerts: AlertsConfig
    paper_exchange: PaperExchangeConfig
    dashboard: DashboardConfig
    mcp: McpConfig
    analysis: AnalysisConfig
    instruments: InstrumentsConfig
    calendar: CalendarConfig
    data: DataConfig
    storage: StorageConfig


class _Hidden:
    """Stands in for a value that must not be shown (a secret, or an unknown key's value)."""

    def __repr__(self) -> str:
        return "<hidden>"


HIDDEN = _Hidden()


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One broken rule: the dotted key, what the rule is, and the value found (or HIDDEN)."""

    key: str
    rule: str
    value: object

    def __str__(self) -> str:
        if self.value is HIDDEN:
            return f"{self.key} {self.rule} (value not shown)"
        found = "not set" if self.value is None else repr(self.value)
        return f"{self.key} {self.rule}, was {found}"


class ConfigError(ValueError):
    """The configuration is invalid; the message names every offending key and its rule."""

    def __init__(
        self, problems: list[ConfigProblem], sources: dict[str, str] | None = None
    ) -> None:
        self.problems = problems
        sources = sources or {}
        lines = []
        for problem in problems:
            origin = sources.get(problem.key)
            lines.append(f"{problem}" + (f" (set in {origin})" if origin else ""))
        head = "invalid config: " if len(lines) == 1 else "invalid config:\n  - "
        super().__init__(head + "\n  - ".join(lines))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cross_field_problems(config: KitepilotConfig) -> list[ConfigProblem]:
    """Stage 2: rules that span keys. An empty list means the config is valid."""
    risk, strategy = config.risk, config.strategy
    rules: list[tuple[bool, str, str, object]] = [
        (
            risk.per_trade_risk <= risk.daily_loss_limit,
            "risk.per_trade_risk",
            f"must be <= risk.daily_loss_limit ({risk.daily_loss_limit:g})",
            risk.per_trade_risk,
        ),
        (
            risk.daily_loss_limit <= config.capital,
            "risk.daily_loss_limit",
            f"must be <= capital ({config.capital:g})",
            risk.daily_loss_limit,
        ),
        (
            risk.max_symbol_exposure <= risk.max_total_exposure,
            "risk.max_symbol_exposure",
            f"must be <= risk.max_total_exposure ({risk.max_total_exposure:g})",
            risk.max_symbol_exposure,
        ),
        (
            strategy.option_delta_min < strategy.option_delta_max,
            "strategy.option_delta_min",
            f"must be < strategy.option_delta_max ({strategy.option_delta_max:g})",
            strategy.option_delta_min,
        ),
        (
            strategy.swing_decision_time.tzinfo is None
            and strategy.swing_decision_time.second == 0
            and strategy.swing_decision_time.microsecond == 0
            and _REGULAR_OPEN < strategy.swing_decision_time < _REGULAR_CLOSE,
            "strategy.swing_decision_time",
            "must be a whole minute (a bar's close) inside the 09:15-15:30 IST session, no zone",
            strategy.swing_decision_time,
        ),
        (
            strategy.swing_exit_time.tzinfo is None
            and _REGULAR_OPEN < strategy.swing_exit_time < _REGULAR_CLOSE,
            "strategy.swing_exit_time",
            "must be inside the 09:15-15:30 IST session, no zone",
            strategy.swing_exit_time,
        ),
        (
            config.training.validation_fraction + config.training.calibration_fraction < 0.7,
            "training.validation_fraction",
            "plus training.calibration_fraction must be < 0.7 (the rest fits the trees)",
            config.training.validation_fraction,
        ),
        (
            _is_loopback(config.dashboard.host),
            "dashboard.host",
            "must be a loopback address (web UIs bind to 127.0.0.1)",
            config.dashboard.host,
        ),
        (
            _is_loopback(config.paper_exchange.host),
            "paper_exchange.host",
            "must be a loopback address",
            config.paper_exchange.host,
        ),
        (
            _is_loopback(config.mcp.host),
            "mcp.host",
            "must be a loopback address (the MCP server binds to 127.0.0.1)",
            config.mcp.host,
        ),
    ]
    data = config.data
    rules += [
        (
            data.simulator_start <= data.simulator_end,
            "data.simulator_start",
            f"must be on or before data.simulator_end ({data.simulator_end})",
            data.simulator_start,
        ),
        (
            data.source is not DataSource.FILES or data.files_path is not None,
            "data.files_path",
            "is required when data.source is files",
            data.files_path,
        ),
    ]
    problems = [ConfigProblem(key, rule, value) for ok, key, rule, value in rules if not ok]
    problems += _alert_problems(config.alerts)
    problems += _agent_problems(config.mcp.news, config.analysis.llm)
    if data.source is DataSource.KITE:
        problems += _missing_secrets(
            config.kite, ("api_key", "access_token"), "data.source is kite"
        )
    if config.mode is TradingMode.LIVE:
        problems += _missing_secrets(config.kite, ("api_key", "api_secret"), "mode is live")
    return problems


def _alert_problems(alerts: AlertsConfig) -> list[ConfigProblem]:
    """An enabled alert channel needs its address and its secret."""
    needs: list[tuple[bool, str, object, str]] = []
    telegram, slack, email = alerts.telegram, alerts.slack, alerts.email
    if telegram.enabled:
        needs += [
            (bool(telegram.chat_id), "alerts.telegram.chat_id", telegram.chat_id, ""),
            (
                _has_secret(telegram.bot_token),
                "alerts.telegram.bot_token",
                HIDDEN if telegram.bot_token else None,
                " (set KITEPILOT_ALERTS__TELEGRAM__BOT_TOKEN in .env or the environment)",
            ),
        ]
    if slack.enabled:
        needs.append(
            (
                _has_secret(slack.webhook_url),
                "alerts.slack.webhook_url",
                HIDDEN if slack.webhook_url else None,
                " (set KITEPILOT_ALERTS__SLACK__WEBHOOK_URL in .env or the environment)",
            )
        )
    if email.enabled:
        needs += [
            (bool(email.sender), "alerts.email.sender", email.sender, ""),
            (bool(email.recipients), "alerts.email.recipients", email.recipients, ""),
        ]
    return [
        ConfigProblem(key, f"is required when its channel is enabled{hint}", value)
        for ok, key, value, hint in needs
        if not ok
    ]


def _agent_problems(news: NewsConfig, llm: LlmConfig) -> list[ConfigProblem]:
    """The news file provider needs its file; an enabled LLM back end its endpoint and model
    (its key is optional: a local OpenAI-compatible server may need none)."""
    problems = []
    if news.provider is NewsSource.FILE and news.file is None:
        problems.append(
            ConfigProblem("mcp.news.file", "is required when mcp.news.provider is file", None)
        )
    if llm.enabled:
        for name in ("base_url", "model"):
            value = getattr(llm, name)
            if not value:
                rule = "is required when analysis.llm.enabled is true"
                problems.append(ConfigProblem(f"analysis.llm.{name}", rule, value))
    return problems


def _has_secret(secret: SecretStr | None) -> bool:
    return secret is not None and bool(secret.get_secret_value().strip())


def _missing_secrets(kite: KiteConfig, names: tuple[str, ...], when: str) -> list[ConfigProblem]:
    missing = []
    for name in names:
        secret: SecretStr | None = getattr(kite, name)
        if secret is None or not secret.get_secret_value().strip():
            rule = (
                f"is required when {when} (set KITEPILOT_KITE__{name.upper()} in .env or the "
                "environment)"
            )
            missing.append(ConfigProblem(f"kite.{name}", rule, None))
    return missing
