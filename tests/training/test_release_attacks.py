"""The release refuses a table that an attack breaks, and records the attacks it survived.

The table is the generated city's, protected by the release's own step; a leak from
issue 16 is then put back (contributions beside withheld counts; the unrounded mean), as a
bug in a later change would, and the release's attack step must refuse it, naming the
attack, its success against chance and the config key that limits it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from governance.contracts.release_schema import ReleaseError
from governance.disclosure import DisclosureConfig
from tests.training.test_release_leaks import FACTORS, generated_city, unprotected
from training.release.config import ReleaseConfig
from training.release.run import AreaFigures, ProtectedAreas, attack_protected, protect_areas

RULES = DisclosureConfig(method="threshold")


@pytest.fixture(scope="module")
def steps() -> tuple[AreaFigures, ProtectedAreas]:
    figures = AreaFigures(table=unprotected(generated_city()))
    config = ReleaseConfig(releases_dir=Path("/nonexistent/releases"))
    return figures, protect_areas(config, figures, list(FACTORS), RULES)


def test_the_protected_table_passes_every_attack(
    steps: tuple[AreaFigures, ProtectedAreas],
) -> None:
    figures, protected = steps
    results = attack_protected(figures, protected, list(FACTORS), RULES)
    assert results is not None and len(results) == 4
    assert all(r.passed and r.judged for r in results)
    # what the manifest signs: a share, an AUC, counts of cells; no area, no figure of one
    assert all(r.cells >= RULES.attacks.min_cells for r in results)


def test_contributions_put_back_beside_withheld_counts_are_refused(
    steps: tuple[AreaFigures, ProtectedAreas],
) -> None:
    figures, protected = steps
    leaky = protected.table.copy()
    truth = figures.table.set_index(["level", "code"])
    key = pd.MultiIndex.from_frame(leaky[["level", "code"]])
    for f in FACTORS:
        withheld = (~leaky["suppressed"] & leaky[f"count_{f}_suppressed"]).to_numpy(bool)
        contrib = truth[f"contrib_{f}"].reindex(key).to_numpy()
        leaky.loc[withheld, f"contrib_{f}"] = contrib[withheld].round(2)
    with pytest.raises(ReleaseError, match=r"zero_detection: .* against chance 0\.5") as refused:
        attack_protected(figures, replace(protected, table=leaky), list(FACTORS), RULES)
    assert "disclosure.attacks.max_zero_auc" in str(refused.value)
    assert "nothing was published" in str(refused.value)


def test_the_unrounded_mean_put_back_is_refused(steps: tuple[AreaFigures, ProtectedAreas]) -> None:
    figures, protected = steps
    leaky = protected.table.copy()
    truth = figures.table.set_index(["level", "code"])
    key = pd.MultiIndex.from_frame(leaky[["level", "code"]])
    raw = (truth["expected"] / truth["population"]).reindex(key).to_numpy()
    shown = ~leaky["suppressed"].to_numpy(bool)
    leaky.loc[shown, "mean_risk_raw"] = raw[shown].round(3)
    with pytest.raises(ReleaseError, match=r"disclosure\.attacks\.max_precision_gain"):
        attack_protected(figures, replace(protected, table=leaky), list(FACTORS), RULES)


def test_attacks_switched_off_are_not_run_and_not_recorded(
    steps: tuple[AreaFigures, ProtectedAreas],
) -> None:
    figures, protected = steps
    off = DisclosureConfig(attacks={"enabled": False})
    assert attack_protected(figures, protected, list(FACTORS), off) is None
