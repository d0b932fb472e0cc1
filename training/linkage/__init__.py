"""``vru link``: probabilistic record linkage of the agencies' extracts into one person spine.

Stages: read each extract through its column mapping (:mod:`.sources`), standardise the
identifiers and collapse records sharing an agency id into one profile (:mod:`.standardise`),
score candidate pairs with a Splink model (:mod:`.model`) and cluster them (:mod:`.run`).
:func:`run_link` (:mod:`.stage`), the stage's one entry point, then builds the spine,
evaluates it and writes ``linked/``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from training.linkage.stage import LinkResult, run_link

__all__ = ["LinkResult", "run_link"]


def __getattr__(name: str) -> Any:
    """Import the entry point on first use.

    ``training.config`` imports :mod:`training.linkage.config`, which runs this file first;
    importing the stage here would import ``training.config`` again, half made.
    """
    if name in __all__:
        from training.linkage import stage

        return getattr(stage, name)
    raise AttributeError(f"module 'training.linkage' has no attribute {name!r}")
