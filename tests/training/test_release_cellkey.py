"""``vru release`` under the cell-key method, on the session's trained city.

The release reads the cohort's pseudonymous keys once more to give each young person a
record key for the as-of date, sums them to LSOAs and up the hierarchy, and perturbs every
area's population and counts with its cell keys (:mod:`training.release.cellkey_release`).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from governance.cellkey import DEMO_SEED
from governance.contracts.release_schema import ReleaseError, read_manifest
from governance.disclosure import DisclosureConfig, check_no_individuals
from tests.helpers import TrainedCity
from tests.training.test_release import City, _approve_and_promote, _city_at
from training.release.run import ReleaseResult, run_release

SECRET = "a-test-secret-seed-8f2c"
RULES = DisclosureConfig(method="cellkey", cellkey={"seed": SECRET})


def _release(city: City, rules: DisclosureConfig, releases: str, **kw: object) -> ReleaseResult:
    return run_release(
        city.config(releases, **kw),
        city.data,
        registry=city.registry,
        governance=city.governance(),
        disclosure=rules,
    )


@pytest.fixture(scope="module")
def approved(trained_city: TrainedCity, tmp_path_factory: pytest.TempPathFactory) -> City:
    city = _city_at(tmp_path_factory.mktemp("cellkey") / "city", trained_city)
    _approve_and_promote(city)
    return city


def test_production_refuses_the_demo_seed_before_anything_is_written(approved: City) -> None:
    rules = DisclosureConfig(method="cellkey")
    assert rules.cellkey.seed.get_secret_value() == DEMO_SEED
    with pytest.raises(ReleaseError, match=r"cellkey\.seed is the demo's public seed"):
        _release(approved, rules, "refused")
    assert not (approved.root / "refused").exists()


def test_a_cellkey_release_is_perturbed_reproducible_and_records_its_rules(
    approved: City,
) -> None:
    first = _release(approved, RULES, "first")
    again = _release(approved, RULES, "again")
    table = pd.read_parquet(first.directory / "areas.parquet")
    # the same young people in the same period: the same cells, the same figures
    pd.testing.assert_frame_equal(table, pd.read_parquet(again.directory / "areas.parquet"))
    check_no_individuals(table, RULES)
    shown = table.loc[~table["suppressed"], "population"].astype(int)
    assert (shown % 5 != 0).any() and (shown >= RULES.min_count).all()

    manifest = read_manifest(first.directory)
    assert manifest.disclosure["method"] == "cellkey"
    assert manifest.disclosure["cellkey"] == {
        "max_perturbation": 3,
        "variance": 1.0,
        "small_count_variance": 1.5,
        "small_count": 10,
        "max_count": 100,
        "expected_noise": 0.5,
        "expected_decimals": 1,
    }
    assert "cells_perturbed" in manifest.suppression
    # the signed rules, as a server reads them, accept the table
    check_no_individuals(table, DisclosureConfig.model_validate(manifest.disclosure))
    for path in Path(first.directory).iterdir():
        assert SECRET.encode() not in path.read_bytes(), path.name
    entries = [json.dumps(e) for e in approved.log.entries()]
    assert not any(SECRET in e for e in entries)


def test_another_seed_perturbs_differently(approved: City) -> None:
    other = DisclosureConfig(method="cellkey", cellkey={"seed": SECRET + "-other"})
    one = pd.read_parquet(_release(approved, RULES, "one").directory / "areas.parquet")
    two = pd.read_parquet(_release(approved, other, "two").directory / "areas.parquet")
    assert not one["population"].equals(two["population"])


def test_a_release_an_attack_breaks_writes_nothing(
    approved: City, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The release's own attacks run on the real table; one is then made to succeed (as a
    future leak would), and the release must refuse before anything is written."""
    import training.release.run as release_run
    from governance.disclosure_attacks import attack_release

    def one_attack_succeeds(*args: object, **kwargs: object) -> list[object]:
        results = attack_release(*args, **kwargs)  # type: ignore[arg-type]
        first = results[0]
        return [replace(first, success=1.0, passed=False), *results[1:]]

    monkeypatch.setattr(release_run, "attack_release", one_attack_succeeds)
    with pytest.raises(ReleaseError, match=r"hierarchy_exact: 1\.0 .*max_exact_share"):
        _release(approved, RULES, "attacked")
    assert not (approved.root / "attacked").exists()
    created = [e for e in approved.log.entries() if e["event"] == "release.created"]
    assert all("attacked" not in json.dumps(e) for e in created)
