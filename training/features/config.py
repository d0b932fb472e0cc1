"""Feature settings (the ``features:`` section of ``configs/pipeline.yaml``)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from training.spark_config import Engine

__all__ = ["PROTECTED", "ExpiresAfter", "FeaturesConfig", "Outcome", "Policy"]

#: Protected characteristics the extracts carry: kept on every row for the audits, never a
#: model input unless ``allow_protected`` names them.
PROTECTED: tuple[str, ...] = ("sex", "ethnicity")
_PROTECTED_ALLOWED = (
    "features.policy.{name}: '{name}' is a protected attribute; allowing it as a model input "
    "needs features.allow_protected: [{name}] as well (the run and the model card show it)"
)
_NOT_PROTECTED = "features.allow_protected: {names} not protected attributes; they are {protected}"

Outcome = Literal["victim", "perpetrator", "either"]


class ExpiresAfter(BaseModel):
    """An "ever" feature stops counting events older than this many years."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    expires_after: int = Field(ge=1, le=25)


Policy = Literal["allowed", "prohibited"] | ExpiresAfter


class FeaturesConfig(BaseModel):
    """Cohorts, windows, the label and the feature policy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    as_of_dates: list[dt.date] = Field(
        default_factory=lambda: [
            dt.date(2016, 3, 31),
            dt.date(2017, 3, 31),
            dt.date(2018, 3, 31),
            dt.date(2019, 3, 31),
            dt.date(2021, 3, 31),
            dt.date(2023, 3, 31),
            dt.date(2025, 3, 31),
        ],
        description="Dates at which cohorts are drawn; the latest is usually scored, not trained on.",
    )
    min_age: int = Field(10, ge=0, le=25)
    max_age: int = Field(17, ge=0, le=25)
    windows_months: list[int] = Field(
        default_factory=lambda: [12, 36], description="Look-back windows; 'ever' is always added."
    )
    label_months: int = Field(
        24, ge=1, le=120, description="Window after the as-of date for the label."
    )
    outcome: Outcome = "either"
    area_rate_months: int = Field(36, ge=1, description="Look-back for area violence rates.")
    data_end: dt.date | None = Field(
        None,
        description="Last day the extracts cover; default: the generator's manifest period end.",
    )
    policy: dict[str, Policy] = Field(
        default_factory=lambda: dict.fromkeys(PROTECTED, "prohibited"),
        description="Per feature: allowed (default), prohibited, or {expires_after: years}. "
        "Merged over the protected defaults: sex and ethnicity stay prohibited unless "
        "named here and in allow_protected.",
    )
    allow_protected: tuple[str, ...] = Field(
        (),
        description="Protected attributes the policy may allow as model inputs: an explicit "
        "choice, logged with the run and shown in the model card.",
    )
    engine: Engine = Field(
        "duckdb",
        exclude=True,  # where it runs, not what it means: not in the config hash
        description="Where the feature SQL runs: duckdb (one machine) or spark (the spark: section).",
    )

    @field_validator("as_of_dates")
    @classmethod
    def _sorted_unique(cls, dates: list[dt.date]) -> list[dt.date]:
        if not dates:
            raise ValueError("give at least one as-of date")
        if len(set(dates)) != len(dates):
            raise ValueError("as-of dates must be distinct")
        return sorted(dates)

    @model_validator(mode="before")
    @classmethod
    def _over_protected_defaults(cls, data: object) -> object:
        """A given policy adds to the protected defaults; it never drops them by omission."""
        if isinstance(data, dict) and isinstance(data.get("policy"), dict):
            data = {**data, "policy": dict.fromkeys(PROTECTED, "prohibited") | data["policy"]}
        return data

    @model_validator(mode="after")
    def _protected_only_by_name(self) -> FeaturesConfig:
        stray = [a for a in self.allow_protected if a not in PROTECTED]
        if stray:
            raise ValueError(_NOT_PROTECTED.format(names=stray, protected=list(PROTECTED)))
        for name in PROTECTED:
            if self.policy.get(name) != "prohibited" and name not in self.allow_protected:
                raise ValueError(_PROTECTED_ALLOWED.format(name=name))
        return self

    @model_validator(mode="after")
    def _ages(self) -> FeaturesConfig:
        if self.min_age > self.max_age:
            raise ValueError(f"min_age {self.min_age} is above max_age {self.max_age}")
        if any(w <= 0 for w in self.windows_months):
            raise ValueError("windows_months must be positive")
        return self

    def expiry_years(self, feature: str) -> int | None:
        """Years after which an "ever" feature forgets an event, if its policy says so."""
        policy = self.policy.get(feature, "allowed")
        return policy.expires_after if isinstance(policy, ExpiresAfter) else None
