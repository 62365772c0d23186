"""Strict construction of the simulator's frozen parameter types from plain mappings (YAML).

Unknown keys are rejected rather than ignored: a misspelt parameter (``strikes_each_sid``) silently
keeping its default would make a run quietly different from what its author meant.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from data_contracts.errors import ContractError

__all__ = ["known_fields", "require_mapping"]


def require_mapping(owner: str, value: object) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ContractError(owner, "mapping", value, "must be a mapping of field names to values")
    return value


def known_fields(owner: str, kind: type, mapping: Mapping[str, Any]) -> dict[str, Any]:
    """``mapping`` as keyword arguments for the dataclass ``kind``; an unknown key raises."""
    names = {f.name for f in dataclasses.fields(kind) if f.init}
    unknown = sorted(str(k) for k in mapping if k not in names)
    if unknown:
        raise ContractError(
            owner, unknown[0], mapping[unknown[0]], f"is not a field (known: {sorted(names)})"
        )
    return dict(mapping)
