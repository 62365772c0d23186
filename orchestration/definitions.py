"""The Dagster Definitions: the batch side's assets, checks, jobs, schedule and resources.

``dagster dev`` (run from the repo root; ``[tool.dagster]`` in pyproject.toml points here) loads
``defs``, built from the user's configuration. Tests call :func:`build_definitions` with their own
config (temp dirs, a seeded simulator).
"""

# No `from __future__ import annotations`: Dagster inspects the context annotations at runtime.

from dagster import (
    AssetKey,
    AssetSelection,
    Definitions,
    EnvVar,
    EventLogEntry,
    JobDefinition,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    asset_sensor,
    define_asset_job,
    schedule,
)
from dagster._core.definitions.unresolved_asset_job_definition import (
    # What define_asset_job returns; Dagster does not export the name.
    UnresolvedAssetJobDefinition as UnresolvedAssetJob,
)

from assets.features import feature_assets
from assets.market_data import market_data_assets
from assets.models import (
    LABELS_TABLE,
    OPTION_LABELS_TABLE,
    TRAINING_JOB_ASSETS,
    TRAINING_SET_TABLE,
    model_assets,
)
from assets.partitions import trading_day_partitions
from assets.resources import (
    FileMarketData,
    KiteMarketData,
    LakeResource,
    MarketDataResource,
    ModelRegistryResource,
    QualityResource,
    SimulatorMarketData,
)
from data_contracts.config import DataSource, KitepilotConfig
from data_contracts.nse_calendar import NseCalendar
from data_contracts.timeutil import to_ist
from models.features import FeatureSet, OptionFeatureSet
from orchestration.model_settings import model_pipeline
from orchestration.settings import load_config

__all__ = [
    "DAILY_JOB",
    "INGEST_SCHEDULE",
    "NEW_DATA_SENSOR",
    "RETRAIN_SCHEDULE",
    "TRAINING_JOB",
    "build_definitions",
    "defs",
]

DAILY_JOB = "daily_market_data"
INGEST_SCHEDULE = "ingest_after_close"
TRAINING_JOB = "train_models"
RETRAIN_SCHEDULE = "weekly_retraining"
NEW_DATA_SENSOR = "train_on_new_data"


def build_definitions(
    config: KitepilotConfig, market_data: MarketDataResource | None = None
) -> Definitions:
    """The Definitions for ``config``; ``market_data`` replaces the configured source (tests pass
    a hand-written fake here)."""
    calendar = NseCalendar.default(override=config.calendar.holidays_file)
    partitions = trading_day_partitions(calendar)
    assets = [
        *market_data_assets(partitions, calendar),
        *feature_assets(partitions, calendar, FeatureSet(calendar=calendar), OptionFeatureSet()),
        *model_assets(partitions, calendar, model_pipeline(config, calendar)),
    ]
    daily = define_asset_job(
        DAILY_JOB,
        selection=AssetSelection.groups("market_data", "features")
        | AssetSelection.assets(LABELS_TABLE, OPTION_LABELS_TABLE, TRAINING_SET_TABLE),
        description="Ingest, validate, featurize and label one trading day.",
    )
    training = define_asset_job(
        TRAINING_JOB,
        selection=AssetSelection.assets(*TRAINING_JOB_ASSETS),
        description="Walk-forward evaluation, training, registration, gated promotion, backtest.",
    )
    storage = config.storage
    return Definitions(
        assets=assets,
        jobs=[daily, training],
        schedules=[
            after_close_schedule(daily, calendar),
            ScheduleDefinition(
                name=RETRAIN_SCHEDULE,
                job=training,
                cron_schedule=config.training.retrain_cron,
                execution_timezone="Asia/Kolkata",
                description="Retrain weekly on everything validated so far.",
            ),
        ],
        sensors=[new_data_sensor(training)],
        resources={
            "market_data": market_data or market_data_resource(config),
            "lake": LakeResource(root=str(storage.lake_dir)),
            "quality": QualityResource(reports_dir=str(storage.reports_dir)),
            "models": ModelRegistryResource(
                tracking_uri=storage.mlflow_tracking_uri,
                artifact_root=str(storage.mlflow_artifacts_dir),
                model_name=config.training.model_name,
                reports_dir=str(storage.reports_dir),
            ),
        },
    )


def new_data_sensor(job: JobDefinition | UnresolvedAssetJob) -> SensorDefinition:
    """Train when a new validated training-set day lands (one run per materialization)."""

    @asset_sensor(
        asset_key=AssetKey(TRAINING_SET_TABLE),
        job=job,
        name=NEW_DATA_SENSOR,
        description="Start training when a new validated training_set partition lands.",
    )
    def train_on_new_data(
        context: SensorEvaluationContext, asset_event: EventLogEntry
    ) -> RunRequest:
        # The sensor's cursor is the event's storage id: one run per materialization.
        return RunRequest(run_key=f"{TRAINING_SET_TABLE}-{context.cursor}")

    return train_on_new_data


def market_data_resource(config: KitepilotConfig) -> MarketDataResource:
    """The market-data source the config chooses (credentials only ever via ``EnvVar``)."""
    data = config.data
    if data.source is DataSource.KITE:
        return KiteMarketData(
            api_key=EnvVar("KITEPILOT_KITE__API_KEY"),
            access_token=EnvVar("KITEPILOT_KITE__ACCESS_TOKEN"),
            universe=list(data.kite_universe),
            root=config.kite.root,
        )
    if data.source is DataSource.FILES:
        return FileMarketData(path=str(data.files_path), preset=data.files_preset)
    return SimulatorMarketData(
        seed=data.simulator_seed,
        start=data.simulator_start.isoformat(),
        end=data.simulator_end.isoformat(),
        momentum_15m=data.simulator_momentum_15m,
    )


def after_close_schedule(
    job: JobDefinition | UnresolvedAssetJob, calendar: NseCalendar
) -> ScheduleDefinition:
    """Ingest each trading day at 16:15 IST (after the 15:30 close); skip non-trading days."""

    @schedule(
        name=INGEST_SCHEDULE,
        job=job,
        cron_schedule="15 16 * * *",
        execution_timezone="Asia/Kolkata",
        description="Ingest the day's market data after the NSE close, on trading days only.",
    )
    def ingest_after_close(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
        day = to_ist(context.scheduled_execution_time).date()
        if not calendar.is_trading_day(day):
            return SkipReason(f"{day} is not an NSE trading day")
        return RunRequest(run_key=day.isoformat(), partition_key=day.isoformat())

    return ingest_after_close


defs = build_definitions(load_config())
