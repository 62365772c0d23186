"""Dagster resources: where the batch side reads market data and where it writes the lake.

``MarketDataResource`` is the abstract resource every ingestion asset depends on; the Definitions
choose one implementation by configuration (``data.source``): the embedded simulator (default),
Kite's historical API (credentials via ``EnvVar``) or the user's candle files. Each is a thin shell
over a source in ``execution`` that does the work.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path

import polars as pl
from dagster import ConfigurableResource

from data_contracts.clock import SystemClock
from data_contracts.enums import Exchange
from data_contracts.errors import ContractError
from data_contracts.instruments import Instrument
from data_contracts.nse_calendar import NseCalendar
from data_contracts.schemas import OPTION_CHAIN_SCHEMA, CandleFrame, ist_date
from data_contracts.timeutil import IST, to_ist
from execution.kite import KiteHistoricalSource, kite_client
from execution.simulator import SimulatedMarket, SimulatorConfig
from execution.sources.files import ImportResult, import_candles
from models.lake import Lake
from models.registry import MlflowRegistry

__all__ = [
    "DayCandles",
    "FileMarketData",
    "KiteMarketData",
    "LakeResource",
    "MarketDataResource",
    "QualityResource",
    "SimulatorMarketData",
]

ONE_MINUTE = timedelta(minutes=1)
NIFTY_50 = "NIFTY 50"


@dataclass(frozen=True)
class DayCandles:
    """One trading day of 1-minute candles (a valid ``CandleFrame``) and the rows rejected on the
    way in, each with a ``reason`` (kept as dead letters, never silently dropped)."""

    candles: pl.DataFrame
    rejected: pl.DataFrame = field(default_factory=pl.DataFrame)
    notes: tuple[str, ...] = ()


class LakeResource(ConfigurableResource):
    """The Parquet lake (``var/lake`` by default)."""

    root: str

    def lake(self) -> Lake:
        return Lake(Path(self.root))


class MarketDataResource(ConfigurableResource, ABC):
    """Market data for one NSE trading day, whatever the source."""

    @abstractmethod
    def instruments(self, day: date) -> list[Instrument]:
        """The instruments dump as of ``day``."""

    @abstractmethod
    def day_candles(self, day: date) -> DayCandles:
        """The day's 1-minute candles of every instrument in the universe."""

    @abstractmethod
    def option_chain(self, day: date) -> pl.DataFrame:
        """Option-chain snapshots of ``day`` (may be empty where the source has none)."""


# The simulator's own defaults (a seed and a range are required; any will do to read them).
_SIMULATOR_DEFAULTS = SimulatorConfig(seed=0, start=date(2026, 1, 1), end=date(2026, 1, 1))


class SimulatorMarketData(MarketDataResource):
    """The embedded, seeded market simulator (see docs/simulator.md). Simulated, not market data."""

    seed: int
    start: str
    end: str
    momentum_15m: float = _SIMULATOR_DEFAULTS.momentum_15m

    def _market(self) -> SimulatedMarket:
        return _simulated_market(
            self.seed,
            date.fromisoformat(self.start),
            date.fromisoformat(self.end),
            self.momentum_15m,
        )

    def instruments(self, day: date) -> list[Instrument]:
        return list(self._market().instruments(day))

    def day_candles(self, day: date) -> DayCandles:
        return DayCandles(self._market().day_candles(day))

    def option_chain(self, day: date) -> pl.DataFrame:
        return self._market().option_chain(day)


@lru_cache(maxsize=4)
def _simulated_market(seed: int, start: date, end: date, momentum_15m: float) -> SimulatedMarket:
    # Building a market plans every day of the range; reuse it across assets and partitions.
    config = SimulatorConfig(seed=seed, start=start, end=end, momentum_15m=momentum_15m)
    return SimulatedMarket(config)


