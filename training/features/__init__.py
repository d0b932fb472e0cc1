"""``vru features``: as-of-date cohorts, risk-factor features and labels from the linked spine.

- :mod:`training.features.config`: the ``features:`` section (:class:`FeaturesConfig`);
- :mod:`training.features.definitions`: every feature, defined once;
- :mod:`training.features.events`: the linked events and person facts, as SQL;
- :mod:`training.features.engines`: where the SQL runs (DuckDB or Spark);
- :mod:`training.features.build`: :func:`run_features`, the stage's one entry point.
"""

from __future__ import annotations
