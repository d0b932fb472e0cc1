"""The served model is refit on all labelled data and judged on young people held out of it.

Known answers on generated data: the audit rebuilds exactly the persons training held out; a
refit that overfits its own young people, expects three times the odds, or is clearly worse
than the evaluated model fails its gates; a record that does not describe the table is
refused rather than trusted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from governance.audit.calibration import calibration_line
from governance.audit.gates import REFIT_GATE_FIGURES, evaluate_gates
from governance.audit.holdout import AUDIT, FIT, STOPPING, person_roles, persons_digest
from governance.audit.refit_audit import refit_figures, refit_section
from governance.audit.report.board_views import first_page_view
from governance.audit.report.refit import refit_view
from governance.contracts.audit_document import RefitAudit, SectionUnavailable
from governance.contracts.errors import AuditInputError
from governance.contracts.settings import GovernanceConfig
from training.model.config import ModelConfig
from training.model.estimators import CalibratedModel, Calibrator
from training.model.refit import labelled_dates, person_folds, refit_model

DATES = ["2019-03-31", "2020-03-31", "2021-03-31"]
CONFIG = GovernanceConfig(audit={"bootstrap": 200})


@dataclass(frozen=True)
class Logistic:
    """A model of known form: risk = sigmoid(intercept + slope * signal)."""

    intercept: float
    slope: float
    columns: tuple[str, ...] = ("signal", "noise")

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        z = self.intercept + self.slope * frame["signal"].to_numpy(dtype=float)
        return 1.0 / (1.0 + np.exp(-z))


TRUTH = Logistic(-3.0, 1.0)


def _table(persons: int = 6000, seed: int = 3, truth: Logistic | None = TRUTH) -> pd.DataFrame:
    """Each person at every as-of date; outcomes drawn from ``truth`` (or at 10% regardless)."""
    rng = np.random.default_rng(seed)
    rows = persons * len(DATES)
    frame = pd.DataFrame(
        {
            "person_key": np.tile([f"P{i:05d}" for i in range(persons)], len(DATES)),
            "as_of_date": np.repeat([dt.date.fromisoformat(d) for d in DATES], persons),
            "signal": rng.normal(size=rows),
            "noise": rng.normal(size=rows),
            "sex": rng.choice(["F", "M"], size=rows),
            "ward_code": rng.choice([f"W{i}" for i in range(12)], size=rows),
        }
    )
    p = truth.predict(frame) if truth is not None else np.full(rows, 0.1)
    frame["label"] = (rng.random(rows) < p).astype(int)
    return frame


def _manifest() -> dict[str, Any]:
    return {
        "label": {"months": 12},
        "data_end": "2022-03-31",
        "per_as_of_date": {d: {} for d in [*DATES, "2022-03-31"]},
    }


def _record(frame: pd.DataFrame, seed: int = 11, audit: float = 0.15) -> dict[str, Any]:
    """A refit's record as training writes it, for a table and a split."""
    roles = person_roles(
        frame["person_key"], audit_fraction=audit, stopping_fraction=0.15, seed=seed
    )
    names = {FIT: "fit", STOPPING: "stopping", AUDIT: "audit"}
    return {
        "as_of_dates": DATES,
        "audit_fraction": audit,
        "stopping_fraction": 0.15,
        "seed": seed,
        "rows": {n: int((roles == r).sum()) for r, n in names.items()},
        "persons": {n: int(frame["person_key"][roles == r].nunique()) for r, n in names.items()},
        "outcomes": {n: int(frame["label"][roles == r].sum()) for r, n in names.items()},
        "best_iteration": 1,
        "audit_persons_sha256": persons_digest(frame["person_key"][roles == AUDIT]),
    }


def _audit(served: Any, frame: pd.DataFrame, record: dict[str, Any], evaluated: Any = TRUTH) -> Any:
    return refit_section(
        served,
        evaluated,
        record,
        frame,
        test_date=DATES[-1],
        groups=frame[["sex"]].astype(object),
        config=CONFIG,
        seed=5,
    )


def _refit_gates(section: Any) -> dict[str, bool]:
    figures = refit_figures(section, CONFIG.gates.baseline_metric)
    return {
        g.figure: g.passed for g in evaluate_gates(CONFIG.gates, figures) if g.figure in figures
    }


# -- the split ---------------------------------------------------------------------------------


def test_each_person_has_one_role_at_every_date_and_the_shares_are_kept() -> None:
    frame = _table(persons=2000, truth=None)
    roles = person_roles(frame["person_key"], audit_fraction=0.2, stopping_fraction=0.1, seed=1)
    per_person = pd.Series(roles).groupby(frame["person_key"].to_numpy()).nunique()
    assert (per_person == 1).all()
    counts = pd.Series(roles).groupby(frame["person_key"].to_numpy()).first().value_counts()
    assert counts[AUDIT] == 400 and counts[STOPPING] == 200 and counts[FIT] == 1400
    again = person_roles(frame["person_key"], audit_fraction=0.2, stopping_fraction=0.1, seed=1)
    np.testing.assert_array_equal(roles, again)
    other = person_roles(frame["person_key"], audit_fraction=0.2, stopping_fraction=0.1, seed=2)
    assert (roles != other).any()
    # row order does not matter: the same person gets the same role wherever its rows are
    shuffled = frame.sample(frac=1.0, random_state=0)
    moved = person_roles(shuffled["person_key"], audit_fraction=0.2, stopping_fraction=0.1, seed=1)
    by_person = dict(zip(frame["person_key"], roles, strict=True))
    assert [by_person[k] for k in shuffled["person_key"]] == moved.tolist()


