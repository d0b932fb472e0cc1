"""Utility figures in the release manifest, recomputed here from the two tables.

A release of the session's trained city is made by ``run_release``; the unprotected table is
made again by the release's own steps 1 to 3 (verify, score, aggregate), and every figure of
the manifest's ``utility`` is computed again in plain Python from that table and the
published ``areas.parquet`` (ranks with ties averaged, Pearson's r of the ranks), so a wrong
join, a wrong level or a rank order turned round in the module fails here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pytest

from governance.contracts.release_schema import (
    ReleaseError,
    ReleaseManifest,
    manifest_payload,
    read_manifest,
    sign_manifest,
    verify_release_signature,
)
from governance.contracts.signing import generate_keypair, load_private_key
from governance.disclosure_utility import UtilityError, disclosure_utility
from tests.helpers import TrainedCity
from tests.training.test_release import City, _approve_and_promote, _city_at
from tests.training.test_release_leaks import FACTORS, generated_city, release_of, unprotected
from training.release.run import (
    _Clock,
    aggregate_to_areas,
    score_population,
    verify_champion,
)
from vru.release_command import utility_line

Row = dict[str, object]


def _number(value: object) -> float | None:
    if value is None or value is pd.NA:
        return None
    number = float(value)  # type: ignore[arg-type]
    return None if math.isnan(number) else number


def _ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties given their average rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Spearman's rho; None where either side does not vary (every rank tied)."""
    if len(set(a)) < 2 or len(set(b)) < 2:
        return None
    ra, rb = _ranks(a), _ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb, strict=True))
    va = sum((x - ma) ** 2 for x in ra)
    vb = sum((y - mb) ** 2 for y in rb)
    return cov / math.sqrt(va * vb)


def expected_utility(
    truth: pd.DataFrame, published: pd.DataFrame, factors: Sequence[str]
) -> dict[str, object]:
    """The utility figures, from the two tables, in plain Python."""
    true_rows: dict[tuple[str, str], Row] = {
        (str(r["level"]), str(r["code"])): r for r in truth.to_dict("records")
    }
    rows = published.to_dict("records")
    shown = [r for r in rows if not bool(r["suppressed"])]
    gaps: dict[str, list[float]] = {"population": [], "expected": [], "count": []}
    cells = cells_shown = 0
    for row in rows:
        true = true_rows[(str(row["level"]), str(row["code"]))]
        for factor in factors:
            cells += 1
            column = f"count_{factor}"
            if not row["suppressed"] and not row[f"{column}_suppressed"]:
                cells_shown += 1
                gaps["count"].append(abs(_number(row[column]) - _number(true[column])))  # type: ignore[operator]
        if not row["suppressed"]:
            for column in ("population", "expected"):
                gaps[column].append(abs(_number(row[column]) - _number(true[column])))  # type: ignore[operator]
    out: dict[str, object] = {
        "areas": len(rows),
        "areas_published": len(shown),
        "factor_cells": cells,
        "factor_cells_published_share": cells_shown / cells,
        "fewer_than_areas": sum(1 for r in shown if _number(r["expected"]) == 0.0),
    }
    for name, values in gaps.items():
        out[f"{name}_mae"] = sum(values) / len(values)
        out[f"{name}_max_error"] = max(values)
    for level in ("ward", "borough"):
        pairs = [
            (_number(r["mean_risk"]), _number(true_rows[(level, str(r["code"]))]["mean_risk"]))
            for r in shown
            if r["level"] == level
        ]
        pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
        out[f"spearman_{level}"] = _spearman([a for a, _ in pairs], [b for _, b in pairs])  # type: ignore[misc]
        out[f"{level}s_ranked"] = len(pairs)
    return out


@pytest.fixture(scope="module")
def approved(trained_city: TrainedCity, tmp_path_factory: pytest.TempPathFactory) -> City:
    city = _city_at(tmp_path_factory.mktemp("utility") / "city", trained_city)
    _approve_and_promote(city)
    return city


def _unprotected(city: City) -> pd.DataFrame:
    """The release's table before disclosure control, by its own steps 1 to 3."""
    config = city.config("unused")
    approval = verify_champion(config, city.registry, city.governance())
    sums = score_population(
        config,
        city.data,
        city.registry,
        approval,
        label="test",
        clock=_Clock(),
        say=lambda _: None,
        spark=None,
    )
    return aggregate_to_areas(config, sums).table


def test_the_manifest_carries_the_utility_figures_of_its_two_tables(approved: City) -> None:
    result = approved.release()
    manifest = read_manifest(result.directory)
    assert manifest.utility is not None, "the release recorded no utility figures"
    published = pd.read_parquet(result.directory / "areas.parquet")
    want = expected_utility(_unprotected(approved), published, manifest.factors)
    got = manifest.utility.model_dump()
    for name, value in want.items():
        assert got[name] == (None if value is None else pytest.approx(value, abs=6e-4)), name
    assert 0 < got["areas_published"] <= got["areas"] == len(published)
    # aggregates only: no area's code is in the utility figures (the city's is its level's name)
    text = json.dumps(got)
    codes = set(published["code"].astype(str)) - set(published["level"].astype(str))
    assert not any(code in text for code in codes)
    assert set(got["published_share_by_level"]) == set(published["level"])


