"""`vru evaluate --publish`: the aggregate result, signed with the release key, written whole."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from governance.contracts.programme_schema import (
    PROGRAMME_MANIFEST,
    PROGRAMME_RESULT,
    ProgrammePublicationError,
    verify_programme_publication,
)
from governance.contracts.signing import generate_keypair, load_private_key
from governance.disclosure import DisclosureConfig
from serving.programmes import ProgrammeShelf
from training.evaluation.programme_estimators import EventPoint, ProgrammeEstimate
from training.evaluation.programme_evaluate import EvaluationResult
from training.evaluation.programme_publish import publish_programme, published_result
from vru.cli import app

RULES = DisclosureConfig(method="threshold", min_count=10, rounding_base=5)
WHEN = datetime(2026, 12, 8, 1, 0, tzinfo=UTC)


def _result(tmp_path: Path) -> EvaluationResult:
    est = ProgrammeEstimate
    return EvaluationResult(
        programme="youth-workers",
        treated_wards=12,
        comparison_wards=80,
        waves=["2019-04-01", "2020-04-01"],
        periods=6,
        recorded_treated_before=150,
        recorded_treated_after=None,  # withheld: too few
        estimates=[
            est("poisson_imputation", -0.2, -0.31, -0.08, 0.01),
            est("did2s", float("nan"), float("nan"), float("nan"), float("nan"), note="too few"),
            est("naive", 0.05, -0.1, 0.2, 0.4),
        ],
        placebos=[
            est("false_start", 0.02, -0.1, 0.12, 0.7),
            est("untreated_areas", 0.25, 0.1, 0.4, 0.01),  # a check that finds an effect
        ],
        event_study=[EventPoint(-1, 0.1, -0.4, 0.6), EventPoint(0, -0.8, -1.3, -0.3)],
        withheld_event_points=2,
        out_dir=tmp_path / "evaluations",
        run_id="abc123",
    )


@pytest.fixture
def key(tmp_path: Path) -> tuple[Path, str]:
    public = generate_keypair(tmp_path / "release.pem", tmp_path / "release.pub")
    return tmp_path / "release.pem", public


def test_published_result_keeps_the_protected_figures_and_says_each_check_in_words(
    tmp_path: Path,
) -> None:
    published = published_result(_result(tmp_path))
    assert (published.recorded_before, published.recorded_after) == (150, None)
    assert published.estimates[1].effect is None and published.estimates[1].note == "too few"
    assert published.estimates[0].label.startswith("Difference-in-differences")
    assert [p.years_from_start for p in published.event_study] == [-1, 0]
    assert published.event_study_method.startswith("Difference-in-differences on rates")
    checks = {a.name: a.check for a in published.assumptions}
    assert "no effect, as it should" in checks["Parallel trends"]
    assert "doubt the estimate" in checks["No effect where nothing happened"]
    text = published.model_dump_json()
    assert "ward_code" not in text and "evaluations" not in text  # no ward, no local path


def test_a_publication_is_signed_verified_and_served(tmp_path: Path, key: tuple[Path, str]) -> None:
    private, public = key
    root = tmp_path / "programmes"
    target = publish_programme(
        _result(tmp_path), root, signer=load_private_key(private), disclosure=RULES, created=WHEN
    )
    assert sorted(p.name for p in target.iterdir()) == [PROGRAMME_MANIFEST, PROGRAMME_RESULT]
    assert [p.name for p in root.iterdir()] == [target.name]  # no staging left behind
    manifest, result = verify_programme_publication(target, public)
    assert manifest.run_id == "abc123" and manifest.disclosure["min_count"] == 10
    assert result.programme == "youth-workers"
    shelf = ProgrammeShelf(root, public, min_count=10)
    assert "fell by about 20% (95% interval 8% to 31%)" in shelf.listing().programmes[0].verdict
    # another key does not verify it
    other = generate_keypair(tmp_path / "other.pem", tmp_path / "other.pub")
    with pytest.raises(ProgrammePublicationError, match="signature does not verify"):
        verify_programme_publication(target, other)
    # the same publication again is refused, and leaves nothing behind
    with pytest.raises(ProgrammePublicationError, match="already exists"):
        publish_programme(
            _result(tmp_path),
            root,
            signer=load_private_key(private),
            disclosure=RULES,
            created=WHEN,
        )
    assert [p.name for p in root.iterdir()] == [target.name]


def test_an_edited_count_is_refused_by_the_server(tmp_path: Path, key: tuple[Path, str]) -> None:
    private, public = key
    root = tmp_path / "programmes"
    target = publish_programme(
        _result(tmp_path), root, signer=load_private_key(private), disclosure=RULES, created=WHEN
    )
    data = json.loads((target / PROGRAMME_RESULT).read_text())
    data["recorded_after"] = 3  # a small count, disclosive
    (target / PROGRAMME_RESULT).write_text(json.dumps(data))
    shelf = ProgrammeShelf(root, public, min_count=10)
    assert shelf.listing().programmes == []
    assert "SHA-256" in shelf.refused["youth-workers"]


def test_publish_without_a_release_key_is_refused_before_any_work(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["evaluate", "--programme", "youth-workers", "--publish", "--data", str(tmp_path)],
    )
    assert result.exit_code == 2
    assert "--release-key" in result.output


def test_evaluate_publish_on_a_generated_city_is_served(
    tmp_path: Path, key: tuple[Path, str]
) -> None:
    """The command end to end: a small generated city, evaluated, published, then verified."""
    import yaml

    private, public = key
    programme = {
        "name": "youth-work",
        "rule": "top_wards_by_deprivation",
        "top_share": 0.3,
        "reach": 1.0,
        "effect_on_outcome": -0.6,
        "start_dates": ["2017-04-01", "2019-04-01"],
    }
    config = tmp_path / "pipeline.yaml"
    config.write_text(
        yaml.safe_dump({"seed": 7, "generate": {"persons": 30000, "programmes": [programme]}})
    )
    data, shelf_dir = tmp_path / "data", tmp_path / "programmes"
    runner = CliRunner()
    made = runner.invoke(app, ["generate", "-c", str(config), "--data", str(data), "-q"])
    assert made.exit_code == 0, made.output
    args = ["evaluate", "--programme", "youth-work", "-c", str(config), "--data", str(data)]
    args += ["--out", str(tmp_path / "out"), "--placebos", "9", "--no-track", "--quiet"]
    args += ["--publish", "--release-key", str(private), "--programmes-dir", str(shelf_dir)]
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    shelf = ProgrammeShelf(shelf_dir, public, min_count=10)
    (listed,) = shelf.listing().programmes
    assert listed.name == "youth-work" and listed.verdict.startswith("Recorded violence")
    detail = shelf.served()["youth-work"].detail()
    assert len(detail.placebos) == 2 and detail.assumptions
    assert shelf.refused == {}
