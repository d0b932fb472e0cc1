"""``vru evaluate --publish``: put a programme's aggregate result where the server reads it, signed.

The result is the evaluation's own (:class:`.programme_evaluate.EvaluationResult`), already
under the disclosure rules: counts rounded or withheld, event-study years on too few outcomes
withheld, no ward named. It is turned into the published contract
(:class:`governance.contracts.programme_schema.ProgrammeResult`, with each method and
assumption in plain words), staged in a temporary directory beside the others with a manifest
naming its SHA-256 and the rules, the manifest signed with the operator's release key (the
same key and scheme as releases), and the directory renamed into place in one step.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from governance.contracts.programme_schema import (
    PROGRAMME_MANIFEST,
    PROGRAMME_RESULT,
    Assumption,
    ProgrammeManifest,
    ProgrammePublicationError,
    ProgrammeResult,
    PublishedEstimate,
    PublishedEventPoint,
    sign_programme_manifest,
)
from governance.contracts.release_schema import file_sha256
from governance.disclosure import DisclosureConfig
from training.evaluation.programme_estimators import ProgrammeEstimate
from training.evaluation.programme_evaluate import _NAMES, EvaluationResult

__all__ = ["publish_programme", "published_result"]


def _number(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _estimate(e: ProgrammeEstimate) -> PublishedEstimate:
    return PublishedEstimate(
        estimator=e.estimator,
        label=_NAMES.get(e.estimator, e.estimator),
        effect=_number(e.effect),
        low=_number(e.low),
        high=_number(e.high),
        p_value=_number(e.p_value),
        note=e.note,
    )


def _assumptions(result: EvaluationResult) -> list[Assumption]:
    false_start, untreated = (_estimate(p) for p in result.placebos[:2])

    def said(p: PublishedEstimate) -> str:
        if p.effect is None or p.low is None or p.high is None:
            return "could not be run on these data"
        shows = p.high < 0 or p.low > 0
        return (
            f"found {100 * p.effect:+.0f}% (95% interval {100 * p.low:+.0f}% to "
            f"{100 * p.high:+.0f}%): "
            + (
                "an effect where there should be none, so doubt the estimate"
                if shows
                else "no effect, as it should"
            )
        )

    return [
        Assumption(
            name="Parallel trends",
            meaning="Without the programme, its wards' rates would have moved like the "
            "comparison wards'.",
            check=f"The event-study years before the start should sit near zero; the same "
            f"method given a start date two years early {said(false_start)}.",
        ),
        Assumption(
            name="No effect where nothing happened",
            meaning="The method finds nothing in wards the programme did not reach.",
            check=f"Run on untreated wards given the programme's start dates, it {said(untreated)}.",
        ),
        Assumption(
            name="Wards not chosen for a bad year",
            meaning="A ward picked after a spike would fall back anyway, which is not an effect.",
            check=f"The {result.selection_buffer} year(s) just before each start are left out "
            "of the main estimate's fit.",
        ),
        Assumption(
            name="No spill-over",
            meaning="The programme did not change violence in the comparison wards.",
            check="Not checked by these data.",
        ),
        Assumption(
            name="Recording unchanged",
            meaning="Recording did not change with the programme (more policing in its wards "
            "would raise recorded outcomes and hide an effect).",
            check="Not checked by these data.",
        ),
    ]


def published_result(result: EvaluationResult) -> ProgrammeResult:
    """The contract's form of an evaluation's (already protected) result (pure)."""
    return ProgrammeResult(
        programme=result.programme,
        treated_wards=result.treated_wards,
        comparison_wards=result.comparison_wards,
        start_dates=list(result.waves),
        periods=result.periods,
        recorded_before=result.recorded_treated_before,
        recorded_after=result.recorded_treated_after,
        estimates=[_estimate(e) for e in result.estimates],
        placebos=[_estimate(p) for p in result.placebos],
        event_study=[
            PublishedEventPoint(years_from_start=p.k, estimate=p.estimate, low=p.low, high=p.high)
            for p in result.event_study
            if all(math.isfinite(v) for v in (p.estimate, p.low, p.high))
        ],
        event_study_method=_NAMES["did2s"],  # run_evaluate draws it from did2s's points
        withheld_event_points=result.withheld_event_points,
        assumptions=_assumptions(result),
    )


def publish_programme(
    result: EvaluationResult,
    programmes_dir: Path,
    *,
    signer: Ed25519PrivateKey,
    disclosure: DisclosureConfig,
    created: datetime,
) -> Path:
    """Stage ``result.json`` and its signed ``manifest.json``, rename into place; the directory.

    Raises
    ------
    ProgrammePublicationError
        If a publication with the same id is already there (nothing is left behind then).
    """
    root = Path(programmes_dir)
    root.mkdir(parents=True, exist_ok=True)
    body = published_result(result).model_dump_json(indent=2) + "\n"
    stage = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    try:
        (stage / PROGRAMME_RESULT).write_text(body)
        digest = hashlib.sha256(body.encode("utf-8"))
        digest.update(created.isoformat().encode())
        publication_id = f"{result.programme}-{created:%Y%m%dT%H%M%S}Z-{digest.hexdigest()[:10]}"
        manifest = ProgrammeManifest(
            publication_id=publication_id,
            programme=result.programme,
            created=created.isoformat(timespec="seconds"),
            run_id=result.run_id,
            disclosure=json.loads(disclosure.model_dump_json()),
            files={PROGRAMME_RESULT: file_sha256(stage / PROGRAMME_RESULT)},
        )
        manifest = sign_programme_manifest(manifest, signer)
        (stage / PROGRAMME_MANIFEST).write_text(
            json.dumps(manifest.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"
        )
        for path in stage.iterdir():
            path.chmod(0o644)
        stage.chmod(0o755)
        target = root / publication_id
        if target.exists():
            raise ProgrammePublicationError(f"{target}: a publication with this id already exists")
        os.rename(stage, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return target
