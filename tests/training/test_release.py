"""vru release: refusals, the area table at every level, disclosure, exact SHAP dedup, privacy,
and the Spark engine's release equal to the in-process one.

The city and its model are the session's trained city (tests/conftest.py); each test works
on its own copy of the MLflow store. The board's approval is recorded with a real signed
review, as in tests/governance/test_approval.py, and released twice once per module; each
test that reads the releases gets its own copy of that too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import pickle
import re
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
import pandas as pd
import pytest
import typer
from pydantic import SecretStr
from typer.testing import CliRunner

from governance.board.approval import (
    REPORT_TAG,
    ApprovalError,
    decision_tags,
    promote,
    verify_serving_version,
)
from governance.board.audit_log import AuditLog
from governance.board.registry import CHAMPION, ModelArtifactsError, Registry
from governance.board.review import record_review, record_revocation
from governance.board.verdict import embed_verdict
from governance.contracts.config import config_hash, load_config
from governance.contracts.errors import ConfigError
from governance.contracts.release_schema import (
    AREA_COLUMNS,
    LEVELS,
    ApprovalRecord,
    ReleaseError,
    ReleaseManifest,
    current_release_id,
    factor_columns,
    read_manifest,
    verify_manifest,
)
from governance.contracts.roster import BoardMember, BoardSettings
from governance.contracts.settings import GovernanceConfig
from governance.contracts.signing import (
    Decision,
    artifacts_digest,
    generate_keypair,
    load_private_key,
    sign_decision,
)
from governance.disclosure import DisclosureConfig, check_no_individuals
from tests.helpers import TrainedCity, copy_tree, sqlite_uri
from training.model.estimators import CalibratedModel, Calibrator
from training.release.aggregate import (
    aggregate_areas,
    area_table,
    combine_sums,
    factor_present,
    lsoa_sums,
    sum_columns,
)
from training.release.config import ReleaseConfig
from training.release.distributed import spark_lsoa_sums
from training.release.run import ReleaseResult, load_disclosure, run_release
from training.release.score import score_cohort
from training.spark import (
    EngineUnavailableError,
    SparkConfig,
    spark_session,
    start_spark_session,
)
from vru.release_command import register

NAME = "vru-risk"
LATEST = "2025-03-31"


#: the cell-key seed of the test city's production releases: a production release under the
#: default method brings its own secret seed (the demo's public one is refused)
PRODUCTION_SEED = "test-city-production-cell-key-seed"


def production_rules(config: ReleaseConfig) -> DisclosureConfig:
    """The release config's disclosure rules (the default method) with a production seed."""
    rules = load_disclosure(config)
    cellkey = rules.cellkey.model_copy(update={"seed": SecretStr(PRODUCTION_SEED)})
    return rules.model_copy(update={"cellkey": cellkey})


@dataclass
class City:
    root: Path
    data: Path
    registry: Registry
    version: str
    public: str
    key: Path
    log: AuditLog

    def governance(self) -> GovernanceConfig:
        return GovernanceConfig(board_public_key_b64=self.public, audit_log=self.log.path)

    def config(self, releases: str = "releases", **kw: object) -> ReleaseConfig:
        release_key = self.root / "release.pem"  # production releases are signed
        return ReleaseConfig.model_validate(
            {"releases_dir": self.root / releases, "release_key": release_key, **kw}
        )

    def release(self, releases: str = "releases", **kw: object) -> ReleaseResult:
        config = self.config(releases, **kw)
        return run_release(
            config,
            self.data,
            registry=self.registry,
            governance=self.governance(),
            disclosure=production_rules(config),
        )

    def audit(self, name: str, version: str) -> str:
        """Log a report with an embedded verdict (all gates passed) and tag its hash."""
        info = self.registry.version(name, version)
        html = embed_verdict(
            "<html><body><h1>report</h1></body></html>",
            {
                "model": name,
                "version": version,
                "gates": [],
                "gates_passed": True,
                "model_artifacts_sha256": artifacts_digest(self.registry.model_files(info)),
            },
        )
        self.registry.log_artifacts(info, {"report.html": html.encode()})
        digest = hashlib.sha256(html.encode()).hexdigest()
        self.registry.set_tags(name, version, {REPORT_TAG: digest})
        return digest


def _city_at(root: Path, trained: TrainedCity) -> City:
    """A city under ``root``: the trained city's data (read only), a copy of its store, a board."""
    root.mkdir(parents=True)
    registry = Registry(trained.copy_store(root / "store"))
    public = generate_keypair(root / "board.pem", root / "board.pub")
    generate_keypair(root / "release.pem", root / "release.pub")
    log = AuditLog(root / "log.jsonl")
    return City(
        root, trained.data, registry, trained.result.version, public, root / "board.pem", log
    )


@pytest.fixture
def city(trained_city: TrainedCity, tmp_path: Path) -> City:
    """This test's own city: the trained version registered @candidate, nothing approved."""
    return _city_at(tmp_path / "city", trained_city)


@dataclass
class Released:
    """A city whose trained version was approved, promoted and released twice."""

    city: City
    first: ReleaseResult
    second: ReleaseResult

    def moved(self, root: Path) -> Released:
        """A copy under ``root`` (store, releases, log and keys), for one test to change."""
        copy_tree(self.city.root, root)
        old = self.city
        city = City(
            root,
            old.data,
            Registry(sqlite_uri(root / "store")),
            old.version,
            old.public,
            root / "board.pem",
            AuditLog(root / "log.jsonl"),
        )
        first, second = (
            replace(r, directory=root / r.directory.relative_to(old.root))
            for r in (self.first, self.second)
        )
        return Released(city, first, second)


