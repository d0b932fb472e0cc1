"""The published programme result: what ``vru evaluate --publish`` writes and ``vru serve`` reads.

A publication is a directory ``<programmes>/<publication_id>/`` holding

- ``result.json``: :class:`ProgrammeResult`, the evaluation's aggregate figures only (groups
  of wards, counts already rounded or withheld under the release's disclosure rules; no ward
  is named, nothing about a person);
- ``manifest.json``: :class:`ProgrammeManifest`, naming the SHA-256 of ``result.json`` and the
  disclosure rules it was made with, signed with the operator's **release key** exactly as a
  release manifest is (:mod:`governance.contracts.release_schema`): Ed25519 over the
  canonical JSON of every other field. The server checks the signature with
  ``release_public_key_b64``, the file's hash, that no other file sits beside it, and the
  counts against the signed rules, and refuses a publication that fails any of them.

A directory is written whole (staged, then renamed), so a reader sees all of it or none; a new
evaluation of the same programme is a new directory, and the server serves the newest.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from governance.contracts.errors import VruError
from governance.contracts.release_schema import file_sha256
from governance.contracts.signing import SignatureError, verify_payload

__all__ = [
    "PROGRAMME_MANIFEST",
    "PROGRAMME_NAME",
    "PROGRAMME_RESULT",
    "Assumption",
    "ProgrammeManifest",
    "ProgrammePublicationError",
    "ProgrammeResult",
    "PublishedEstimate",
    "PublishedEventPoint",
    "programme_manifest_payload",
    "sign_programme_manifest",
    "verify_programme_publication",
]

PROGRAMME_RESULT = "result.json"
PROGRAMME_MANIFEST = "manifest.json"
PROGRAMME_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_NAME = re.compile(PROGRAMME_NAME)


class ProgrammePublicationError(VruError, ValueError):
    """A programme publication is missing, malformed, unsigned, tampered with or not protected."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PublishedEstimate(_Frozen):
    """One estimator's answer: the relative change in recorded outcomes with its 95% interval."""

    estimator: str = Field(description="The method's short name.", examples=["poisson_imputation"])
    label: str = Field(
        description="The method in plain words.",
        examples=["Difference-in-differences on counts (imputation, placebo interval)"],
    )
    effect: float | None = Field(
        description="Relative change in the programme's wards' recorded outcomes against what "
        "the comparison wards suggest (-0.2 = 20% fewer); null when not estimable.",
        examples=[-0.2],
    )
    low: float | None = Field(description="Lower end of the 95% interval.", examples=[-0.31])
    high: float | None = Field(description="Upper end of the 95% interval.", examples=[-0.08])
    p_value: float | None = Field(
        description="How often a change this large would be seen with no effect.",
        examples=[0.01],
    )
    note: str = Field(
        default="", description="Why it could not be estimated, if so.", examples=[""]
    )


class PublishedEventPoint(_Frozen):
    """The difference in the programme's wards k years from its start, with a 95% interval."""

    years_from_start: int = Field(
        description="Years since the start (-1 = the year before it).", examples=[1]
    )
    estimate: float = Field(
        description="Difference in recorded outcomes per 1,000 young people.", examples=[-0.8]
    )
    low: float = Field(description="Lower end of the 95% interval.", examples=[-1.4])
    high: float = Field(description="Upper end of the 95% interval.", examples=[-0.2])


class Assumption(_Frozen):
    """What the estimate rests on, in plain words, and how it was checked (if it can be)."""

    name: str = Field(description="The assumption's short name.", examples=["Parallel trends"])
    meaning: str = Field(
        description="What it means, in plain words.",
        examples=["Without the programme, its wards would have moved like the others."],
    )
    check: str = Field(
        description="How it was checked, or that it cannot be from these data.",
        examples=["The false-start check finds no effect."],
    )


class ProgrammeResult(_Frozen):
    """``result.json``: a programme's evaluation, aggregate only, disclosure rules applied."""

    programme: str = Field(
        pattern=PROGRAMME_NAME, description="The programme's name.", examples=["youth-workers"]
    )
    treated_wards: int = Field(ge=1, description="Wards where the programme ran.", examples=[62])
    comparison_wards: int = Field(
        ge=0, description="Wards where it did not run, used for comparison.", examples=[620]
    )
    start_dates: list[str] = Field(
        description="When it started (ISO dates; several when staggered).",
        examples=[["2021-04-01"]],
    )
    periods: int = Field(ge=1, description="Years of data compared.", examples=[6])
    recorded_before: int | None = Field(
        description="Recorded outcomes in its wards before the start, rounded; null when too "
        "few to show.",
        examples=[420],
    )
    recorded_after: int | None = Field(
        description="Recorded outcomes in its wards after the start, rounded; null when too "
        "few to show.",
        examples=[310],
    )
    estimates: list[PublishedEstimate] = Field(
        min_length=1, description="Every method's estimate; the first is the main answer."
    )
    placebos: list[PublishedEstimate] = Field(
        description="Checks that should find nothing (a false start date, untreated wards)."
    )
    event_study: list[PublishedEventPoint] = Field(
        description="The difference year by year around the start, with intervals."
    )
    event_study_method: str = Field(
        default="Difference-in-differences on rates (two-stage, pyfixest)",
        description="The method whose year-by-year differences these are, in plain words.",
        examples=["Difference-in-differences on rates (two-stage, pyfixest)"],
    )
    withheld_event_points: int = Field(
        ge=0, description="Years withheld for resting on too few outcomes.", examples=[0]
    )
    assumptions: list[Assumption] = Field(description="What the estimate rests on.")


