"""``vru evaluate --programme NAME``: the answer, the report, the run; errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from vru.cli import app

runner = CliRunner()
PROGRAMME = {
    "name": "youth-work",
    "rule": "top_wards_by_deprivation",
    "top_share": 0.3,
    "reach": 1.0,
    "effect_on_outcome": -0.6,
    "start_dates": ["2017-04-01", "2019-04-01"],
}


def _config_only(root: Path) -> Path:
    config = root / "pipeline.yaml"
    config.write_text(yaml.safe_dump({"generate": {"programmes": [PROGRAMME]}}))
    return config


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 40,000-person city with one programme: its pipeline config and data directory."""
    root = tmp_path_factory.mktemp("evaluate")
    config = root / "pipeline.yaml"
    config.write_text(
        yaml.safe_dump({"seed": 1234, "generate": {"persons": 40000, "programmes": [PROGRAMME]}})
    )
    data = root / "data"
    result = runner.invoke(app, ["generate", "-c", str(config), "--data", str(data), "-q"])
    assert result.exit_code == 0, result.output
    return config, data


@pytest.mark.slow
def test_evaluate_writes_an_area_level_report_and_an_mlflow_run(
    city: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, data = city
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    out = tmp_path / "out"
    args = ["evaluate", "--programme", "youth-work", "-c", str(config), "--data", str(data)]
    result = runner.invoke(app, [*args, "--out", str(out), "--placebos", "19"])
    assert result.exit_code == 0, result.output
    assert "poisson_imputation" in result.output and "false_start" in result.output
    for name in ("result.json", "report.md", "report.html", "event_study.png"):
        assert (out / name).is_file(), name
    published = json.loads((out / "result.json").read_text())
    main = published["estimates"][0]
    assert main["estimator"] == "poisson_imputation"
    assert main["high"] < 0  # a -60% programme is found
    assert published["run_id"]
    # no ward is named and no person, record or postcode appears in anything published
    geography = pd.read_parquet(data / "geography.parquet")
    persons = pd.read_parquet(data / "truth/persons.parquet")
    text = "".join((out / n).read_text() for n in ("result.json", "report.md", "report.html"))
    for code in geography["ward_code"]:
        assert code not in text
    for column in ("person_id", "postcode", "date_of_birth", "lsoa"):
        assert column not in text
    assert str(persons["person_id"].iloc[0]) not in published.get("estimates", "")
    report = (out / "report.md").read_text()
    assert "Did the programme 'youth-work' work?" in report
    assert "Parallel trends" in report and "False start date" in report


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--programme", "nope"], "--programme: no programme named 'nope'"),
        (["--programme", "youth-work", "--placebos", "3"], "--placebos: at least 9"),
        (["--programme", "youth-work", "--selection-buffer", "-1"], "--selection-buffer: must"),
    ],
)
def test_bad_input_exits_2_naming_the_option(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    config, data = _config_only(tmp_path), tmp_path
    args = ["evaluate", "-c", str(config), "--data", str(data), "--out", str(tmp_path / "o")]
    result = runner.invoke(app, [*args, "--no-track", *extra])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "o").exists()


def test_no_city_in_data_exits_2(tmp_path: Path) -> None:
    config = _config_only(tmp_path)
    result = runner.invoke(
        app,
        ["evaluate", "--programme", "youth-work", "-c", str(config), "--data", str(tmp_path)],
    )
    assert result.exit_code == 2
    assert "holds no generated city" in " ".join(result.output.split())


def test_a_programme_too_small_to_publish_is_refused(tmp_path: Path) -> None:
    config = _config_only(tmp_path)
    data = tmp_path / "tiny"
    made = runner.invoke(
        app, ["generate", "-c", str(config), "--data", str(data), "--persons", "300", "-q"]
    )
    assert made.exit_code == 0, made.output
    out = tmp_path / "out"
    args = ["--programme", "youth-work", "--data", str(data), "--out", str(out), "--no-track"]
    result = runner.invoke(app, ["evaluate", "-c", str(config), *args])
    assert result.exit_code == 2
    assert "too few to publish (disclosure min_count)" in " ".join(result.output.split())
    assert not out.exists()
