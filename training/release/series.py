"""The back-scored series of a release: the champion at every as-of date, beside the record.

Every release carries ``series.parquet`` (:data:`governance.contracts.release_schema.SERIES`):
for each as-of date of the features table (``features.as_of_dates``), the champion's figures
for that date's cohort at every level, and the recorded number of those young people involved
in serious violence in the months the expected count covers. What a planner reads as a trend
is therefore one model scoring each period's population, not several models' releases.

Each date goes through exactly the steps of the release's own table, with the same rules:

1. the cohort at the date is scored once, by the same grouping of rows and the same
   calibrated ``predict`` as :func:`.score.score_cohort` (no SHAP: the series publishes no
   contribution); the latest date reuses the release's own LSOA sums, so it is not scored
   twice. Earlier dates are scored in this process whatever ``engine`` scored the latest
   (they need no SHAP, which is what Spark is for);
2. the per-person values end in LSOA sums (:func:`.aggregate.lsoa_sums`), which give every
   area's figures (:func:`.aggregate.areas_from_sums`);
3. the release's disclosure control (its ``protect`` step, the same method and thresholds),
   with the date's cell keys under ``cellkey`` (:func:`.cellkey_release.release_cell_keys`:
   record keys of the date's period, so a release made at that date would perturb the cell
   the same way), then the release's attacks (its ``attack`` step): a date whose table does
   not survive them stops the release, as the release's own table would.

The recorded count is carried through those steps as one more factor, ``observed``, present
when the row's ``label`` is 1 (the young person appears in the label period in a hospital
attendance for an assault or sharp-object injury, or as a police suspect charged or
cautioned for violence, weapons or robbery, through the linked records the label is built
from; the tests count it again from the extracts): so it is protected as every count is
(withheld under ``min_count``, rounded or perturbed by its own cell key) and attacked with
the rest. It is shown only for dates whose label period had ended by the end of the data
(``label_complete``); the latest date's usually has not, and says so (``observed_status``).

Observed beside expected: ``observed_ratio = observed / expected`` from the *published*
figures, with the exact (Garwood) Poisson interval of the observed count divided by the
expected (the audit's own, :func:`governance.audit.calibration.poisson_interval`);
``comparison`` is ``higher`` or ``lower`` only when that interval excludes 1. The
expected count is treated as known (its own interval is on the mean risk), and a rounded or
perturbed observed count is treated as the count: both make the interval a little narrower
than the whole uncertainty (the README says so where it explains the ratio).

Nothing about a person leaves this module: the cohort's values end in the LSOA sums, and the
series holds only each date's protected area figures.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from governance.audit.calibration import poisson_interval
from governance.contracts.errors import ExtractError
from governance.contracts.layout import DataLayout
from governance.contracts.release_schema import SERIES_COLUMNS, ReleaseAttack, ReleaseSeries
from governance.disclosure import DisclosureConfig
from training.release.aggregate import area_table, areas_from_sums, factor_present, lsoa_sums
from training.release.cellkey_release import release_cell_keys
from training.release.config import ReleaseConfig
from training.release.score import releasable_booster, row_patterns

__all__ = [
    "OBSERVED",
    "OBSERVED_FLAG",
    "DateFigures",
    "SeriesResult",
    "build_series",
    "observed_against_expected",
]

logger = logging.getLogger("training.release.series")

#: the pseudo-factor that carries the recorded count through disclosure control
OBSERVED = "observed"
#: the features table's label: involved in serious violence in the label period
OBSERVED_FLAG = "label"
COMPLETE_FLAG = "label_complete"
OBSERVED_MEANING = (
    "young people of the cohort recorded in the months the expected count covers in a "
    "hospital attendance for an assault or a sharp-object injury, or by the police as a "
    "suspect charged or cautioned for violence against the person, weapon possession or "
    "robbery (the linked records the model's label is made from)"
)

_NO_LABEL = (
    "{path}: no column {column!r}; the series needs the label to count what was recorded "
    "(rebuild the features)"
)
_SERIES_DATES = "{path}: lists no as-of dates for the series"

#: the release's own step 4 (``run.protect_areas``) and step 4b (``run.attack_protected``),
#: handed in so that each date is protected and attacked by exactly the release's code
Protect = Callable[..., Any]
Attack = Callable[..., Any]


@dataclass(frozen=True)
class DateFigures:
    """One as-of date's tables: unprotected (stays in memory) and as published."""

    as_of: str
    unprotected: pd.DataFrame
    published: pd.DataFrame
    complete: bool
    attacks: tuple[ReleaseAttack, ...] | None


