"""The MLflow form of a calibrated model: ``mlflow.pyfunc.load_model(uri).predict(features)``."""

from __future__ import annotations

import json
import pickle
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

from training.model.estimators import CalibratedModel

__all__ = ["EVALUATED", "REFIT_RECORD", "SERVED", "RiskModel"]

#: The artifacts of the logged model: the served model (the refit, when training refits),
#: the evaluated model (trained on ``splits.train``, tested out of time) and how the refit was
#: made. All three lie under the model's root, so the board's signed digest covers them.
SERVED, EVALUATED, REFIT_RECORD = "calibrated_model", "evaluated_model", "refit_record"


class RiskModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    """Loads the pickled :class:`CalibratedModel` artifacts and predicts the served model's risk.

    ``model`` is the served model; ``evaluated`` the one the out-of-time audit judges (the
    served model itself when training did not refit); ``refit`` the refit's record (a dict),
    or None when the served model is the evaluated one.
    """

    def load_context(self, context: Any) -> None:
        """Unpickle the models logged beside this wrapper."""
        artifacts = context.artifacts
        with open(artifacts[SERVED], "rb") as fh:
            self.model: CalibratedModel = pickle.load(fh)
        self.evaluated: CalibratedModel = self.model
        self.refit: dict[str, Any] | None = None
        if EVALUATED in artifacts:
            with open(artifacts[EVALUATED], "rb") as fh:
                self.evaluated = pickle.load(fh)
        if REFIT_RECORD in artifacts:
            with open(artifacts[REFIT_RECORD], encoding="utf-8") as fh:
                self.refit = json.load(fh)

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> np.ndarray:
        """Calibrated probability per row of a features frame (columns as in training)."""
        return self.model.predict(model_input)
