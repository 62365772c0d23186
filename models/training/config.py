"""Hyper-parameters of the fold model: two XGBoost boosters and a probability calibrator."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Final, Literal

from data_contracts.errors import ContractError
from data_contracts.validation import integer, positive

__all__ = ["CALIBRATION_METHODS", "TrainingConfig"]

CALIBRATION_METHODS: Final = ("isotonic", "platt")


@dataclass(frozen=True)
class TrainingConfig:
    """How one fold's model is trained (see ``docs/training.md``).

    ``validation_fraction`` and ``calibration_fraction`` are shares of the training rows, taken
    from its end in time order; ``embargo_minutes`` is the embargo between those inner slices (the
    label purge always applies).
    """

    seed: int = 7
    n_estimators: int = 400
    learning_rate: float = 0.05
    max_depth: int = 4
    min_child_weight: float = 5.0
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    early_stopping_rounds: int = 30
    validation_fraction: float = 0.15
    calibration_fraction: float = 0.15
    calibration: Literal["isotonic", "platt"] = "isotonic"
    nthread: int = 2
    embargo_minutes: int = 30

    def __post_init__(self) -> None:
        owner = type(self).__name__
        integer(owner, "seed", self.seed, minimum=0)
        integer(owner, "n_estimators", self.n_estimators, minimum=1)
        integer(owner, "max_depth", self.max_depth, minimum=1)
        integer(owner, "early_stopping_rounds", self.early_stopping_rounds, minimum=1)
        integer(owner, "nthread", self.nthread, minimum=1)
        integer(owner, "embargo_minutes", self.embargo_minutes, minimum=0)
        positive(owner, "learning_rate", self.learning_rate)
        if self.learning_rate > 1:
            raise ContractError(owner, "learning_rate", self.learning_rate, "must be <= 1")
        positive(owner, "min_child_weight", self.min_child_weight)
        for field in ("subsample", "colsample_bytree"):
            value = positive(owner, field, getattr(self, field))
            if value > 1:
                raise ContractError(owner, field, value, "must be within (0, 1]")
        for field in ("validation_fraction", "calibration_fraction"):
            value = positive(owner, field, getattr(self, field))
            if value >= 1:
                raise ContractError(owner, field, value, "must be within (0, 1)")
        if self.validation_fraction + self.calibration_fraction >= 1:
            raise ContractError(
                owner,
                "calibration_fraction",
                self.calibration_fraction,
                f"plus validation_fraction ({self.validation_fraction}) must be < 1 "
                "(rows are needed to fit)",
            )
        if self.calibration not in CALIBRATION_METHODS:
            raise ContractError(
                owner, "calibration", self.calibration, f"must be one of {CALIBRATION_METHODS}"
            )

    def to_dict(self) -> dict[str, int | float | str]:
        """The parameters as a flat mapping (for run parameters and the saved metadata)."""
        return dict(asdict(self))

    def xgboost_params(self) -> dict[str, int | float | str]:
        """Booster parameters shared by the classifier and the regressor (objective excluded)."""
        return {
            "tree_method": "hist",
            "seed": self.seed,
            "nthread": self.nthread,
            "eta": self.learning_rate,
            "max_depth": self.max_depth,
            "min_child_weight": self.min_child_weight,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
        }
