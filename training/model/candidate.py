"""Whether a new version is worse than the current ``@candidate`` or ``@champion``.

``@candidate`` always moves to the newest trained version: it names what the audit and the
board look at next, and a worse version must be seen, not hidden. What changes is that the
move is never silent: each figure of :attr:`ModelConfig.headline` on which the new version
falls short of the current ``@candidate`` or ``@champion`` (beyond its tolerance) is
returned, warned about, and tagged on the new version (``candidate_worse_than``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from training.model.config import HeadlineFigure

__all__ = ["CHAMPION", "WORSE_TAG", "Shortfall", "shortfalls", "worse_figures"]

CHAMPION = "champion"
WORSE_TAG = "candidate_worse_than"


@dataclass(frozen=True)
class Shortfall:
    """The new version is worse than ``version`` (``alias``) on ``metric``."""

    alias: str
    version: str
    metric: str
    new: float
    current: float

    def describe(self) -> str:
        """One line naming both versions and both figures."""
        return (
            f"{self.metric} {self.new:.4f} against {self.current:.4f} of version "
            f"{self.version} (@{self.alias})"
        )


def worse_figures(
    headline: list[HeadlineFigure], new: dict[str, float], current: dict[str, float]
) -> list[tuple[str, float, float]]:
    """``(metric, new, current)`` for each headline figure where ``new`` is worse.

    A figure missing or not finite on either side is not judged.
    """
    worse = []
    for figure in headline:
        a, b = new.get(figure.metric), current.get(figure.metric)
        if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
            continue
        shortfall = b - a if figure.better == "higher" else a - b
        if shortfall > figure.tolerance:
            worse.append((figure.metric, a, b))
    return worse


def shortfalls(
    client: Any,
    name: str,
    aliases: tuple[str, ...],
    headline: list[HeadlineFigure],
    new: dict[str, float],
) -> list[Shortfall]:
    """The headline figures on which ``new`` is worse than each alias's current version.

    Parameters
    ----------
    client
        An ``MlflowClient`` on the registry.
    name
        The registered model.
    aliases
        The aliases to compare with (``candidate``, ``champion``); missing ones are skipped,
        and a version two aliases share is compared once.
    headline
        The figures and their tolerances.
    new
        The new version's logged metrics.
    """
    from mlflow.exceptions import MlflowException

    found: list[Shortfall] = []
    seen: set[str] = set()
    for alias in aliases:
        try:
            version = client.get_model_version_by_alias(name, alias)
        except MlflowException:  # the alias is not set yet
            continue
        if version.version in seen or not version.run_id:
            continue
        seen.add(version.version)
        metrics = client.get_run(version.run_id).data.metrics
        found += [
            Shortfall(alias, str(version.version), metric, a, b)
            for metric, a, b in worse_figures(headline, new, metrics)
        ]
    return found
