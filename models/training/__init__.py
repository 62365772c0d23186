"""Fold models: XGBoost win classifier + net-return regressor, calibration and ML metrics.

See ``docs/training.md``. Folds and the purged inner split live in ``models.walkforward``.
"""

from models.training.calibration import Calibrator, fit_calibrator
from models.training.config import TrainingConfig
from models.training.fit import train_fold, train_model
from models.training.metrics import calibration_table, classification_metrics
from models.training.model import ModelMetadata, TrainedModel
from models.training.predictions import fold_predictions, walk_forward_predictions

__all__ = [
    "Calibrator",
    "ModelMetadata",
    "TrainedModel",
    "TrainingConfig",
    "calibration_table",
    "classification_metrics",
    "fit_calibrator",
    "fold_predictions",
    "train_fold",
    "train_model",
    "walk_forward_predictions",
]
