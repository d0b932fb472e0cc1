"""Recorded against true outcomes, and linkage quality, by group: evidence for the ethics board.

The model learns from the *recorded* outcome: serious violence that reached an agency's records
(an assault injury at A&E, a proven serious offence) in the label window after the as-of date.
On generated data the ground truth also says what *truly* happened to each young person, so
the audit can show where records miss violence, and whether they miss more of it for some
groups than for others (the generator's recording bias). Linkage error is a second source of
such bias, reported by group from the linkage report.

Only aggregates leave this module: counts, rates, ratios and ROC AUCs per group, never a row,
a person key or a person id.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, get_args

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from governance.contracts.errors import AuditInputError, ExtractError
from governance.contracts.layout import DataLayout
from training.evaluation.input_audit import input_audit
from training.evaluation.recording_pathways import label_errors, pathway_figures
from training.evaluation.truth import read_truth, truth_available

__all__ = [
    "ROW_COLUMNS",
    "AuditInputError",
    "check_audited_rows",
    "group_labels",
    "linkage_by_group",
    "true_outcome_flags",
    "truth_comparison",
]

logger = logging.getLogger("vru.evaluation")

Outcome = Literal["victim", "perpetrator", "either"]
#: Columns that every audited row needs, beside its group columns.
ROW_COLUMNS: tuple[str, ...] = ("person_key", "as_of_date", "label", "score")
#: A group needs at least this many true outcomes for its figures to be shown.
MIN_TRUE_POSITIVES = 5
MISSING_GROUP = "missing"

_MISSING_COLUMNS = "rows: no column {missing}; the rows have {present}"
_BAD_LABEL = "rows: column 'label' must hold 0 or 1 only; {n} row(s) hold something else"
_BAD_SCORE = "rows: column 'score' must hold probabilities from 0 to 1; {n} row(s) do not"
_NO_DATE = "rows: column 'as_of_date' must hold a date on every row; {n} row(s) do not"
_BAD_OPTION = "{name}: got {value!r}; allowed: {allowed}"
_NO_SPINE = "{path}: no linked spine; run `vru link --data {data}` first"
_NO_TRUTH = (
    "There is no ground truth in this data directory: real agency extracts carry none, so the "
    "outcomes that agencies recorded cannot be compared with the outcomes that truly happened."
)
_NO_REPORT = "{path}: no linkage report; run `vru link --data {data}` first"
_NO_QUALITY = "The linkage report has no quality figures: {note}"
_NOTE = (
    "The model learns from recorded outcomes: serious violence ({outcome}) that reached an "
    "agency's records, as an assault injury at A&E or a proven serious offence, in the "
    "{months} months after each as-of date. The true outcome is what the synthetic city's "
    "ground truth says happened to the same young person in the same window (within the period "
    "the extracts cover), whether or not any agency recorded it. The recorded-to-true ratio "
    "divides the recorded rate by the true rate: 1 means the records capture all of a group's "
    "involvement in violence, below 1 means some of it is missed. If the ratio differs between "
    "groups, the label itself is biased: a model trained on it learns where recording is "
    "heavier, not only where violence is, and its scores (mean predicted, compared with both "
    "rates) inherit that. ROC AUC against the recorded and against the true outcome shows how "
    "well the scores rank young people by each. Rows are matched to true persons through the "
    "linked spine, so linkage error also shows here. Groups with fewer than {min_size} young "
    "people or fewer than {min_true} true outcomes are flagged as too small and their figures "
    "withheld."
)


def truth_comparison(
    data_dir: Path,
    rows: pd.DataFrame,
    *,
    label_months: int,
    outcome: Outcome,
    group_columns: Sequence[str],
    min_group_size: int,
    min_outcomes: int = 30,
    confidence: float = 0.95,
    input_columns: Sequence[str] = (),
    replicates: int = 200,
    seed: int = 0,
    reference_groups: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Recorded against true outcome rates, overall and for each group of each group column.

    Beside them: each recording pathway on its own (health, police) and the label's error
    rates against the truth, per group with exact and Katz intervals
    (:mod:`training.evaluation.recording_pathways`), and the audit of agency-derived inputs
    against prior true involvement (:mod:`training.evaluation.input_audit`).

    Parameters
    ----------
    data_dir
        A data directory with a linked spine (``linked/spine.parquet``); the comparison needs
        the generator's ground truth and says so when there is none.
    rows
        One row per audited young person at an as-of date: ``person_key``, ``as_of_date``,
        ``label`` (the recorded outcome, 0 or 1), ``score`` (a calibrated probability) and the
        group columns.
    label_months, outcome
        The label's definition, as in the features configuration (``features.label_months``,
        ``features.outcome``): involvement as victim, perpetrator or either, from the as-of
        date (inclusive) to ``label_months`` months after it (exclusive).
    group_columns
        Each is a dimension on its own (no intersections).
    min_group_size
        Groups smaller than this, or with fewer than five true outcomes, are flagged
        ``too_small`` and keep only their count.
    min_outcomes, confidence
        A group's ratio to the reference group is judged (called different from 1 when its
        interval excludes 1) only with this many truly involved in both; the intervals'
        confidence (``gates.min_outcomes``, ``gates.gate_confidence``).
    input_columns, replicates, seed
        Model inputs to audit against the truth (counts or flags; those absent from ``rows``
        are skipped), and the bootstrap's replicates and seed.
    reference_groups
        Per group column, the group the others are compared with (``audit.reference_groups``);
        where absent, the group with most truly involved young people.

    Returns
    -------
    dict
        ``{"available": False, "reason"}`` without ground truth; otherwise ``available``,
        ``note``, ``outcome``, ``label_months``, ``overall``, ``by`` (dimension → group →
        figures), ``pathways``, ``label_errors``, ``input_audit`` and ``unlinked_rows`` (rows
        whose person key matches no true person; left out of every figure). Plain Python
        numbers only.
    """
    groups = list(group_columns)
    check_audited_rows(
        rows, groups, label_months=label_months, outcome=outcome, min_size=min_group_size
    )
    if not truth_available(Path(data_dir)):
        return {"available": False, "reason": _NO_TRUTH}
    started = time.perf_counter()
    flags = true_outcome_flags(Path(data_dir), rows, label_months=label_months, outcome=outcome)
    linked = flags["linked"].to_numpy()
    flags = flags[linked].reset_index(drop=True)
    label = rows["label"].to_numpy(dtype=np.int8)[linked]
    true = flags["true_outcome"].to_numpy(dtype=np.int8)
    score = rows["score"].to_numpy(dtype=float)[linked]

    by: dict[str, dict[str, dict[str, Any]]] = {}
    for column in groups:
        values = group_labels(rows[column])[linked]
        by[column] = {
            str(value): _figures(label[idx], true[idx], score[idx], min_group_size=min_group_size)
            for value, idx in _indices(values)
        }
    group_values = {c: group_labels(rows[c])[linked] for c in groups}
    references = dict(reference_groups or {})
    stats: dict[str, Any] = {"confidence": confidence, "min_outcomes": min_outcomes}
    audited_inputs = [c for c in input_columns if c in rows.columns]
    inputs = (
        input_audit(
            rows.loc[linked, audited_inputs].reset_index(drop=True),
            flags["past_perpetrator"].to_numpy(),
            group_values,
            replicates=replicates,
            seed=seed,
            confidence=confidence,
            min_outcomes=min_outcomes,
            references=references,
        )
        if audited_inputs
        else None
    )
    unlinked = int((~linked).sum())
    logger.info(
        "truth comparison: %d rows, %d unlinked, %.2f s",
        len(rows),
        unlinked,
        time.perf_counter() - started,
    )
    return {
        "available": True,
        "note": _NOTE.format(
            outcome=_OUTCOME_WORDS[outcome],
            months=label_months,
            min_size=min_group_size,
            min_true=MIN_TRUE_POSITIVES,
        ),
        "outcome": outcome,
        "label_months": label_months,
        "overall": _figures(label, true, score, min_group_size=min_group_size),
        "by": by,
        "pathways": pathway_figures(flags, group_values, references=references, **stats),
        "label_errors": label_errors(label, true, group_values, references=references, **stats),
        "input_audit": inputs,
        "confidence": confidence,
        "min_outcomes": min_outcomes,
        "unlinked_rows": unlinked,
    }


