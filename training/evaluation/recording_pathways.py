"""Recording bias by pathway, and the label's errors against the truth, by group.

The label joins two pathways into the records: a victim's assault injury reaching A&E (health)
and an offence recorded by the police (with the young person as suspect); the police also
record some victims. The generator builds its group disproportionality into the police
pathway only, and the health pathway, larger and even, dilutes it in the combined label. So
each pathway is shown on its own: among the young people truly involved in it (within the
label window), the share whose involvement reached that agency's records, per group, with an
exact interval, and its ratio to the reference group's share with a Katz interval.

The label's errors against the truth, per group: sensitivity (recorded among the truly
involved) and the false-recording rate (recorded among those not truly involved; on generated
data only linkage error or the window's edges produce it).

Pure functions on per-row 0/1 flags; aggregates out, never a row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from training.evaluation.recording_stats import by_group_shares, share

__all__ = ["PATHWAYS", "label_errors", "pathway_figures"]

#: name -> (truly involved flag, recorded flag, words for the report)
PATHWAYS: dict[str, tuple[str, str, str]] = {
    "health": (
        "true_victim",
        "ae_recorded",
        "Health: victims of serious violence whose assault injury reached A&E records",
    ),
    "police_offending": (
        "true_perpetrator",
        "police_offence",
        "Police: perpetrators of serious violence whose offence the police recorded",
    ),
    "police_victimisation": (
        "true_victim",
        "police_victim",
        "Police: victims of serious violence whom the police recorded as victims",
    ),
}


def _shares(
    recorded: np.ndarray,
    among: np.ndarray,
    groups: Mapping[str, np.ndarray],
    *,
    confidence: float,
    min_outcomes: int,
    references: Mapping[str, str],
) -> dict[str, Any]:
    recorded, among = np.asarray(recorded, dtype=bool), np.asarray(among, dtype=bool)
    return {
        "overall": share(int((recorded & among).sum()), int(among.sum()), confidence),
        "by": {
            dimension: by_group_shares(
                recorded,
                among,
                values,
                confidence=confidence,
                min_outcomes=min_outcomes,
                reference=references.get(dimension),
            )
            for dimension, values in groups.items()
        },
    }


def pathway_figures(
    flags: pd.DataFrame,
    groups: Mapping[str, np.ndarray],
    *,
    confidence: float,
    min_outcomes: int,
    references: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Each pathway's recorded share among its truly involved, overall and per group.

    ``flags`` holds the per-row truth flags named in :data:`PATHWAYS`; ``groups`` maps each
    group column to one value per row.
    """
    missing = sorted({c for inv, rec, _ in PATHWAYS.values() for c in (inv, rec)} - set(flags))
    if missing:
        raise ValueError(f"flags: no column {', '.join(missing)}")
    return {
        name: {
            "description": words,
            **_shares(
                flags[recorded].to_numpy(),
                flags[involved].to_numpy(),
                groups,
                confidence=confidence,
                min_outcomes=min_outcomes,
                references=references or {},
            ),
        }
        for name, (involved, recorded, words) in PATHWAYS.items()
    }


def label_errors(
    label: np.ndarray,
    true: np.ndarray,
    groups: Mapping[str, np.ndarray],
    *,
    confidence: float,
    min_outcomes: int,
    references: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The label's sensitivity and false-recording rate against the true outcome, per group."""
    label, true = np.asarray(label, dtype=bool), np.asarray(true, dtype=bool)
    stats: dict[str, Any] = {"confidence": confidence, "min_outcomes": min_outcomes}
    return {
        "sensitivity": _shares(label, true, groups, references=references or {}, **stats),
        "false_recording": _shares(label, ~true, groups, references=references or {}, **stats),
    }
