"""What a training run says about itself: its name, the code's git state, its note.

Runs are named so that a list of them tells them apart (``train 2023-03-31 1a2b3c4d``: the
stage, the test as-of date, a short hash of the model and features configs), and they record
whether the code had uncommitted changes: a commit alone does not say what code ran.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["UNKNOWN", "config_digest", "git_state", "run_name", "run_note"]

UNKNOWN = "unknown"
_SHORT = 8


def config_digest(*hashes: str) -> str:
    """One SHA-256 over the given config hashes (model, features): what "the config" is."""
    return hashlib.sha256(":".join(hashes).encode()).hexdigest()


def run_name(stage: str, as_of: dt.date, digest: str) -> str:
    """``<stage> <as-of date> <digest[:8]>``: runs of other dates or configs read apart.

    Parameters
    ----------
    stage
        The pipeline stage, e.g. ``train``.
    as_of
        The as-of date the run is judged on (training: the test split's).
    digest
        The run's config digest (:func:`config_digest`); its first 8 characters are shown.
    """
    return f"{stage} {as_of.isoformat()} {digest[:_SHORT]}"


def git_state(directory: Path) -> dict[str, str]:
    """Tags saying whether the code in ``directory`` had uncommitted changes, and which.

    ``git_dirty`` is ``true`` when ``git status --porcelain`` lists anything (untracked files
    included); ``git_diff_sha256`` is the SHA-256 of ``git diff HEAD --binary`` (tracked
    changes; the diff itself is never stored). Outside a git work tree, or without git, both
    say ``unknown``: recording must never stop training.
    """
    status = _git(directory, "status", "--porcelain")
    diff = _git(directory, "diff", "HEAD", "--binary")
    if status is None or diff is None:
        return {"git_dirty": UNKNOWN, "git_diff_sha256": UNKNOWN}
    return {
        "git_dirty": "true" if status.strip() else "false",
        "git_diff_sha256": hashlib.sha256(diff).hexdigest(),
    }


def _git(directory: Path, *args: str) -> bytes | None:
    """The output of ``git <args>`` run in ``directory``; None if git fails or is missing."""
    try:
        done = subprocess.run(
            ["git", *args], capture_output=True, check=False, cwd=directory, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def run_note(
    *,
    features_sha256: str,
    splits: dict[str, Any],
    model_config_hash: str,
    features_config_hash: str,
    git_commit: str,
    git_dirty: str,
) -> str:
    """The run's description (``mlflow.note.content``): which data and config it used."""
    dirty = {"true": " with uncommitted changes", "false": ""}.get(
        git_dirty, " (git state unknown)"
    )
    return (
        f"Training on the features table {features_sha256[:12]}… "
        f"(train as-of {', '.join(map(str, splits['train']))}"
        f"; validation {splits['validation']}; test {splits['test']}). "
        f"Model config {model_config_hash[:12]}…, features config {features_config_hash[:12]}…; "
        f"code at git {git_commit[:12]}{dirty}."
    )
