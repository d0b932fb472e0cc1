"""``vru generate``: a synthetic city with each agency's extract and the ground truth apart.

See ``docs/generator.md`` for what is generated, the causal structure and the sources of the
default rates. The city is deterministic: the same config and seed give the same files.

- :mod:`training.generate.config`: the ``generate:`` section (:class:`GenerateConfig`);
- :mod:`training.generate.run`: :func:`run_generate`, the stage's one entry point.
"""

from __future__ import annotations
