"""The model that is served: refit on every labelled as-of date before release.

The evaluated model is trained on the early as-of dates and tested on a later one, which is
what makes its audit honest; but it has not learned from the two most recent labelled
periods, the ones nearest the cohort a release scores. So, once evaluated, the same
configuration (LightGBM parameters and calibration) is fitted again on every as-of date
whose outcome period has ended by the end of the data, and that refit is what is registered
to be served.

It is judged on young people it never saw: :func:`governance.audit.holdout.person_roles`
keeps a seeded share of the persons out of it entirely (the audit persons). Another share
chooses how many rounds it boosts (early stopping); then every other person learns: the
booster with those rounds, and the calibrator on cross-fitted scores
(:func:`_cross_fitted_calibrator`), so that it learns the outcome rate of all of them rather
than of one small share. :class:`RefitRecord` says which
dates, shares and seed; training logs it inside the model's own files, so the board's
signature covers it and the audit rebuilds exactly the same held-out persons from it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from governance.audit.holdout import AUDIT, FIT, STOPPING, person_roles, persons_digest
from governance.contracts.errors import ConfigError
from training.model.config import ModelConfig
from training.model.estimators import (
    CalibratedModel,
    Calibrator,
    fit_lightgbm,
    fit_lightgbm_rounds,
)

__all__ = ["RefitRecord", "labelled_dates", "person_folds", "refit_model"]

_NO_PERSON = "model.refit needs a 'person_key' column in the features table to hold persons out"
_NO_DATES = (
    "model.refit: no as-of date of the features table (built for {have}) has its {months}-month "
    "outcome period ended by the end of the data ({end}); there is nothing to refit on"
)
_ONE_CLASS = (
    "model.refit: the {role} persons' rows have {outcomes} outcomes among {rows} rows; both "
    "outcomes are needed (raise model.refit.{field}, or use more persons)"
)


@dataclass(frozen=True)
class RefitRecord:
    """How the served model was refit: enough for the audit to rebuild its held-out persons.

    Aggregates only: dates, shares, the seed, and row, person and outcome counts.
    """

    as_of_dates: list[str]
    audit_fraction: float
    stopping_fraction: float
    seed: int
    rows: dict[str, int]
    persons: dict[str, int]
    outcomes: dict[str, int]
    best_iteration: int
    #: :func:`governance.audit.holdout.persons_digest` of the persons held out to audit it
    audit_persons_sha256: str
    #: folds of the cross-fitted calibrator
    folds: int = 3

    def to_json(self) -> dict[str, Any]:
        """The record as logged (``refit.json`` beside the model's pickles)."""
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> RefitRecord:
        """The record as :meth:`to_json` wrote it."""
        return cls(**raw)


def labelled_dates(built: Sequence[str], label_months: int, data_end: dt.date) -> list[dt.date]:
    """The built as-of dates whose outcome period has ended by ``data_end``, in order."""
    dates = sorted(dt.date.fromisoformat(str(d)) for d in built)
    return [d for d in dates if _add_months(d, label_months) <= data_end]


def refit_model(
    config: ModelConfig,
    manifest: dict[str, Any],
    features: pd.DataFrame,
    inputs: list[str],
    seed: int,
) -> tuple[CalibratedModel, RefitRecord]:
    """Fit the configured model on every labelled as-of date, holding persons out.

    Raises
    ------
    ConfigError
        Without a ``person_key`` column, without a labelled date, or when a held-out share
        has only one outcome class (named, with the setting to raise).
    """
    settings = config.refit
    if "person_key" not in features:
        raise ConfigError(_NO_PERSON)
    months = int(manifest["label"]["months"])
    end = dt.date.fromisoformat(manifest["data_end"])
    dates = labelled_dates(list(manifest["per_as_of_date"]), months, end)
    if not dates:
        raise ConfigError(
            _NO_DATES.format(have=list(manifest["per_as_of_date"]), months=months, end=end)
        )
    as_of = pd.to_datetime(features["as_of_date"]).dt.date
    rows = features[as_of.isin(dates).to_numpy()].reset_index(drop=True)
    roles = person_roles(
        rows["person_key"],
        audit_fraction=settings.audit_fraction,
        stopping_fraction=settings.stopping_fraction,
        seed=seed,
    )
    x, y = rows[inputs].astype(float), rows["label"].to_numpy(dtype=int)
    fit, calibrate = roles == FIT, roles == STOPPING
    for role, mask, field in (
        ("fitting", fit, "audit_fraction"),
        ("stopping", calibrate, "stopping_fraction"),
    ):
        if not 0 < y[mask].sum() < mask.sum():
            raise ConfigError(
                _ONE_CLASS.format(
                    role=role, outcomes=int(y[mask].sum()), rows=int(mask.sum()), field=field
                )
            )
    # how many rounds: stopped early on the stopping persons
    probe = fit_lightgbm(config.lightgbm, seed, x[fit], y[fit], x[calibrate], y[calibrate])
    rounds = max(1, int(probe.best_iteration or probe.current_iteration()))
    learn = roles != AUDIT
    x_learn, y_learn = x[learn].reset_index(drop=True), y[learn]
    calibrator = _cross_fitted_calibrator(
        config, x_learn, y_learn, rows["person_key"][learn], rounds, seed
    )
    booster = fit_lightgbm_rounds(config.lightgbm, seed, x_learn, y_learn, rounds)
    model = CalibratedModel(booster, calibrator, inputs)
    names = {FIT: "fit", STOPPING: "stopping", AUDIT: "audit"}
    persons = rows["person_key"].astype(str)
    record = RefitRecord(
        as_of_dates=[str(d) for d in dates],
        audit_fraction=settings.audit_fraction,
        stopping_fraction=settings.stopping_fraction,
        seed=seed,
        rows={n: int((roles == r).sum()) for r, n in names.items()},
        persons={n: int(persons[roles == r].nunique()) for r, n in names.items()},
        outcomes={n: int(y[roles == r].sum()) for r, n in names.items()},
        best_iteration=rounds,
        folds=settings.folds,
        audit_persons_sha256=persons_digest(persons[roles == AUDIT]),
    )
    return model, record


def _cross_fitted_calibrator(
    config: ModelConfig,
    x: pd.DataFrame,
    y: np.ndarray,
    persons: pd.Series,
    rounds: int,
    seed: int,
) -> Calibrator:
    """The calibrator, fitted on out-of-fold scores of every person the refit learns from.

    A calibrator fitted on one held-out share alone learns that share's outcome rate, which
    at a city's size can be a fifth off the rest's by chance. Cross-fitting (``refit.folds``
    folds of whole persons; each fold scored by a model of the same rounds fitted on the
    others) gives it every learning person's outcome instead.
    """
    folds = person_folds(persons, config.refit.folds, seed)
    scores = np.empty(len(y), dtype=float)
    for fold in range(config.refit.folds):
        out = folds == fold
        booster = fit_lightgbm_rounds(config.lightgbm, seed, x[~out], y[~out], rounds)
        scores[out] = CalibratedModel(booster, Calibrator(config.calibration), list(x.columns)).raw(
            x[out]
        )
    return Calibrator(config.calibration).fit(scores, y)


def person_folds(persons: pd.Series, folds: int, seed: int) -> np.ndarray:
    """Each row's fold (0 to ``folds`` - 1), whole persons together, seeded."""
    keys = persons.astype(str)
    distinct = np.sort(keys.unique())
    fold = np.random.default_rng([seed, folds]).permutation(len(distinct)) % folds
    return fold[np.searchsorted(distinct, keys.to_numpy())]


def _add_months(date: dt.date, months: int) -> dt.date:
    return (pd.Timestamp(date) + pd.DateOffset(months=months)).date()