@pytest.fixture(scope="module")
def built_release(trained_city: TrainedCity, tmp_path_factory: pytest.TempPathFactory) -> Released:
    """Built once per module and never changed: each test gets a copy (``released``)."""
    city = _city_at(tmp_path_factory.mktemp("release") / "city", trained_city)
    _approve_and_promote(city)
    return Released(city, city.release(), city.release())


@pytest.fixture
def released(built_release: Released, tmp_path: Path) -> Released:
    """This test's own copy of the released city."""
    return built_release.moved(tmp_path / "released")


def _areas(result: ReleaseResult) -> pd.DataFrame:
    return pd.read_parquet(result.directory / "areas.parquet")


def _nothing_written(city: City, releases: str, since: int = 0) -> None:
    assert not (city.root / releases).exists()
    events = [e["event"] for e in city.log.entries()] if city.log.path.exists() else []
    assert "release.created" not in events[since:]


# -- refusals -----------------------------------------------------------------------------


def _other_version(city: City, name: str) -> str:
    """A version of another registered model, from the trained run (its model is real)."""
    client = city.registry.client
    if name not in {m.name for m in client.search_registered_models()}:
        client.create_registered_model(name)
    info = city.registry.version(NAME, city.version)
    mv = client.create_model_version(
        name, source=f"models:/{NAME}/{city.version}", run_id=info.run_id
    )
    return str(mv.version)


def test_refused_without_a_champion(city: City) -> None:
    _other_version(city, "no-champion")
    with pytest.raises(ApprovalError, match="model no-champion has no champion"):
        city.release("refused-1", model_name="no-champion")
    _nothing_written(city, "refused-1")


def test_refused_when_the_alias_was_moved_by_hand(city: City) -> None:
    version = _other_version(city, "by-hand")
    city.registry.set_alias("by-hand", CHAMPION, version)  # MLflow's own client, no checks
    with pytest.raises(ApprovalError, match="was the alias moved by hand") as caught:
        city.release("refused-2", model_name="by-hand")
    assert any("not audited" in p for p in caught.value.problems)
    _nothing_written(city, "refused-2")


def test_refused_when_the_decision_is_unsigned(city: City) -> None:
    version = _other_version(city, "unsigned")
    report = city.audit("unsigned", version)
    decision = Decision(
        model="unsigned",
        version=version,
        report_sha256=report,
        decision="approve",
        reviewer="board",
        reasons="looks fine",
        decided_at="2025-01-01T00:00:00+00:00",
        member="board",
        valid_until="2999-01-01",
    )
    tag = decision_tags("board")[0]
    city.registry.set_tags("unsigned", version, {tag: json.dumps(asdict(decision))})
    city.registry.set_alias("unsigned", CHAMPION, version)
    with pytest.raises(ApprovalError) as caught:
        city.release("refused-3", model_name="unsigned")
    assert any("not signed" in p for p in caught.value.problems), caught.value.problems
    _nothing_written(city, "refused-3")


def test_refused_when_environments_disagree(city: City) -> None:
    with pytest.raises(
        ConfigError, match="environment 'demo' but the governance config says 'production'"
    ):
        city.release("refused-4", environment="demo")
    _nothing_written(city, "refused-4")


def test_a_factor_flag_not_in_the_features_is_a_config_error(released: Released) -> None:
    city = released.city
    factors = [{"name": "made_up", "label": "Made up", "present_when": ["made_up_ever"]}]
    before = len(city.log.entries())
    with pytest.raises(ConfigError, match=r"factor flag column\(s\) \['made_up_ever'\]"):
        city.release("refused-5", factors=factors)
    _nothing_written(city, "refused-5", since=before)


