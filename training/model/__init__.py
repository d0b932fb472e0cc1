"""``vru train``: temporal validation, LightGBM and a logistic baseline, calibration, MLflow.

- :mod:`training.model.config`: ``configs/model.yaml`` (:class:`ModelConfig`);
- :mod:`training.model.train`: :func:`run_train`, the stage's one entry point.
"""

from __future__ import annotations
