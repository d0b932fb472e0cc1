"""``vru features``: as-of-date cohorts, risk-factor features and labels from the linked spine.

- :mod:`training.features.config`: the ``features:`` section (:class:`FeaturesConfig`);
- :mod:`training.features.definitions`: every feature, defined once;
- :mod:`training.features.events`: the linked events and person facts, as SQL;
- :mod:`training.features.engines`: where the SQL runs (DuckDB or Spark);
- :mod:`training.features.build`: :func:`run_features`, the stage's one entry point.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from training.features.build import FeatureSet, run_features

__all__ = ["FeatureSet", "run_features"]


def __getattr__(name: str) -> Any:
    """Import the entry point on first use.

    ``training.config`` imports :mod:`training.features.config`, which runs this file first;
    importing the stage here would import ``training.config`` again, half made.
    """
    if name in __all__:
        from training.features import build

        return getattr(build, name)
    raise AttributeError(f"module 'training.features' has no attribute {name!r}")
