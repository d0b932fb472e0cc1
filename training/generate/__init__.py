"""``vru generate``: a synthetic city with each agency's extract and the ground truth apart.

See ``docs/generator.md`` for what is generated, the causal structure and the sources of the
default rates. The city is deterministic: the same config and seed give the same files.

- :mod:`training.generate.config`: the ``generate:`` section (:class:`GenerateConfig`);
- :mod:`training.generate.run`: :func:`run_generate`, the stage's one entry point.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from training.generate.run import GenerateResult, run_generate

__all__ = ["GenerateResult", "run_generate"]

_LAZY = {"GenerateResult": "GenerateResult", "run_generate": "run_generate"}


def __getattr__(name: str) -> Any:
    """Import the entry point on first use.

    ``training.config`` imports :mod:`training.generate.config`, which runs this file first;
    importing the generator here would import ``training.config`` again, half made.
    """
    if name in _LAZY:
        from training.generate import run

        return getattr(run, _LAZY[name])
    raise AttributeError(f"module 'training.generate' has no attribute {name!r}")
