"""A release on London's real geography at the demo's size: disclosure control acts at
LSOA level, wards and boroughs are published, and the release survives its attacks.

The release is made by the release's own steps (as in ``test_release_leaks``) with the
shipped disclosure rules (``configs/disclosure.yaml``: cell-key method, min_count 10), on
people drawn into London's LSOAs by the generator's population weights; no model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from governance.cellkey import record_keys
from governance.contracts.config import load_config
from governance.disclosure import DisclosureConfig
from tests.training.test_release_leaks import FACTOR_MODEL, FACTORS, Generated, unprotected
from training.generate.config import GeographyConfig
from training.generate.geography import london_geography
from training.release.cellkey_release import area_cell_keys, lsoa_key_sums
from training.release.config import ReleaseConfig
from training.release.run import AreaFigures, ProtectedAreas, attack_protected, protect_areas

ROOT = Path(__file__).resolve().parents[2]
#: young people aged 10-17 scored by the demo (about a third of `make demo`'s PERSONS)
DEMO_COHORT = 10_000
#: Barking and Dagenham, Hackney, Havering, Redbridge, Tower Hamlets
EAST_LONDON = ("E09000002", "E09000012", "E09000016", "E09000026", "E09000030")
AREA_COLUMNS = [
    "lsoa_code", "lsoa_name", "ward_code", "ward_name",
    "borough_code", "borough_name", "bcu_code", "bcu_name",
]  # fmt: skip


def _london_city(cohort: int, seed: int = 18, boroughs: tuple[str, ...] = ()) -> Generated:
    rng = np.random.default_rng(seed)
    geo = london_geography(GeographyConfig(source="london", boroughs=boroughs))
    lsoa = rng.choice(len(geo), size=cohort, p=geo["population_weight"].to_numpy())
    effect = rng.normal(0.0, 0.5, len(geo))[lsoa] + rng.normal(0.0, 0.7, cohort)
    people = pd.DataFrame(
        {"lsoa_code": geo["lsoa_code"].to_numpy()[lsoa], "risk": 1 / (1 + np.exp(3.5 - effect))}
    )
    for factor, (prevalence, with_f, without_f) in FACTOR_MODEL.items():
        has = rng.random(cohort) < prevalence
        people[f"has_{factor}"] = has
        people[f"shap_{factor}"] = np.where(has, with_f + rng.normal(0.0, 0.1, cohort), without_f)
    return Generated(geo.loc[:, AREA_COLUMNS], people)


def _protect(city: Generated, rules: DisclosureConfig) -> tuple[AreaFigures, ProtectedAreas]:
    figures = AreaFigures(table=unprotected(city))
    people = city.people
    keys = record_keys(
        pd.Series([f"P{i:08d}" for i in range(len(people))]),
        "2025-03-31",
        rules.cellkey.seed_bytes(),
    )
    present = people[[f"has_{f}" for f in FACTORS]].to_numpy(bool)
    by_lsoa = lsoa_key_sums(city.geography, people["lsoa_code"], keys, present, FACTORS)
    cell_keys = area_cell_keys(figures.table, city.geography, by_lsoa)
    config = ReleaseConfig(releases_dir=Path("/nonexistent/releases"))
    return figures, protect_areas(config, figures, list(FACTORS), rules, cell_keys=cell_keys)


@pytest.fixture(scope="module")
def rules() -> DisclosureConfig:
    return load_config(ROOT / "configs/disclosure.yaml", DisclosureConfig)


def test_demo_sized_london_release_withholds_small_lsoas_and_publishes_wards(
    rules: DisclosureConfig,
) -> None:
    figures, protected = _protect(_london_city(DEMO_COHORT), rules)
    withheld = protected.table.groupby("level")["suppressed"].apply(lambda s: s.astype(bool).mean())
    assert len(protected.table.query("level == 'lsoa'")) == 4835
    # LSOAs hold about two young people of the cohort here: nearly all are withheld ...
    assert 0.9 < withheld["lsoa"] < 1.0
    # ... wards (about 7.6 LSOAs each) and everything above them are mostly published
    assert withheld["ward"] < 0.2
    assert withheld[["borough", "bcu", "city"]].max() == 0.0
    # and the protected table survives every attack (the release would be refused otherwise)
    attacks = attack_protected(figures, protected, list(FACTORS), rules)
    assert attacks is not None and all(a.passed for a in attacks)


def test_a_denser_city_publishes_more_lsoas(rules: DisclosureConfig) -> None:
    """A city six times the demo's (about 12 young people per LSOA) shows most LSOAs."""
    _, protected = _protect(_london_city(60_000), rules)
    lsoa = protected.table.query("level == 'lsoa'")["suppressed"].astype(bool)
    assert 0.1 < lsoa.mean() < 0.5


def test_the_demo_in_five_boroughs_publishes_most_lsoas(rules: DisclosureConfig) -> None:
    """The denser demo that ``configs/pipeline.yaml`` suggests (Central East and East BCUs)."""
    city = _london_city(DEMO_COHORT, boroughs=EAST_LONDON)
    _, protected = _protect(city, rules)
    lsoa = protected.table.query("level == 'lsoa'")["suppressed"].astype(bool)
    assert len(lsoa) == 709 and 0.1 < lsoa.mean() < 0.4
