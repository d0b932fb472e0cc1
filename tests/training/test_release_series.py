"""The back-scored series: every as-of date, the release's own protection and attacks, the record.

The city is the session's trained city (tests/conftest.py), released once per module under
the default method (cell keys, with a production seed) as tests/training/test_release.py does.
The series step is also run on its own (:func:`training.release.run.back_score`), which keeps
each date's unprotected table in memory, so that published figures can be checked against
what they protect, and hand counts against both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from governance.audit.calibration import poisson_interval
from governance.contracts.release_schema import (
    SERIES,
    SERIES_COLUMNS,
    ReleaseError,
    read_manifest,
    verify_release_files,
)
from governance.disclosure import DisclosureConfig
from tests.helpers import TrainedCity
from tests.training.test_release import (
    City,
    _approve_and_promote,
    _city_at,
    production_rules,
)
from training.evaluation.recording import true_outcome_flags
from training.release.run import (
    ReleaseResult,
    _Clock,
    attack_protected,
    back_score,
    protect_areas,
    score_population,
    verify_champion,
)
from training.release.series import (
    OBSERVED,
    SeriesResult,
    build_series,
    observed_against_expected,
    series_table,
)


@dataclass
class Series:
    city: City
    release: ReleaseResult
    result: SeriesResult
    rules: DisclosureConfig


@pytest.fixture(scope="module")
def series(trained_city: TrainedCity, tmp_path_factory: pytest.TempPathFactory) -> Series:
    city = _city_at(tmp_path_factory.mktemp("series") / "city", trained_city)
    _approve_and_promote(city)
    release = city.release()
    config = city.config()
    rules = production_rules(config)
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
    result = back_score(config, city.data, city.registry, approval, sums, rules, lambda _: None)
    assert result is not None
    return Series(city, release, result, rules)


def _features(city: City) -> pd.DataFrame:
    return pd.read_parquet(
        city.data / "features" / "features.parquet",
        columns=["as_of_date", "lsoa_code", "ward_code", "borough_code", "label", "label_complete"],
    )


def _dates(city: City) -> list[str]:
    manifest = json.loads((city.data / "features" / "manifest.json").read_text())
    return sorted(manifest["per_as_of_date"])


def test_one_entry_per_as_of_date_area_and_level(series: Series) -> None:
    table = pd.read_parquet(series.release.directory / SERIES)
    areas = pd.read_parquet(series.release.directory / "areas.parquet")
    dates = _dates(series.city)
    assert list(table.columns) == list(SERIES_COLUMNS)
    assert sorted(table["as_of_date"].unique()) == dates and len(dates) >= 3
    assert len(table) == len(dates) * len(areas)
    assert not table.duplicated(["level", "code", "as_of_date"]).any()
    for _, group in table.groupby("as_of_date"):
        assert group["level"].value_counts().to_dict() == areas["level"].value_counts().to_dict()
    manifest = read_manifest(series.release.directory)
    assert manifest.series is not None and list(manifest.series.as_of_dates) == dates
    # each date's table survived the release's attacks, and the manifest signs that
    assert manifest.series.attacks is not None and set(manifest.series.attacks) == set(dates)
    assert all(a.passed for results in manifest.series.attacks.values() for a in results)
    assert SERIES in manifest.files


def test_the_latest_date_is_protected_exactly_as_the_release_table(series: Series) -> None:
    """Same rules, same cell keys: the same cell is withheld, rounded or perturbed alike.

    Were the series' latest date perturbed afresh (another seed, another period's record
    keys), the two files would hold two independent perturbations of one true count, and
    their mean would narrow it: the averaging attack the cell-key method's fixed keys exist
    to stop. Equal figures leave nothing to difference or average.
    """
    table = pd.read_parquet(series.release.directory / SERIES)
    areas = pd.read_parquet(series.release.directory / "areas.parquet").set_index("code")
    latest = table[table["as_of_date"] == max(_dates(series.city))].set_index("code")
    latest = latest.reindex(areas.index)
    for column in ("suppressed", "population", "expected", "rate_per_1000", "mean_risk"):
        pd.testing.assert_series_equal(
            latest[column].astype("float64"), areas[column].astype("float64"), check_names=False
        )
    # protection acted on that date: some published population is not the true one
    truth = series.result.dates[-1].unprotected.set_index("code")["population"]
    assert (truth.reindex(areas.index) != areas["population"]).any()


def test_a_withheld_cell_is_withheld_the_same_way_on_every_run(series: Series) -> None:
    first = series.result
    again = build_series(
        series.city.config(),
        series.city.data,
        **_series_inputs(series),
        protect=protect_areas,
        attack=attack_protected,
    )
    pd.testing.assert_frame_equal(first.table, again.table)
    # and the areas withheld at a date are withheld at every level the same way in the file
    published = pd.read_parquet(series.release.directory / SERIES)

    def plain(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.reset_index(drop=True).astype(object)
        return frame.where(frame.notna(), None)

    pd.testing.assert_frame_equal(plain(published), plain(first.table))


def _series_inputs(series: Series) -> dict[str, object]:
    config = series.city.config()
    approval = verify_champion(config, series.city.registry, series.city.governance())
    sums = score_population(
        config,
        series.city.data,
        series.city.registry,
        approval,
        label="test",
        clock=_Clock(),
        say=lambda _: None,
        spark=None,
    )
    model = series.city.registry.load_model(approval.info, expected_files=approval.files)
    return {
        "model": model,
        "version": approval.info.version,
        "geography": sums.geography,
        "present_when": {f.name: list(f.present_when) for f in config.factors},
        "latest_by_lsoa": sums.by_lsoa,
        "latest": sums.as_of,
        "rules": series.rules,
    }


#: what the release counts as recorded serious violence, read straight from the extracts
_HEALTH_KINDS = ("assault", "sharp_object_injury")
_POLICE_GROUPS = ("violence_against_person", "possession_of_weapons", "robbery")


def _recorded_by_hand(city: City, months: int) -> pd.DataFrame:
    """Each cohort row and whether its young person appears, in the months after the as-of
    date, in a hospital assault (or sharp-object injury) attendance or as a suspect charged or
    cautioned for violence, weapons or robbery: the extracts joined to the linkage's spine."""
    data = city.data
    spine = pd.read_parquet(data / "linked" / "spine.parquet")
    health = pd.read_parquet(data / "extracts" / "health.parquet")
    police = pd.read_parquet(data / "extracts" / "police.parquet")
    health = health[health["diagnosis_category"].isin(_HEALTH_KINDS)]
    police = police[
        (police["role"] == "suspect")
        & police["outcome"].isin(["charge", "caution"])
        & police["offence_group"].isin(_POLICE_GROUPS)
    ]
    events = pd.concat(
        [
            health.assign(source="health", date=health["arrival_date"]),
            police.assign(source="police", date=police["incident_date"]),
        ]
    )[["source", "record_id", "date"]].merge(spine, on=["source", "record_id"])
    events["date"] = pd.to_datetime(events["date"])
    rows = pd.read_parquet(
        data / "features" / "features.parquet",
        columns=["person_key", "as_of_date", "lsoa_code", "ward_code", "borough_code"],
    )
    rows["as_of"] = pd.to_datetime(rows["as_of_date"])
    joined = rows.merge(events[["person_key", "date"]], on="person_key", how="left")
    end = joined["as_of"] + pd.DateOffset(months=months)
    joined["hit"] = (joined["date"] >= joined["as_of"]) & (joined["date"] < end)
    hit = joined.groupby(["person_key", "as_of"])["hit"].any()
    return rows.join(hit, on=["person_key", "as_of"])


