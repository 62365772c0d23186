"""The simulated universe: NIFTY 50 and a configurable list of F&O stocks.

The default (``execution/simulator/data/universe.yaml``) holds 14 real NIFTY 50 stocks with their
real Aug-2026 F&O lot sizes and plausible price levels and betas; a user file of the same shape
replaces it (:func:`load_universe`). Exchange tokens are illustrative (see the YAML's header).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from data_contracts.enums import SegmentId
from data_contracts.errors import ContractError
from data_contracts.ids import InstrumentToken
from data_contracts.instruments import instrument_token
from data_contracts.validation import finite, integer, non_empty, positive
from execution.simulator.grid import ticks_per_unit
from execution.simulator.mapping import known_fields, require_mapping

__all__ = ["DEFAULT_UNIVERSE_FILE", "IndexSpec", "StockSpec", "Universe", "load_universe"]

DEFAULT_UNIVERSE_FILE = "universe.yaml"
_SCHEMA = 1


@dataclass(frozen=True, slots=True)
class IndexSpec:
    """The index (NIFTY 50) and the contract terms of its simulated options."""

    tradingsymbol: str
    name: str
    exchange_token: int
    underlying: str
    price: float
    tick_size: float
    option_lot_size: int
    option_tick_size: float
    strike_step: int

    def __post_init__(self) -> None:
        owner, subject = "IndexSpec", self.tradingsymbol
        non_empty(owner, "tradingsymbol", self.tradingsymbol)
        non_empty(owner, "name", self.name, subject)
        non_empty(owner, "underlying", self.underlying, subject)
        integer(owner, "exchange_token", self.exchange_token, minimum=1, subject=subject)
        positive(owner, "price", self.price, subject)
        ticks_per_unit(positive(owner, "tick_size", self.tick_size, subject))
        integer(owner, "option_lot_size", self.option_lot_size, minimum=1, subject=subject)
        ticks_per_unit(positive(owner, "option_tick_size", self.option_tick_size, subject))
        integer(owner, "strike_step", self.strike_step, minimum=1, subject=subject)

    @property
    def instrument_token(self) -> InstrumentToken:
        return instrument_token(self.exchange_token, SegmentId.INDICES)


@dataclass(frozen=True, slots=True)
class StockSpec:
    """One NSE stock: identity, F&O lot, start level, tick, beta, idiosyncratic vol, volume."""

    tradingsymbol: str
    name: str
    exchange_token: int
    fno_lot_size: int
    price: float
    tick_size: float
    beta: float
    idio_vol: float
    daily_volume: int

    def __post_init__(self) -> None:
        owner, subject = "StockSpec", self.tradingsymbol
        non_empty(owner, "tradingsymbol", self.tradingsymbol)
        non_empty(owner, "name", self.name, subject)
        integer(owner, "exchange_token", self.exchange_token, minimum=1, subject=subject)
        integer(owner, "fno_lot_size", self.fno_lot_size, minimum=1, subject=subject)
        positive(owner, "price", self.price, subject)
        ticks_per_unit(positive(owner, "tick_size", self.tick_size, subject))
        finite(owner, "beta", self.beta, subject)
        if not -3.0 <= self.beta <= 3.0:
            raise ContractError(owner, "beta", self.beta, "must be within [-3, 3]", subject)
        positive(owner, "idio_vol", self.idio_vol, subject)
        if self.idio_vol > 2.0:
            raise ContractError(owner, "idio_vol", self.idio_vol, "must be <= 2 (200 %)", subject)
        integer(owner, "daily_volume", self.daily_volume, minimum=1, subject=subject)

    @property
    def instrument_token(self) -> InstrumentToken:
        return instrument_token(self.exchange_token, SegmentId.NSE)


@dataclass(frozen=True, slots=True)
class Universe:
    """The index plus the stocks, in a fixed order (the index is instrument 0 in every array)."""

    index: IndexSpec
    stocks: tuple[StockSpec, ...]
    source: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.index, IndexSpec):
            raise ContractError("Universe", "index", self.index, "must be an IndexSpec")
        stocks = tuple(self.stocks)
        if not stocks or not all(isinstance(s, StockSpec) for s in stocks):
            raise ContractError("Universe", "stocks", self.stocks, "must be >= 1 StockSpec")
        seen_symbols: set[str] = set()
        seen_tokens: set[int] = {self.index.exchange_token}
        for stock in stocks:
            if stock.tradingsymbol in seen_symbols:
                raise ContractError(
                    "Universe", "stocks", stock.tradingsymbol, "must not repeat a tradingsymbol"
                )
            if stock.exchange_token in seen_tokens:
                raise ContractError(
                    "Universe",
                    "exchange_token",
                    stock.exchange_token,
                    "must be unique in the universe",
                    stock.tradingsymbol,
                )
            seen_symbols.add(stock.tradingsymbol)
            seen_tokens.add(stock.exchange_token)
        object.__setattr__(self, "stocks", stocks)

    @property
    def tokens(self) -> tuple[InstrumentToken, ...]:
        """Instrument tokens, index first, in array order."""
        return (self.index.instrument_token, *(s.instrument_token for s in self.stocks))

    @property
    def exchange_tokens(self) -> tuple[int, ...]:
        return (self.index.exchange_token, *(s.exchange_token for s in self.stocks))

    @property
    def size(self) -> int:
        return 1 + len(self.stocks)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Universe:
        """A universe from the YAML shape (``schema``, ``source``, ``index``, ``stocks``)."""
        mapping = dict(require_mapping("Universe", data))
        schema = mapping.pop("schema", _SCHEMA)
        if schema != _SCHEMA:
            raise ContractError("Universe", "schema", schema, f"must be {_SCHEMA}")
        source = mapping.pop("source", "")
        index = require_mapping("IndexSpec", mapping.pop("index", None))
        stocks = mapping.pop("stocks", None)
        if mapping:
            key = sorted(mapping)[0]
            raise ContractError("Universe", key, mapping[key], "is not a field")
        if not isinstance(stocks, Sequence) or isinstance(stocks, str):
            raise ContractError("Universe", "stocks", stocks, "must be a list of stocks")
        return cls(
            index=IndexSpec(**known_fields("IndexSpec", IndexSpec, index)),
            stocks=tuple(
                StockSpec(**known_fields("StockSpec", StockSpec, require_mapping("StockSpec", s)))
                for s in stocks
            ),
            source=str(source),
        )


def load_universe(path: Path | None = None) -> Universe:
    """The universe in ``path`` (YAML), or the shipped default when ``path`` is None."""
    if path is None:
        text = (
            resources.files("execution.simulator")
            .joinpath("data", DEFAULT_UNIVERSE_FILE)
            .read_text(encoding="utf-8")
        )
    else:
        text = Path(path).read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ContractError("Universe", "file", str(path), f"must be valid YAML ({exc})") from exc
    return Universe.from_mapping(require_mapping("Universe", data))
