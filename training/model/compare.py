"""Two registered versions side by side (``vru compare A B``): figures, config, data, code.

Everything is read from the registry and the versions' training runs (metrics, parameters,
tags); nothing is recomputed and no model is loaded. The audit's verdict is shown from the
version's tags when the version was audited.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from governance.contracts.errors import VruError
from training.model.config import HeadlineFigure

__all__ = ["Comparison", "UnknownVersionError", "VersionFacts", "compare_versions"]

#: version tags the audit writes (governance.audit.version): shown when present
_AUDIT_TAGS = ("audit_gates_passed", "audit_failed_gates", "audit_report_sha256")
_NOT_RECORDED = "not recorded"
_UNKNOWN = "{name}: no version or alias '{ref}' (versions: {versions}; aliases: {aliases})"


class UnknownVersionError(VruError, LookupError):
    """The version or alias to compare is not in the registry."""


@dataclass(frozen=True)
class VersionFacts:
    """One version: what it is, what made it, and its verdict if audited."""

    ref: str
    version: str
    run_id: str
    run_name: str
    features_sha256: str
    test_as_of: str
    git_commit: str
    git_dirty: str
    audit: dict[str, str]


@dataclass(frozen=True)
class Comparison:
    """Figures (headline first) and differing parameters of versions ``a`` and ``b``."""

    model: str
    a: VersionFacts
    b: VersionFacts
    metrics: list[tuple[str, float | None, float | None]]
    params: list[tuple[str, str | None, str | None]]

    def to_json(self) -> dict[str, Any]:
        """The comparison as plain JSON (``vru compare --json``); difference is b − a."""
        return {
            "model": self.model,
            "a": asdict(self.a),
            "b": asdict(self.b),
            "metrics": [
                {"name": n, "a": a, "b": b, "difference": _difference(a, b)}
                for n, a, b in self.metrics
            ],
            "params": [{"name": n, "a": a, "b": b} for n, a, b in self.params],
        }


def compare_versions(
    client: Any, name: str, a: str, b: str, headline: list[HeadlineFigure]
) -> Comparison:
    """Compare versions (or aliases) ``a`` and ``b`` of registered model ``name``.

    Metrics are the headline figures, then every other ``test_*`` and ``baseline_test_*``
    metric either run logged; parameters are those whose values differ (or one run lacks).

    Raises
    ------
    UnknownVersionError
        If ``a`` or ``b`` is neither a version nor an alias of ``name``.
    """
    runs = {}
    facts = []
    for ref in (a, b):
        version = _resolve(client, name, ref)
        run = client.get_run(version.run_id)
        runs[ref] = run
        facts.append(_facts(ref, version, run))
    ma, mb = runs[a].data.metrics, runs[b].data.metrics
    first = [f.metric for f in headline]
    measured = [k for k in ma.keys() | mb.keys() if k.startswith(("test_", "baseline_test_"))]
    rest = sorted(measured, key=lambda k: (k.startswith("baseline_"), k))  # the model's first
    names = first + [k for k in rest if k not in first]
    pa, pb = runs[a].data.params, runs[b].data.params
    params = [
        (k, pa.get(k), pb.get(k)) for k in sorted(pa.keys() | pb.keys()) if pa.get(k) != pb.get(k)
    ]
    return Comparison(name, facts[0], facts[1], [(n, ma.get(n), mb.get(n)) for n in names], params)


def _resolve(client: Any, name: str, ref: str) -> Any:
    """The model version ``ref`` names: a version number, or else an alias."""
    from mlflow.exceptions import MlflowException

    try:
        if ref.isdigit():
            return client.get_model_version(name, ref)
        return client.get_model_version_by_alias(name, ref)
    except MlflowException:
        pass
    try:
        aliases = sorted(client.get_registered_model(name).aliases)
        versions = sorted(
            (int(v.version) for v in client.search_model_versions(f"name = '{name}'")),
        )
    except MlflowException:
        aliases, versions = [], []
    raise UnknownVersionError(
        _UNKNOWN.format(
            name=name,
            ref=ref,
            versions=", ".join(map(str, versions)) or "none",
            aliases=", ".join(aliases) or "none",
        )
    )


def _facts(ref: str, version: Any, run: Any) -> VersionFacts:
    """What the version's run and tags record about its data, code and audit."""
    tags = run.data.tags
    test = run.data.params.get("model.splits.test")
    return VersionFacts(
        ref=ref,
        version=str(version.version),
        run_id=run.info.run_id,
        run_name=run.info.run_name or "",
        features_sha256=tags.get("features_sha256", _NOT_RECORDED),
        test_as_of=json.loads(test) if test else _NOT_RECORDED,
        git_commit=tags.get("git_commit", tags.get("mlflow.source.git.commit", _NOT_RECORDED)),
        git_dirty=tags.get("git_dirty", _NOT_RECORDED),
        audit={k: version.tags[k] for k in _AUDIT_TAGS if k in version.tags},
    )


def _difference(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a
