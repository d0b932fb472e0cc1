"""A trained linkage model, saved with the spine, reused on any engine.

Training (the prior, u by sampling, m by EM) is the part of linkage that differs between
engines: Splink samples pairs by a hash each backend computes its own way. Scoring and
clustering with given parameters do not. So a model is trained once (on DuckDB, or on a
sample) and saved as ``linked/model.json``; ``link.model`` (``vru link --model``) then scores
and clusters with it on any engine. The saved file is Splink's JSON in the dialect it was
trained in; its parameters (the prior and each level's m and u) are laid onto the settings
this configuration builds for the engine that runs now, level by level, after checking that
both describe the same comparisons with the same levels.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from governance.contracts.errors import ExtractError

__all__ = ["SavedModel", "apply_parameters", "read_saved_model"]


@dataclass(frozen=True)
class SavedModel:
    """A trained model read from disk: its parameters and the SHA-256 of its bytes."""

    path: Path
    sha256: str
    settings: dict[str, Any]


def read_saved_model(path: Path) -> SavedModel:
    """Read a saved model (a previous run's ``linked/model.json``), or say what is wrong."""
    if not path.is_file():
        raise ExtractError(f"{path}: link.model not found (a previous run's linked/model.json)")
    raw = path.read_bytes()
    try:
        settings = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ExtractError(
            f"{path}: link.model is not JSON ({err.msg}, line {err.lineno})"
        ) from None
    if not isinstance(settings, dict) or not isinstance(settings.get("comparisons"), list):
        raise ExtractError(f"{path}: link.model has no 'comparisons': not a Splink model")
    prior = settings.get("probability_two_random_records_match")
    if not isinstance(prior, float) or not 0 < prior < 1:
        raise ExtractError(
            f"{path}: link.model's probability_two_random_records_match must be in (0, 1), "
            f"got {prior!r}"
        )
    return SavedModel(path=path, sha256=hashlib.sha256(raw).hexdigest(), settings=settings)


def _levels(comparison: dict[str, Any]) -> list[dict[str, Any]]:
    return list(comparison.get("comparison_levels", []))


def _shape(settings: dict[str, Any]) -> list[tuple[str, tuple[str, ...]]]:
    return [
        (
            str(c.get("output_column_name")),
            tuple(str(lv.get("label_for_charts")) for lv in _levels(c)),
        )
        for c in settings["comparisons"]
    ]


def apply_parameters(target: dict[str, Any], saved: SavedModel) -> dict[str, Any]:
    """The running engine's settings (``target``) carrying the saved prior, m and u.

    Refuses, naming the first difference, a saved model whose comparisons or levels differ
    from the configuration's (another ``link.comparisons`` or ``postcode_format``), or whose
    probability is not one.
    """
    want, have = _shape(target), _shape(saved.settings)
    if [n for n, _ in want] != [n for n, _ in have]:
        raise ExtractError(
            f"{saved.path}: link.model compares {[n for n, _ in have]} but this configuration "
            f"compares {[n for n, _ in want]}: train again, or use the model's link.comparisons "
            "and postcode_format"
        )
    for (name, levels), (_, saved_levels) in zip(want, have, strict=True):
        if levels != saved_levels:
            raise ExtractError(
                f"{saved.path}: link.model's levels of '{name}' are {list(saved_levels)}, this "
                f"configuration's are {list(levels)}: train again"
            )
    out = copy.deepcopy(target)
    out["probability_two_random_records_match"] = saved.settings[
        "probability_two_random_records_match"
    ]
    for comparison, trained in zip(out["comparisons"], saved.settings["comparisons"], strict=True):
        for level, source in zip(_levels(comparison), _levels(trained), strict=True):
            if level.get("is_null_level"):
                continue
            for key in ("m_probability", "u_probability"):
                value = source.get(key)  # None: a level training never saw, as Splink left it
                if value is not None and (not isinstance(value, float) or not 0 < value <= 1):
                    raise ExtractError(
                        f"{saved.path}: link.model's {key} of '{comparison['output_column_name']}'"
                        f" level '{level.get('label_for_charts')}' is not a probability "
                        f"({value!r})"
                    )
                level[key] = value
    return out
