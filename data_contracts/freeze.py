"""Freeze quantities: the largest order quantity NSE accepts per index underlying.

NSE revises these often (reference §1.10), so they are data: the packaged default
(``data_contracts/data/freeze_quantities.yaml``) or a YAML file of the user's, with per-underlying
overrides from config on top. :func:`apply_freeze_quantities` writes them onto the NFO derivatives
of a parsed instruments dump; :mod:`data_contracts.pricegrid` slices orders under them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from data_contracts.enums import Exchange
from data_contracts.errors import ContractError
from data_contracts.instruments import Instrument
from data_contracts.validation import integer, non_empty

__all__ = ["FreezeQuantities", "apply_freeze_quantities", "load_freeze_quantities"]

_DEFAULT_FREEZE_FILE = "freeze_quantities.yaml"


@dataclass(frozen=True, slots=True)
class FreezeQuantities:
    """Maximum order quantities (units, not lots) per index underlying, as NSE last set them.

    NSE revises these often (reference §1.10); config overrides the packaged defaults.
    """

    effective: date
    source: str
    quantities: Mapping[str, int] = field(hash=False)

    def __post_init__(self) -> None:
        if isinstance(self.effective, datetime) or not isinstance(self.effective, date):
            raise ContractError("FreezeQuantities", "effective", self.effective, "must be a date")
        non_empty("FreezeQuantities", "source", self.source)
        if not isinstance(self.quantities, Mapping) or not self.quantities:
            raise ContractError(
                "FreezeQuantities", "quantities", self.quantities, "must be a non-empty mapping"
            )
        for underlying, quantity in self.quantities.items():
            non_empty("FreezeQuantities", "underlying", underlying)
            integer("FreezeQuantities", "quantity", quantity, minimum=1, subject=underlying)
        object.__setattr__(self, "quantities", MappingProxyType(dict(self.quantities)))

    def get(self, underlying: str) -> int | None:
        return self.quantities.get(underlying)

    def with_overrides(self, overrides: Mapping[str, int], source: str) -> FreezeQuantities:
        """This table with ``overrides`` (the user's config) taking precedence, underlying by
        underlying; ``source`` names where the overrides came from."""
        if not overrides:
            return self
        return replace(
            self,
            source=f"{self.source}; overridden by {source}",
            quantities={**self.quantities, **overrides},
        )


def load_freeze_quantities(source: Path | None = None) -> FreezeQuantities:
    """The freeze-quantity table from a YAML file, or the packaged default when ``source`` is None.

    The file has ``effective`` (a date), ``source`` (where the numbers come from) and
    ``freeze_quantities`` (underlying → quantity in units).
    """
    if source is None:
        text = (
            resources.files("data_contracts")
            .joinpath("data", _DEFAULT_FREEZE_FILE)
            .read_text(encoding="utf-8")
        )
    else:
        text = source.read_text(encoding="utf-8")
    where = str(source) if source is not None else _DEFAULT_FREEZE_FILE
    loaded: Any = yaml.safe_load(text)
    if not isinstance(loaded, dict):
        raise ContractError("FreezeQuantities", "file", where, "must hold a YAML mapping")
    missing = [key for key in ("effective", "source", "freeze_quantities") if key not in loaded]
    if missing:
        raise ContractError("FreezeQuantities", "file", where, f"must have the keys {missing}")
    # The values are Any from YAML; FreezeQuantities validates each one.
    effective: Any = loaded["effective"]
    origin: Any = loaded["source"]
    quantities: Any = loaded["freeze_quantities"]
    return FreezeQuantities(effective=effective, source=origin, quantities=quantities)


def apply_freeze_quantities(
    instruments: Iterable[Instrument], table: FreezeQuantities
) -> list[Instrument]:
    """Copies of ``instruments`` with ``freeze_quantity`` set on the NFO derivatives whose
    underlying (``name``) is in ``table``; every other instrument is returned unchanged."""
    result: list[Instrument] = []
    for instrument in instruments:
        quantity = table.get(instrument.name) if instrument.exchange is Exchange.NFO else None
        if quantity is not None and instrument.instrument_type.is_derivative:
            instrument = replace(instrument, freeze_quantity=quantity)
        result.append(instrument)
    return result