@dataclass(frozen=True)
class SeriesResult:
    """What the series step made: the table to write, its manifest entry and its cost."""

    table: pd.DataFrame  # SERIES_COLUMNS, one row per area and date
    manifest: ReleaseSeries
    dates: tuple[DateFigures, ...]
    timings: dict[str, float] = field(default_factory=dict)  # seconds by phase, all dates


#: the series' phases, each timed over all dates (:attr:`SeriesResult.timings`)
PHASES = ("read", "score", "aggregate", "cell_keys", "protect", "attack")


class _Lap:
    """Adds the seconds since the last call to ``timings[phase]``."""

    def __init__(self, timings: dict[str, float]) -> None:
        self.timings = timings
        self.start = time.perf_counter()

    def __call__(self, phase: str) -> None:
        now = time.perf_counter()
        self.timings[phase] += now - self.start
        self.start = now


@dataclass(frozen=True)
class _Features:
    path: Path
    dates: tuple[str, ...]
    label_months: int


def build_series(
    config: ReleaseConfig,
    data_dir: Path,
    *,
    model: Any,
    version: str,
    geography: pd.DataFrame,
    present_when: dict[str, list[str]],
    latest_by_lsoa: pd.DataFrame,
    latest: str,
    rules: DisclosureConfig,
    protect: Protect,
    attack: Attack,
    say: Callable[[str], None] = lambda _: None,
) -> SeriesResult:
    """Score, aggregate, protect and attack every as-of date; the series table.

    Parameters
    ----------
    model, version
        The champion as loaded by the release (hash-checked), and its version.
    geography, present_when
        The release's geography and each factor's flags, in release order.
    latest_by_lsoa, latest
        The release's own LSOA sums and their date: reused, not scored again.
    rules, protect, attack
        The release's disclosure rules, and its protect and attack steps.

    Raises
    ------
    ExtractError
        If the features table has no label or lists no dates.
    ReleaseError
        From ``attack``, when a date's table does not survive the attacks.
    """
    features = _features(DataLayout(data_dir))
    factors = [*present_when, OBSERVED]
    flags = {**present_when, OBSERVED: [OBSERVED_FLAG]}
    areas = area_table(geography, city_code=config.city_code, city_name=config.city_name)
    timings = dict.fromkeys(PHASES, 0.0)
    made: list[DateFigures] = []
    for as_of in features.dates:
        say(f"series: {as_of}")
        lap = _Lap(timings)
        cohort = _read(features.path, as_of, list(model.columns), flags)
        present = factor_present(cohort, flags)
        lap("read")
        if as_of == latest:
            by_lsoa = _with_observed(latest_by_lsoa, geography, cohort, present[:, -1])
        else:
            risk = _risk(model, cohort, config.shap.dedup, version)
            zeros = np.zeros((len(cohort), len(factors)), dtype=np.float64)
            by_lsoa = lsoa_sums(geography, cohort["lsoa_code"], risk, present, zeros, factors)
        lap("score")
        figures = areas_from_sums(
            areas,
            geography,
            by_lsoa,
            factors,
            shrink_levels=config.shrinkage.levels,
            interval_level=config.interval.level,
        )
        lap("aggregate")
        keys = None
        if rules.method == "cellkey":
            keys = release_cell_keys(features.path, as_of, geography, figures, flags, rules.cellkey)
        lap("cell_keys")
        wrapped = _Figures(table=figures)
        protected = protect(config, wrapped, factors, rules, cell_keys=keys)
        lap("protect")
        attacks = attack(wrapped, protected, factors, rules)
        lap("attack")
        complete = bool(cohort[COMPLETE_FLAG].fillna(False).astype(bool).all())
        made.append(DateFigures(as_of, figures, protected.table, complete, attacks))
    logger.info(
        "series: %d dates; seconds by phase %s",
        len(made),
        {k: round(v, 3) for k, v in timings.items()},
    )
    table = series_table(made, features.label_months, config.interval.level)
    manifest = ReleaseSeries(
        as_of_dates=tuple(d.as_of for d in made),
        label_months=features.label_months,
        observed=OBSERVED_MEANING,
        observed_complete=tuple(d.as_of for d in made if d.complete),
        interval_level=config.interval.level,
        attacks=(
            None
            if any(d.attacks is None for d in made)
            else {d.as_of: tuple(d.attacks or ()) for d in made}
        ),
    )
    rounded = {k: round(v, 3) for k, v in timings.items()}
    return SeriesResult(table=table, manifest=manifest, dates=tuple(made), timings=rounded)