def test_release_config_errors_name_the_key(tmp_path: Path) -> None:
    path = tmp_path / "release.yaml"
    path.write_text(
        "top_drivers: 0\nfactors:\n"
        "  - {name: a, label: A, present_when: [x_ever]}\n"
        "  - {name: a, label: A again, present_when: [y_ever]}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, ReleaseConfig)
    assert "'top_drivers' Input should be greater than or equal to 1" in str(caught.value)
    shared = ReleaseConfig.model_validate(
        {
            "factors": [
                {"name": "a", "label": "A", "present_when": ["x_ever"]},
                {"name": "b", "label": "B", "present_when": ["y_ever"], "inputs": ["x_12m"]},
            ]
        }
    )
    with pytest.raises(ValueError, match="model input 'x_12m' is given to both 'a' and 'b'"):
        shared.factor_inputs(["x_12m", "x_ever", "y_ever"])
    with pytest.raises(ConfigError, match="each name once; repeated: \\['a'\\]"):
        path.write_text(
            "factors:\n  - {name: a, label: A, present_when: [x_ever]}\n"
            "  - {name: a, label: B, present_when: [y_ever]}\n"
        )
        load_config(path, ReleaseConfig)


# -- the release ---------------------------------------------------------------------------


def test_every_level_is_released_with_the_contract_columns(released: Released) -> None:
    city = released.city
    first = released.first
    areas = _areas(first)
    manifest = read_manifest(first.directory)
    expected = [*AREA_COLUMNS, *(c for f in manifest.factors for c in factor_columns(f))]
    assert list(areas.columns) == expected
    geography = pd.read_parquet(city.data / "geography.parquet")
    counts = areas["level"].value_counts()
    assert counts["lsoa"] == len(geography)
    assert counts["ward"] == geography["ward_code"].nunique()
    assert counts["borough"] == geography["borough_code"].nunique()
    assert counts["bcu"] == geography["bcu_code"].nunique()
    assert counts["city"] == 1
    assert set(areas["level"]) == set(LEVELS)
    published = areas[~areas["suppressed"]]
    assert len(published) > 0.5 * len(areas)
    # ranks and deciles run 1.. within each level; the city, alone in its level, has none
    assert published.loc[published["level"] == "city", ["rank", "decile"]].isna().all().all()
    for _, rows in published[published["level"] != "city"].groupby("level"):
        assert rows["rank"].min() == 1 and rows["rank"].max() <= len(rows)
        assert rows["decile"].between(1, 10).all()
    assert published["top_drivers"].notna().any()


def test_published_figures_pass_disclosure_control(
    released: Released,
) -> None:
    rules = DisclosureConfig()  # the default: cell-key perturbation, nothing rounded
    assert rules.method == "cellkey"
    areas = _areas(released.first)
    published = areas[~areas["suppressed"]]
    assert (published["population"] >= rules.min_population).all()
    suppressed = areas[areas["suppressed"]]
    assert suppressed["mean_risk"].isna().all() and suppressed["population"].isna().all()
    counts = [c for c in areas.columns if c.startswith("count_") and not c.endswith("_suppressed")]
    for column in ["population", *counts]:
        values = areas[column].dropna().astype(int)
        # a count under min_count after perturbation is withheld, so none is published
        assert (values >= rules.min_count).all(), column
    check_no_individuals(areas, rules)
    within = published.dropna(subset=["mean_risk", "risk_low", "risk_high"])
    assert len(within) == len(published)
    assert (
        (within["risk_low"] <= within["mean_risk"]) & (within["mean_risk"] <= within["risk_high"])
    ).all()


def test_the_manifest_verifies_and_the_release_is_recorded(released: Released) -> None:
    city = released.city
    first, second = released.first, released.second
    manifest = read_manifest(second.directory)
    verify_manifest(manifest, city.public)
    assert manifest.model_version == city.version
    assert manifest.report_sha256 == city.registry.version(NAME, city.version).tags[REPORT_TAG]
    assert manifest.as_of_date == LATEST
    assert manifest.suppression and manifest.methods["interval"]
    attacks = {a.name: a for a in manifest.attacks or ()}
    assert set(attacks) == {
        "hierarchy_exact",
        "hierarchy_narrowed",
        "precision_gain",
        "zero_detection",
    }
    assert all(a.passed for a in attacks.values()), attacks
    assert attacks["hierarchy_exact"].judged and attacks["hierarchy_exact"].success == 0.0
    assert manifest.previous_release_id == first.release_id
    assert current_release_id(city.root / "releases") == second.release_id
    info = city.registry.version(NAME, city.version)
    logged = city.registry.read_artifact(info, f"release/{second.release_id}/manifest.json")
    assert logged == (second.directory / "manifest.json").read_bytes()
    entries = [e for e in city.log.entries() if e["event"] == "release.created"]
    assert [e["details"]["release_id"] for e in entries][-2:] == [
        first.release_id,
        second.release_id,
    ]
    assert city.log.verify().ok
    other_board = generate_keypair(city.root / "other.pem", city.root / "other.pub")
    with pytest.raises(ReleaseError, match="does not verify with the key of member 'board'"):
        verify_manifest(manifest, other_board)


def _with_decision(released: Released, **change: Any) -> ReleaseManifest:
    """The release's manifest carrying the board's own signature of a changed decision."""
    manifest = read_manifest(released.second.directory)
    decision = replace(manifest.approval[0].as_decision(), **change)
    signature = sign_decision(decision, load_private_key(released.city.key))
    record = {"decision": json.loads(json.dumps(asdict(decision))), "signature": signature}
    return manifest.model_copy(update={"approval": (ApprovalRecord(**record),)})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"decision": "reject"}, "the signed decision is a rejection"),
        ({"report_sha256": "0" * 64}, "the approval was given for another report"),
        ({"version": "999"}, "the approval is for vru-risk version 999"),
        (
            {"model_artifacts": {}, "model_artifacts_sha256": ""},
            "the approval names no model files",
        ),
        ({"valid_until": "2020-01-01"}, "the approval lapsed on 2020-01-01"),
    ],
)
def test_a_signed_decision_that_is_not_this_releases_approval_is_refused_at_load(
    released: Released, change: dict[str, Any], message: str
) -> None:
    """Genuinely signed by the board, but not an approval of this release's model and report."""
    forged = _with_decision(released, **change)
    with pytest.raises(ReleaseError, match=message):
        verify_manifest(forged, released.city.public)
    manifest = read_manifest(released.second.directory)
    assert manifest.approval[0].decision["model_artifacts_sha256"]  # the release names the model
    verify_manifest(manifest, released.city.public)  # the genuine one passes