def _resigned_without_utility(manifest: ReleaseManifest, key: Path) -> dict[str, object]:
    """The manifest as a release made before utility figures were recorded: none, signed."""
    old = sign_manifest(manifest.model_copy(update={"utility": None}), load_private_key(key))
    raw = old.model_dump(mode="json")
    del raw["utility"]
    return raw


def test_utility_figures_are_signed_and_older_releases_still_verify(
    approved: City, tmp_path: Path
) -> None:
    key = tmp_path / "release.pem"
    public = generate_keypair(key, tmp_path / "release.pub")
    result = approved.release("signed", release_key=key)
    manifest = read_manifest(result.directory)
    verify_release_signature(manifest, public, result.directory)
    assert manifest.utility is not None
    # a better-looking figure written in after signing is refused
    better = 1.0 if manifest.utility.spearman_ward != 1.0 else 0.5
    forged = manifest.model_copy(
        update={"utility": manifest.utility.model_copy(update={"spearman_ward": better})}
    )
    with pytest.raises(ReleaseError, match="signature does not verify"):
        verify_release_signature(forged, public, result.directory)
    # so is a manifest whose signed utility figures were removed
    stripped = manifest.model_copy(update={"utility": None})
    with pytest.raises(ReleaseError, match="signature does not verify"):
        verify_release_signature(stripped, public, result.directory)
    # a manifest made before the field existed (no 'utility' key) reads and verifies as signed
    raw = _resigned_without_utility(manifest, key)
    old = ReleaseManifest.model_validate(raw)
    assert old.utility is None and b"utility" not in manifest_payload(old)
    verify_release_signature(old, public, result.directory)


# -- the measures on the generated city of test_release_leaks, where ranks do vary ------------


@pytest.fixture(scope="module")
def generated() -> tuple[pd.DataFrame, pd.DataFrame]:
    city = generated_city()
    return unprotected(city), release_of(city)


def test_the_measures_are_the_ones_recomputed_here(
    generated: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    truth, published = generated
    got = disclosure_utility(truth, published, FACTORS).model_dump()
    want = expected_utility(truth, published, FACTORS)
    for name, value in want.items():
        assert got[name] == pytest.approx(value, abs=6e-4), name
    assert got["spearman_ward"] is not None and got["spearman_borough"] is not None
    assert got["wards_ranked"] == 12 and got["boroughs_ranked"] == 4
    assert 0 < got["areas_published"] < got["areas"]
    assert got["population_max_error"] <= 2.5  # rounding to 5


def test_an_unprotected_table_scores_perfectly_and_a_reversed_order_scores_minus_one(
    generated: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    truth, published = generated
    exact = published.copy()
    shown = ~exact["suppressed"]
    keyed = truth.set_index(["level", "code"])
    index = pd.MultiIndex.from_frame(exact.loc[shown, ["level", "code"]].astype(str))
    for column in ("population", "expected", "mean_risk"):
        exact.loc[shown, column] = keyed.loc[index, column].to_numpy()
    perfect = disclosure_utility(truth, exact, [])
    assert perfect.population_mae == perfect.population_max_error == 0.0
    assert perfect.expected_mae == 0.0
    assert perfect.spearman_ward == perfect.spearman_borough == 1.0
    exact.loc[shown, "mean_risk"] = -exact.loc[shown, "mean_risk"]
    reversed_ = disclosure_utility(truth, exact, [])
    assert reversed_.spearman_ward == reversed_.spearman_borough == -1.0


def test_tables_that_cannot_be_compared_are_refused_by_name(
    generated: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    truth, published = generated
    with pytest.raises(UtilityError, match=r"published area table: column\(s\) \['mean_risk'\]"):
        disclosure_utility(truth, published.drop(columns="mean_risk"), FACTORS)
    with pytest.raises(UtilityError, match=r"unprotected area table: column\(s\) \['count_"):
        disclosure_utility(truth.drop(columns=f"count_{FACTORS[0]}"), published, FACTORS)
    other = truth.assign(code=truth["code"].astype(str) + "x")
    with pytest.raises(UtilityError, match=r"91 area\(s\) not in the unprotected table"):
        disclosure_utility(other, published, FACTORS)


def test_the_release_command_prints_the_utility_line(
    generated: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    utility = disclosure_utility(*generated, FACTORS)
    line = utility_line(utility)
    assert line.startswith("utility: 80% of areas and 32% of factor counts published; ")
    assert f"wards {utility.spearman_ward:.3f}, boroughs 1.000" in line
    assert 'of published areas show "fewer than N"' in line
    tied = utility.model_copy(update={"spearman_ward": None})
    assert "wards n/a (ranks tied)" in utility_line(tied)
