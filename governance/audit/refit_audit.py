"""The audit of the served model, refit on every labelled as-of date.

The report's other sections judge the *evaluated* model: trained on the early as-of dates,
tested on a later one it never saw. What a release scores with is the same configuration
refit on every labelled date (``training.model.refit``), which has no later period left to
be tested on. So it is judged on persons it never saw:

- the audit rebuilds the refit's held-out persons (:func:`governance.audit.holdout.person_roles`
  from the record inside the model's signed files) and checks its counts against the record,
  so a record that does not describe the features table is refused, not trusted;
- on the audit persons' rows at every refit date: observed over expected outcomes (overall and
  by group, exact Poisson intervals), the calibration slope and intercept, and ROC AUC with a
  bootstrap interval; the calibration gates judge these as they judge the evaluated model's;
- on their rows at the test date, which neither model learnt from: the refit against the
  evaluated model by paired bootstrap, on the gates' decision metric and ROC AUC; a gate fails
  a refit clearly worse than the model whose out-of-time figures the board reads;
- on the cohort a release would score: how much serving the refit instead changes the
  expected outcomes, overall and in the order of areas.

Aggregates only: counts, ratios and intervals.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from governance.audit.calibration_check import calibration_check
from governance.audit.cohort_drift import Cohort
from governance.audit.gates import REFIT_GATE_FIGURES
from governance.audit.holdout import AUDIT, FIT, STOPPING, person_roles, persons_digest
from governance.audit.paired_bootstrap import Metric, paired_bootstrap
from governance.contracts.audit_document import (
    RefitAgreement,
    RefitAudit,
    RefitComparison,
    RefitSection,
    SectionUnavailable,
)
from governance.contracts.errors import AuditInputError
from governance.contracts.settings import GovernanceConfig

__all__ = ["NO_REFIT", "refit_figures", "refit_section"]

NO_REFIT = (
    "This version serves the evaluated model itself: training did not refit it on all "
    "labelled data (model.refit.enabled is false, or the version predates the refit)."
)
METHOD = (
    "The served model is the configured model refit on every labelled as-of date, with a "
    "seeded share of the young people (all their rows) kept out of it entirely (another share "
    "chooses its rounds; its calibrator is cross-fitted on all the others). It is judged on "
    "the kept-out young people: "
    "observed/expected with exact Poisson intervals, the calibration line with Wald "
    "intervals, ROC AUC with a bootstrap interval; and against the evaluated model on the "
    "kept-out young people's rows at the test date, which neither model learnt from, by "
    "paired bootstrap."
)
_ROLES = {FIT: "fit", STOPPING: "stopping", AUDIT: "audit"}
_MISMATCH = (
    "the refit's record (inside the model's files) says its {role} persons have {want} rows at "
    "{dates}, but the features table gives {have}: the record does not describe this table, "
    "so the refit cannot be judged on persons it never saw; audit with the data the version was trained on"
)
_OTHER_PERSONS = (
    "the refit's record (inside the model's files) names other held-out persons than the "
    "ones its seed and shares give in this features table at {dates}: the record does not "
    "describe this table, so the refit cannot be judged on persons it never saw; audit "
    "with the data the version was trained on"
)
_NO_PERSON = (
    "the features table has no 'person_key' column: the refit's held-out persons cannot be rebuilt"
)
_NO_COLUMNS = (
    "the refit's record names as-of date(s) {missing} that the features table does not hold"
)


def refit_section(
    served: Any,
    evaluated: Any,
    record: dict[str, Any] | None,
    features: pd.DataFrame,
    *,
    test_date: str,
    groups: pd.DataFrame,
    config: GovernanceConfig,
    seed: int,
    cohort: Cohort | None = None,
    area_column: str | None = "ward_code",
) -> RefitSection:
    """Judge ``served`` (the refit) on the persons ``record`` says were held out of it.

    Parameters
    ----------
    served, evaluated
        The refit and the evaluated model: ``predict(frame)`` and ``columns``.
    record
        The refit's record (``training.model.refit.RefitRecord`` as JSON), None: no refit.
    features
        The features table's rows at the record's dates (at least), with ``person_key``,
        ``as_of_date`` and ``label``.
    groups
        The sensitive columns of ``features``' rows (same index), for the O/E by group.
    test_date
        The evaluated model's test date: where the two models are compared.
    """
    if record is None:
        return SectionUnavailable(available=False, reason=NO_REFIT)
    if "person_key" not in features:
        raise AuditInputError(_NO_PERSON)
    dates = [str(d) for d in record["as_of_dates"]]
    as_of = pd.to_datetime(features["as_of_date"]).dt.date.astype(str)
    missing = sorted(set(dates) - set(as_of))
    if missing:
        raise AuditInputError(_NO_COLUMNS.format(missing=missing))
    keep = as_of.isin(dates).to_numpy()
    rows, groups, as_of = features[keep], groups[keep], as_of[keep]
    roles = person_roles(
        rows["person_key"],
        audit_fraction=float(record["audit_fraction"]),
        stopping_fraction=float(record["stopping_fraction"]),
        seed=int(record["seed"]),
    )
    for role, name in _ROLES.items():
        have, want = int((roles == role).sum()), int(record["rows"][name])
        if have != want:
            raise AuditInputError(_MISMATCH.format(role=name, want=want, dates=dates, have=have))
    audited = roles == AUDIT
    digest = persons_digest(rows["person_key"][audited])
    if digest != record.get("audit_persons_sha256"):
        raise AuditInputError(_OTHER_PERSONS.format(dates=dates))
    if "label_complete" in rows:
        audited &= rows["label_complete"].astype(bool).to_numpy()
    held = rows[audited].reset_index(drop=True)
    y = held["label"].to_numpy(dtype=np.int64)
    columns = list(served.columns)
    p_served = np.asarray(served.predict(held[columns].astype(float)), dtype=np.float64)
    gates, settings = config.gates, config.audit
    check = calibration_check(
        y,
        p_served,
        groups[audited].reset_index(drop=True),
        confidence=gates.gate_confidence,
        min_outcomes=gates.min_outcomes,
        min_group_size=gates.min_group_size,
    )
    auc = low = high = None
    if 0 < y.sum() < len(y):  # a constant's ROC AUC is 0.5 on every resample: see rolling
        found = paired_bootstrap(
            y,
            p_served,
            np.full(len(y), 0.5),
            metric="roc_auc",
            resamples=settings.bootstrap,
            confidence=gates.gate_confidence,
            seed=seed,
        )
        auc, low, high = found.a, found.low + 0.5, found.high + 0.5
    at_test = as_of[audited].to_numpy() == str(test_date)
    return RefitAudit(
        available=True,
        method=METHOD,
        as_of_dates=dates,
        audit_fraction=float(record["audit_fraction"]),
        stopping_fraction=float(record["stopping_fraction"]),
        rows={k: int(v) for k, v in record["rows"].items()},
        persons={k: int(v) for k, v in record["persons"].items()},
        outcomes={k: int(v) for k, v in record["outcomes"].items()},
        best_iteration=int(record["best_iteration"]),
        audited_rows=len(y),
        audited_outcomes=int(y.sum()),
        roc_auc=auc,
        roc_auc_low=low,
        roc_auc_high=high,
        check=check,
        comparisons=_compare(
            y[at_test],
            p_served[at_test],
            np.asarray(evaluated.predict(held[at_test][columns].astype(float)), np.float64),
            metrics=(gates.baseline_metric, "roc_auc"),
            config=config,
            seed=seed,
        ),
        agreement=_agreement(served, evaluated, cohort, area_column),
    )


def refit_figures(section: RefitSection | None, metric: str) -> dict[str, float | None]:
    """The refit gates' figures: interval bounds, None when not measured; {} without a refit.

    ``refit_difference_high`` is the upper end of the paired interval of (refit better than
    the evaluated model) on ``metric``: below the margin, the refit is clearly worse.
    """
    if section is None or not isinstance(section, RefitAudit):
        return {}
    check = section.check
    overall = check.overall
    compared = next((c for c in section.comparisons if c.metric == metric), None)
    values = (
        overall.high if overall.judged else None,
        overall.low if overall.judged else None,
        check.slope_high,
        check.slope_low,
        compared.high if compared is not None else None,
    )
    return dict(zip(REFIT_GATE_FIGURES, values, strict=True))


def _compare(
    y: np.ndarray,
    refit: np.ndarray,
    evaluated: np.ndarray,
    *,
    metrics: Sequence[str],
    config: GovernanceConfig,
    seed: int,
) -> list[RefitComparison]:
    """Each metric of the refit against the evaluated model on the same rows, paired."""
    if not 0 < y.sum() < len(y):
        return []
    out = []
    for metric in dict.fromkeys(metrics):
        found = paired_bootstrap(
            y,
            refit,
            evaluated,
            metric=_metric(metric),
            resamples=config.audit.bootstrap,
            confidence=config.gates.gate_confidence,
            seed=seed,
        )
        out.append(
            RefitComparison(
                metric=metric,
                evaluated=found.b,
                refit=found.a,
                difference=found.difference,
                low=None if np.isnan(found.low) else found.low,
                high=None if np.isnan(found.high) else found.high,
                confidence=found.confidence,
                resamples=found.resamples,
                rows=found.rows,
                outcomes=found.outcomes,
            )
        )
    return out


def _agreement(
    served: Any, evaluated: Any, cohort: Cohort | None, area_column: str | None
) -> RefitAgreement | None:
    """Expected outcomes in the cohort under each model, overall and in the order of areas."""
    if cohort is None or cohort.rows.empty:
        return None
    columns = list(served.columns)
    x = cohort.rows[columns].astype(float)
    refit = np.asarray(served.predict(x), dtype=np.float64)
    before = np.asarray(evaluated.predict(x), dtype=np.float64)
    column = area_column if area_column and area_column in cohort.rows else None
    areas, correlation = 0, None
    if column is not None:
        by_area = (
            pd.DataFrame({"area": cohort.rows[column].to_numpy(), "refit": refit, "before": before})
            .groupby("area")[["refit", "before"]]
            .sum()
        )
        areas = len(by_area)
        if areas >= 3:
            rho = spearmanr(by_area["refit"], by_area["before"]).statistic
            correlation = None if np.isnan(rho) else float(rho)
    total = float(before.sum())
    return RefitAgreement(
        cohort_date=cohort.as_of,
        rows=len(x),
        expected_evaluated=total,
        expected_refit=float(refit.sum()),
        ratio=float(refit.sum()) / total if total > 0 else float("nan"),
        area_column=column,
        areas=areas,
        rank_correlation=correlation,
    )


def _metric(name: str) -> Metric:
    if name not in ("roc_auc", "average_precision", "brier", "log_loss"):
        raise ValueError(f"unknown metric {name!r}")
    return name  # type: ignore[return-value]
