"""The young people a release counts beside the ONS estimate, for London's areas only."""

from __future__ import annotations

import pytest

from governance.geography import london_lookup
from serving.ons_population import band_share, ons_estimates, ons_population_note


def test_the_scored_ages_are_6_of_16_years_of_the_0_15_band_and_2_of_14_of_the_16_29() -> None:
    assert band_share((0, 15)) == pytest.approx(6 / 16)
    assert band_share((16, 29)) == pytest.approx(2 / 14)
    assert band_share((30, 44)) == 0.0


def test_a_ward_s_estimate_is_the_sum_of_its_lsoas_worked_by_hand() -> None:
    lookup = london_lookup()
    ward = str(lookup["ward_code"].iloc[0])
    rows = lookup[lookup["ward_code"] == ward]
    by_hand = float((rows["population_0_15"] * 6 / 16 + rows["population_16_29"] * 2 / 14).sum())
    estimates = ons_estimates()
    assert estimates[ward] == pytest.approx(by_hand)
    assert estimates[ward] == pytest.approx(sum(estimates[str(c)] for c in rows["lsoa_code"]))
    boroughs = lookup["borough_code"].unique()
    assert len(boroughs) == 33
    london = sum(estimates[str(b)] for b in boroughs)
    assert 900_000 < london < 960_000  # 0.94 million: the even spread's rough, upper figure


def test_the_note_says_both_figures_for_a_london_area_and_nothing_elsewhere() -> None:
    note = ons_population_note("E09000002", 1450)
    assert note is not None
    assert note.startswith("the ONS mid-2019 estimate is about ")
    assert "aged 10 to 17" in note and "0-15 and 16-29 age bands, so likely a little high" in note
    assert note.endswith("; this release counts 1,450 known to services")
    withheld = ons_population_note("E09000002", None)
    assert withheld is not None and "this release counts" not in withheld
    assert ons_population_note("X05000013", 100) is None  # a generated ward: no estimate
    assert ons_population_note("city", 100) is None
