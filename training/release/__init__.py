"""``vru release``: area-level risk figures of the current population, disclosure-controlled.

Scores the cohort at the latest as-of date with the board-approved ``champion`` model, sums
risks, factor prevalence and exact SHAP contributions to every area level, applies
statistical disclosure control and writes a release (:mod:`governance.contracts.release_schema`).
Per-person values exist only inside :func:`run_release`; nothing about a person is written.

- :mod:`training.release.config`: ``configs/release.yaml`` (:class:`ReleaseConfig`);
- :mod:`training.release.score`: scoring and SHAP, once per distinct model input;
- :mod:`training.release.aggregate`: pure area figures, shrinkage, intervals, ranks;
- :mod:`training.release.distributed`: the same scoring on Spark (``engine: spark``),
  partition by partition, returning LSOA sums only;
- :mod:`training.release.publish`: the release written atomically, with its manifest;
- :mod:`training.release.run`: :func:`run_release`, the stage's one entry point: the order
  of work in six named steps (verify, score, aggregate, protect, publish, record).
"""

from __future__ import annotations

from training.release.config import ReleaseConfig, RiskFactor

__all__ = ["ReleaseConfig", "RiskFactor"]
