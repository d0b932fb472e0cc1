"""Where training logs what the audit later reads, named once for both sides.

Paths of MLflow artifacts of a version's training run. Each holds aggregates only.
"""

from __future__ import annotations

__all__ = ["ROLLING_ARTIFACT", "TRAINING_REFERENCE"]

#: Bins of the training split's inputs and of the validation split's scores
#: (:func:`governance.audit.cohort_drift.training_reference`), for drift to the scored cohort.
TRAINING_REFERENCE = "drift/training_reference.json"
#: The rolling-origin evaluation's figures (``training/model/rolling.py``), one row per origin.
ROLLING_ARTIFACT = "evaluation/rolling_origins.json"