class ProgrammeManifest(_Frozen):
    """``manifest.json``: what was published, with which rules, signed with the release key."""

    schema_version: Literal[1] = 1
    publication_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    programme: str = Field(pattern=PROGRAMME_NAME)
    created: str
    run_id: str | None = None
    disclosure: dict[str, Any]
    files: dict[str, str]
    signature: str | None = None


def programme_manifest_payload(manifest: ProgrammeManifest) -> bytes:
    """The signed message: canonical JSON (sorted keys, no spaces) of all but ``signature``."""
    fields = manifest.model_dump(mode="json", exclude={"signature"})
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def sign_programme_manifest(
    manifest: ProgrammeManifest, private_key: Ed25519PrivateKey
) -> ProgrammeManifest:
    """The manifest with ``signature`` set: the release key's signature of the rest."""
    unsigned = manifest.model_copy(update={"signature": None})
    signature = private_key.sign(programme_manifest_payload(unsigned))
    return unsigned.model_copy(update={"signature": base64.b64encode(signature).decode("ascii")})


def _read_model(path: Path, model: type[_Frozen]) -> Any:
    try:
        return model.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise ProgrammePublicationError(f"{path}: missing") from None
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(map(str, first["loc"])) or "(document)"
        raise ProgrammePublicationError(
            f"{path}: field '{where}' is not as expected: {first['msg']}"
        ) from None


def verify_programme_publication(
    directory: Path, public_key_b64: str | None
) -> tuple[ProgrammeManifest, ProgrammeResult]:
    """Read a publication, refusing it unless it is exactly what the release key signed.

    Checks, in order: the manifest parses; it is signed and the signature verifies with
    ``public_key_b64`` (so no field, hash or rule was changed after signing); ``result.json``
    is listed and has the signed SHA-256; no unlisted file sits beside it; the result is for
    the manifest's programme; every published count obeys the signed disclosure rules
    (withheld, or at least ``min_count`` and a multiple of ``rounding_base``).

    Raises
    ------
    ProgrammePublicationError
        Naming the file and field or rule that failed (never a figure of the result).
    """
    directory = Path(directory)
    manifest_path = directory / PROGRAMME_MANIFEST
    manifest: ProgrammeManifest = _read_model(manifest_path, ProgrammeManifest)
    if not public_key_b64:
        raise ProgrammePublicationError(
            f"{manifest_path}: no release_public_key_b64 is configured; nothing signed is trusted"
        )
    if manifest.signature is None:
        raise ProgrammePublicationError(f"{manifest_path}: field 'signature' is empty (unsigned)")
    try:
        verify_payload(programme_manifest_payload(manifest), manifest.signature, public_key_b64)
    except SignatureError:
        raise ProgrammePublicationError(
            f"{manifest_path}: the signature does not verify with the release key: the "
            "manifest was changed after signing, or signed with another key"
        ) from None
    if PROGRAMME_RESULT not in manifest.files:
        raise ProgrammePublicationError(f"{manifest_path}: field 'files' does not list result.json")
    for name, expected in sorted(manifest.files.items()):
        path = directory / name
        if Path(name).name != name or not path.is_file():
            raise ProgrammePublicationError(f"{path}: listed in the signed manifest but missing")
        if file_sha256(path) != expected:
            raise ProgrammePublicationError(
                f"{path}: its SHA-256 is not the one signed in the manifest (changed after signing)"
            )
    for path in sorted(directory.iterdir()):
        if path.name != PROGRAMME_MANIFEST and path.name not in manifest.files:
            raise ProgrammePublicationError(f"{path}: a file not listed in the signed manifest")
    result: ProgrammeResult = _read_model(directory / PROGRAMME_RESULT, ProgrammeResult)
    if result.programme != manifest.programme:
        raise ProgrammePublicationError(
            f"{directory / PROGRAMME_RESULT}: field 'programme' is not the manifest's programme"
        )
    _check_counts(manifest, result, directory / PROGRAMME_RESULT)
    return manifest, result


def _check_counts(manifest: ProgrammeManifest, result: ProgrammeResult, path: Path) -> None:
    """Published counts obey the signed rules: withheld, or >= min_count and rounded."""
    try:
        least = int(manifest.disclosure["min_count"])
        base = int(manifest.disclosure.get("rounding_base", 1)) or 1
    except (KeyError, TypeError, ValueError):
        raise ProgrammePublicationError(
            f"{path.parent / PROGRAMME_MANIFEST}: field 'disclosure' lacks an integer min_count"
        ) from None
    for field in ("recorded_before", "recorded_after"):
        value = getattr(result, field)
        if value is not None and (value < least or value % base):
            raise ProgrammePublicationError(
                f"{path}: field '{field}' breaks the signed disclosure rules (expected null, "
                f"or a multiple of {base} of at least {least})"
            )


def is_programme_name(text: str) -> bool:
    """Whether ``text`` can name a programme (and so a directory)."""
    return bool(_NAME.fullmatch(text))
