"""``vru train``: temporal validation, LightGBM and a baseline, calibration, MLflow tracking.

- :mod:`training.model.config`: ``configs/model.yaml`` (:class:`ModelConfig`);
- :mod:`training.model.train`: :func:`run_train`, the stage's one entry point.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from training.model.train import CANDIDATE, TrainResult, run_train

__all__ = ["CANDIDATE", "TrainResult", "run_train"]


def __getattr__(name: str) -> Any:
    """Import the entry point on first use.

    A Spark worker that unpickles the model imports this package first; it then needs neither
    MLflow nor the training code.
    """
    if name in __all__:
        from training.model import train

        return getattr(train, name)
    raise AttributeError(f"module 'training.model' has no attribute {name!r}")
