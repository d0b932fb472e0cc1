"""The training matrix: which rows (temporal splits) and which columns (the feature policy)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pandas as pd

from governance.contracts.errors import ConfigError
from training.model.config import ModelConfig

__all__ = ["Matrix", "model_inputs", "split_rows"]

_PROHIBITED = (
    "{where}: feature '{name}' is prohibited by the feature policy (features.policy); "
    "remove it from the model inputs, or have the board change the policy"
)
_MISSING = "{where}: feature column(s) {names} are not in the features table; it has {have}"
_NOT_BUILT = "splits.{split}: as-of date {date} is not in the features table (built for {have}); add it to features.as_of_dates"
_UNLABELLED = (
    "splits.{split}: as-of date {date} has no complete labels yet: its {months}-month label window "
    "ends after the data ({end})"
)
_OVERLAP = (
    "splits.{split}: the label window of {date} ({months} months) reaches {later_split} ({later}); "
    "training would see outcomes from the period it is judged on"
)


@dataclass(frozen=True)
class Matrix:
    """Features and labels of one split."""

    x: pd.DataFrame
    y: Any
    frame: pd.DataFrame  # the split's rows with ids, sensitive attributes and label


def model_inputs(config: ModelConfig, manifest: dict[str, Any], columns: list[str]) -> list[str]:
    """The model's input columns: allowed features (or ``include``), less ``exclude``."""
    definitions = {f["name"]: f for f in manifest["features"]}
    allowed = [n for n, f in definitions.items() if f["policy"] != "prohibited"]
    if config.include is not None:
        for name in config.include:
            if definitions.get(name, {}).get("policy") == "prohibited":
                raise ConfigError(_PROHIBITED.format(where="include", name=name))
        chosen = list(config.include)
    else:
        chosen = allowed
    chosen = [n for n in chosen if n not in set(config.exclude)]
    missing = [n for n in chosen if n not in columns]
    if missing:
        raise ConfigError(
            _MISSING.format(
                where="include" if config.include else "features manifest",
                names=missing,
                have=len(columns),
            )
        )
    for name in chosen:
        if definitions.get(name, {}).get("policy") == "prohibited":
            raise ConfigError(_PROHIBITED.format(where="model inputs", name=name))
    return chosen


def split_rows(
    config: ModelConfig, manifest: dict[str, Any], features: pd.DataFrame
) -> dict[str, pd.DataFrame]:
    """Rows of each split, after checking every rule of temporal validation."""
    months = int(manifest["label"]["months"])
    data_end = dt.date.fromisoformat(manifest["data_end"])
    built = sorted(manifest["per_as_of_date"])
    splits = config.splits
    named: list[tuple[str, dt.date]] = [
        *(("train", d) for d in splits.train),
        ("validation", splits.validation),
        ("test", splits.test),
    ]
    for split, date in named:
        if str(date) not in manifest["per_as_of_date"]:
            raise ConfigError(_NOT_BUILT.format(split=split, date=date, have=built))
        if _add_months(date, months) > data_end:
            raise ConfigError(
                _UNLABELLED.format(split=split, date=date, months=months, end=data_end)
            )
    for date in splits.train:
        if _add_months(date, months) > splits.validation:
            raise ConfigError(
                _OVERLAP.format(
                    split="train",
                    date=date,
                    months=months,
                    later_split="validation",
                    later=splits.validation,
                )
            )
    if _add_months(splits.validation, months) > splits.test:
        raise ConfigError(
            _OVERLAP.format(
                split="validation",
                date=splits.validation,
                months=months,
                later_split="test",
                later=splits.test,
            )
        )
    as_of = pd.to_datetime(features["as_of_date"]).dt.date
    return {
        "train": features[as_of.isin(splits.train)].reset_index(drop=True),
        "validation": features[as_of == splits.validation].reset_index(drop=True),
        "test": features[as_of == splits.test].reset_index(drop=True),
    }


def _add_months(date: dt.date, months: int) -> dt.date:
    return (pd.Timestamp(date) + pd.DateOffset(months=months)).date()
