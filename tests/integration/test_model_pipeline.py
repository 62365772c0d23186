"""The model side as users run it, all through Dagster `materialize`/jobs on real parts: simulator
data → labels → training set → walk-forward → MLflow (SQLite) registered model with the champion
alias → backtest report; a deliberately worse model stays challenger; a leaked feature is caught."""

from __future__ import annotations

import re
import warnings
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from dagster import DagsterInstance, Definitions, materialize
from typer.testing import CliRunner

from data_contracts.clock import SystemClock
from data_contracts.config import KitepilotConfig
from data_contracts.schemas import LabelFrame
from models.lake import Lake
from models.registry import MlflowRegistry
from orchestration.cli import app
from orchestration.definitions import DAILY_JOB, TRAINING_JOB, build_definitions
from orchestration.model_cli import backtest
from orchestration.settings import load_config

pytestmark = pytest.mark.slow

FIRST, LAST = "2026-07-01", "2026-07-17"  # 13 NSE trading days
MODEL = "kitepilot-test"


def _config(tmp_path: Path, **overrides: str) -> KitepilotConfig:
    environ = {
        "KITEPILOT_STORAGE__LAKE_DIR": str(tmp_path / "lake"),
        "KITEPILOT_STORAGE__REPORTS_DIR": str(tmp_path / "reports"),
        "KITEPILOT_STORAGE__MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "KITEPILOT_STORAGE__MLFLOW_ARTIFACTS_DIR": str(tmp_path / "mlartifacts"),
        "KITEPILOT_DATA__SIMULATOR_START": "2026-06-01",
        "KITEPILOT_DATA__SIMULATOR_END": "2026-07-31",
        "KITEPILOT_TRAINING__TRAIN_DAYS": "8",
        "KITEPILOT_TRAINING__TEST_DAYS": "2",
        "KITEPILOT_TRAINING__N_ESTIMATORS": "60",
        "KITEPILOT_TRAINING__MODEL_NAME": MODEL,
        # Ranked by AUC so that "worse" is unambiguous; floors off so the first model is promoted.
        "KITEPILOT_PROMOTION__PRIMARY_METRIC": "auc",
        "KITEPILOT_PROMOTION__MIN_AUC": "0",
        "KITEPILOT_PROMOTION__MAX_CALIBRATION_ERROR": "1",
        "KITEPILOT_PROMOTION__MIN_NET_PNL": "-1000000000",
        # A threshold the calibrated model reaches, so the model strategy trades.
        "KITEPILOT_STRATEGY__MIN_CONFIDENCE": "0.55",
        "KITEPILOT_STRATEGY__MIN_EXPECTED_NET_PROFIT": "0",
        # Room for one NIFTY option lot (65 x premium x 40 % stop) so long options get labels.
        "KITEPILOT_RISK__PER_TRADE_RISK": "5000",
        "KITEPILOT_RISK__DAILY_LOSS_LIMIT": "10000",
    }
    environ.update({f"KITEPILOT_{k}": v for k, v in overrides.items()})
    return load_config(environ=environ, dotenv_file=None)


