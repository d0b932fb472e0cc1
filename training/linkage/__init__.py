"""``vru link``: probabilistic record linkage of the agencies' extracts into one person spine.

Stages: read each extract through its column mapping (:mod:`.sources`), standardise the
identifiers and collapse records sharing an agency id into one profile (:mod:`.standardise`),
score candidate pairs with a Splink model (:mod:`.model`) and cluster them (:mod:`.run`).
:func:`run_link` (:mod:`.stage`), the stage's one entry point, then builds the spine,
evaluates it and writes ``linked/``.
"""

from __future__ import annotations
