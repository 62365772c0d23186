"""MLflow *models from code* entry point: MLflow copies this file into the logged model and runs
it at load time. It is never imported by kitepilot itself."""

import mlflow.models

from models.registry.pyfunc import ScoringPyfunc

mlflow.models.set_model(ScoringPyfunc())
