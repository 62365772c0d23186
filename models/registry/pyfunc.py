"""The MLflow pyfunc face of a saved model: pandas rows in, ``p_win`` and ``expected_return`` out.

Logged as *models from code* (``pyfunc_entry.py``), not pickled: the artifact ``model`` is the
directory the model saved itself into, and ``model_config["model_class"]`` names the class whose
``load(directory)`` reads it back. Loading needs kitepilot importable (it is not shipped with the
model).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import pandas as pd  # type: ignore[import-untyped]  # no pandas-stubs; MLflow needs the hint
import polars as pl
from mlflow.pyfunc.model import PythonModel

from data_contracts.errors import ContractError
from models.registry.scoring import RegistrableModel, load_model_class

__all__ = ["MODEL_ARTIFACT", "MODEL_CLASS_KEY", "ScoringPyfunc"]

MODEL_ARTIFACT: Final = "model"
MODEL_CLASS_KEY: Final = "model_class"


class ScoringPyfunc(PythonModel):
    def __init__(self) -> None:
        self._model: RegistrableModel | None = None

    def load_context(self, context: Any) -> None:
        config = context.model_config or {}
        model_class = load_model_class(config.get(MODEL_CLASS_KEY))
        self._model = model_class.load(Path(context.artifacts[MODEL_ARTIFACT]))

    @property
    def model(self) -> RegistrableModel:
        if self._model is None:
            raise ContractError("ScoringPyfunc", "model", None, "must be loaded (load_context)")
        return self._model

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Score a pandas frame of feature rows; returns a pandas frame (``p_win``,
        ``expected_return``). The ``pd.DataFrame`` hints make MLflow validate inputs against the
        logged signature instead of trying to infer one from the hints."""
        scores = self.model.predict(pl.from_pandas(model_input))
        return pl.DataFrame(
            {"p_win": list(scores.p_win), "expected_return": list(scores.expected_return)},
            schema={"p_win": pl.Float64, "expected_return": pl.Float64},
        ).to_pandas()
