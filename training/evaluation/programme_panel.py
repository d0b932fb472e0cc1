"""The area x period panel a programme is evaluated on: counts only, never a person.

Each row is one ward in one period (12 months from the extracts' start date): the recorded
outcomes placed in the ward (A&E assault and sharp-object injuries, and serious-violence
offences with a charge or caution, by the postcode on the record), the young people aged 10-24
living there (the population at risk), and when the programme started in the ward. Where the
treatment came from is the programme's own plan (a planner knows where and when it ran); the
effect it had is what the estimators must find.

The population at risk is counted from the generator's people by their last address: in real
use it is the ONS mid-year estimate of the ward. Nothing individual leaves this module:
:func:`check_aggregate` refuses a panel holding any column but :data:`PANEL_COLUMNS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from governance.contracts.errors import VruError
from governance.contracts.layout import DataLayout
from training.evaluation.truth import read_truth

__all__ = [
    "NEVER",
    "PANEL_COLUMNS",
    "PanelError",
    "ProgrammePanel",
    "build_panel",
    "check_aggregate",
    "panel_from_counts",
]

DAYS_PER_PERIOD = 365.25
NEVER = -1  # first_treated of a ward the programme never reached
PANEL_COLUMNS: tuple[str, ...] = (
    "ward_code",
    "period",
    "period_start",
    "recorded",
    "population",
    "rate_per_1000",
    "first_treated",
    "treated",
)
_VIOLENT_DIAGNOSES = ("assault", "sharp_object_injury")
_SERIOUS_OFFENCES = ("violence_against_person", "possession_of_weapons", "robbery")
_PROVEN = ("charge", "caution")


class PanelError(VruError, ValueError):
    """A panel could not be built, or holds what a panel may not hold."""


@dataclass(frozen=True)
class ProgrammePanel:
    """The panel and what it was built for."""

    frame: pd.DataFrame  # PANEL_COLUMNS, one row per ward and period
    programme: str
    periods: int


def check_aggregate(frame: pd.DataFrame) -> None:
    """Refuse a panel with any column other than the aggregate ones."""
    extra = sorted(set(frame.columns) - set(PANEL_COLUMNS))
    if extra:
        raise PanelError(f"panel: column(s) {extra} are not aggregate; allowed {PANEL_COLUMNS}")


def panel_from_counts(
    recorded: pd.DataFrame, population: pd.DataFrame, ward_start_period: pd.Series, periods: int
) -> pd.DataFrame:
    """Assemble the panel from ward x period counts and each treated ward's first period.

    ``recorded`` and ``population`` have ward_code, period and a count (``recorded`` /
    ``population``); wards missing from either have zero there.
    """
    wards = sorted(set(population["ward_code"]) | set(recorded["ward_code"]))
    grid = pd.MultiIndex.from_product([wards, range(periods)], names=["ward_code", "period"])
    rec = recorded.groupby(["ward_code", "period"])["recorded"].sum().reindex(grid, fill_value=0)
    pop = population.groupby(["ward_code", "period"])["population"].sum()
    frame = pd.DataFrame({"recorded": rec, "population": pop.reindex(grid, fill_value=0)})
    frame = frame.reset_index()
    first = frame["ward_code"].map(ward_start_period).fillna(NEVER).astype(int)
    frame["first_treated"] = first
    frame["treated"] = (first != NEVER) & (frame["period"] >= first)
    frame["rate_per_1000"] = np.where(
        frame["population"] > 0, 1000.0 * frame["recorded"] / frame["population"].clip(lower=1), 0.0
    )
    frame["period_start"] = frame["period"]  # replaced by a date in build_panel
    return frame[list(PANEL_COLUMNS)]


def _period(days: np.ndarray, start: np.datetime64) -> np.ndarray:
    """Whole years from ``start`` to each day (calendar years: a period starts on its anniversary)."""
    when = pd.DatetimeIndex(np.asarray(days, dtype="datetime64[D]"))
    origin = pd.Timestamp(start)
    years = when.year - origin.year
    before_anniversary = (when.month < origin.month) | (
        (when.month == origin.month) & (when.day < origin.day)
    )
    return np.asarray(years - before_anniversary, dtype=np.int64)


def _period_start(start: np.datetime64, period: np.ndarray) -> np.ndarray:
    origin = pd.Timestamp(start)
    return np.asarray([origin + pd.DateOffset(years=int(p)) for p in period], dtype="datetime64[s]")


def build_panel(
    data_dir: Path,
    ward_start: pd.Series,
    start_date: np.datetime64,
    end_date: np.datetime64,
    programme: str,
) -> ProgrammePanel:
    """The ward x period panel of a generated city for one programme.

    ``ward_start`` is the programme's start date by ward code (from its plan).
    """
    data_dir = Path(data_dir)
    layout = DataLayout(data_dir)
    start = pd.Timestamp(start_date).to_datetime64().astype("datetime64[D]")
    # whole periods only: the last one ends by end_date
    periods = int(
        _period(
            np.array([pd.Timestamp(end_date) + pd.Timedelta(days=1)], dtype="datetime64[D]"), start
        )[0]
    )
    if periods < 3:
        raise PanelError(f"panel: the data cover {periods} whole year(s); at least 3 are needed")
    geography = pd.read_parquet(layout.geography, columns=["lsoa_code", "ward_code"])
    ward_of_lsoa = geography.set_index("lsoa_code")["ward_code"]
    postcodes = pd.read_parquet(
        Path(data_dir) / "postcodes.parquet", columns=["postcode", "lsoa_code"]
    )
    ward_of_postcode = postcodes.set_index("postcode")["lsoa_code"].map(ward_of_lsoa)

    events = []
    health = pd.read_parquet(
        layout.extract("health"), columns=["postcode", "arrival_date", "diagnosis_category"]
    )
    health = health[health["diagnosis_category"].isin(_VIOLENT_DIAGNOSES)]
    events.append(pd.DataFrame({"postcode": health["postcode"], "date": health["arrival_date"]}))
    police = pd.read_parquet(
        layout.extract("police"),
        columns=["address_postcode", "incident_date", "offence_group", "role", "outcome"],
    )
    police = police[
        police["offence_group"].isin(_SERIOUS_OFFENCES)
        & (police["role"] == "suspect")
        & police["outcome"].isin(_PROVEN)
    ]
    events.append(
        pd.DataFrame({"postcode": police["address_postcode"], "date": police["incident_date"]})
    )
    ev = pd.concat(events, ignore_index=True).dropna()
    ev = pd.DataFrame(
        {
            "ward_code": ev["postcode"].map(ward_of_postcode).to_numpy(),
            "period": _period(ev["date"].to_numpy("datetime64[D]"), start),
        }
    ).dropna()
    ev = ev[(ev["period"] >= 0) & (ev["period"] < periods)]
    recorded = ev.groupby(["ward_code", "period"]).size().rename("recorded").reset_index()

    people = read_truth(data_dir, "persons", ["date_of_birth", "lsoa_code_at_end"])
    ward = people["lsoa_code_at_end"].map(ward_of_lsoa).to_numpy()
    dob = people["date_of_birth"].to_numpy("datetime64[D]")
    rows = []
    for p in range(periods):
        middle = _period_start(start, np.array([p]))[0].astype("datetime64[D]") + 182
        age = (middle - dob).astype(np.int64) / DAYS_PER_PERIOD
        at_risk = (age >= 10) & (age < 25)
        counts = pd.Series(ward[at_risk]).value_counts()
        rows.append(
            pd.DataFrame({"ward_code": counts.index, "period": p, "population": counts.values})
        )
    population = pd.concat(rows, ignore_index=True)

    start_days = ward_start.to_numpy(np.int64).astype("datetime64[D]")
    start_period = pd.Series(_period(start_days, start), index=ward_start.index)
    frame = panel_from_counts(recorded, population, start_period.clip(lower=0), periods)
    frame["period_start"] = _period_start(start, frame["period"].to_numpy())
    check_aggregate(frame)
    return ProgrammePanel(frame=frame, programme=programme, periods=periods)
