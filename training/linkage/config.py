"""Linkage settings (the ``link:`` section of ``configs/pipeline.yaml``).

``sources`` maps each extract's own columns to the standard identifier fields, so that the
generated extracts, real extracts or any tables of people link the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from training.spark_config import Engine

__all__ = ["LinkConfig", "SourceMapping", "default_sources"]

Sex = Literal["M", "F"]


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

    def mapped_columns(self) -> dict[str, str]:
        """Standard field → the extract's column, for every field that is mapped."""
        fields = ("record_id", "first_name", "surname", "dob", "sex", "postcode", "nhs_number")
        out = {f: getattr(self, f) for f in fields if getattr(self, f) is not None}
        if self.local_id is not None:
            out["local_id"] = self.local_id
        if self.truth_column is not None:
            out["truth_id"] = self.truth_column
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
    recall_of_deterministic_rules: float = Field(
        0.7,
        gt=0,
        le=1,
        description="Assumed recall of exact rules when estimating the match prior.",
    )
    duckdb_memory_limit: str | None = Field(
        None, description="e.g. '10GB'; DuckDB's default if empty."
    )
    engine: Engine = Field(
        "duckdb",
        exclude=True,  # where it runs, not what it means: not in the config hash
        description="Where Splink runs: duckdb (one machine) or spark (the spark: section).",
    )

    @model_validator(mode="after")
    def _names_are_plain(self) -> LinkConfig:
        if not self.sources:
            raise ValueError("sources must name at least one extract")
        for name in self.sources:
            if not name.replace("_", "").isalnum():
                raise ValueError(f"source name {name!r} must be letters, digits and underscores")
        if self.keep_pairs_above > self.threshold:
            raise ValueError("keep_pairs_above must not exceed threshold")
        return self