def test_a_release_needs_a_board_and_its_quorum_at_load(released: Released) -> None:
    manifest = read_manifest(released.second.directory)
    with pytest.raises(ReleaseError, match="no board public key configured"):
        verify_manifest(manifest, None)
    city = released.city
    second = generate_keypair(city.root / "second.pem", city.root / "second.pub")
    roster = BoardSettings(
        members=(
            BoardMember(id="board", name="board", public_key_b64=city.public),
            BoardMember(id="bob", name="Bob", public_key_b64=second),
        ),
        quorum=2,
    )
    with pytest.raises(ReleaseError, match="2 of 2 board members must approve, have 1: board"):
        verify_manifest(manifest, roster)
    twice = manifest.model_copy(update={"approval": manifest.approval * 2})
    with pytest.raises(ReleaseError, match="have 1: board"):  # one member counts once
        verify_manifest(twice, roster)


def test_a_manifest_older_than_the_roster_is_refused(released: Released, tmp_path: Path) -> None:
    directory = copy_tree(released.second.directory, tmp_path / "old")
    raw = json.loads((directory / "manifest.json").read_text())
    raw.update(schema_version=2, approval=dict(raw["approval"][0]))
    (directory / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(ReleaseError, match="schema_version 2 predates approvals by the board"):
        read_manifest(directory)


def test_a_lapsed_approval_is_refused_at_promote_and_release(city: City) -> None:
    _approve(city)
    info = city.registry.version(NAME, city.version)
    until = dt.date.fromisoformat(_review_date(city))
    after = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), dt.UTC)
    with pytest.raises(ApprovalError) as caught:
        promote(city.registry, city.log, info, city.public, actor="t", now=after)
    assert f"the approval lapsed on {until}" in " ".join(caught.value.problems)
    promote(city.registry, city.log, info, city.public, actor="t", now=after - dt.timedelta(days=1))
    config = city.config("lapsed")
    with pytest.raises(ApprovalError, match="has the approval lapsed") as caught:
        run_release(
            config,
            city.data,
            registry=city.registry,
            governance=city.governance(),
            disclosure=production_rules(config),
            now=after,
        )
    assert f"the approval lapsed on {until}" in " ".join(caught.value.problems)
    _nothing_written(city, "lapsed")


def test_a_revoked_approval_is_refused_at_release(city: City) -> None:
    _approve_and_promote(city)
    governance = city.governance().model_copy(update={"revocations_dir": city.root / "rev"})
    record_revocation(
        city.registry,
        city.log,
        city.registry.version(NAME, city.version),
        reasons="Agreement withdrawn.",
        signing_key=city.key,
        board=city.public,
        revocations_dir=city.root / "rev",
    )
    config = city.config("revoked")
    with pytest.raises(ApprovalError) as caught:
        run_release(
            config,
            city.data,
            registry=city.registry,
            governance=governance,
            disclosure=production_rules(config),
        )
    assert "the approval was revoked by board" in " ".join(caught.value.problems)
    _nothing_written(city, "revoked")


def _review_date(city: City) -> str:
    """The review date of the version's recorded decision (the board's default period)."""
    tags = city.registry.version(NAME, city.version).tags
    return str(json.loads(tags[decision_tags("board")[0]])["valid_until"])


def test_the_second_release_carries_the_change(
    released: Released,
) -> None:
    first, second = (_areas(r) for r in (released.first, released.second))
    assert first["change_mean_risk"].isna().all()
    published = second[~second["suppressed"]]
    # same data and model: every published area is unchanged
    assert published["change_mean_risk"].notna().all()
    assert np.allclose(published["change_mean_risk"], 0.0)


def test_same_data_gives_the_same_table(released: Released) -> None:
    city = released.city
    again = city.release("releases-again")
    pd.testing.assert_frame_equal(_areas(again), _areas(released.first))
    assert again.release_id != released.first.release_id


def test_nothing_about_a_person_is_in_the_release(released: Released) -> None:
    city = released.city
    features = pd.read_parquet(city.data / "features/features.parquet", columns=["person_key"])
    keys = set(features["person_key"].astype(str))
    for result in (released.first, released.second):
        areas = _areas(result)
        assert len(areas) < 1_000  # areas, not people
        assert not {"person_key", "record_id", "person_id", "risk", "score"} & set(areas.columns)
        for column in areas.columns:
            if areas[column].dtype == object or pd.api.types.is_string_dtype(areas[column]):
                assert not keys & set(areas[column].dropna().astype(str)), column
        for path in result.directory.iterdir():
            blob = path.read_bytes()
            assert not any(k.encode() in blob for k in keys), path.name
        assert sorted(p.name for p in result.directory.iterdir()) == [
            "areas.parquet",
            "manifest.json",
            "series.parquet",  # the back-scored series: area figures per as-of date
        ]


# -- pure parts ----------------------------------------------------------------------------


