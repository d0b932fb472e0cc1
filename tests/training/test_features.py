"""Features: no event on or after the as-of date feeds a feature; windows, expiry and labels."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.contracts.config import load_config
from governance.contracts.errors import ConfigError, ExtractError
from governance.contracts.layout import DataLayout
from training.config import PipelineConfig
from training.features.build import features_sql, run_features
from training.features.config import FeaturesConfig
from training.features.definitions import all_features
from training.features.events import RECORD_DATE, persons_sql
from training.linkage.stage import run_link

AS_OF = dt.date(2020, 4, 1)
#: the only output columns that may look past the as-of date
LABEL_COLUMNS = ("label", "label_complete")
KINDS = [
    "accidental_injury",
    "assault",
    "suspension",
    "referral",
    "cin_plan",
    "da_incident",
    "suspect:robbery",
    "proven:robbery",
    "absence_rate",
    "missing_episode",
    "admission",
]


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    """One in-memory DuckDB for the module: opening one per run cost a tenth of each run."""
    with duckdb.connect() as connection:
        yield connection


def _run(
    con: duckdb.DuckDBPyConnection, events: pd.DataFrame, config: FeaturesConfig
) -> pd.DataFrame:
    """The features of two cohort members given ``events``, on ``con``'s fresh tables."""
    cohort = pd.DataFrame(
        {
            "person_key": ["P1", "P2"],
            "as_of_date": [AS_OF, AS_OF],
            "lsoa_code": "L1",
            "ward_code": "W1",
            "borough_code": "B1",
            "bcu_code": "X",
            "age": [12, 15],
            "sex": ["F", "M"],
            "ethnicity": ["White", "Black"],
            "deprivation_score": 0.0,
            "deprivation_decile": 5,
        }
    )
    con.register("cohort_df", cohort)
    con.register("events_df", events)
    con.execute(
        "CREATE OR REPLACE TABLE cohort AS SELECT * REPLACE (CAST(as_of_date AS DATE) AS as_of_date) FROM cohort_df"
    )
    con.execute(
        "CREATE OR REPLACE TABLE events AS SELECT person_key, source, CAST(event_date AS DATE) AS event_date, kind, "
        "CAST(value AS DOUBLE) AS value FROM events_df"
    )
    specs = all_features(config.windows_months)
    return (
        con.execute(features_sql(config, specs, dt.date(2025, 1, 1))).df().set_index("person_key")
    )


_EVENT = st.tuples(
    st.sampled_from(["P1", "P2"]),
    st.sampled_from(["health", "education", "social_care", "police"]),
    st.integers(-2000, 1500),
    st.sampled_from(KINDS),
    st.floats(0, 1),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(_EVENT, min_size=1, max_size=40), shift=st.integers(0, 3000))
def test_events_on_or_after_the_as_of_date_change_no_feature(
    con: duckdb.DuckDBPyConnection, events: list[tuple], shift: int
) -> None:
    frame = pd.DataFrame(events, columns=["person_key", "source", "offset", "kind", "value"])
    frame["event_date"] = pd.Timestamp(AS_OF) + pd.to_timedelta(frame.pop("offset"), unit="D")
    config = FeaturesConfig()
    base = _run(con, frame, config)
    later = frame["event_date"] >= pd.Timestamp(AS_OF)
    moved = frame.copy()
    moved.loc[later, "event_date"] += pd.Timedelta(days=shift)  # later events move further on
    before_only = frame[~later]
    # every output column but the label's: features, the ward's rate, context, sensitive
    names = [c for c in base.columns if c not in LABEL_COLUMNS]
    assert "ward_violence_rate_36m" in names
    pd.testing.assert_frame_equal(_run(con, moved, config)[names], base[names])
    pd.testing.assert_frame_equal(_run(con, before_only, config)[names], base[names])
    # and the label sees exactly the serious-violence events in the 24 months from the as-of date
    window = frame["event_date"].between(
        pd.Timestamp(AS_OF), pd.Timestamp(AS_OF) + pd.DateOffset(months=24), inclusive="left"
    )
    serious = frame["kind"].isin(["assault", "proven:robbery"])
    for person in ("P1", "P2"):
        assert base.loc[person, "label"] == int(
            (window & serious & (frame["person_key"] == person)).any()
        )