def test_observed_counts_equal_a_hand_count_on_the_extracts(series: Series) -> None:
    """Unprotected: exactly the hand count; published: within the method's margin of it."""
    rows = _recorded_by_hand(series.city, 24)
    margin = max(series.rules.published_bounds)
    published = pd.read_parquet(series.release.directory / SERIES)
    checked = 0
    for figures in series.result.dates:
        at = rows[rows["as_of_date"].astype(str) == figures.as_of]
        for level in ("lsoa", "ward", "borough", "city"):
            key = at["lsoa_code"].map(lambda _: "city") if level == "city" else at[f"{level}_code"]
            hand = at.groupby(key)["hit"].sum()
            truth = figures.unprotected[figures.unprotected["level"] == level]
            truth = truth.set_index("code")[f"count_{OBSERVED}"]
            assert (truth.reindex(hand.index) == hand).all(), (figures.as_of, level)
            shown = published[
                (published["as_of_date"] == figures.as_of)
                & (published["level"] == level)
                & (published["observed_status"] == "published")
            ].set_index("code")["observed"]
            gap = (shown - hand.reindex(shown.index)).abs()
            assert (gap <= margin).all(), (figures.as_of, level, gap.max())
            checked += len(shown)
    assert checked > 0, "some non-withheld area's observed count should be checked"