def _synthetic(seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A geography of 24 LSOAs of very different sizes, and a cohort with area effects."""
    rng = np.random.default_rng(seed)
    lsoas = [f"L{i:02}" for i in range(24)]
    geography = pd.DataFrame(
        {
            "lsoa_code": lsoas,
            "lsoa_name": lsoas,
            "ward_code": [f"W{i // 4}" for i in range(24)],
            "ward_name": [f"Ward {i // 4}" for i in range(24)],
            "borough_code": [f"B{i // 12}" for i in range(24)],
            "borough_name": [f"Borough {i // 12}" for i in range(24)],
            "bcu_code": "C1",
            "bcu_name": "Central",
        }
    )
    sizes = rng.integers(3, 400, size=24)
    codes = np.repeat(lsoas, sizes)
    effect = np.repeat(rng.normal(0, 0.6, size=24), sizes)
    risk = 1 / (1 + np.exp(-(-4 + effect + rng.normal(0, 0.8, size=len(codes)))))
    cohort = pd.DataFrame({"lsoa_code": codes, "risk": risk})
    return geography, cohort


def test_parents_are_the_sums_of_their_children_and_shrinkage_favours_big_areas() -> None:
    geography, cohort = _synthetic()
    rng = np.random.default_rng(0)
    present = rng.random((len(cohort), 2)) < 0.1
    contributions = rng.normal(0, 0.1, size=(len(cohort), 2))
    areas = area_table(geography, city_code="city", city_name="City")
    table = aggregate_areas(
        areas,
        geography,
        cohort["lsoa_code"].to_numpy(),
        cohort["risk"].to_numpy(),
        present,
        contributions,
        ["a", "b"],
    )
    by_code = table.set_index("code")
    for level in ("lsoa", "ward", "borough", "bcu"):
        children = table[table["level"] == level]
        sums = children.groupby("parent_code")[
            ["population", "expected", "count_a", "count_b"]
        ].sum()
        parents = by_code.loc[sums.index]
        assert (parents["population"] == sums["population"]).all(), level
        assert np.allclose(parents["expected"], sums["expected"], rtol=0, atol=1e-9), level
        assert (parents[["count_a", "count_b"]] == sums[["count_a", "count_b"]]).all().all()
        # the contribution of the parent is the population-weighted mean of its children's
        weighted = (
            (children["contrib_a"] * children["population"]).groupby(children["parent_code"]).sum()
        )
        assert np.allclose(parents["contrib_a"] * parents["population"], weighted, atol=1e-9)
    assert by_code.loc["city", "population"] == len(cohort)
    assert (table["risk_low"] <= table["mean_risk"]).all()
    assert (table["mean_risk"] <= table["risk_high"]).all()

    lsoa = table[table["level"] == "lsoa"].copy()
    parent_mean = by_code.loc[lsoa["parent_code"], "mean_risk_raw"].to_numpy()
    moved = (lsoa["mean_risk"] - lsoa["mean_risk_raw"]).abs()
    gap = (parent_mean - lsoa["mean_risk_raw"]).abs()
    assert (moved <= gap + 1e-15).all()  # toward the parent, never past it
    weight = lsoa["shrinkage_weight"].to_numpy()
    order = np.argsort(lsoa["population"].to_numpy(), kind="stable")
    assert 0 < weight.min() < weight.max() < 1
    assert (np.diff(weight[order]) <= 1e-15).all()  # bigger areas, less shrinkage
    small, big = lsoa["population"].idxmin(), lsoa["population"].idxmax()
    assert lsoa.loc[small, "shrinkage_weight"] > 3 * lsoa.loc[big, "shrinkage_weight"]
    # not shrunk above the ward level
    assert (
        table.loc[table["level"].isin(["borough", "bcu", "city"]), "shrinkage_weight"] == 0
    ).all()


def test_shap_dedup_gives_the_same_values(trained_city: TrainedCity) -> None:
    registry = Registry(trained_city.tracking_uri)  # read only
    model = registry.load_model(registry.version(NAME, trained_city.result.version))
    features = pd.read_parquet(trained_city.data / "features/features.parquet")
    cohort = features[features["as_of_date"].astype(str) == LATEST].head(1_500)
    # repeat some rows so that dedup has something to merge
    cohort = pd.concat([cohort, cohort.head(400), cohort.head(100)], ignore_index=True)
    inputs = ReleaseConfig().factor_inputs(list(model.columns))
    full = score_cohort(model, cohort, inputs, dedup="none")
    assert full.stats.patterns == len(cohort)
    for dedup in ("identical", "model_equivalent"):
        fast = score_cohort(model, cohort, inputs, dedup=dedup)  # type: ignore[arg-type]
        assert fast.stats.patterns <= len(cohort) - 500
        assert np.allclose(fast.risk, full.risk, rtol=0, atol=1e-12)
        assert np.allclose(fast.contributions, full.contributions, rtol=0, atol=1e-9)
        assert np.allclose(
            fast.contributions.sum(axis=0), full.contributions.sum(axis=0), rtol=0, atol=1e-9
        )
    assert full.stats.identical_rows == len(cohort) - 500


def _own_seed(root: Path) -> None:
    """``configs/disclosure.yaml`` under ``root``: the default method with a production seed."""
    (root / "configs").mkdir(exist_ok=True)
    (root / "configs/disclosure.yaml").write_text(f"cellkey: {{seed: {PRODUCTION_SEED}}}\n")


def test_the_command_refuses_then_releases(
    released: Released, monkeypatch: pytest.MonkeyPatch
) -> None:
    city = released.city
    _other_version(city, "no-champion")
    app = typer.Typer()
    app.command("noop")(lambda: None)
    register(app)
    runner = CliRunner()
    assert "--governance-config" in runner.invoke(app, ["release", "--help"]).output
    monkeypatch.chdir(city.root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", city.registry.tracking_uri)
    gov = city.root / "gov.yaml"
    gov.write_text(f"board_public_key_b64: {city.public}\naudit_log: {city.log.path}\n")
    result = runner.invoke(
        app,
        [
            "release",
            "--data",
            str(city.data),
            "-g",
            str(gov),
            "--model",
            "no-champion",
            "--releases-dir",
            str(city.root / "refused-cli"),
        ],
    )
    assert result.exit_code == 1, result.output
    assert "has no champion" in result.output
    assert not (city.root / "refused-cli").exists()
    args = ["release", "--data", str(city.data), "-g", str(gov)]
    # in production a release without the operator's key would be unservable: refused first
    unsigned = runner.invoke(app, [*args, "--releases-dir", str(city.root / "unsigned-cli")])
    assert unsigned.exit_code == 2, unsigned.output
    assert "release_key: environment production needs the operator's release key" in (
        unsigned.output
    )
    assert not (city.root / "unsigned-cli").exists()
    signed = [*args, "--release-key", str(city.root / "release.pem")]
    # the default method's seed is the demo's, public: production refuses it before any work
    (city.root / "configs/disclosure.yaml").unlink(missing_ok=True)
    demo_seed = runner.invoke(app, [*signed, "--releases-dir", str(city.root / "seed-cli")])
    assert demo_seed.exit_code == 2, demo_seed.output
    assert "cellkey.seed is the demo's public seed" in demo_seed.output
    assert not (city.root / "seed-cli").exists()
    _own_seed(city.root)
    done = runner.invoke(app, [*signed, "--releases-dir", str(city.root / "releases-cli")])
    assert done.exit_code == 0, done.output
    made = current_release_id(city.root / "releases-cli")
    assert made is not None and f"release {made}" in done.output
    assert "distinct input rows" in done.output


# -- the Spark engine gives the same release ------------------------------------------------

SPARK = {"master": "local[2]", "shuffle_partitions": 2, "driver_memory": "1g"}
#: PySpark 4.0 leaves the sockets of collect() and toArrow() to the garbage collector
_SPARK_SOCKETS = pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")
#: figures from float sums (which Spark adds in another order); all others must be equal
_FLOAT_FIGURES = (
    "expected",
    "rate_per_1000",
    "mean_risk",
    "mean_risk_raw",
    "risk_low",
    "risk_high",
)


@pytest.fixture(
    scope="module",
    params=["local", pytest.param("standalone-cluster", marks=pytest.mark.cluster)],
)
def spark_config(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SparkConfig]:
    """Spark for the module's Spark tests: in local mode, then on a standalone cluster.

    The cluster is a master and two workers started on this machine by Spark's own daemon
    script (``tests/spark_cluster.py``): the release's scoring runs in executors of other
    JVMs, in Python processes of their own, as on a real cluster.
    """
    from tests.spark_cluster import stop_spark

    stop_spark()  # one session per process: another module's may still be active
    if request.param == "local":
        yield SparkConfig.model_validate(SPARK)
    else:
        from tests.spark_cluster import standalone_cluster

        with standalone_cluster(tmp_path_factory.mktemp("spark-cluster")) as master:
            conf = {"spark.pyspark.python": sys.executable}
            yield SparkConfig.model_validate({**SPARK, "master": master, "conf": conf})
            stop_spark()
    stop_spark()


def _small_model(cohort: pd.DataFrame, columns: list[str]) -> CalibratedModel:
    """A LightGBM model with an isotonic calibrator, trained in a second on ``cohort``."""
    x = cohort[columns]
    y = (cohort["risk"].to_numpy() > np.quantile(cohort["risk"], 0.8)).astype(int)
    booster = lightgbm.train(
        {"objective": "binary", "num_leaves": 7, "verbosity": -1, "seed": 1},
        lightgbm.Dataset(x, y),
        num_boost_round=15,
    )
    raw = np.asarray(booster.predict(x), dtype=float)
    return CalibratedModel(booster, Calibrator("isotonic").fit(raw, y), columns)


@_SPARK_SOCKETS
def test_spark_sums_by_lsoa_are_the_in_process_sums(
    tmp_path: Path, spark_config: SparkConfig
) -> None:
    geography, cohort = _synthetic(seed=11)
    rng = np.random.default_rng(2)
    n = len(cohort)
    cohort["absence_12m"] = rng.poisson(1.0 + 4 * cohort["risk"], n).astype(float)
    cohort.loc[rng.random(n) < 0.1, "absence_12m"] = np.nan  # missing values score too
    cohort["care_ever"] = (rng.random(n) < 0.05 + cohort["risk"]).astype(np.int64)
    cohort["injury_ever"] = rng.integers(0, 3, n)
    columns = ["absence_12m", "care_ever", "injury_ever"]
    model = _small_model(cohort, columns)
    factor_inputs = {"absence": ["absence_12m"], "care": ["care_ever"], "injury": ["injury_ever"]}
    present_when = {f: list(c) for f, c in factor_inputs.items()}
    # two as-of dates in the table: only the wanted one is scored
    other = cohort.assign(as_of_date=dt.date(2024, 3, 31), care_ever=1)
    table = pd.concat([cohort.assign(as_of_date=dt.date(2025, 3, 31)), other])
    table.drop(columns="risk").to_parquet(tmp_path / "features.parquet", index=False)

    scored = score_cohort(model, cohort, factor_inputs)
    factors = list(factor_inputs)
    expected = lsoa_sums(
        geography,
        cohort["lsoa_code"].to_numpy(),
        scored.risk,
        factor_present(cohort, present_when),
        scored.contributions,
        factors,
    )
    partials, stats = spark_lsoa_sums(
        spark_config,
        tmp_path / "features.parquet",
        "2025-03-31",
        model,
        ["lsoa_code", *columns],
        factor_inputs,
        present_when,
    )
    got = combine_sums(geography, partials, factors)
    assert list(got.columns) == sum_columns(factors)
    assert list(got.index) == list(expected.index)
    counts = ["population", *(f"count_{f}" for f in factors)]
    assert (got[counts] == expected[counts]).all().all()
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    assert stats.rows == n
    # the cohort was scored in parts (two cores, two partitions): each part's patterns
    assert scored.stats.patterns <= stats.patterns <= 2 * scored.stats.patterns


@_SPARK_SOCKETS
def test_spark_and_in_process_engines_release_the_same_figures(
    released: Released, spark_config: SparkConfig
) -> None:
    city = released.city
    spark_release = city.config("releases-spark", engine="spark")
    on_spark = run_release(
        spark_release,
        city.data,
        registry=city.registry,
        governance=city.governance(),
        disclosure=production_rules(spark_release),
        spark=spark_config,
    )
    in_process = released.first  # also a first release: no change column to compare
    assert in_process.manifest.engine == "duckdb"
    assert on_spark.manifest.engine == "spark"
    from pyspark import SparkContext

    context = SparkContext._active_spark_context
    assert context is not None and context.master == spark_config.master
    # where it ran is not what it means: the engine is not in the release config's hash
    assert config_hash(city.config(engine="spark")) == config_hash(city.config())
    assert on_spark.stats.rows == in_process.stats.rows
    # the same young people give the same cell keys: the tables are the same, value for value
    pd.testing.assert_frame_equal(_areas(on_spark), _areas(in_process), check_exact=True)
    entries = [e for e in city.log.entries() if e["event"] == "release.created"]
    assert entries[-1]["details"]["engine"] == "spark"


@_SPARK_SOCKETS
def test_the_release_command_runs_on_spark(
    released: Released,
    spark_config: SparkConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    city = released.city
    app = typer.Typer()
    app.command("noop")(lambda: None)
    register(app)
    monkeypatch.chdir(city.root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", city.registry.tracking_uri)
    (city.root / "configs").mkdir(exist_ok=True)
    spark = spark_config.model_dump(mode="json", exclude_none=True)
    (city.root / "configs/pipeline.yaml").write_text(f"spark: {json.dumps(spark)}\n")
    _own_seed(city.root)
    gov = city.root / "gov-spark.yaml"
    gov.write_text(f"board_public_key_b64: {city.public}\naudit_log: {city.log.path}\n")
    out = city.root / "releases-spark-cli"
    args = ["release", "--data", str(city.data), "-g", str(gov), "--releases-dir", str(out)]
    args += ["--release-key", str(city.root / "release.pem")]
    done = CliRunner().invoke(app, [*args, "--engine", "spark"])
    assert done.exit_code == 0, done.output
    assert "young people on spark" in done.output
    made = current_release_id(out)
    assert made is not None and read_manifest(out / made).engine == "spark"


def test_the_release_command_refuses_an_unknown_engine_in_one_line(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command("noop")(lambda: None)
    register(app)
    result = CliRunner().invoke(app, ["release", "--data", str(tmp_path), "--engine", "polars"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "'engine' Input should be 'duckdb' or 'spark' (got 'polars')" in lines[0]


def test_a_background_start_leaves_its_error_to_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)  # as if PySpark were not installed
    thread = start_spark_session(SparkConfig())
    thread.join(timeout=60)
    assert not thread.is_alive()  # ended quietly: no unhandled exception in the thread
    with pytest.raises(EngineUnavailableError, match=r"pip install -e \.\[spark\]"):
        spark_session(SparkConfig())


def test_a_release_made_with_a_release_key_is_signed_over_its_files_and_rules(
    released: Released, tmp_path: Path
) -> None:
    """Issue 15, finding 3: the manifest signs the data's SHA-256 and the disclosure rules."""
    from governance.contracts.release_schema import (
        file_sha256,
        verify_release_files,
        verify_release_signature,
    )

    public = generate_keypair(tmp_path / "release.pem", tmp_path / "release.pub")
    result = released.city.release(release_key=tmp_path / "release.pem")
    manifest = read_manifest(result.directory)
    assert manifest.files == {
        name: file_sha256(result.directory / name) for name in ("areas.parquet", "series.parquet")
    }
    assert manifest.disclosure == DisclosureConfig().model_dump(mode="json")
    verify_release_signature(manifest, public, result.directory)
    verify_release_files(manifest, result.directory)
    from serving.releases import ReleaseLibrary

    served = ReleaseLibrary(result.directory.parent, released.city.public, release_key_b64=public)
    assert served.load(result.directory.name).release_id == result.directory.name
    # another operator's key (the city's own) does not verify with this server's key
    with pytest.raises(ReleaseError, match="signature does not verify"):
        served.load(released.second.directory.name)
    # and a manifest whose signature was stripped is never served
    path = released.second.directory / "manifest.json"
    stripped = read_manifest(released.second.directory).model_copy(update={"signature": None})
    path.write_text(stripped.model_dump_json())
    with pytest.raises(ReleaseError, match="the manifest is not signed by a release key"):
        served.load(released.second.directory.name)
    other = generate_keypair(tmp_path / "other.pem", tmp_path / "other.pub")
    with pytest.raises(ReleaseError, match="signature does not verify"):
        verify_release_signature(manifest, other, result.directory)
    with pytest.raises(ReleaseError, match=r"release_key: .*private key file not found"):
        released.city.release(release_key=tmp_path / "missing.pem")


# -- the approval binds the model's artifacts ------------------------------------------------

_CALIBRATED = "artifacts/calibrated_model.pkl"


def _model_dir(city: City) -> Path:
    """Where the artifact store keeps the version's logged model (the attacker's target)."""
    location = city.registry.client.get_model_version_download_uri(NAME, city.version)
    return Path(location.removeprefix("file://"))


def _triple_the_odds(city: City) -> None:
    """Rewrite the logged calibrated model so that everyone's odds are three times higher."""
    path = _model_dir(city) / _CALIBRATED
    model = pickle.loads(path.read_bytes())
    model.calibrator.model.intercept_ = model.calibrator.model.intercept_ + np.log(3.0)
    path.write_bytes(pickle.dumps(model))


def _approve(city: City) -> None:
    """The board reviews this city's version and approves it, signed."""
    city.audit(NAME, city.version)
    record_review(
        city.registry,
        city.log,
        city.registry.version(NAME, city.version),
        decision="approve",
        reasons="Gaps within limits; drivers plausible.",
        signing_key=city.key,
        board=city.public,
    )


def _approve_and_promote(city: City) -> None:
    _approve(city)
    promote(
        city.registry, city.log, city.registry.version(NAME, city.version), city.public, actor="t"
    )


def test_a_model_rewritten_after_approval_is_not_promoted(city: City) -> None:
    _approve(city)
    _triple_the_odds(city)
    with pytest.raises(ApprovalError) as caught:
        promote(
            city.registry,
            city.log,
            city.registry.version(NAME, city.version),
            city.public,
            actor="t",
        )
    assert any(f"changed: {_CALIBRATED}" in p for p in caught.value.problems), caught.value
    assert city.registry.alias_version(NAME, CHAMPION) is None


def test_a_model_rewritten_after_promotion_is_not_released(city: City) -> None:
    _approve_and_promote(city)
    _triple_the_odds(city)
    with pytest.raises(ApprovalError) as caught:
        city.release("tampered")
    assert any(f"changed: {_CALIBRATED}" in p for p in caught.value.problems), caught.value
    _nothing_written(city, "tampered")


@pytest.mark.parametrize("path", ["artifacts/refit.json", "artifacts/evaluated_model.pkl"])
def test_the_refit_record_and_the_evaluated_model_are_signed_with_the_served_one(
    city: City, path: str
) -> None:
    """Rewriting how the served model was refit, or the model the audit judged, is refused."""
    _approve_and_promote(city)
    target = _model_dir(city) / path
    if path.endswith(".json"):  # the held-out share the audit rebuilt its persons from
        record = json.loads(target.read_text())
        target.write_text(json.dumps({**record, "audit_fraction": 0.01}))
    else:
        target.write_bytes(target.read_bytes() + b"\0")
    with pytest.raises(ApprovalError) as caught:
        city.release("tampered")
    assert any(f"changed: {path}" in p for p in caught.value.problems), caught.value
    _nothing_written(city, "tampered")


def test_a_release_scores_with_the_served_refit(city: City) -> None:
    """The approved files hold both models; a release loads the refit, not the evaluated one."""
    _approve_and_promote(city)
    approval = verify_serving_version(city.registry, NAME, city.public)
    assert {_CALIBRATED, "artifacts/evaluated_model.pkl", "artifacts/refit.json"} <= set(
        approval.files
    )
    loaded = city.registry.load_model(approval.info, expected_files=approval.files)
    models = city.registry.load_version_models(approval.info, expected_files=approval.files)
    assert models.refit is not None and models.refit["as_of_dates"][-1] == "2023-03-31"
    features = pd.read_parquet(city.data / "features" / "features.parquet")
    x = features[loaded.columns].astype(float).head(500)
    np.testing.assert_array_equal(loaded.predict(x), models.served.predict(x))
    assert not np.allclose(models.evaluated.predict(x), models.served.predict(x))


def test_a_model_rewritten_after_the_check_is_not_loaded(city: City) -> None:
    """Rewritten between the release's check and its loading: refused, naming the file."""
    _approve_and_promote(city)
    approval = verify_serving_version(city.registry, NAME, city.public)
    honest = city.registry.load_model(approval.info, expected_files=approval.files)
    _triple_the_odds(city)
    with pytest.raises(ModelArtifactsError, match=re.escape(f"changed: {_CALIBRATED}")):
        city.registry.load_model(approval.info, expected_files=approval.files)
    # without the check the tampered model is what would have scored everyone
    tampered = city.registry.load_model(approval.info)
    rows = pd.read_parquet(city.data / "features/features.parquet").head(500)
    before, after = honest.predict(rows), tampered.predict(rows)
    odds = (after / (1 - after)) / (before / (1 - before))
    assert np.allclose(odds, 3.0)


def test_an_added_or_missing_model_file_is_refused(city: City) -> None:
    _approve_and_promote(city)
    approval = verify_serving_version(city.registry, NAME, city.public)
    (_model_dir(city) / "artifacts" / "extra.pkl").write_bytes(b"not approved")
    with pytest.raises(ModelArtifactsError, match=r"added: artifacts/extra\.pkl"):
        city.registry.load_model(approval.info, expected_files=approval.files)
    (_model_dir(city) / "artifacts" / "extra.pkl").unlink()
    (_model_dir(city) / "conda.yaml").unlink()
    with pytest.raises(ModelArtifactsError, match=r"missing: conda\.yaml"):
        city.registry.load_model(approval.info, expected_files=approval.files)
    with pytest.raises(ApprovalError) as caught:
        city.release("tampered")
    assert any("missing: conda.yaml" in p for p in caught.value.problems), caught.value
