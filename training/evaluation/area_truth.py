"""True outcomes by area, for the area-level audit (generated data only).

The area-level audit (``governance.audit.area_audit``) judges each area's expected count
against the outcomes recorded there and, when the data is generated, against the outcomes
that truly happened. Governance never reads the ground truth: the audit calls
:func:`area_truth` through ``ModelAuditInputs.area_truth`` and receives aggregates only
(per area and per group: young people matched, true outcomes, sum of risks), and each
LSOA's true policing intensity (the generator's, per area, no person in it).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from governance.contracts.errors import AuditInputError
from training.evaluation.recording import (
    Outcome,
    check_audited_rows,
    group_labels,
    true_outcome_flags,
)
from training.evaluation.truth import read_truth, truth_available

__all__ = ["area_truth"]

#: the truth's policing intensity is per LSOA
POLICING_LEVEL = "lsoa_code"
_NO_TRUTH = "There is no ground truth in this data directory (real extracts carry none)."


def area_truth(
    data_dir: Path,
    rows: pd.DataFrame,
    levels: Sequence[str],
    *,
    label_months: int,
    outcome: Outcome,
    group_columns: Sequence[str],
) -> dict[str, Any]:
    """True outcomes per area of each level and per group, and each LSOA's policing.

    Parameters
    ----------
    data_dir
        A generated data directory with a linked spine.
    rows
        The audited rows: ``person_key``, ``as_of_date``, ``label``, ``score``, the area
        columns ``levels`` and the ``group_columns``.
    levels, group_columns
        Area columns and group columns to sum by.
    label_months, outcome
        The label's definition, as in the features manifest.

    Returns
    -------
    dict
        ``{"available": False, "reason"}`` without ground truth; otherwise ``available``,
        ``levels`` (column → area → ``{count, true, expected}`` over the rows matched to a
        true person), ``groups`` (the same per group), ``policing`` (LSOA → intensity),
        ``policing_level`` and ``unlinked_rows``. Plain Python values only.
    """
    missing = [c for c in levels if c not in rows.columns]
    if missing:
        raise AuditInputError(f"rows: no area column(s) {missing}")
    check_audited_rows(
        rows, list(group_columns), label_months=label_months, outcome=outcome, min_size=1
    )
    if not truth_available(Path(data_dir)):
        return {"available": False, "reason": _NO_TRUTH}
    flags = true_outcome_flags(Path(data_dir), rows, label_months=label_months, outcome=outcome)
    true, linked = flags["true_outcome"].to_numpy(), flags["linked"].to_numpy(dtype=bool)
    score = rows["score"].to_numpy(dtype=float)[linked]
    true = true[linked].astype(np.int64)
    out_levels = {
        column: _sums(rows[column].astype(str).to_numpy()[linked], true, score) for column in levels
    }
    groups = {
        column: _sums(group_labels(rows[column])[linked], true, score) for column in group_columns
    }
    areas = read_truth(Path(data_dir), "areas")
    return {
        "available": True,
        "levels": out_levels,
        "groups": groups,
        "policing": {
            str(k): float(v)
            for k, v in zip(areas["lsoa_code"], areas["policing_intensity"], strict=True)
        },
        "policing_level": POLICING_LEVEL,
        "unlinked_rows": int((~linked).sum()),
    }


def _sums(keys: np.ndarray, true: np.ndarray, score: np.ndarray) -> dict[str, dict[str, Any]]:
    frame = pd.DataFrame({"k": keys, "t": true, "s": score}).groupby("k", sort=True)
    sums = frame.agg(count=("t", "size"), true=("t", "sum"), expected=("s", "sum"))
    return {
        str(k): {"count": int(r["count"]), "true": int(r["true"]), "expected": float(r["expected"])}
        for k, r in sums.iterrows()
    }
