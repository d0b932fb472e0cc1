"""The release configuration (``configs/release.yaml``): where releases go and what they hold.

Defaults live here and only here; the YAML holds overrides. Disclosure control has its own
file (``configs/disclosure.yaml``, owned by :mod:`governance.disclosure`); this file names it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from training.spark_config import Engine

__all__ = [
    "DEFAULT_FACTORS",
    "IntervalConfig",
    "ReleaseConfig",
    "RiskFactor",
    "SeriesConfig",
    "ShapConfig",
    "ShrinkageConfig",
]

_NAME = r"^[a-z][a-z0-9_]*$"
_DUPLICATE_FACTORS = "factors: each name once; repeated: {names}"
_SHARED_INPUTS = "factors: model input {column!r} is given to both {first!r} and {second!r}"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RiskFactor(_Section):
    """An early-life risk factor whose prevalence and contribution each area publishes.

    A young person has the factor when any of the ``present_when`` feature columns is above
    zero. Its contribution is the sum of the SHAP values of its model inputs: ``inputs`` when
    given, otherwise every model input named ``<stem>_<window>`` (window ``12m``, ``36m``,
    ``ever``...) for the stem of each ``present_when`` column (its name less the window).
    """

    name: str = Field(pattern=_NAME, description="Column suffix in areas.parquet.")
    label: str = Field(min_length=1, description="What planners read.")
    present_when: tuple[str, ...] = Field(min_length=1)
    inputs: tuple[str, ...] | None = None


def _factor(name: str, label: str, *present: str) -> RiskFactor:
    return RiskFactor(name=name, label=label, present_when=present)


#: Binary or "ever" flags from the features table: early-life adversity, school, care, police.
DEFAULT_FACTORS: tuple[RiskFactor, ...] = (
    _factor("looked_after", "Ever looked after by the local authority", "looked_after_ever"),
    _factor("child_protection", "Ever on a child protection plan", "child_protection_ever"),
    _factor("child_in_need", "Ever on a child-in-need plan", "child_in_need_ever"),
    _factor(
        "domestic_abuse",
        "Domestic abuse at home (social care assessment or police incident)",
        "household_domestic_abuse_ever",
        "domestic_abuse_incidents_ever",
    ),
    _factor(
        "parental_adversity",
        "Parental mental ill-health, substance misuse or custody",
        "parental_mental_health_ever",
        "parental_substance_misuse_ever",
        "parent_in_custody_ever",
    ),
    _factor(
        "permanent_exclusion", "Ever permanently excluded from school", "permanent_exclusion_ever"
    ),
    _factor(
        "persistent_absence",
        "Persistently absent from school in the last year",
        "persistent_absence_12m",
    ),
    _factor("missing_episodes", "Ever missing from home or care", "missing_episodes_ever"),
    _factor("assault_injury", "Ever treated for an assault injury", "assault_injuries_ever"),
    _factor("crime_victim", "Ever recorded as the victim of a crime", "crime_victim_ever"),
    _factor(
        "offending",
        "Ever recorded as a suspect of an offence",
        "offences_ever",
        "violent_offences_ever",
    ),
)


class ShrinkageConfig(_Section):
    """Empirical-Bayes shrinkage of small areas' mean risk toward their parent's."""

    levels: tuple[Literal["lsoa", "ward"], ...] = Field(
        ("lsoa", "ward"), description="Levels shrunk (each toward its parent level); () for none."
    )
    method: Literal["normal_normal"] = "normal_normal"


class IntervalConfig(_Section):
    """The interval published around each area's mean risk."""

    method: Literal["normal_pooled"] = "normal_pooled"
    level: float = Field(0.95, gt=0.5, lt=1.0)


class ShapConfig(_Section):
    """How the SHAP contributions are computed; every choice gives the same exact values."""

    dedup: Literal["model_equivalent", "identical", "none"] = Field(
        "model_equivalent",
        description=(
            "Explain each distinct row once: rows on the same side of every threshold of the "
            "model ('model_equivalent'), identical rows ('identical'), or every row ('none')."
        ),
    )


class SeriesConfig(_Section):
    """The back-scored series (``series.parquet``): every as-of date, same protection."""

    enabled: bool = Field(
        True,
        description=(
            "Score every earlier as-of date of the features table with the champion and "
            "publish each date's figures and recorded counts, under the release's disclosure "
            "control and attacks (not made under method dp: it would spend budget per date)."
        ),
    )


class ReleaseConfig(_Section):
    """``configs/release.yaml``."""

    config_version: Literal[1] = 1
    environment: Literal["production", "demo"] = Field(
        "production", description="'demo': a release of generated data, so labelled."
    )
    releases_dir: Path = Field(Path("releases"), description="Releases and the CURRENT pointer.")
    model_name: str = Field("vru-risk", min_length=1, description="Registered model to release.")
    disclosure_config: Path = Field(
        Path("configs/disclosure.yaml"),
        description="Disclosure rules; when this default file is absent the rules' defaults apply.",
    )
    city_code: str = Field("city", pattern=r"^[A-Za-z0-9_-]+$")
    city_name: str = Field("Whole city", min_length=1)
    shrinkage: ShrinkageConfig = ShrinkageConfig()
    interval: IntervalConfig = IntervalConfig()
    top_drivers: int = Field(3, ge=1, le=20, description="Factors named per area.")
    factors: tuple[RiskFactor, ...] = Field(DEFAULT_FACTORS, min_length=1)
    shap: ShapConfig = ShapConfig()
    series: SeriesConfig = SeriesConfig(enabled=True)
    release_key: Path | None = Field(
        None,
        exclude=True,  # a key's location, not what the release means: not in the config hash
        description="The operator's release private key (`vru keys release-init`); the manifest "
        "is signed with it. None: the manifest is unsigned and no server will serve it.",
    )
    engine: Engine = Field(
        "duckdb",
        exclude=True,  # where it runs, not what it means: not in the config hash
        description=(
            "Where the cohort is scored: duckdb (in this process) or spark (distributed with "
            "the model, the pipeline's spark: section); both give the same figures."
        ),
    )

    @model_validator(mode="after")
    def _distinct_factors(self) -> ReleaseConfig:
        names = [f.name for f in self.factors]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(_DUPLICATE_FACTORS.format(names=repeated))
        return self

    def factor_inputs(self, model_inputs: list[str]) -> dict[str, list[str]]:
        """Each factor's model inputs (see :class:`RiskFactor`), in the model's order.

        Raises
        ------
        ValueError
            If one input would count toward two factors (their contributions must add up).
        """
        owner: dict[str, str] = {}
        out: dict[str, list[str]] = {}
        for factor in self.factors:
            if factor.inputs is not None:
                wanted = set(factor.inputs)
                chosen = [c for c in model_inputs if c in wanted]
            else:
                stems = [_stem(c) for c in factor.present_when]
                pattern = re.compile("^(" + "|".join(map(re.escape, stems)) + r")_(\d+m|ever)$")
                chosen = [c for c in model_inputs if pattern.match(c)]
            for column in chosen:
                if column in owner:
                    raise ValueError(
                        _SHARED_INPUTS.format(
                            column=column, first=owner[column], second=factor.name
                        )
                    )
                owner[column] = factor.name
            out[factor.name] = chosen
        return out


def _stem(column: str) -> str:
    """``looked_after_ever`` -> ``looked_after``; ``persistent_absence_12m`` -> ..."""
    return re.sub(r"_(\d+m|ever)$", "", column)
