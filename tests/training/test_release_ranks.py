"""Rank, decile, band and change of a generated release, against values recomputed here.

The release is made by the release's own steps (``protect_areas``) on the generated city of
``test_release_leaks`` (72 LSOAs of 4 to 160 young people). Each figure made after disclosure
control from published figures is computed again in this file, in plain Python from the
published columns only, and compared with what the release wrote: inverting the rank order,
or flipping the sign of a change between releases, fails these tests.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from governance.contracts.release_schema import AREAS, CURRENT_POINTER
from tests.training.test_release_leaks import (
    FACTORS,
    RULES,
    Generated,
    generated_city,
    unprotected,
)
from training.release.config import ReleaseConfig
from training.release.run import AreaFigures, protect_areas


def release_in(city: Generated, releases: Path) -> pd.DataFrame:
    """What ``city`` publishes, against the release ``CURRENT`` names in ``releases`` if any."""
    config = ReleaseConfig(releases_dir=releases)
    figures = AreaFigures(table=unprotected(city))
    return protect_areas(config, figures, list(FACTORS), RULES).table


def write_previous(table: pd.DataFrame, releases: Path, release_id: str = "previous") -> None:
    """``table`` as the published table of the release ``CURRENT`` names."""
    (releases / release_id).mkdir(parents=True)
    table.to_parquet(releases / release_id / AREAS)
    (releases / CURRENT_POINTER).write_text(release_id + "\n")


def published_rows(table: pd.DataFrame) -> list[dict[str, object]]:
    """The published areas' rows as plain dicts."""
    rows: list[dict[str, object]] = table[~table["suppressed"].astype(bool)].to_dict("records")
    return rows


def _number(value: object) -> float | None:
    """A published figure as a float, or None where it is null."""
    if value is None or value is pd.NA:
        return None
    number = float(value)  # type: ignore[arg-type]
    return None if math.isnan(number) else number


def expected_ranks(table: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """``code -> (rank, decile)``: 1 + the level's published areas with a higher mean risk."""
    by_level: dict[str, list[tuple[str, float]]] = {}
    for row in published_rows(table):
        mean = _number(row["mean_risk"])
        if mean is not None:
            by_level.setdefault(str(row["level"]), []).append((str(row["code"]), mean))
    out: dict[str, tuple[int, int]] = {}
    for members in by_level.values():
        for code, mean in members:
            rank = 1 + sum(1 for _, other in members if other > mean)
            out[code] = (rank, min(10, max(1, math.ceil(10 * rank / len(members)))))
    return out


@pytest.fixture(scope="module")
def city() -> Generated:
    return generated_city()


@pytest.fixture(scope="module")
def release(city: Generated, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    return release_in(city, tmp_path_factory.mktemp("first") / "releases")


def test_rank_and_decile_are_the_order_of_the_published_mean_risks(release: pd.DataFrame) -> None:
    want = expected_ranks(release)
    assert len(want) > 50
    got = {
        str(r["code"]): (int(r["rank"]), int(r["decile"]))  # type: ignore[call-overload]
        for r in published_rows(release)
    }
    wrong = {c: (got[c], want[c]) for c in want if got[c] != want[c]}
    some = dict(list(wrong.items())[:5])
    assert not wrong, f"{len(wrong)} areas' (rank, decile) differ, e.g. (got, want): {some}"
    # the highest published mean of each level is rank 1 (and in the top tenth if n >= 10)
    for _, rows in release[~release["suppressed"]].groupby("level"):
        top = rows.loc[rows["mean_risk"].idxmax()]
        assert int(top["rank"]) == 1 and int(top["decile"]) == math.ceil(10 / len(rows))
    suppressed = release[release["suppressed"]]
    assert len(suppressed) > 0
    assert suppressed["rank"].isna().all() and suppressed["decile"].isna().all()


def test_change_is_this_releases_mean_risk_minus_the_previous_ones(
    city: Generated, release: pd.DataFrame, tmp_path: Path
) -> None:
    """Second release on different risks: each change is now minus then, in sign and size."""
    releases = tmp_path / "releases"
    write_previous(release, releases)
    moved = generated_city(seed=17)  # same areas, other young people and risks
    second = release_in(moved, releases)
    before = {
        (str(r["level"]), str(r["code"])): _number(r["mean_risk"]) for r in published_rows(release)
    }
    rises = falls = 0
    for row in second.to_dict("records"):
        then = before.get((str(row["level"]), str(row["code"])))
        now = None if bool(row["suppressed"]) else _number(row["mean_risk"])
        change = _number(row["change_mean_risk"])
        if now is None or then is None:
            assert change is None, (row["code"], change)
            continue
        assert change is not None and change == pytest.approx(now - then, abs=1e-12), (
            row["code"],
            now,
            then,
            change,
        )
        rises, falls = rises + (now > then), falls + (now < then)
    assert rises >= 5 and falls >= 5, (rises, falls)  # both signs are exercised


def test_an_area_new_or_suppressed_in_the_previous_release_has_no_change(
    release: pd.DataFrame, tmp_path: Path
) -> None:
    releases = tmp_path / "releases"
    previous = release.copy()
    shown = previous.index[~previous["suppressed"]]
    gone, hidden = shown[0], shown[1]
    previous.loc[hidden, "mean_risk"] = np.nan  # as if suppressed then
    write_previous(previous.drop(index=gone), releases)
    second = release_in(generated_city(), releases).set_index("code")
    codes = [str(release.at[gone, "code"]), str(release.at[hidden, "code"])]
    assert second.loc[codes, "change_mean_risk"].isna().all()
    rest = second.drop(index=codes)
    shown_now = rest[~rest["suppressed"]]
    assert np.allclose(shown_now["change_mean_risk"].astype(float), 0.0)
