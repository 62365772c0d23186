"""The model registry (MLflow): log a training, register its model, champion/challenger aliases,
and load a version as a ``Scorer``. See ``docs/registry.md``."""

from models.registry.adapter import (
    CHALLENGER,
    CHAMPION,
    MlflowRegistry,
    RegisteredVersion,
)
from models.registry.scoring import RegistrableModel, RegistryScorer

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "MlflowRegistry",
    "RegisteredVersion",
    "RegistrableModel",
    "RegistryScorer",
]