def linkage_by_group(data_dir: Path) -> dict[str, Any]:
    """Linkage quality overall and by group, from ``linked/report.json`` (no truth is read).

    Returns ``{"available": True, "overall", "by_group"}`` (and ``measured_against`` when the
    report names it), or ``{"available": False, "reason"}`` when the report or its quality
    figures are absent.
    """
    path = DataLayout(Path(data_dir)).linked_dir / "report.json"
    if not path.is_file():
        return {"available": False, "reason": _NO_REPORT.format(path=path, data=data_dir)}
    quality = json.loads(path.read_text()).get("quality") or {}
    if not quality.get("available") or "by_group" not in quality:
        note = quality.get("note", "the report was written without them")
        return {"available": False, "reason": _NO_QUALITY.format(note=note)}
    out: dict[str, Any] = {
        "available": True,
        "overall": quality.get("overall", {}),
        "by_group": quality["by_group"],
    }
    if "measured_against" in quality:
        out["measured_against"] = quality["measured_against"]
    return out


_OUTCOME_WORDS: dict[str, str] = {
    "victim": "as a victim",
    "perpetrator": "as a perpetrator",
    "either": "as a victim or a perpetrator",
}
# which true incidents count, per outcome (columns of the truth's violence table)
_ROLE: dict[str, str] = {
    "victim": "e.victim",
    "perpetrator": "e.perpetrator",
    "either": "(e.victim OR e.perpetrator)",
}
_VIOLENCE_COLUMNS = (
    "person_id",
    "date",
    "victim",
    "perpetrator",
    "at_ae",
    "reported_victim",
    "recorded_offence",
)
#: Per-row truth flags beside the outcome: SQL over a joined event ``e`` (``w``: inside the
#: row's label window; ``p``: before its as-of date, the inputs' look-back).
_FLAGS: dict[str, str] = {
    "true_victim": "e.victim AND w",
    "ae_recorded": "e.at_ae AND w",
    "police_victim": "e.reported_victim AND w",
    "true_perpetrator": "e.perpetrator AND w",
    "police_offence": "e.recorded_offence AND w",
    "past_perpetrator": "e.perpetrator AND p",
    "past_victim": "e.victim AND p",
}