def _events(*rows: tuple[str, str, int, str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["person_key", "source", "offset", "kind"])
    frame["event_date"] = pd.Timestamp(AS_OF) + pd.to_timedelta(frame.pop("offset"), unit="D")
    frame["value"] = None
    return frame


def test_windows_count_only_their_months(con: duckdb.DuckDBPyConnection) -> None:
    events = _events(
        ("P1", "social_care", -30, "referral"),
        ("P1", "social_care", -500, "referral"),
        ("P1", "social_care", -1500, "referral"),
        ("P1", "social_care", 0, "referral"),  # on the as-of date: not history
    )
    out = _run(con, events, FeaturesConfig())
    assert out.loc[
        "P1",
        ["social_care_referrals_12m", "social_care_referrals_36m", "social_care_referrals_ever"],
    ].tolist() == [1, 2, 3]
    assert out.loc["P1", "days_since_social_care"] == 30
    assert out.loc["P2", "social_care_referrals_ever"] == 0


def test_expiry_policy_forgets_old_events(con: duckdb.DuckDBPyConnection) -> None:
    events = _events(("P1", "health", -4 * 365, "self_harm"), ("P2", "health", -200, "self_harm"))
    plain = _run(con, events, FeaturesConfig())
    expiring = _run(con, events, FeaturesConfig(policy={"self_harm_ever": {"expires_after": 3}}))
    assert plain.loc["P1", "self_harm_ever"] == 1 and expiring.loc["P1", "self_harm_ever"] == 0
    assert expiring.loc["P2", "self_harm_ever"] == 1


def test_outcome_definition_from_config(con: duckdb.DuckDBPyConnection) -> None:
    events = _events(("P1", "health", 10, "assault"), ("P2", "police", 10, "proven:robbery"))
    victim = _run(con, events, FeaturesConfig(outcome="victim"))
    perpetrator = _run(con, events, FeaturesConfig(outcome="perpetrator"))
    assert victim["label"].to_dict() == {"P1": 1, "P2": 0}
    assert perpetrator["label"].to_dict() == {"P1": 0, "P2": 1}


@pytest.fixture(scope="module")
def linked_city(small_city_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("features") / "data"
    shutil.copytree(small_city_dir, data)
    run_link(
        PipelineConfig.model_validate({"link": {"u_max_pairs": 2e5, "em_max_pairs": 2e5}}), data
    )
    return data


def test_build_features_on_a_linked_city(linked_city: Path) -> None:
    config = FeaturesConfig(as_of_dates=[dt.date(2019, 3, 31), dt.date(2024, 3, 31)])
    result = run_features(config, linked_city)
    table = pd.read_parquet(result.path)
    assert set(pd.to_datetime(table["as_of_date"]).dt.date) == set(config.as_of_dates)
    assert table["age"].between(10, 17).all()
    assert not table.duplicated(["person_key", "as_of_date"]).any()
    complete = table.groupby("as_of_date")["label_complete"].all()
    assert complete.tolist() == [True, False]  # 2024 + 24 months runs past the data (2025-03-31)
    definitions = {f["name"]: f for f in result.manifest["features"]}
    assert definitions["sex"]["policy"] == "prohibited" and definitions["ethnicity"]["sensitive"]
    assert definitions["suspensions_12m"]["source"] == "education"
    assert definitions["suspensions_12m"]["window_months"] == 12
    assert set(definitions) <= set(table.columns)
    assert (linked_city / "features/manifest.json").is_file()


def test_an_as_of_date_with_nobody_is_refused(linked_city: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=r"features.as_of_dates: no young people aged 10-17 are known to live in the city at 2001-01-01",
    ):
        run_features(FeaturesConfig(as_of_dates=[dt.date(2001, 1, 1)]), linked_city)


def test_features_need_a_spine(small_city_dir: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    shutil.copytree(small_city_dir, bare)
    with pytest.raises(ExtractError, match=r"spine.parquet: no linked spine; run `vru link"):
        run_features(FeaturesConfig(), bare)
    assert not (bare / "features").exists()


def test_a_policy_entry_keeps_the_protected_defaults() -> None:
    """Issue 15: one entry used to replace the whole policy, allowing sex and ethnicity."""
    config = FeaturesConfig(policy={"offences_ever": "prohibited"})
    assert config.policy == {
        "sex": "prohibited",
        "ethnicity": "prohibited",
        "offences_ever": "prohibited",
    }


def test_allowing_a_protected_attribute_needs_it_named_in_allow_protected(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text("features:\n  policy:\n    ethnicity: allowed\n")
    with pytest.raises(ConfigError, match=r"'ethnicity' is a protected attribute.*allow_protected"):
        load_config(path, PipelineConfig)
    allowed = FeaturesConfig(policy={"ethnicity": "allowed"}, allow_protected=("ethnicity",))
    assert allowed.policy["ethnicity"] == "allowed" and allowed.policy["sex"] == "prohibited"
    with pytest.raises(ValueError, match=r"\['age'\] not protected attributes"):
        FeaturesConfig(allow_protected=("age",))


def _truncated_copy(city: Path, target: Path, as_of: dt.date) -> Path:
    """A copy of ``city`` whose every extract keeps only records dated before ``as_of``."""
    shutil.copytree(city, target)
    layout = DataLayout(target)
    for source, column in RECORD_DATE.items():
        path = layout.extract(source)
        table = pd.read_parquet(path)
        kept = table[pd.to_datetime(table[column]) < pd.Timestamp(as_of)]
        assert 0 < len(kept) < len(table), (source, len(kept), len(table))
        kept.to_parquet(path, index=False)
    return target


def test_features_are_the_same_from_extracts_cut_at_the_as_of_date(
    linked_city: Path, tmp_path: Path
) -> None:
    """Every output column but the label is computed from what was known on the as-of date.

    Each extract is cut at the as-of date (the spine kept as linked): the cohort, every
    feature, the ward's rate, the home area, age, sex and ethnicity must come out identical.
    A ward rate counting later months, a home postcode or a date of birth taken from a later
    record, or any feature reading a later event, changes some row.
    """
    as_of = dt.date(2021, 3, 31)
    config = FeaturesConfig(as_of_dates=[as_of], data_end=dt.date(2025, 3, 31))
    full = pd.read_parquet(run_features(config, linked_city).path)
    cut = _truncated_copy(linked_city, tmp_path / "cut", as_of)
    known = pd.read_parquet(run_features(config, cut).path)
    columns = [c for c in full.columns if c not in LABEL_COLUMNS]
    assert len(full) > 100
    pd.testing.assert_frame_equal(
        known[columns].reset_index(drop=True), full[columns].reset_index(drop=True)
    )
    # and the cut really removed what the label sees: the label is where they differ
    assert known["label"].sum() < full["label"].sum()


def test_person_facts_recorded_after_the_as_of_date_are_not_known_then(
    con: duckdb.DuckDBPyConnection,
) -> None:
    """A sex, ethnic group or date of birth first recorded later does not reach the cohort."""
    later = AS_OF + dt.timedelta(days=30)
    earlier = AS_OF - dt.timedelta(days=30)
    facts = pd.DataFrame(
        [
            ("P1", earlier, dt.date(2008, 5, 1), "F", "White"),
            ("P1", earlier, dt.date(2008, 5, 1), "F", None),
            ("P1", later, dt.date(2005, 1, 1), "M", "Black"),
            ("P1", later, dt.date(2005, 1, 1), "M", "Black"),
            ("P1", later, dt.date(2005, 1, 1), "M", "Black"),
            ("P2", later, dt.date(2007, 1, 1), "M", "Asian"),
        ],
        columns=["person_key", "event_date", "dob", "sex", "ethnicity"],
    )
    con.register("facts_df", facts)
    con.execute(
        "CREATE OR REPLACE TABLE facts AS SELECT person_key, CAST(event_date AS DATE) AS "
        "event_date, CAST(dob AS DATE) AS dob, sex, ethnicity FROM facts_df"
    )
    rows = con.execute(persons_sql("facts", [AS_OF, later + dt.timedelta(days=1)])).df()
    at = {
        (r.person_key, r.as_of_date.date()): (r.dob.date(), r.sex, r.ethnicity)
        for r in rows.itertuples()
    }
    assert at[("P1", AS_OF)] == (dt.date(2008, 5, 1), "F", "White")
    assert ("P2", AS_OF) not in at  # nothing was known about P2 yet
    assert at[("P1", later + dt.timedelta(days=1))] == (dt.date(2005, 1, 1), "M", "Black")
