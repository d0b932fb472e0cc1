"""Linkage settings (the ``link:`` section of ``configs/pipeline.yaml``).

``sources`` maps each extract's own columns to the standard identifier fields, so that the
generated extracts, real extracts or any tables of people link the same way. ``comparisons``
declares extra identifiers (an address, a town, a local reference) compared beside the
standard ones; each source maps its own column to them under ``columns``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from training.spark_config import Engine

__all__ = [
    "PROFILE_COLUMNS",
    "RESERVED_NAMES",
    "ComparisonMethod",
    "ExtraComparison",
    "LinkConfig",
    "PostcodeFormat",
    "SourceMapping",
    "default_sources",
]

Sex = Literal["M", "F"]
ComparisonMethod = Literal["exact", "text", "identifier", "number"]
PostcodeFormat = Literal["uk", "any"]

# the standard fields of a profile (one row per agency person), as Splink compares them
PROFILE_COLUMNS: tuple[str, ...] = (
    "unique_id",
    "source",
    "first_name",
    "surname",
    "full_name",
    "dob",
    "dob_text",
    "birth_year",
    "sex",
    "postcode",
    "postcode_district",
    "nhs_number",
    "first_initial",
    "surname_initial",
)
# names no extra comparison or group may take: the profile's, and those linkage adds
RESERVED_NAMES: frozenset[str] = frozenset(PROFILE_COLUMNS) | {
    "record_id",
    "truth_id",
    "local_id",
    "n_records",
    "cluster_id",
    "match_probability",
    "match_weight",
}


def _plain(name: str) -> bool:
    return name.isidentifier() and name.isascii() and name == name.lower()


class ExtraComparison(BaseModel):
    """How one extra identifier is compared (``text``, or ``{method: number, tolerance: 2}``).

    * ``exact``: equal after trimming and upper-casing, or not;
    * ``text``: exact, then Jaro-Winkler ≥ 0.92 and ≥ 0.80, term-frequency adjusted (a common
      street counts for less than a rare one);
    * ``identifier``: exact, or one character apart (a typed reference number);
    * ``number``: equal, or within ``tolerance`` (a house number, a height).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: ComparisonMethod
    tolerance: float | None = Field(
        None, gt=0, description="number only: values this close count as close (default 1)."
    )

    @model_validator(mode="after")
    def _tolerance_is_for_numbers(self) -> ExtraComparison:
        if self.tolerance is not None and self.method != "number":
            raise ValueError(f"tolerance applies to method 'number' only, not {self.method!r}")
        return self

    @property
    def within(self) -> float:
        """The tolerance of a ``number`` comparison."""
        return 1.0 if self.tolerance is None else self.tolerance


class SourceMapping(BaseModel):
    """Where one extract is and which of its columns hold each identifier."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path = Field(description="Parquet or CSV; relative paths are inside the data directory.")
    record_id: str = "record_id"
    first_name: str
    surname: str
    dob: str
    dob_format: str | None = Field(
        None, description="strptime format when the date of birth is text, e.g. '%d/%m/%Y'."
    )
    sex: str | None = None
    sex_codes: dict[str, Sex] = Field(default_factory=lambda: {"M": "M", "F": "F"})
    postcode: str | None = None
    nhs_number: str | None = None
    local_id: str | None = Field(
        None, description="The agency's own person id: records sharing one are one person."
    )
    truth_column: str | None = Field(
        None, description="A true person id, where known: turns on the quality figures."
    )
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="Extra comparison name (declared in link.comparisons) → the extract's column.",
    )
    groups: dict[str, str] = Field(
        default_factory=dict,
        description="Group name → the extract's column (e.g. ethnicity: ethnic_group): "
        "with a truth column, the quality figures are given per group too.",
    )

    def mapped_columns(self) -> dict[str, str]:
        """Standard field → the extract's column, for every field that is mapped."""
        fields = ("record_id", "first_name", "surname", "dob", "sex", "postcode", "nhs_number")
        out = {f: getattr(self, f) for f in fields if getattr(self, f) is not None}
        if self.local_id is not None:
            out["local_id"] = self.local_id
        if self.truth_column is not None:
            out["truth_id"] = self.truth_column
        out.update({f"extra:{name}": column for name, column in self.columns.items()})
        out.update({f"group:{name}": column for name, column in self.groups.items()})
        return out


