"""``vru link``: probabilistic record linkage of the agencies' extracts into one person spine.

Stages: read each extract through its column mapping (:mod:`.sources`), standardise the
identifiers and collapse records sharing an agency id into one profile (:mod:`.standardise`),
score candidate pairs with a Splink model (:mod:`.model`) and cluster them (:mod:`.run`).
"""