@dataclass(frozen=True)
class _Figures:
    """The shape of ``run.AreaFigures`` the protect and attack steps read (``table``)."""

    table: pd.DataFrame


def _features(layout: DataLayout) -> _Features:
    """The features table, its as-of dates (oldest first) and the label's months."""
    manifest_path = layout.features_dir / "manifest.json"
    path = layout.features_dir / "features.parquet"
    if not manifest_path.is_file() or not path.is_file():
        raise ExtractError(f"{layout.features_dir}: no features; run `vru features` first")
    manifest: dict[str, Any] = json.loads(manifest_path.read_text())
    dates = sorted(manifest.get("per_as_of_date") or manifest.get("as_of_dates") or [])
    if not dates:
        raise ExtractError(_SERIES_DATES.format(path=manifest_path))
    names = set(pq.read_schema(path).names)
    for column in (OBSERVED_FLAG, COMPLETE_FLAG):
        if column not in names:
            raise ExtractError(_NO_LABEL.format(path=path, column=column))
    months = int((manifest.get("label") or {}).get("months", 24))
    return _Features(path=path, dates=tuple(str(d) for d in dates), label_months=months)


def _read(path: Path, as_of: str, inputs: list[str], flags: dict[str, list[str]]) -> pd.DataFrame:
    """The cohort at ``as_of``: LSOA, model inputs, factor flags, label; never an id."""
    wanted = {c for columns in flags.values() for c in columns}
    columns = list(dict.fromkeys(["lsoa_code", *inputs, *sorted(wanted), COMPLETE_FLAG]))
    cohort: pd.DataFrame = pq.read_table(
        path, columns=columns, filters=[("as_of_date", "=", dt.date.fromisoformat(as_of))]
    ).to_pandas()
    if cohort.empty:
        raise ExtractError(f"{path}: no young people at the as-of date {as_of}")
    return cohort


def _risk(model: Any, cohort: pd.DataFrame, dedup: str, version: str) -> np.ndarray:
    """Calibrated risk of each row, each distinct model input scored once (as the release)."""
    booster = releasable_booster(model, version)
    columns = list(model.columns)
    x = np.ascontiguousarray(cohort[columns].to_numpy(np.float64, na_value=np.nan))
    first, inverse = row_patterns(x, booster, dedup)  # type: ignore[arg-type]
    risk = np.asarray(model.predict(pd.DataFrame(x[first], columns=columns)), dtype=np.float64)
    return risk[inverse]


