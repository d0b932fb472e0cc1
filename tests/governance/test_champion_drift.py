"""Drift from the champion's training data to the scored cohort, and paired champion deltas.

Issue 17: "what changed" compared the champion and the candidate on the same test cohort, so
every feature PSI read 0.000. Here two real small LightGBM models are trained on synthetic
data; the champion keeps its training reference, the cohort to be scored has one input
shifted, and the comparison must see that input drift and no other, while the old
same-cohort comparison is all zeros. The candidate-minus-champion differences come with
paired bootstrap intervals that separate a better model from a useless one.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from governance.audit.champion_comparison import CandidateScored, compare_with_champion
from governance.audit.champion_delta import PAIRED_METRICS, champion_scores, paired_deltas
from governance.audit.cohort_drift import Cohort, cohort_drift, training_reference
from governance.audit.drift import ChampionAudit, DriftInputError, champion_drift, reference_bins
from governance.contracts.audit_document import (
    AuditDocument,
    DriftReport,
    ReferenceBins,
)

PARAMS = {"objective": "binary", "verbose": -1, "num_threads": 1, "seed": 3, "num_leaves": 7}
COLUMNS = ["shifted", "steady", "noise"]


@dataclass(frozen=True)
class SmallModel:
    """What training logs, in miniature: ``predict(frame)`` gives a risk, ``columns`` names inputs."""

    booster: lgb.Booster
    columns: list[str]

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.booster.predict(frame[self.columns].to_numpy(float)))


def _people(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "shifted": rng.normal(loc=shift, size=n),
            "steady": rng.normal(size=n),
            "noise": rng.normal(size=n),
        }
    )
    logit = -2.0 + 1.2 * frame["steady"] + 0.6 * (frame["shifted"] - shift)
    frame["label"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


def _model(frame: pd.DataFrame, columns: list[str], rounds: int) -> SmallModel:
    data = lgb.Dataset(frame[columns].to_numpy(float), frame["label"].to_numpy())
    return SmallModel(lgb.train(PARAMS, data, num_boost_round=rounds), columns)


@pytest.fixture(scope="module")
def world() -> dict[str, object]:
    train, validation, test = _people(4000, 1), _people(2000, 2), _people(3000, 3)
    cohort = _people(3000, 4, shift=1.0)  # the population now scored: one input moved
    champion = _model(train, ["shifted", "noise"], rounds=30)  # misses the strong input
    candidate = _model(train, COLUMNS, rounds=40)
    return {
        "train": train,
        "validation": validation,
        "test": test,
        "cohort": Cohort("2025-03-31", cohort),
        "champion": champion,
        "candidate": candidate,
        "reference": training_reference(
            train[COLUMNS],
            champion.predict(validation),
            train_dates=["2016-03-31", "2017-03-31"],
            validation_date="2021-03-31",
        ),
    }


def _champion_audit(world: dict[str, object], *, keep_reference: bool = True) -> ChampionAudit:
    """The champion's audit document, its distributions from the TEST split (as audits keep)."""
    test = world["test"]
    champion = world["champion"]
    assert isinstance(test, pd.DataFrame) and isinstance(champion, SmallModel)
    samples = {"score": champion.predict(test), **{c: test[c].to_numpy() for c in COLUMNS}}
    document = AuditDocument.model_construct(
        distributions={
            k: ReferenceBins.model_validate(reference_bins(v)) for k, v in samples.items()
        },
        performance={"test_roc_auc": 0.6},
        fairness=_Fairness(),
        explainability={"available": False, "reason": "test"},
        model=_Model(),
    )
    reference = world["reference"] if keep_reference else None
    return ChampionAudit("1", "ab" * 32, document, reference, champion)  # type: ignore[arg-type]


@dataclass
class _Fairness:
    summary: dict[str, object]

    def __init__(self) -> None:
        self.summary = {}


@dataclass
class _Model:
    inputs: list[str]

    def __init__(self) -> None:
        self.inputs = ["shifted", "noise"]


def _compared(world: dict[str, object], **changes: object) -> DriftReport:
    test, candidate = world["test"], world["candidate"]
    assert isinstance(test, pd.DataFrame) and isinstance(candidate, SmallModel)
    options = {
        "cohort": world["cohort"],
        "figures": {"test_roc_auc": 0.7},
        "drivers": COLUMNS,
        "resamples": 200,
        "confidence": 0.95,
        "seed": 11,
        **changes,
    }
    champion = options.pop("champion", None) or _champion_audit(world)
    return compare_with_champion(
        champion,  # type: ignore[arg-type]
        CandidateScored(
            test,
            test[COLUMNS],
            test["label"].to_numpy(),
            candidate.predict(test),
        ),
        **options,  # type: ignore[arg-type]
    )


