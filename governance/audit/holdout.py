"""Which young people a refit model may learn from, and which are kept back to judge it.

A model refit on every labelled as-of date has no later period left to be tested on, so it
is judged on young people it never saw: a seeded share of the *persons* (all of their rows
at every date) is kept out of the refit entirely (the audit persons), and another share stops
its boosting early (the stopping persons) before learning with the rest.

Training makes the split and the audit makes it again from the same record (the fractions
and the seed, logged inside the model's own signed files), so the audit's held-out persons
are exactly those the refit never saw; the counts are checked against the record.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = ["AUDIT", "FIT", "STOPPING", "person_roles", "persons_digest"]

#: Role codes of :func:`person_roles`.
FIT, STOPPING, AUDIT = 0, 1, 2


def person_roles(
    persons: pd.Series, *, audit_fraction: float, stopping_fraction: float, seed: int
) -> NDArray[np.int8]:
    """Each row's role (:data:`FIT`, :data:`STOPPING`, :data:`AUDIT`), person by person.

    The distinct persons, sorted, are permuted by ``seed``; the first ``audit_fraction`` of
    them audit, the next ``stopping_fraction`` calibrate, the rest fit. A person's rows
    all share one role, whatever their as-of date. The same persons, fractions and seed give
    the same roles on any machine.
    """
    for name, value in (
        ("audit_fraction", audit_fraction),
        ("stopping_fraction", stopping_fraction),
    ):
        if not 0 < value < 1:
            raise ValueError(f"{name} must be between 0 and 1 (got {value})")
    if audit_fraction + stopping_fraction >= 1:
        raise ValueError(
            f"audit_fraction + stopping_fraction must be below 1 (got "
            f"{audit_fraction} + {stopping_fraction}): some persons must be left to fit"
        )
    keys = persons.astype(str)
    distinct = np.sort(keys.unique())
    order = np.random.default_rng(seed).permutation(len(distinct))
    n_audit = max(1, round(audit_fraction * len(distinct)))
    n_calibration = max(1, round(stopping_fraction * len(distinct)))
    role = np.full(len(distinct), FIT, dtype=np.int8)
    role[order[:n_audit]] = AUDIT
    role[order[n_audit : n_audit + n_calibration]] = STOPPING
    position = np.searchsorted(distinct, keys.to_numpy())
    return role[position]


def persons_digest(persons: pd.Series) -> str:
    """SHA-256 of the sorted distinct person keys: which persons, without naming any.

    Training records the digest of the persons it held out; the audit recomputes it from
    the persons it rebuilt, so a record that points at other persons (another seed, share
    or table) is refused.
    """
    distinct = np.sort(persons.astype(str).unique())
    return hashlib.sha256("\n".join(distinct).encode("utf-8")).hexdigest()