def _with_observed(
    by_lsoa: pd.DataFrame, geography: pd.DataFrame, cohort: pd.DataFrame, observed: np.ndarray
) -> pd.DataFrame:
    """The release's own LSOA sums with the observed count's two sums appended."""
    codes = pd.Index(geography["lsoa_code"].astype(str))
    index = codes.get_indexer(pd.Index(cohort["lsoa_code"].astype(str)))
    if (index < 0).any():
        raise ExtractError("features: young people live in LSOAs not in the geography")
    out = by_lsoa.copy()
    counts = np.bincount(index, weights=observed.astype(np.float64), minlength=len(codes))
    out[f"count_{OBSERVED}"] = pd.Series(counts, index=codes).reindex(out.index).to_numpy()
    out[f"sum_contrib_{OBSERVED}"] = 0.0
    return out


def observed_against_expected(
    observed: float | None, expected: float | None, level: float
) -> tuple[float | None, float | None, float | None, str | None]:
    """``(ratio, low, high, comparison)`` of a published observed and expected count.

    None throughout when either is missing or the expected is 0 (no ratio exists);
    ``comparison`` is ``higher``/``lower`` only when the ratio's interval excludes 1.
    """
    if observed is None or expected is None or not expected > 0:
        return None, None, None, None
    if np.isnan(observed) or np.isnan(expected):
        return None, None, None, None
    low, high = poisson_interval(round(observed), level)
    ratio, r_low, r_high = observed / expected, low / expected, high / expected
    comparison = "higher" if r_low > 1 else "lower" if r_high < 1 else "similar"
    return round(ratio, 3), round(r_low, 3), round(r_high, 3), comparison


def series_table(dates: Sequence[DateFigures], label_months: int, level: float) -> pd.DataFrame:
    """The rows of ``series.parquet`` from each date's published table (pure)."""
    frames = []
    for d in dates:
        t = d.published
        period_end = _add_months(dt.date.fromisoformat(d.as_of), label_months)
        suppressed = t["suppressed"].astype(bool).to_numpy()
        withheld = t[f"count_{OBSERVED}_suppressed"].astype(bool).to_numpy()
        observed = t[f"count_{OBSERVED}"].astype("float64").to_numpy()
        status = np.where(
            suppressed,
            "area_withheld",
            np.where(
                ~np.asarray(d.complete),
                "period_not_ended",
                np.where(withheld, "withheld", "published"),
            ),
        )
        shown = status == "published"
        observed = np.where(shown, observed, np.nan)
        compared = [
            observed_against_expected(float(o), float(e), level) if s else (None, None, None, None)
            for o, e, s in zip(observed, t["expected"].astype("float64"), shown, strict=True)
        ]
        frame = pd.DataFrame(
            {
                "level": t["level"].astype(str).to_numpy(),
                "code": t["code"].astype(str).to_numpy(),
                "as_of_date": d.as_of,
                "period_end": period_end.isoformat(),
                "suppressed": suppressed,
                "population": t["population"].astype("float64").to_numpy(),
                "expected": t["expected"].astype("float64").to_numpy(),
                "rate_per_1000": t["rate_per_1000"].astype("float64").to_numpy(),
                "mean_risk": t["mean_risk"].astype("float64").to_numpy(),
                "risk_low": t["risk_low"].astype("float64").to_numpy(),
                "risk_high": t["risk_high"].astype("float64").to_numpy(),
                "observed": observed,
                "observed_status": status.astype(str),
                "observed_ratio": [c[0] for c in compared],
                "ratio_low": [c[1] for c in compared],
                "ratio_high": [c[2] for c in compared],
                "comparison": [c[3] for c in compared],
            }
        )
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    for column in ("observed_ratio", "ratio_low", "ratio_high"):
        table[column] = table[column].astype("float64")
    for column in ("level", "code", "as_of_date", "period_end", "observed_status", "comparison"):
        table[column] = table[column].astype(object)
    return table[list(SERIES_COLUMNS)]


def _add_months(day: dt.date, months: int) -> dt.date:
    """``day`` plus whole months, clamped to the month's end as the features SQL adds them."""
    return (pd.Timestamp(day) + pd.DateOffset(months=months)).date()