def _run(defs: Definitions, job: str, instance: DagsterInstance, first=FIRST, last=LAST):
    tags = (
        {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
        if job == DAILY_JOB
        else {}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return defs.resolve_job_def(job).execute_in_process(
            instance=instance, tags=tags, raise_on_error=False
        )


def _checks(result) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    tmp_path = tmp_path_factory.mktemp("models")
    instance = DagsterInstance.ephemeral()
    defs = build_definitions(_config(tmp_path))
    daily = _run(defs, DAILY_JOB, instance)
    first = _run(defs, TRAINING_JOB, instance)
    return tmp_path, instance, daily, first


def _registry(tmp_path: Path) -> MlflowRegistry:
    return MlflowRegistry(
        f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "mlartifacts", MODEL, clock=SystemClock()
    )


def test_daily_job_writes_valid_fee_aware_labels_and_training_set(trained) -> None:
    tmp_path, _, daily, _ = trained
    lake = Lake(tmp_path / "lake")

    assert daily.success
    assert all(_checks(daily).values()), _checks(daily)
    days = lake.days("labels")
    assert len(days) == 13
    labels = lake.scan("labels", days[0], days[-1]).drop("date").collect()
    assert LabelFrame.validate(labels).height > 1000
    assert (labels["charges"] > 0).all()  # every trade pays Zerodha's charges
    assert set(labels["exit_reason"].unique()) <= {
        "take_profit",
        "stop_loss",
        "time",
        "square_off",
        "end_of_data",
    }
    assert lake.days("training_set") == days


def test_daily_job_writes_long_option_labels_within_the_strategy_rules(trained) -> None:
    tmp_path, *_ = trained
    lake = Lake(tmp_path / "lake")
    days = lake.days("labels")

    labels = lake.scan("option_labels", days[0], days[-1]).drop("date").collect()

    assert lake.days("option_labels") == days
    assert LabelFrame.validate(labels).height > 100
    assert (labels["segment"] == "options").all()
    assert (labels["charges"] > 0).all()
    assert labels["delta"].abs().is_between(0.20, 0.40).all()
    calls = labels["option_type"] == "CE"
    assert 0 < calls.sum() < labels.height  # bullish and bearish decisions both trade
    assert set(labels["exit_reason"].unique()) <= {
        "take_profit",
        "stop_loss",
        "time",
        "square_off",
    }


def test_training_registers_a_champion_and_writes_the_reports(trained) -> None:
    tmp_path, _, _, first = trained
    registry = _registry(tmp_path)

    assert first.success, _checks(first)
    assert _checks(first) == {"beats_champion": True}
    champion = registry.champion()
    assert champion is not None
    assert champion.version == "1"
    metrics = registry.version_metrics("1")
    assert 0.0 <= metrics["auc"] <= 1.0
    assert "net_pnl" in metrics
    reports = tmp_path / "reports" / "models"
    walk_forward = (reports / "walk_forward.html").read_text(encoding="utf-8")
    assert "Simulated data is not market evidence" in walk_forward
    for strategy in ("model", "rules_macd_rsi", "always_trade", "never_trade"):
        assert strategy in walk_forward
    assert "Trades" in (reports / "backtest.html").read_text(encoding="utf-8")


def test_champion_scores_feature_rows_of_its_version_only(trained) -> None:
    tmp_path, _, _, _ = trained
    registry = _registry(tmp_path)
    lake = Lake(tmp_path / "lake")
    rows = lake.read("training_set", date(2026, 7, 17))
    assert rows is not None
    scorer = registry.load(registry.champion())

    scores = scorer.score(rows)

    assert len(scores.p_win) == rows.height
    assert all(0.0 <= p <= 1.0 for p in scores.p_win)
    with pytest.raises(Exception, match="feature_version"):
        scorer.score(rows.with_columns(pl.lit("candles-000000000000").alias("feature_version")))


def test_a_worse_model_stays_challenger_and_champion_does_not_move(trained) -> None:
    tmp_path, instance, _, _ = trained
    # One nearly-flat tree: every row gets (almost) the same score, so AUC falls to ~0.5.
    worse = build_definitions(
        _config(tmp_path, TRAINING__N_ESTIMATORS="1", TRAINING__LEARNING_RATE="0.000001")
    )
    registry = _registry(tmp_path)
    before = registry.version_metrics("1")["auc"]

    second = _run(worse, TRAINING_JOB, instance)

    assert not second.success  # the blocking check stops the promotion step
    assert _checks(second) == {"beats_champion": False}
    assert registry.version_metrics("2")["auc"] < before
    assert registry.champion().version == "1"
    assert registry.challenger().version == "2"


def test_a_feature_equal_to_the_future_label_is_caught(trained) -> None:
    tmp_path, instance, _, _ = trained
    lake = Lake(tmp_path / "lake")
    day = date(2026, 7, 16)
    features, labels = lake.read("features", day), lake.read("labels", day)
    assert features is not None
    assert labels is not None
    # Overwrite one feature with the label's future net return (what a look-ahead bug would do).
    leaked = (
        features.drop("date", strict=False)
        .join(
            labels.select("instrument_token", "ts_event", "net_return_pct"),
            on=["instrument_token", "ts_event"],
            how="left",
        )
        .with_columns(pl.col("net_return_pct").fill_null(0.0).alias("roc_20"))
        .drop("net_return_pct")
    )
    lake.write("features", day, leaked)
    defs = build_definitions(_config(tmp_path))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = materialize(
            [defs.resolve_assets_def("training_set")],
            partition_key=day.isoformat(),  # resources come bound from the Definitions
            instance=instance,
            raise_on_error=False,
        )

    assert _checks(result) == {"training_set_valid": True, "no_label_leakage": False}
    assert lake.read("training_set", day) is None  # the refused day is gone, not left stale


def _environ(tmp_path: Path) -> dict[str, str]:
    config = _config(tmp_path)
    storage = config.storage
    return {
        "KITEPILOT_STORAGE__LAKE_DIR": str(storage.lake_dir),
        "KITEPILOT_STORAGE__REPORTS_DIR": str(storage.reports_dir),
        "KITEPILOT_STORAGE__MLFLOW_TRACKING_URI": storage.mlflow_tracking_uri,
        "KITEPILOT_STORAGE__MLFLOW_ARTIFACTS_DIR": str(storage.mlflow_artifacts_dir),
        "KITEPILOT_TRAINING__MODEL_NAME": MODEL,
        "KITEPILOT_STRATEGY__MIN_CONFIDENCE": "0.55",
        "KITEPILOT_RISK__PER_TRADE_RISK": "5000",
        "KITEPILOT_RISK__DAILY_LOSS_LIMIT": "10000",
    }


@pytest.mark.parametrize(
    "strategy",
    [
        "model",
        "rules_macd_rsi",
        "always_trade",
        "never_trade",
        "options_rules_macd_rsi",
        "options_always_trade",
        "swing_model",
        "swing_always_trade",
    ],
)
def test_backtest_cli_prints_metrics_and_writes_the_report(
    trained, strategy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp_path, _, _, _ = trained
    for key, value in _environ(tmp_path).items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(
        app,
        ["backtest", "--from", "2026-07-13", "--to", "2026-07-17", "--strategy", strategy],
    )

    assert result.exit_code == 0, result.output
    assert "net_pnl" in result.stdout
    report = tmp_path / "reports" / "backtests" / f"{strategy}_2026-07-13_2026-07-17.html"
    assert "Simulated data is not market evidence" in report.read_text(encoding="utf-8")
    if strategy in ("model", "swing_model"):
        assert "in-sample" in result.stdout
    if strategy.startswith("options") or strategy in ("always_trade", "swing_always_trade"):
        trades = re.search(r"trades\s*│\s*([\d,.]+)", result.stdout)
        assert trades is not None, result.stdout
        assert float(trades.group(1).replace(",", "")) > 0


def test_swing_backtest_holds_delivery_over_nights_and_the_model_takes_a_subset(trained) -> None:
    tmp_path, _, _, _ = trained
    config = _config(tmp_path)
    first, last = date(2026, 7, 6), date(2026, 7, 10)

    every = backtest(config, first, last, "swing_always_trade").result.trades
    chosen = backtest(config, first, last, "swing_model").result.trades

    assert every.height > 0
    entry_ist = every["ts_entry"].dt.convert_time_zone("Asia/Kolkata")
    exit_ist = every["ts_exit"].dt.convert_time_zone("Asia/Kolkata")
    assert set(entry_ist.dt.strftime("%H:%M").to_list()) == {"15:10"}  # the decision bar
    assert set(every["segment"].to_list()) == {"delivery"}
    assert (every["direction"] == 1).all()  # long only
    assert (exit_ist.dt.date() > entry_ist.dt.date()).any(), "some trades held overnight"
    held_to_time = every.filter(pl.col("exit_reason") == "time")
    assert held_to_time.height > 0
    assert (held_to_time["ts_exit"] >= held_to_time["exit_deadline"]).all()
    # the delivery round trip pays STT on both legs and the DP charge on the sale
    assert (every["charges"] > 15.0).all()
    keys = ["instrument_token", "ts_entry"]
    assert set(chosen.select(keys).rows()) <= set(every.select(keys).rows())


def test_backtest_cli_refuses_an_unknown_strategy_naming_the_option(
    trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp_path, _, _, _ = trained
    for key, value in _environ(tmp_path).items():
        monkeypatch.setenv(key, value)

    result = CliRunner().invoke(
        app, ["backtest", "--from", "2026-07-13", "--to", "2026-07-17", "--strategy", "moon"]
    )

    assert result.exit_code == 2
    assert "--strategy" in result.output


def test_train_cli_prints_the_comparison_and_the_verdict(
    trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp_path, _, _, _ = trained
    for key, value in _environ(tmp_path).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("KITEPILOT_TRAINING__TRAIN_DAYS", "8")
    monkeypatch.setenv("KITEPILOT_TRAINING__TEST_DAYS", "2")
    monkeypatch.setenv("KITEPILOT_TRAINING__N_ESTIMATORS", "20")
    monkeypatch.chdir(tmp_path)  # no dagster.yaml here: an in-memory Dagster instance

    result = CliRunner().invoke(app, ["train"])

    assert result.exit_code == 0, result.output
    for strategy in ("model", "rules_macd_rsi", "always_trade", "never_trade"):
        assert strategy in result.stdout
    assert "model version" in result.stdout
    assert "walk_forward.html" in result.stdout
    assert "Simulated data is not market evidence" in result.stdout