def test_observed_is_not_shown_where_the_period_has_not_ended(series: Series) -> None:
    rows = _features(series.city)
    table = pd.read_parquet(series.release.directory / SERIES)
    manifest = read_manifest(series.release.directory)
    assert manifest.series is not None
    complete = rows.groupby("as_of_date")["label_complete"].all()
    ended = {str(d) for d, ok in complete.items() if ok}
    assert set(manifest.series.observed_complete) == ended
    assert max(_dates(series.city)) not in ended  # the current population's is still running
    open_rows = table[~table["as_of_date"].isin(ended)]
    assert (open_rows["observed_status"].isin(["period_not_ended", "area_withheld"])).all()
    assert open_rows["observed"].isna().all() and open_rows["comparison"].isna().all()
    closed = table[table["as_of_date"].isin(ended)]
    assert (closed["observed_status"] == "published").any()


def test_observed_against_expected_uses_an_exact_poisson_interval() -> None:
    low, high = poisson_interval(10, 0.95)
    assert (round(low, 3), round(high, 3)) == (4.795, 18.39)  # Garwood's table
    assert poisson_interval(0, 0.95)[0] == 0.0
    assert observed_against_expected(30, 10, 0.95)[3] == "higher"
    assert observed_against_expected(10, 10, 0.95)[3] == "similar"
    assert observed_against_expected(2, 12, 0.95)[3] == "lower"
    assert observed_against_expected(5, 0, 0.95) == (None, None, None, None)
    assert observed_against_expected(None, 3, 0.95) == (None, None, None, None)


def _small_counts_shown(table: pd.DataFrame, min_count: int) -> int:
    """What an attacker reads first: published observed counts of fewer than ``min_count``."""
    observed = pd.to_numeric(table["observed"], errors="coerce")
    return int(((observed > 0) & (observed < min_count)).sum())


def test_the_series_check_fails_when_protection_is_skipped(series: Series) -> None:
    """The file shows no small recorded count; a series made without protection would."""
    table = pd.read_parquet(series.release.directory / SERIES)
    assert _small_counts_shown(table, series.rules.min_count) == 0
    skipped = [
        replace(
            d,
            published=d.unprotected.assign(
                suppressed=False, **{f"count_{OBSERVED}_suppressed": False}
            ),
        )
        for d in series.result.dates
    ]
    leaky = series_table(skipped, 24, 0.95)
    assert _small_counts_shown(leaky, series.rules.min_count) > 0


def test_a_withheld_count_is_not_revealed_by_two_dates_or_the_hierarchy(series: Series) -> None:
    """What an attacker holds is the file: no withheld count is pinned by it."""
    from governance.disclosure_attacks import attack_release

    for figures in series.result.dates:
        results = attack_release(
            figures.unprotected,
            figures.published,
            factors=[OBSERVED],
            method=series.rules.method,
            min_count=series.rules.min_count,
            margin=series.rules.published_bounds,
            hierarchy=series.rules.hierarchy,
            limits=series.rules.attacks,
        )
        exact = next(r for r in results if r.name == "hierarchy_exact")
        assert exact.passed, (figures.as_of, exact)
    # across dates: a withheld observed count at one date is not the difference of figures
    # published at another (different periods, different young people): the published
    # observed of the same area at two dates never equals a withheld value's truth for certain
    table = pd.read_parquet(series.release.directory / SERIES)
    withheld = table[table["observed_status"] == "withheld"]
    assert withheld["observed"].isna().all() and withheld["observed_ratio"].isna().all()


