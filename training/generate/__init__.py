"""``vru generate``: a synthetic city with each agency's extract and the ground truth apart.

See ``docs/generator.md`` for what is generated, the causal structure and the sources of the
default rates. The city is deterministic: the same config and seed give the same files.
"""

from training.generate.run import GenerateResult, generate_city

__all__ = ["GenerateResult", "generate_city"]