def check_audited_rows(
    rows: pd.DataFrame, groups: list[str], *, label_months: int, outcome: str, min_size: int
) -> None:
    """Refuse audited rows or options the truth comparisons cannot use, naming the field."""
    if outcome not in get_args(Outcome):
        raise AuditInputError(
            _BAD_OPTION.format(name="outcome", value=outcome, allowed=list(get_args(Outcome)))
        )
    if not isinstance(label_months, int) or label_months < 1:
        raise AuditInputError(
            _BAD_OPTION.format(name="label_months", value=label_months, allowed="an integer >= 1")
        )
    if not isinstance(min_size, int) or min_size < 1:
        raise AuditInputError(
            _BAD_OPTION.format(name="min_group_size", value=min_size, allowed="an integer >= 1")
        )
    missing = [c for c in (*ROW_COLUMNS, *groups) if c not in rows.columns]
    if missing:
        raise AuditInputError(
            _MISSING_COLUMNS.format(
                missing=", ".join(repr(c) for c in missing),
                present=", ".join(repr(str(c)) for c in rows.columns),
            )
        )
    label = pd.to_numeric(rows["label"], errors="coerce")
    if n := int((~label.isin([0, 1])).sum()):
        raise AuditInputError(_BAD_LABEL.format(n=n))
    score = pd.to_numeric(rows["score"], errors="coerce")
    if n := int((~score.between(0.0, 1.0)).sum()):
        raise AuditInputError(_BAD_SCORE.format(n=n))
    dates = pd.to_datetime(rows["as_of_date"], errors="coerce", format="mixed")
    if n := int(dates.isna().sum()):
        raise AuditInputError(_NO_DATE.format(n=n))