def test_the_old_same_cohort_comparison_reads_zero_and_the_new_one_sees_the_shift(
    world: dict[str, object],
) -> None:
    test = world["test"]
    assert isinstance(test, pd.DataFrame)
    champion = _champion_audit(world)
    old = champion_drift(champion, test[COLUMNS], np.zeros(len(test)), candidate={}, drivers=[])
    assert all(row.psi == 0.0 for row in old.features)  # the finding: all 0.000

    section = _compared(world)
    psis = {row.feature: row for row in section.features}
    assert set(psis) == set(COLUMNS)
    assert not all(row.psi == 0.0 for row in section.features)
    assert psis["shifted"].psi > 0.25 and psis["shifted"].level == "significant"
    assert psis["steady"].psi < 0.1 and psis["steady"].level == "stable"
    assert psis["noise"].level == "stable"
    assert section.features[0].feature == "shifted"  # largest first
    # the champion's own scores moved with its input; the comparison says what was compared
    assert section.score is not None and section.score.psi > 0.1
    assert section.cohort is not None and section.cohort.missing is None
    assert section.cohort.cohort_as_of == "2025-03-31"
    assert section.cohort.cohort_rows == 3000 and section.cohort.reference_rows == 4000
    assert "training split" in (section.cohort.reference or "")


def test_an_unchanged_cohort_shows_no_drift(world: dict[str, object]) -> None:
    same = Cohort("2025-03-31", _people(3000, 9))
    section = _compared(world, cohort=same)
    assert section.features and all(row.level == "stable" for row in section.features)
    assert section.score is not None and section.score.level == "stable"


def test_no_reference_or_no_cohort_is_said_not_zeroed(world: dict[str, object]) -> None:
    without = _compared(world, champion=_champion_audit(world, keep_reference=False))
    assert without.features == [] and without.score is None
    assert without.cohort is not None and "kept no reference bins" in (without.cohort.missing or "")
    no_cohort = _compared(world, cohort=None)
    assert no_cohort.features == []
    assert no_cohort.cohort is not None and "No cohort" in (no_cohort.cohort.missing or "")


def test_a_malformed_reference_is_refused_by_name(world: dict[str, object]) -> None:
    with pytest.raises(DriftInputError, match="training reference must be"):
        cohort_drift({"features": {}}, world["cohort"], COLUMNS, None)  # type: ignore[arg-type]


def test_the_reference_is_aggregates_only(world: dict[str, object]) -> None:
    reference = world["reference"]
    train = world["train"]
    assert isinstance(reference, dict) and isinstance(train, pd.DataFrame)
    values = set(np.round(train["steady"].to_numpy(), 12))
    cuts = reference["features"]["steady"]["cuts"]
    assert len(cuts) <= 9 and not values & set(np.round(cuts, 12))  # no one's value is an edge
    assert reference["train_rows"] == 4000 and reference["score_rows"] == 2000


def test_paired_deltas_favour_the_better_candidate_with_intervals(
    world: dict[str, object],
) -> None:
    section = _compared(world)
    assert section.paired_missing is None
    rows = {row.metric: row for row in section.paired}
    assert list(rows) == list(PAIRED_METRICS)
    auc = rows["roc_auc"]
    # the candidate reads the strong input the champion lacks: better, and the interval says so
    assert auc.candidate > auc.champion and auc.difference == auc.candidate - auc.champion
    assert auc.low is not None and auc.high is not None and 0 < auc.low < auc.difference < auc.high
    brier = rows["brier"]
    assert brier.difference == pytest.approx(brier.champion - brier.candidate)
    assert auc.rows == 3000 and auc.resamples == 200 and auc.confidence == 0.95


def test_a_champion_equal_to_the_candidate_has_intervals_around_zero(
    world: dict[str, object],
) -> None:
    test, candidate = world["test"], world["candidate"]
    assert isinstance(test, pd.DataFrame) and isinstance(candidate, SmallModel)
    scores = candidate.predict(test)
    rows, missing = paired_deltas(
        test["label"].to_numpy(), scores, scores.copy(), resamples=100, confidence=0.9, seed=1
    )
    assert missing is None
    for row in rows:
        assert row.difference == 0.0 and row.low == 0.0 and row.high == 0.0


def test_a_champion_that_cannot_score_the_rows_is_said(world: dict[str, object]) -> None:
    test, champion = world["test"], world["champion"]
    assert isinstance(test, pd.DataFrame)
    scores, why = champion_scores(champion, test.drop(columns=["noise"]))
    assert scores is None and "noise" in (why or "")
    scores, why = champion_scores(None, test)
    assert scores is None and "could not be loaded" in (why or "")
    one_class = np.zeros(10, dtype=np.int64)
    rows, why = paired_deltas(
        one_class, np.linspace(0, 1, 10), np.linspace(0, 1, 10), resamples=5, confidence=0.9, seed=1
    )
    assert rows == [] and "one class" in (why or "")
