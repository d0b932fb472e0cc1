"""The cell-key method's parts: record keys, cell keys, the ptable, the config and the hook.

The attacks on a published table are in ``test_cellkey_attacks.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from governance.cellkey import (
    DEMO_SEED,
    CellKeyConfig,
    build_ptable,
    cell_keys,
    perturb_expected,
    record_keys,
)
from governance.contracts.config import config_hash
from governance.contracts.errors import ConfigError
from governance.disclosure import (
    DisclosureConfig,
    DisclosureError,
    apply_disclosure_control,
    check_no_individuals,
    load_disclosure_config,
)
from tests.governance.test_cellkey_attacks import (
    CELLKEY,
    FACTORS,
    JANUARY,
    keys_of,
    make_cohort,
    publish,
    unpublished,
)

REPO = Path(__file__).resolve().parents[2]
PEOPLE = [f"P{i:09d}" for i in range(20_000)]


def test_record_keys_are_the_same_for_the_same_person_and_period_only() -> None:
    seed = b"a secret"
    keys = record_keys(PEOPLE, JANUARY, seed)
    assert keys.dtype == np.int64 and keys.min() >= 0 and keys.max() <= 255
    np.testing.assert_array_equal(keys, record_keys(PEOPLE, JANUARY, seed))
    assert record_keys(PEOPLE[5:6], JANUARY, seed)[0] == keys[5]  # alone or among others
    # another period or another seed: keys unrelated to these (agree about 1 in 256)
    for other in (record_keys(PEOPLE, "2025-02-28", seed), record_keys(PEOPLE, JANUARY, b"b")):
        assert (other == keys).mean() < 0.01
    counts = np.bincount(keys, minlength=256)
    assert counts.min() > 40 and counts.max() < 120  # about uniform: 78 each


def test_a_cell_key_is_the_sum_of_its_records_keys_modulo_256() -> None:
    keys = record_keys(PEOPLE[:300], JANUARY, b"s")
    parts = [keys[:100], keys[100:250], keys[250:]]
    whole = cell_keys(np.array([keys.sum()]))[0]
    assert whole == cell_keys(np.array([sum(int(p.sum()) for p in parts)]))[0]
    assert whole == sum(int(cell_keys(np.array([p.sum()]))[0]) for p in parts) % 256


def test_the_ptable_never_goes_below_zero_and_large_counts_use_its_last_row() -> None:
    ptable = build_ptable(CellKeyConfig())
    counts = np.repeat(np.arange(0, 150), 256)
    keys = np.tile(np.arange(256), 150)
    published = ptable.perturb(counts, keys)
    assert (published >= 0).all()
    assert (published[counts == 0] == 0).all()  # nobody stays nobody
    assert np.abs(published - counts).max() == 3
    np.testing.assert_array_equal(
        ptable.perturbation(np.full(256, 10_000), np.arange(256)), ptable.values[100]
    )
    # the same (count, cell key) always gives the same figure
    np.testing.assert_array_equal(published, ptable.perturb(counts, keys))
    rows = ptable.probabilities[1:]
    assert np.allclose(rows.sum(axis=1), 1.0)
    assert np.all((rows * 256) == np.round(rows * 256))  # whole numbers of key slots
    # small counts are perturbed more often
    assert ptable.probabilities[5, 3] < ptable.probabilities[50, 3]


def test_expected_is_scaled_with_its_population_and_noised_from_the_same_key() -> None:
    rules = CellKeyConfig()
    expected = np.full(256, 4.0)
    keys = np.arange(256)
    same = perturb_expected(expected, np.full(256, 40), np.full(256, 40), keys, rules)
    assert abs(same.mean() - 4.0) < 0.05 and 0.3 < same.std() < 0.7
    scaled = perturb_expected(expected, np.full(256, 40), np.full(256, 42), keys, rules)
    np.testing.assert_allclose(scaled - same, 0.2, atol=0.11)  # 4 * 42 / 40, to 1 decimal
    np.testing.assert_array_equal(
        same, perturb_expected(expected, np.full(256, 40), np.full(256, 40), keys, rules)
    )
    assert (
        perturb_expected(np.zeros(3), np.zeros(3, dtype=np.int64), np.zeros(3), keys[:3], rules)
        == 0
    ).all()


def test_the_seed_is_never_in_a_dump_or_a_hash() -> None:
    rules = DisclosureConfig(method="cellkey", cellkey={"seed": "s3cret-seed"})
    dumped = json.dumps(rules.model_dump(mode="json"))
    assert "s3cret-seed" not in dumped and "seed" not in dumped
    assert rules.model_dump()["cellkey"]["max_perturbation"] == 3
    assert config_hash(rules) == config_hash(DisclosureConfig(method="cellkey"))
    assert "s3cret" not in repr(rules) and "s3cret" not in str(rules)


def test_the_shipped_config_names_the_method_and_the_ptable() -> None:
    config = load_disclosure_config(REPO / "configs" / "disclosure.yaml")
    assert config.method == "cellkey"  # the default
    assert config.cellkey == CellKeyConfig()
    assert config.cellkey.seed.get_secret_value() == DEMO_SEED


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("method: noise\n", r"'method' Input should be 'threshold', 'cellkey' or 'dp'"),
        (
            "cellkey: {small_count_variance: 3.5}\n",
            r"small_count_variance 3.5 cannot be reached for a count of 1 with "
            r"max_perturbation 3: a mean-0 perturbation that never goes below 0 has variance "
            r"below 3",
        ),
        ("cellkey: {variance: 9}\n", r"variance 9.0 must be below max_perturbation\*\*2 = 9"),
        ("cellkey: {ptable: x}\n", r"'cellkey.ptable' Extra inputs are not permitted"),
    ],
)
def test_a_bad_cellkey_config_names_the_field(tmp_path: Path, yaml_text: str, message: str) -> None:
    path = tmp_path / "disclosure.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError, match=message):
        load_disclosure_config(path)


# ----------------------------------------------------------------------------------------------
# the hook in governance.disclosure


@pytest.fixture(scope="module")
def small() -> tuple[pd.DataFrame, pd.DataFrame]:
    cohort = make_cohort(lsoas=40)
    areas = unpublished(cohort)
    return areas, keys_of(cohort, areas, JANUARY)


def test_the_cellkey_method_refuses_to_run_without_cell_keys(
    small: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    areas, _ = small
    with pytest.raises(DisclosureError, match="disclosure method cellkey needs cell keys"):
        apply_disclosure_control(areas, CELLKEY)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda k: k.drop(columns="count_excluded"), r"missing column\(s\) \['count_excluded'\]"),
        (lambda k: k.iloc[1:], r"no keys for 1 area\(s\), e\.g\. \['L0000'\]"),
        (lambda k: k.assign(population=k["population"] + 256), "'population' holds values"),
        (lambda k: pd.concat([k, k.iloc[:1]]), "an area code is repeated"),
    ],
)
def test_bad_cell_keys_are_refused_naming_what_is_wrong(
    small: tuple[pd.DataFrame, pd.DataFrame], change: object, message: str
) -> None:
    areas, keys = small
    with pytest.raises(DisclosureError, match=message):
        apply_disclosure_control(areas, CELLKEY, cell_keys=change(keys))  # type: ignore[operator]


def test_a_cellkey_table_is_accepted_under_its_rules_and_only_those() -> None:
    table = publish(make_cohort(lsoas=60), CELLKEY)
    check_no_individuals(table, CELLKEY)
    shown = table["population"].dropna().astype(int)
    assert (shown % 5 != 0).any()  # perturbed, not rounded
    assert (shown >= CELLKEY.min_count).all()
    with pytest.raises(DisclosureError, match="not multiples of rounding_base 5"):
        check_no_individuals(table, DisclosureConfig(method="threshold"))
    # a count under the threshold is still refused under the cell-key rules
    tampered = table.copy()
    row = int(np.flatnonzero(tampered["count_excluded"].notna())[0])
    tampered.loc[row, "count_excluded"] = 3
    with pytest.raises(DisclosureError, match="'count_excluded' has 1 published count"):
        check_no_individuals(tampered, CELLKEY)


def test_a_count_is_withheld_when_those_without_the_factor_are_few() -> None:
    """Everyone has the factor: its cell is the population's, with the same key and so the
    same published figure, which would say so; the cell of those without it (keyed by the
    population's key minus the count's) is empty, so the count is withheld."""
    cohort = make_cohort(lsoas=40)
    cohort.people["has_excluded"] = True
    table = publish(cohort, CELLKEY)
    assert "count_excluded" in [f"count_{f}" for f in FACTORS]
    assert table["count_excluded"].isna().all()
    assert table["count_excluded_suppressed"].all()
    assert table["contrib_excluded"].isna().all() and table["prevalence_excluded"].isna().all()


# ----------------------------------------------------------------------------------------------
# the release's cell keys (training.release.cellkey_release)


def test_the_release_refuses_features_without_person_keys_or_with_unknown_lsoas(
    tmp_path: Path,
) -> None:
    import datetime as dt

    from governance.contracts.errors import ExtractError
    from training.release.cellkey_release import lsoa_key_sums, release_cell_keys

    cohort = make_cohort(lsoas=10)
    areas = unpublished(cohort)
    features = tmp_path / "features.parquet"
    frame = cohort.people.drop(columns="person_key").assign(as_of_date=dt.date(2025, 1, 31))
    frame.to_parquet(features)
    with pytest.raises(ExtractError, match=r"no column 'person_key'; the cell-key method needs"):
        release_cell_keys(
            features,
            JANUARY,
            cohort.geography,
            areas,
            {"excluded": ["has_excluded"]},
            CELLKEY.cellkey,
        )
    keys = np.zeros(3, dtype=np.int64)
    with pytest.raises(ExtractError, match=r"2 young people live in LSOA code\(s\) not in"):
        lsoa_key_sums(
            cohort.geography, ["L0000", "nowhere", "elsewhere"], keys, np.zeros((3, 0), bool), []
        )


def test_the_release_cell_keys_are_the_ones_summed_from_the_people(tmp_path: Path) -> None:
    import datetime as dt

    from training.release.cellkey_release import release_cell_keys

    cohort = make_cohort(lsoas=10)
    areas = unpublished(cohort)
    features = tmp_path / "features.parquet"
    other_date = cohort.people.assign(as_of_date=dt.date(2024, 12, 31), person_key="X")
    both = pd.concat([cohort.people.assign(as_of_date=dt.date(2025, 1, 31)), other_date])
    both.to_parquet(features)
    present_when = {f: [f"has_{f}"] for f in FACTORS}
    got = release_cell_keys(
        features, JANUARY, cohort.geography, areas, present_when, CELLKEY.cellkey
    )
    pd.testing.assert_frame_equal(got, keys_of(cohort, areas, JANUARY), check_names=False)
