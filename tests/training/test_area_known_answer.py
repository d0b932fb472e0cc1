"""Known answers for the area-level audit: generated cities with recording bias off and on.

Each city is generated with every offence proven once recorded (so the label is the police's
recording of true offending, nothing else), linked perfectly from the truth (so only
recording differs from the truth), featured as ``vru features`` does, and scored by a model
trained on the earlier half of the as-of dates' *recorded* outcomes and audited on the later
half. The scorer is a scaled logistic regression on the features, the young person's ethnic
group and the LSOA's recorded rate in the training years: calibrated to the records within
each group and each area, which is the worst case for recording bias (the product's model
sees the bias through police-derived inputs and a ward's recorded rate; a scorer that sees
the group and the area's records carries it for certain).

- Bias OFF (``recording.group_log_or`` all 0, policing intensity 0 everywhere): recorded and
  true outcomes differ only by a constant recording probability, so against the truth no
  group and no kind of area is scored up: no allocation figure is significant, and Black and
  White young people's observed ÷ expected agree.
- Bias ON (Black young people's offences recorded at log odds +2, policing intensity with
  standard deviation 1.5 across LSOAs): against the truth the heavily policed areas are
  scored up (the allocation ratio's interval lies above 1) and Black young people are given
  more relative to what truly happens than White young people (their O/E intervals do not
  overlap); against the records themselves the model looks even-handed by group.

The group's share of an area is not asserted on: in the generator, ethnicity follows
deprivation only, so with deprivation held equal the share barely varies between areas and
the figure cannot have power at this size; the audit reports it with its interval.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from governance.audit.area_audit import AreaRows, AreaTruth, area_audit
from governance.contracts.audit_document import AreaLevelAudit
from governance.contracts.settings import AreaAuditSettings
from tests.helpers import make_config
from training.evaluation.area_truth import area_truth
from training.evaluation.truth import read_truth
from training.features.build import ID_COLUMNS, LABEL_COLUMNS, run_features
from training.features.config import FeaturesConfig
from training.generate.run import run_generate

pytestmark = pytest.mark.slow

PERSONS = 20_000
PROVEN_ALWAYS = {"charge": 1.0, "caution": 0.0, "community_resolution": 0.0, "nfa": 0.0}
NO_GROUP_BIAS = {"White": 0.0, "Mixed": 0.0, "Asian": 0.0, "Black": 0.0, "Other": 0.0}


def _city(root: Path, *, bias: bool) -> Path:
    recording = {
        "offence_recorded_base": 0.3,
        "proven_outcome_shares": PROVEN_ALWAYS,
        "group_log_or": {**NO_GROUP_BIAS, "Black": 2.0 if bias else 0.0},
        "policing_intensity_per_deprivation_sd": 0.0,
        "policing_intensity_sd": 1.5 if bias else 0.0,
    }
    config = make_config(persons=PERSONS, outcome={"base": 0.25}, recording=recording)
    data = run_generate(config, root / "data").data_dir
    link = read_truth(data, "record_person")
    spine = link.assign(
        person_key="T" + link["person_id"].astype(str).str.zfill(9), match_probability=1.0
    )
    (data / "linked").mkdir()
    spine[["source", "record_id", "person_key", "match_probability"]].to_parquet(
        data / "linked" / "spine.parquet"
    )
    run_features(FeaturesConfig(outcome="perpetrator"), data)
    return data


def _audit(data: Path) -> AreaLevelAudit:
    table = pd.read_parquet(data / "features" / "features.parquet")
    table = table[table["label_complete"]].reset_index(drop=True)
    inputs = [
        c for c in table.columns if c not in {*ID_COLUMNS, *LABEL_COLUMNS, "sex", "ethnicity"}
    ]
    dates = sorted(table["as_of_date"].unique())
    train = table["as_of_date"].isin(dates[: len(dates) // 2]).to_numpy()
    # the area's recorded rate in the training years (smoothed towards the city's)
    past = table[train].groupby("lsoa_code")["label"].agg(["sum", "size"])
    prior = table["label"].to_numpy()[train].mean()
    area_rate = (past["sum"] + 20 * prior) / (past["size"] + 20)
    x = pd.concat(
        [
            table[inputs].astype(float).fillna(-1.0),
            pd.get_dummies(table["ethnicity"], dtype=float),
            table["lsoa_code"].map(area_rate).fillna(prior).rename("area_rate"),
        ],
        axis=1,
    ).to_numpy()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(x[train], table["label"].to_numpy()[train])
    test = table[~train].reset_index(drop=True)
    score = model.predict_proba(x[~train])[:, 1]
    found = area_truth(
        data,
        test.assign(score=score),
        ["lsoa_code"],
        label_months=24,
        outcome="perpetrator",
        group_columns=["ethnicity"],
    )
    # evaluation code hands the audit aggregates only: no person key in what it returns
    said = json.dumps(found)
    assert not [k for k in test["person_key"].astype(str).unique() if k in said]
    policing = test["lsoa_code"].astype(str).map(pd.Series(found["policing"], dtype=float))
    report = area_audit(
        AreaRows(
            levels={"lsoa_code": test["lsoa_code"].to_numpy()},
            y=test["label"].to_numpy(),
            scores=score,
            deprivation=test["deprivation_decile"].to_numpy(),
            policing=policing.to_numpy(),
            composition=test["ethnicity"].to_numpy(),
            groups=test[["ethnicity"]],
        ),
        AreaAuditSettings(bootstrap=500),
        truth=AreaTruth.from_json(found),
        policing_source="truth",
        gated_level="lsoa_code",
        confidence=0.95,
        min_outcomes=30,
        withhold_below=10,
        seed=3,
    )
    return report.levels["lsoa_code"]


@pytest.fixture(scope="module")
def unbiased(tmp_path_factory: pytest.TempPathFactory) -> AreaLevelAudit:
    return _audit(_city(tmp_path_factory.mktemp("area-off"), bias=False))


@pytest.fixture(scope="module")
def biased(tmp_path_factory: pytest.TempPathFactory) -> AreaLevelAudit:
    return _audit(_city(tmp_path_factory.mktemp("area-on"), bias=True))


def _apart(a: object, b: object) -> bool:
    """Whether two O/E intervals do not overlap."""
    return bool(a.high < b.low or b.high < a.low)  # type: ignore[attr-defined]


def test_without_recording_bias_no_group_and_no_kind_of_area_is_scored_up(
    unbiased: AreaLevelAudit,
) -> None:
    true = unbiased.true
    assert true is not None and true.overall.observed is not None
    assert true.overall.observed >= 500
    # policing is the same everywhere: its figure cannot be measured, and says so
    assert true.allocation["policing"].ratio is None and not true.allocation["policing"].judged
    for name in ("deprivation", "share Black", "share White"):
        figure = true.allocation[name]
        assert figure.judged and figure.p_value is not None
        assert figure.p_value >= 0.05, (name, figure)
    groups = true.by_group["ethnicity"]
    assert groups["Black"].judged and groups["White"].judged
    assert not _apart(groups["Black"], groups["White"])


def test_with_recording_bias_the_audit_finds_its_direction(biased: AreaLevelAudit) -> None:
    true = biased.true
    assert true is not None
    policing = true.allocation["policing"]
    assert policing.judged and policing.low is not None and policing.low > 1.0, policing
    groups = true.by_group["ethnicity"]
    black, white = groups["Black"], groups["White"]
    assert black.ratio is not None and white.ratio is not None
    # Black young people are given more relative to what truly happens: a lower O/E
    assert black.high is not None and white.low is not None and black.high < white.low
    # against the records alone the model looks even-handed between the two groups
    recorded = biased.recorded.by_group["ethnicity"]
    assert not _apart(recorded["Black"], recorded["White"])