def default_sources() -> dict[str, SourceMapping]:
    """The mapping of the generated extracts (``vru generate``)."""
    return {
        "health": SourceMapping(
            path=Path("extracts/health.parquet"),
            first_name="forename",
            surname="surname",
            dob="date_of_birth",
            sex="sex",
            postcode="postcode",
            nhs_number="nhs_number",
            local_id="hospital_number",
        ),
        "education": SourceMapping(
            path=Path("extracts/education.parquet"),
            first_name="legal_forename",
            surname="legal_surname",
            dob="date_of_birth",
            sex="gender",
            postcode="home_postcode",
            local_id="upn",
        ),
        "social_care": SourceMapping(
            path=Path("extracts/social_care.parquet"),
            first_name="first_name",
            surname="last_name",
            dob="dob",
            sex="gender",
            sex_codes={"1": "M", "2": "F"},
            postcode="postcode",
            nhs_number="nhs_number",
            local_id="la_child_id",
        ),
        "police": SourceMapping(
            path=Path("extracts/police.parquet"),
            first_name="forename",
            surname="surname",
            dob="date_of_birth",
            dob_format="%d/%m/%Y",
            sex="sex",
            postcode="address_postcode",
            local_id="nominal_id",
        ),
    }


class LinkConfig(BaseModel):
    """``vru link``: which extracts, how to train the model, where to cut."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sources: dict[str, SourceMapping] = Field(default_factory=default_sources)
    threshold: float = Field(
        0.9,
        gt=0,
        lt=1,
        description="Match probability at or above which two records are one person.",
    )
    keep_pairs_above: float = Field(
        0.01, gt=0, lt=1, description="Scored pairs kept for the report's precision-recall curve."
    )
    u_max_pairs: float = Field(5e6, ge=1e4, description="Random pairs sampled to estimate u.")
    u_min_count_per_level: int | None = Field(
        100,
        ge=1,
        description="u estimation stops once every level has seen this many pairs; empty: "
        "it counts every sampled pair (slower, and the same on every engine).",
    )
    em_max_pairs: float = Field(2e6, ge=1e4, description="Pairs per EM training session, at most.")
    em_min_probability: float = Field(
        1e-10,
        gt=1e-300,
        lt=1e-3,
        description="EM's m and u estimates are held at least this: a level never seen among "
        "likely matches weighs heavily against a match instead of ending the run.",
    )
    recall_of_deterministic_rules: float = Field(
        0.7,
        gt=0,
        le=1,
        description="Assumed recall of exact rules when estimating the match prior.",
    )
    model: Path | None = Field(
        None,
        description="A trained model (a previous run's linked/model.json): score and cluster "
        "with it on any engine instead of training; relative paths are inside the data "
        "directory.",
    )
    postcode_format: PostcodeFormat = Field(
        "uk",
        description="uk: postcodes checked as UK postcodes and compared at unit, sector, "
        "district and area; any: any country's, compared as text (exact, one character apart).",
    )
    max_invalid_share: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Above this share of unparseable values in a column (dates of birth, "
        "postcodes, numbers) the run refuses: the mapping or format is wrong. Below it, each "
        "bad value becomes missing and is counted.",
    )
    comparisons: dict[str, ExtraComparison] = Field(
        default_factory=dict,
        description="Extra identifiers compared beside the standard ones: name → method "
        "(exact, text, identifier, number).",
    )
    duckdb_memory_limit: str | None = Field(
        None,
        description="e.g. '10GB': DuckDB holds at most this and spills the rest to disk (in the "
        "data directory's staging area); empty: half the machine's memory.",
    )
    engine: Engine = Field(
        "duckdb",
        exclude=True,  # where it runs, not what it means: not in the config hash
        description="Where Splink runs: duckdb (one machine) or spark (the spark: section).",
    )

    @field_validator("comparisons", mode="before")
    @classmethod
    def _method_alone(cls, value: object) -> object:
        """``address: text`` is shorthand for ``address: {method: text}``."""
        if isinstance(value, dict):
            return {k: {"method": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _names_are_plain(self) -> LinkConfig:
        if not self.sources:
            raise ValueError("sources must name at least one extract")
        for name in self.sources:
            if not name.replace("_", "").isalnum():
                raise ValueError(f"source name {name!r} must be letters, digits and underscores")
        for name in self.comparisons:
            if not _plain(name) or name in RESERVED_NAMES:
                raise ValueError(
                    f"comparisons: {name!r} must be lower-case letters, digits and underscores, "
                    f"and not a standard field ({', '.join(sorted(RESERVED_NAMES))})"
                )
        for source, mapping in self.sources.items():
            unknown = sorted(set(mapping.columns) - set(self.comparisons))
            if unknown:
                declared = ", ".join(sorted(self.comparisons)) or "none"
                raise ValueError(
                    f"sources.{source}.columns: {unknown} not declared in link.comparisons "
                    f"(declared: {declared})"
                )
            for group in mapping.groups:
                if not _plain(group) or group in RESERVED_NAMES or group in self.comparisons:
                    raise ValueError(
                        f"sources.{source}.groups: {group!r} must be lower-case letters, digits "
                        "and underscores, and not a standard field or a comparison"
                    )
        if self.keep_pairs_above > self.threshold:
            raise ValueError("keep_pairs_above must not exceed threshold")
        return self
