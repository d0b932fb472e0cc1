"""``vru release`` under the DP option (``disclosure.method: dp``), on the session's trained city.

The LSOA figures are noised once with OpenDP; the manifest records the release's privacy
loss and the total over the releases directory, signed; a release that would pass
``dp.max_total_epsilon`` is refused before anything is written.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from governance.contracts.release_schema import CURRENT_POINTER, read_manifest
from governance.disclosure import DisclosureConfig, check_no_individuals
from governance.dp import DpBudgetError
from tests.helpers import TrainedCity
from tests.training.test_release import City, _approve_and_promote, _city_at
from training.release.run import ReleaseResult, run_release

RULES = DisclosureConfig(method="dp", dp={"epsilon": 1.0, "max_total_epsilon": 2.5})


def _release(city: City, rules: DisclosureConfig, releases: str) -> ReleaseResult:
    return run_release(
        city.config(releases),
        city.data,
        registry=city.registry,
        governance=city.governance(),
        disclosure=rules,
    )


@pytest.fixture(scope="module")
def approved(trained_city: TrainedCity, tmp_path_factory: pytest.TempPathFactory) -> City:
    city = _city_at(tmp_path_factory.mktemp("dp") / "city", trained_city)
    _approve_and_promote(city)
    return city


def test_dp_releases_record_their_loss_and_the_running_total_and_refuse_past_the_cap(
    approved: City,
) -> None:
    first = _release(approved, RULES, "dp")
    manifest = read_manifest(first.directory)
    privacy = manifest.privacy
    assert privacy is not None and manifest.signature is not None
    assert manifest.disclosure["method"] == "dp"
    assert privacy.epsilon == pytest.approx(1.0)
    assert sum(privacy.epsilon_by_measure.values()) == pytest.approx(privacy.epsilon)
    assert set(privacy.epsilon_by_measure) == {
        "population",
        "expected",
        *(f"count_{f}" for f in manifest.factors),
    }
    assert privacy.total_epsilon == pytest.approx(1.0) and privacy.earlier_releases == 0
    assert privacy.seeded is False and privacy.library.startswith("opendp 0.16")
    # wider intervals for bigger areas (more LSOAs' noise), the city's the widest
    widths = privacy.half_width["population"]
    assert widths["lsoa"] < widths["ward"] <= widths["city"]
    # measured errors against the unprotected table are figures of the data: not published
    assert manifest.utility is None
    assert first.measured_utility is not None  # measured in memory, for benchmarks only
    assert first.measured_utility.areas == len(pd.read_parquet(first.directory / "areas.parquet"))

    table = pd.read_parquet(first.directory / "areas.parquet")
    check_no_individuals(table, DisclosureConfig.model_validate(manifest.disclosure))
    shown = ~table["suppressed"].astype(bool)
    for factor in manifest.factors:
        assert table[f"contrib_{factor}"].isna().all()
    assert (pd.to_numeric(table.loc[shown, "population"]) >= RULES.min_count).all()
    low, mean, high = (
        table.loc[shown, c].to_numpy(np.float64) for c in ("risk_low", "mean_risk", "risk_high")
    )
    assert ((low <= mean) & (mean <= high)).all()

    second = _release(approved, RULES, "dp")
    again = read_manifest(second.directory).privacy
    assert again is not None
    assert again.total_epsilon == pytest.approx(2.0) and again.earlier_releases == 1

    releases = approved.root / "dp"
    before = sorted(p.name for p in releases.iterdir())
    current = (releases / CURRENT_POINTER).read_text()
    with pytest.raises(DpBudgetError, match=r"disclosure\.dp\.max_total_epsilon is 2\.5"):
        _release(approved, RULES, "dp")
    assert sorted(p.name for p in releases.iterdir()) == before  # nothing written
    assert (releases / CURRENT_POINTER).read_text() == current