def true_outcome_flags(
    data_dir: Path, rows: pd.DataFrame, *, label_months: int, outcome: str
) -> pd.DataFrame:
    """Each row's truth flags (in row order), and whether its person key matched a true person.

    Columns: ``linked``, ``true_outcome`` (the label's outcome truly happened in the window)
    and the :data:`_FLAGS` (each pathway's truth and records in the window; true involvement
    before the as-of date).

    A person key's true person is the most common ``person_id`` among its records (ties go to
    the smallest). The window is the features' label window, in the same SQL: events on or
    after the as-of date and before ``as_of_date + INTERVAL n MONTH``; only incidents inside
    the period the extracts cover count, since no record can exist outside it.
    """
    layout = DataLayout(data_dir)
    spine = layout.linked_dir / "spine.parquet"
    if not spine.is_file():
        raise ExtractError(_NO_SPINE.format(path=spine, data=data_dir))
    record_person = read_truth(data_dir, "record_person", ["source", "record_id", "person_id"])
    violence = read_truth(data_dir, "violence", list(_VIOLENCE_COLUMNS))
    start, end = _period(layout.manifest)
    inside = "".join(
        f" AND CAST(date AS DATE) {op} DATE '{day}'"
        for op, day in ((">=", start), ("<=", end))
        if day is not None
    )
    audited = pd.DataFrame(
        {
            "row_id": np.arange(len(rows), dtype=np.int64),
            "person_key": rows["person_key"].astype("string").to_numpy(),
            "as_of_date": pd.to_datetime(rows["as_of_date"], format="mixed").to_numpy(),
        }
    )
    con = duckdb.connect()
    try:
        con.execute("SET preserve_insertion_order = false")
        con.register("audited", audited)
        # as Arrow tables: DuckDB scans them in parallel, faster than pandas frames
        con.register("record_person", pa.Table.from_pandas(record_person, preserve_index=False))
        con.register("violence", pa.Table.from_pandas(violence, preserve_index=False))
        con.register("spine", con.read_parquet(str(spine)))
        con.execute(
            """CREATE TEMP TABLE key_person AS
            SELECT person_key, person_id FROM (
                SELECT s.person_key, t.person_id,
                       row_number() OVER (
                           PARTITION BY s.person_key ORDER BY count(*) DESC, t.person_id
                       ) AS rank
                FROM spine s
                JOIN record_person t USING (source, record_id)
                WHERE CAST(s.person_key AS VARCHAR) IN (SELECT person_key FROM audited)
                GROUP BY s.person_key, t.person_id)
            WHERE rank = 1"""
        )
        con.execute(
            f"""CREATE TEMP TABLE events AS
            SELECT person_id, CAST(date AS DATE) AS event_date, victim, perpetrator,
                   at_ae, reported_victim, recorded_offence
            FROM violence WHERE (victim OR perpetrator){inside}"""
        )
        flags = "".join(
            f", coalesce(bool_or({sql}), false) AS {name}"
            for name, sql in {"true_outcome": f"{_ROLE[outcome]} AND w", **_FLAGS}.items()
        )
        result = con.execute(
            f"""SELECT row_id, linked{flags}
            FROM (
                SELECT a.row_id, k.person_id IS NOT NULL AS linked, e.*,
                       e.event_date >= a.as_of_date AS w, e.event_date < a.as_of_date AS p
                FROM (SELECT row_id, person_key, CAST(as_of_date AS DATE) AS as_of_date
                      FROM audited) a
                LEFT JOIN key_person k ON CAST(k.person_key AS VARCHAR) = a.person_key
                LEFT JOIN events e ON e.person_id = k.person_id
                 AND e.event_date < a.as_of_date + INTERVAL {int(label_months)} MONTH) e
            GROUP BY row_id, linked
            ORDER BY row_id"""
        ).fetchnumpy()
    except duckdb.Error as err:
        raise ExtractError(f"{data_dir}: cannot match rows to the ground truth: {err}") from err
    finally:
        con.close()
    return pd.DataFrame({name: np.asarray(values, dtype=bool) for name, values in result.items()})


def _period(manifest: Path) -> tuple[str | None, str | None]:
    """First and last day the extracts cover, from the generation manifest, if it says."""
    if not manifest.is_file():
        return None, None
    period = json.loads(manifest.read_text()).get("period") or {}
    start, end = period.get("start"), period.get("end")
    return (
        None if start is None else str(pd.Timestamp(start).date()),
        None if end is None else str(pd.Timestamp(end).date()),
    )


def group_labels(column: pd.Series) -> np.ndarray:
    """Group values as text; a missing value is its own group."""
    labels = column.astype("object").where(column.notna(), MISSING_GROUP)
    return labels.map(str).to_numpy(dtype=object)


def _indices(values: np.ndarray) -> list[tuple[str, np.ndarray]]:
    if len(values) == 0:
        return []
    codes, uniques = pd.factorize(values, sort=True)
    return [(str(u), np.flatnonzero(codes == i)) for i, u in enumerate(uniques)]


def _figures(
    label: np.ndarray, true: np.ndarray, score: np.ndarray, *, min_group_size: int
) -> dict[str, Any]:
    """One group's figures; withheld (None) when the group is too small to read."""
    count = len(label)
    true_positives = int(true.sum())
    too_small = count < min_group_size or true_positives < MIN_TRUE_POSITIVES
    out: dict[str, Any] = {
        "count": count,
        "recorded_rate": None,
        "true_rate": None,
        "recorded_to_true": None,
        "mean_predicted": None,
        "roc_auc_recorded": None,
        "roc_auc_true": None,
        "too_small": too_small,
    }
    if too_small:
        return out
    recorded_rate = float(label.mean())
    true_rate = float(true.mean())
    out.update(
        recorded_rate=recorded_rate,
        true_rate=true_rate,
        recorded_to_true=recorded_rate / true_rate if true_rate > 0 else None,
        mean_predicted=float(score.mean()),
        roc_auc_recorded=_auc(label, score),
        roc_auc_true=_auc(true, score),
    )
    return out


def _auc(y: np.ndarray, score: np.ndarray) -> float | None:
    if len(np.unique(y)) < 2:
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, score))
