"""The MLflow form of a calibrated model: ``mlflow.pyfunc.load_model(uri).predict(features)``."""

from __future__ import annotations

import pickle
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

from training.model.estimators import CalibratedModel

__all__ = ["RiskModel"]


class RiskModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    """Loads the pickled :class:`CalibratedModel` artifact and predicts calibrated risk."""

    def load_context(self, context: Any) -> None:
        """Unpickle the calibrated model logged beside this wrapper."""
        with open(context.artifacts["calibrated_model"], "rb") as fh:
            self.model: CalibratedModel = pickle.load(fh)

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> np.ndarray:
        """Calibrated probability per row of a features frame (columns as in training)."""
        return self.model.predict(model_input)