@pytest.mark.parametrize(
    ("audit", "calibration", "message"),
    [(0.0, 0.1, "audit_fraction"), (0.2, 1.0, "stopping_fraction"), (0.6, 0.5, "below 1")],
)
def test_impossible_shares_are_refused_naming_them(
    audit: float, calibration: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        person_roles(
            pd.Series(["a", "b"]), audit_fraction=audit, stopping_fraction=calibration, seed=1
        )


def test_only_dates_whose_outcomes_are_known_are_refit_on() -> None:
    built = ["2019-03-31", "2021-03-31", "2022-03-31"]
    assert labelled_dates(built, 12, dt.date(2022, 3, 31)) == [
        dt.date(2019, 3, 31),
        dt.date(2021, 3, 31),
    ]


# -- the refit, judged -------------------------------------------------------------------------


def test_the_audit_rebuilds_the_persons_training_held_out_and_a_good_refit_passes() -> None:
    frame = _table()
    config = ModelConfig(lightgbm={"max_rounds": 60, "num_threads": 1})
    model, record = refit_model(config, _manifest(), frame, ["signal", "noise"], seed=11)
    assert record.as_of_dates == DATES  # 2022 is built but its outcomes are not known yet
    assert sum(record.persons.values()) == 6000
    # the evaluated model: the same configuration on the earlier dates only
    early = frame[frame["as_of_date"] < dt.date(2021, 3, 31)]
    evaluated, _ = refit_model(
        config, {**_manifest(), "data_end": "2021-03-31"}, early, ["signal", "noise"], seed=11
    )
    section = _audit(model, frame, record.to_json(), evaluated=evaluated)
    assert isinstance(section, RefitAudit)
    assert section.audited_rows == record.rows["audit"]
    assert section.audited_outcomes == record.outcomes["audit"]
    assert section.roc_auc is not None and section.roc_auc_low is not None
    assert section.roc_auc_low > 0.65  # the signal is real (true ROC AUC about 0.74)
    assert set(_refit_gates(section)) == set(REFIT_GATE_FIGURES)
    assert all(_refit_gates(section).values()), section
    # compared with the truth on the held-out test-date rows: not clearly worse
    compared = {c.metric: c for c in section.comparisons}
    assert compared["log_loss"].rows == int(record.rows["audit"] / len(DATES))


@pytest.mark.parametrize(
    "change",
    [
        {"audit_fraction": 0.2},
        {"seed": 12},
        {"as_of_dates": DATES[:2]},
        {"audit_persons_sha256": "0" * 64},
    ],
    ids=["another share", "another seed", "other dates", "other persons"],
)
def test_a_record_that_does_not_describe_the_table_is_refused(change: dict[str, Any]) -> None:
    """An attacker (or a mix-up) points the audit at persons the refit may have learnt from."""
    frame = _table(persons=1500)
    record = {**_record(frame), **change}
    with pytest.raises(AuditInputError, match="does not describe this table"):
        _audit(TRUTH, frame, record)


def test_a_record_naming_dates_the_table_lacks_is_refused() -> None:
    frame = _table(persons=500)
    record = {**_record(frame), "as_of_dates": [*DATES, "2030-03-31"]}
    with pytest.raises(AuditInputError, match="2030-03-31"):
        _audit(TRUTH, frame, record)


def test_a_refit_that_memorised_its_young_people_fails_on_those_it_never_saw() -> None:
    """Outcomes are pure chance; a deep booster calibrated in-sample looks right in-sample only.

    Judged on the persons it learnt from (what an audit without the holdout would do), its
    calibration slope is fine; on the held-out persons it is near 0 and the gate fails.
    """
    frame = _table(persons=3000, truth=None)
    record = _record(frame)
    roles = person_roles(frame["person_key"], audit_fraction=0.15, stopping_fraction=0.15, seed=11)
    learnt = roles != AUDIT
    x, y = frame[["signal", "noise"]], frame["label"].to_numpy()
    params = {
        "objective": "binary",
        "num_leaves": 256,
        "min_child_samples": 1,
        "learning_rate": 0.3,
        "verbosity": -1,
        "seed": 1,
        "num_threads": 1,
        "deterministic": True,
    }
    booster = lgb.train(params, lgb.Dataset(x[learnt], label=y[learnt]), num_boost_round=150)
    served = CalibratedModel(booster, Calibrator("sigmoid"), ["signal", "noise"])
    served.calibrator.fit(served.raw(x[learnt]), y[learnt])
    in_sample = calibration_line(y[learnt], served.predict(x[learnt]))
    assert in_sample is not None and in_sample.slope_low <= 1.0 <= in_sample.slope_high + 0.5
    section = _audit(served, frame, record, evaluated=Logistic(np.log(1 / 9), 0.0))
    assert isinstance(section, RefitAudit)
    gates = _refit_gates(section)
    assert gates["refit_calibration_slope_high"] is False, section.check
    assert section.roc_auc_low is not None and section.roc_auc_low < 0.5 < section.roc_auc_high


def test_a_refit_expecting_three_times_the_odds_fails_the_observed_expected_gate() -> None:
    frame = _table()
    tripled = Logistic(TRUTH.intercept + np.log(3.0), TRUTH.slope)
    gates = _refit_gates(_audit(tripled, frame, _record(frame)))
    assert gates["refit_observed_expected_high"] is False
    assert gates["refit_observed_expected_low"] is True


def test_a_refit_clearly_worse_than_the_evaluated_model_fails_and_an_equal_one_passes() -> None:
    frame = _table()
    record = _record(frame)
    blind = Logistic(np.log(frame["label"].mean() / (1 - frame["label"].mean())), 0.0)
    worse = _audit(blind, frame, record)
    assert _refit_gates(worse)["refit_difference_high"] is False
    same = _audit(TRUTH, frame, record)  # the same model: a difference of exactly 0
    assert isinstance(same, RefitAudit)
    log_loss = next(c for c in same.comparisons if c.metric == "log_loss")
    assert log_loss.low == log_loss.high == 0.0
    assert _refit_gates(same)["refit_difference_high"] is True


def test_a_version_without_a_refit_says_so_and_has_no_refit_gates() -> None:
    section = _audit(TRUTH, _table(persons=200), None)  # type: ignore[arg-type]
    assert isinstance(section, SectionUnavailable)
    assert "not refit" in section.reason or "did not refit" in section.reason
    assert refit_figures(section, "log_loss") == {}
    figures = dict.fromkeys(REFIT_GATE_FIGURES)  # a refit whose figures were not measured
    outcomes = [g for g in evaluate_gates(CONFIG.gates, figures) if g.figure in figures]
    assert len(outcomes) == len(REFIT_GATE_FIGURES)
    assert not any(g.passed for g in outcomes)
    assert {g.note for g in outcomes} == {"not measured"}


def test_the_refit_calibrator_learns_the_rate_of_every_person_it_learns_from() -> None:
    """Cross-fitted: the expected outcomes of the learning persons match their recorded ones.

    A calibrator fitted on the stopping share alone matched that share's rate, which on the
    demo was a fifth above the rest's (O/E 0.72 on the held-out persons).
    """
    frame = _table()
    config = ModelConfig(lightgbm={"max_rounds": 60, "num_threads": 1})
    model, record = refit_model(config, _manifest(), frame, ["signal", "noise"], seed=11)
    rows = frame[frame["as_of_date"].astype(str).isin(record.as_of_dates)]
    roles = person_roles(rows["person_key"], audit_fraction=0.15, stopping_fraction=0.15, seed=11)
    learnt = rows[roles != AUDIT]
    expected = model.predict(learnt[["signal", "noise"]]).sum()
    assert expected == pytest.approx(learnt["label"].sum(), rel=0.05)
    assert record.folds == 3 and record.rows["fit"] + record.rows["stopping"] == len(learnt)


def test_folds_keep_each_person_whole_and_are_balanced() -> None:
    frame = _table(persons=900, truth=None)
    folds = person_folds(frame["person_key"], 3, seed=4)
    per_person = pd.Series(folds).groupby(frame["person_key"].to_numpy()).nunique()
    assert (per_person == 1).all()
    sizes = pd.Series(folds).groupby(frame["person_key"].to_numpy()).first().value_counts()
    assert sorted(sizes.tolist()) == [300, 300, 300]
    np.testing.assert_array_equal(folds, person_folds(frame["person_key"], 3, seed=4))


def test_the_report_and_first_page_say_which_model_is_served_and_how_it_did() -> None:
    frame = _table(persons=3000)
    section = _audit(TRUTH, frame, _record(frame))
    document = {"refit": section.model_dump(), "model": {"name": "m", "version": "1"}}
    view = refit_view(document["refit"])
    assert view.missing is None and view.dates == ", ".join(DATES)
    assert view.held_out is not None and len(view.held_out.rows) == 3
    assert view.comparisons is not None and len(view.comparisons.rows) == 2
    assert "neither clearly better nor clearly worse" in view.summary  # the same model
    served = first_page_view(document).served
    assert served.startswith("A release would score with this model refit on every labelled")
    missing = refit_view(_audit(TRUTH, frame, None).model_dump())  # type: ignore[arg-type]
    assert missing.missing is not None and "did not refit" in missing.missing