def test_a_tampered_series_file_is_refused(series: Series, tmp_path: Path) -> None:
    import shutil

    directory = tmp_path / series.release.directory.name
    shutil.copytree(series.release.directory, directory)
    manifest = read_manifest(directory)
    verify_release_files(manifest, directory)
    table = pd.read_parquet(directory / SERIES)
    table.loc[table["observed_status"] == "withheld", "observed"] = 3.0
    table.to_parquet(directory / SERIES)
    with pytest.raises(ReleaseError, match=r"series\.parquet: SHA-256 .* differs"):
        verify_release_files(manifest, directory)
    (directory / SERIES).unlink()
    with pytest.raises(ReleaseError, match=r"series\.parquet: listed in the signed manifest"):
        verify_release_files(manifest, directory)


def test_a_release_without_a_series_has_no_file(series: Series) -> None:
    result = series.city.release("no-series", series={"enabled": False})
    assert not (result.directory / SERIES).exists()
    assert read_manifest(result.directory).series is None


def test_back_scored_expected_tracks_the_true_outcomes(series: Series) -> None:
    """On the generated city the truth is known: a sanity bound on the back-scored expected.

    The model is calibrated to *recorded* outcomes, and the generator records only part of
    what truly happens, so the city's expected count should lie near the recorded count
    (within 25%: calibration on a test split of this size) and below the true count; across
    boroughs and dates pooled, areas where more truly happens should be given more expected
    (rank correlation clearly above 0).
    """
    city = series.city
    rows = pd.read_parquet(
        city.data / "features" / "features.parquet",
        columns=["person_key", "as_of_date", "borough_code", "label", "label_complete"],
    )
    rows = rows[rows["label_complete"]].reset_index(drop=True)
    months = read_manifest(series.release.directory).series.label_months  # type: ignore[union-attr]
    flags = true_outcome_flags(city.data, rows, label_months=months, outcome="either")
    rows["true"] = flags["true_outcome"].to_numpy().astype(int)
    expected_rows, true_rows, recorded_rows = [], [], []
    for figures in series.result.dates:
        if not figures.complete:
            continue
        at = rows[rows["as_of_date"].astype(str) == figures.as_of]
        table = figures.unprotected.set_index("code")
        city_expected = float(table[table["level"] == "city"]["expected"].iloc[0])
        recorded, true = int(at["label"].sum()), int(at["true"].sum())
        assert 0.75 * recorded <= city_expected <= 1.25 * recorded, (figures.as_of, recorded)
        assert city_expected <= true, (figures.as_of, city_expected, true)
        by_borough = at.groupby("borough_code")["true"].sum()
        expected_rows += table["expected"].reindex(by_borough.index).tolist()
        true_rows += by_borough.tolist()
        recorded_rows += at.groupby("borough_code")["label"].sum().tolist()
    rho = spearmanr(expected_rows, true_rows).statistic
    assert rho > 0.5, rho
    assert np.isfinite(recorded_rows).all()


def test_no_series_under_dp(series: Series) -> None:
    """Under dp every date would spend privacy budget: the series is not made, nothing read."""
    rules = DisclosureConfig(method="dp")
    made = back_score(
        series.city.config(), Path("/nonexistent"), None, None, None, rules, lambda _: None
    )  # type: ignore[arg-type]
    assert made is None


def test_a_later_release_publishes_the_same_protected_counts_for_the_same_dates(
    series: Series,
) -> None:
    """Two releases' series are two publications of each date: the same cohort and period
    give the same record keys, so the same perturbation; nothing to average across them."""
    later = series.city.release("later")
    first = pd.read_parquet(series.release.directory / SERIES)
    again = pd.read_parquet(later.directory / SERIES)
    columns = ["level", "code", "as_of_date", "suppressed", "population", "observed"]
    pd.testing.assert_frame_equal(first[columns], again[columns])