class KiteMarketData(MarketDataResource):
    """Kite's historical API through the real ``kiteconnect`` client.

    Historical option chains do not exist on Kite (quotes are live), so ``option_chain`` returns
    today's chain only for today's partition and an empty frame otherwise.
    """

    api_key: str
    access_token: str
    universe: list[str]
    root: str | None = None

    def _source(self) -> KiteHistoricalSource:
        client = kite_client(self.api_key, self.access_token, root=self.root)
        return KiteHistoricalSource(client, SystemClock())

    def instruments(self, day: date) -> list[Instrument]:
        return list(self._source().instruments(datetime.combine(day, time(9, 0), IST)))

    def day_candles(self, day: date) -> DayCandles:
        source = self._source()
        session = NseCalendar.default().session(day)
        if session is None:
            return DayCandles(_empty_candles(), notes=(f"{day} is not an NSE session",))
        wanted = {NIFTY_50, *self.universe}
        tokens = [
            i.instrument_token
            for i in source.instruments(session.open)
            if i.exchange is Exchange.NSE and i.tradingsymbol in wanted
        ]
        frames = [
            source.candles(token, session.open, session.close, ONE_MINUTE) for token in tokens
        ]
        return DayCandles(pl.concat(frames) if frames else _empty_candles())

    def option_chain(self, day: date) -> pl.DataFrame:
        if day != to_ist(SystemClock().now()).date():
            return pl.DataFrame(schema=dict(OPTION_CHAIN_SCHEMA))  # past chains do not exist
        return self._source().option_chain("NIFTY", NseCalendar.default().weekly_expiry(day))


class FileMarketData(MarketDataResource):
    """The user's candle files (CSV/Parquet), imported with a preset or auto-detected mapping."""

    path: str
    preset: str | None = None

    def _imports(self) -> tuple[ImportResult, ...]:
        return _imported_files(Path(self.path), self.preset)

    def instruments(self, day: date) -> list[Instrument]:
        found = {i.instrument_token: i for r in self._imports() for i in r.instruments()}
        return [found[token] for token in sorted(found)]

    def day_candles(self, day: date) -> DayCandles:
        imports = self._imports()
        candles = [result.candles.filter(ist_date() == day) for result in imports]
        rejected = [r.rejected.with_columns(pl.lit(r.source).alias("source")) for r in imports]
        notes = tuple(w for r in imports for w in r.warnings)
        return DayCandles(
            pl.concat(candles) if candles else _empty_candles(),
            pl.concat(rejected, how="diagonal_relaxed") if rejected else pl.DataFrame(),
            notes,
        )

    def option_chain(self, day: date) -> pl.DataFrame:
        return pl.DataFrame()


@lru_cache(maxsize=2)
def _imported_files(path: Path, preset: str | None) -> tuple[ImportResult, ...]:
    if not path.exists():
        raise ContractError(
            "FileMarketData", "path", str(path), "must be an existing file or folder"
        )
    files = (
        sorted(p for p in path.rglob("*") if p.suffix.lower() in {".csv", ".parquet"})
        if path.is_dir()
        else [path]
    )
    return tuple(import_candles(file, preset) for file in files)


def _empty_candles() -> pl.DataFrame:
    empty: pl.DataFrame = CandleFrame.empty()
    return empty


class QualityResource(ConfigurableResource):
    """Where data-quality reports and Great Expectations Data Docs are written."""

    reports_dir: str

    def docs_dir(self, table: str, first: date, last: date) -> Path:
        return Path(self.reports_dir) / "data_docs" / table / f"{first}_{last}"


class ModelRegistryResource(ConfigurableResource):
    """The MLflow tracking store and model registry, and where study outputs and reports go."""

    tracking_uri: str
    artifact_root: str
    model_name: str
    reports_dir: str

    def registry(self) -> MlflowRegistry:
        return MlflowRegistry(
            self.tracking_uri, Path(self.artifact_root), self.model_name, clock=SystemClock()
        )

    def study_dir(self) -> Path:
        """The latest walk-forward study's outputs (parquet + JSON) and reports."""
        return Path(self.reports_dir) / "models"
