"""A signed programme publication for the serving tests, as `vru evaluate --publish` writes one.

Built from the contract alone (no training import, so the serving tests stay light); the
training side's writer is tested against the server in tests/training/test_programme_publish.py.
"""

from __future__ import annotations

import json
from pathlib import Path

from governance.contracts.programme_schema import (
    PROGRAMME_MANIFEST,
    PROGRAMME_RESULT,
    Assumption,
    ProgrammeManifest,
    ProgrammeResult,
    PublishedEstimate,
    PublishedEventPoint,
    sign_programme_manifest,
)
from governance.contracts.release_schema import file_sha256
from governance.contracts.signing import load_private_key

RULES = {"method": "threshold", "min_count": 10, "rounding_base": 5}


LABELS = {
    "poisson_imputation": "Difference-in-differences on counts",
    "did2s": "Difference-in-differences on rates",
    "synthetic_control": "Synthetic control",
    "naive": "Before/after (naive)",
    "false_start": "False start date (2 years early)",
    "untreated_areas": "Untreated wards given the programme's start dates",
}


def estimate(name: str, effect: float, low: float, high: float) -> PublishedEstimate:
    return PublishedEstimate(
        estimator=name,
        label=LABELS.get(name, f"method {name}"),
        effect=effect,
        low=low,
        high=high,
        p_value=0.01,
    )


def programme_result(name: str = "youth-workers", **changes: object) -> ProgrammeResult:
    """A programme that cut recorded violence by about 20% (95% interval 8% to 31%)."""
    fields: dict[str, object] = {
        "programme": name,
        "treated_wards": 62,
        "comparison_wards": 620,
        "start_dates": ["2021-04-01"],
        "periods": 6,
        "recorded_before": 420,
        "recorded_after": 310,
        "estimates": [
            estimate("poisson_imputation", -0.2, -0.31, -0.08),
            estimate("naive", -0.05, -0.15, 0.06),
        ],
        "placebos": [
            estimate("false_start", 0.01, -0.1, 0.12),
            estimate("untreated_areas", -0.02, -0.09, 0.05),
        ],
        "event_study": [
            PublishedEventPoint(years_from_start=k, estimate=e, low=e - 0.6, high=e + 0.6)
            for k, e in ((-3, 0.1), (-2, -0.1), (-1, 0.0), (0, -0.7), (1, -0.9), (2, -1.1))
        ],
        "withheld_event_points": 1,
        "assumptions": [
            Assumption(
                name="Parallel trends",
                meaning="Without the programme its wards would have moved like the others.",
                check="The false-start check finds nothing.",
            )
        ],
    }
    fields.update(changes)
    return ProgrammeResult.model_validate(fields)


def write_programme(
    directory: Path,
    private_key: Path,
    result: ProgrammeResult | None = None,
    *,
    created: str = "2026-12-08T01:00:00+00:00",
    publication_id: str | None = None,
    rules: dict[str, object] | None = None,
) -> Path:
    """Write one signed publication under ``directory``; its path."""
    result = result or programme_result()
    pid = publication_id or f"{result.programme}-{created[:19].replace(':', '')}"
    target = Path(directory) / pid
    target.mkdir(parents=True)
    (target / PROGRAMME_RESULT).write_text(result.model_dump_json(indent=2))
    manifest = ProgrammeManifest(
        publication_id=pid,
        programme=result.programme,
        created=created,
        disclosure=dict(rules or RULES),
        files={PROGRAMME_RESULT: file_sha256(target / PROGRAMME_RESULT)},
    )
    signed = sign_programme_manifest(manifest, load_private_key(private_key))
    (target / PROGRAMME_MANIFEST).write_text(json.dumps(signed.model_dump(mode="json"), indent=2))
    return target
