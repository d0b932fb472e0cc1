"""Rolling-origin evaluation: the configured model trained before each origin and tested on it.

Synthetic features at the demo's as-of dates (label window 24 months, data to 2025-03-31):
the origins must train only on dates whose label window has ended, hold whole persons out,
give intervals that exclude 0.5 when there is signal and include it when the labels are
noise, and refuse origins that cannot be judged, naming the setting.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from governance.contracts.errors import ConfigError
from training.model.config import ModelConfig
from training.model.rolling import held_out_persons, origin_plan, rolling_origins

DATES = [
    "2016-03-31",
    "2017-03-31",
    "2018-03-31",
    "2019-03-31",
    "2021-03-31",
    "2023-03-31",
    "2025-03-31",
]
MANIFEST = {
    "label": {"months": 24},
    "data_end": "2025-03-31",
    "per_as_of_date": {d: {} for d in DATES},
}
INPUTS = ["signal", "noise"]
PERSONS = 1500


def _features(noise_at: str | None = None) -> pd.DataFrame:
    """Each person at each date; the label follows ``signal`` (pure noise at ``noise_at``)."""
    rng = np.random.default_rng(5)
    frames = []
    for date in DATES:
        signal = rng.normal(size=PERSONS)
        logit = -2.2 + (0.0 if date == noise_at else 1.3) * signal
        frames.append(
            pd.DataFrame(
                {
                    "person_key": [f"p{i}" for i in range(PERSONS)],
                    "as_of_date": pd.Timestamp(date),
                    "signal": signal,
                    "noise": rng.normal(size=PERSONS),
                    "label": (rng.random(PERSONS) < 1 / (1 + np.exp(-logit))).astype(int),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _config(origins: list[str], **evaluation: object) -> ModelConfig:
    return ModelConfig(
        lightgbm={"max_rounds": 60, "num_leaves": 7, "num_threads": 1},
        evaluation={"rolling_origins": origins, "resamples": 200, **evaluation},
    )


def test_each_origin_trains_only_on_dates_whose_labels_ended_by_it() -> None:
    origins = [dt.date(2019, 3, 31), dt.date(2021, 3, 31), dt.date(2023, 3, 31)]
    plan = dict(origin_plan(origins, DATES, 24, dt.date(2025, 3, 31)))
    assert [str(d) for d in plan[dt.date(2019, 3, 31)]] == ["2016-03-31", "2017-03-31"]
    assert [str(d) for d in plan[dt.date(2021, 3, 31)]] == DATES[:4]
    assert [str(d) for d in plan[dt.date(2023, 3, 31)]] == DATES[:5]
    for origin, train in plan.items():
        assert all((pd.Timestamp(d) + pd.DateOffset(months=24)).date() <= origin for d in train)


@pytest.mark.parametrize(
    ("origin", "message"),
    [
        ("2020-03-31", "is not an as-of date of the features table"),
        ("2025-03-31", "has no complete labels yet"),
        ("2017-03-31", "nothing to train on"),
    ],
)
def test_origins_that_cannot_be_judged_are_refused_by_name(origin: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"evaluation.rolling_origins.*{message}"):
        origin_plan([dt.date.fromisoformat(origin)], DATES, 24, dt.date(2025, 3, 31))


def test_repeated_origins_are_refused() -> None:
    with pytest.raises(ValidationError, match="rolling_origins must be distinct"):
        _config(["2021-03-31", "2021-03-31"])


def test_whole_persons_are_held_out() -> None:
    persons = pd.Series([f"p{i % 100}" for i in range(400)])
    held = held_out_persons(persons, 0.2, seed=3)
    chosen = set(persons[held])
    assert len(chosen) == 20
    assert set(persons[~held]).isdisjoint(chosen)
    assert (held_out_persons(persons, 0.2, seed=3) == held).all()  # seeded


def test_signal_gives_intervals_above_chance_and_noise_one_that_covers_it() -> None:
    features = _features(noise_at="2021-03-31")
    results = rolling_origins(
        _config(["2019-03-31", "2021-03-31", "2023-03-31"]), MANIFEST, features, INPUTS, seed=1
    )
    assert [r.origin for r in results] == ["2019-03-31", "2021-03-31", "2023-03-31"]
    by = {r.origin: r for r in results}
    for r in results:
        assert r.test_rows == PERSONS and r.held_out_rows + r.train_rows == PERSONS * len(
            r.train_dates
        )
        assert r.roc_auc_low is not None and r.roc_auc_high is not None and r.roc_auc is not None
        assert r.roc_auc_low <= r.roc_auc <= r.roc_auc_high
        assert r.observed_expected_low is not None and r.observed_expected_high is not None
        assert r.observed_expected_low < r.observed_expected_high
    for origin in ("2019-03-31", "2023-03-31"):
        assert by[origin].roc_auc_low > 0.7  # type: ignore[operator]
        # calibrated on held-out persons of the same process: O/E's interval holds 1
        assert by[origin].observed_expected_low < 1 < by[origin].observed_expected_high  # type: ignore[operator]
    noise = by["2021-03-31"]
    assert noise.roc_auc_low < 0.5 < noise.roc_auc_high  # type: ignore[operator]


def test_no_origins_no_work() -> None:
    assert rolling_origins(ModelConfig(), MANIFEST, _features(), INPUTS, seed=1) == []
