"""The model registry as governance sees it: versions, aliases, tags and audit artifacts.

A thin layer over MLflow's client. Governance reads what training logged (the version's run,
its metrics, parameters and artifacts) and writes only its own records: the audit artifacts,
the report hash, the board's signed decision and the serving alias. Every lookup that can
fail says which model, version or alias was asked for and what exists instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from governance.contracts.errors import VruError
from governance.contracts.signing import artifact_differences

__all__ = [
    "AUDIT_ARTIFACT_DIR",
    "CANDIDATE",
    "CHAMPION",
    "ModelArtifactsError",
    "ModelVersionInfo",
    "Registry",
    "RegistryError",
    "VersionModels",
]

CANDIDATE = "candidate"
CHAMPION = "champion"
AUDIT_ARTIFACT_DIR = "audit"

_NO_MODEL = "registered model {name!r} not found; registered models: {have}"
_NO_ALIAS = "model {name!r} has no alias {alias!r}; its aliases: {have}"
_NO_VERSION = "model {name!r} has no version {version!r}; its versions: {have}"
_NO_ARTIFACT = "model {name!r} version {version}: the run {run} has no artifact {path!r}"
_NO_MODEL_FILES = "model {name!r} version {version}: its logged model at {location} cannot be read"
_NOT_APPROVED_FILES = (
    "model {name!r} version {version}: the logged model is not the one the board approved "
    "({found}); refusing to load it. Restore the approved files, or have the board review "
    "the version again"
)
_HASH_CHUNK = 1 << 20


class RegistryError(VruError, LookupError):
    """A model, version, alias or artifact asked for is not in the registry."""


class ModelArtifactsError(VruError, ValueError):
    """A version's logged model files are not the ones the board's signed decision names."""


@dataclass(frozen=True)
class ModelVersionInfo:
    """One registered version, with what its training run recorded."""

    name: str
    version: str
    run_id: str
    aliases: tuple[str, ...]
    tags: dict[str, str]
    metrics: dict[str, float]
    params: dict[str, str]
    run_tags: dict[str, str]

    @property
    def uri(self) -> str:
        """``models:/<name>/<version>``."""
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True)
class VersionModels:
    """A version's logged models, from one downloaded copy, and that copy's file digests.

    ``served`` is what a release scores with; ``evaluated`` is what was tested out of time
    (the same object when training did not refit); ``refit`` is how the served model was
    refit (its ``refit.json``), None without a refit.
    """

    served: Any
    evaluated: Any
    refit: dict[str, Any] | None
    files: dict[str, str]


class Registry:
    """Governance's reads and writes on one MLflow tracking server or store.

    Parameters
    ----------
    tracking_uri
        Where MLflow is; ``None`` uses ``MLFLOW_TRACKING_URI`` (or MLflow's default).
    """

    def __init__(self, tracking_uri: str | None = None) -> None:
        if tracking_uri is None:
            tracking_uri = os.environ.get("MLFLOW_TRACKING_URI")
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        self.tracking_uri = self.client.tracking_uri

    # -- lookups ---------------------------------------------------------------------------

    def version(
        self, name: str, version: str | None = None, alias: str = CANDIDATE
    ) -> ModelVersionInfo:
        """The version asked for, or the one ``alias`` points at when no version is given.

        A ``version`` that is not a number is taken as an alias (``candidate``, ``champion``).
        """
        self._check_model(name)
        if version is not None and not str(version).isdigit():
            version, alias = None, str(version)
        try:
            mv = (
                self.client.get_model_version(name, str(version))
                if version is not None
                else self.client.get_model_version_by_alias(name, alias)
            )
        except MlflowException:
            if version is not None:
                raise RegistryError(
                    _NO_VERSION.format(name=name, version=version, have=self.versions(name))
                ) from None
            raise RegistryError(
                _NO_ALIAS.format(name=name, alias=alias, have=sorted(self.aliases(name)))
            ) from None
        run = self.client.get_run(str(mv.run_id))
        return ModelVersionInfo(
            name=name,
            version=str(mv.version),
            run_id=str(mv.run_id),
            aliases=tuple(getattr(mv, "aliases", ()) or ()),
            tags=dict(mv.tags or {}),
            metrics=dict(run.data.metrics),
            params=dict(run.data.params),
            run_tags=dict(run.data.tags),
        )

    def versions(self, name: str) -> list[str]:
        """Every version number of ``name``, oldest first."""
        found = self.client.search_model_versions(f"name = '{_quote(name)}'")
        return sorted((str(v.version) for v in found), key=int)

    def aliases(self, name: str) -> dict[str, str]:
        """``{alias: version}`` of a registered model."""
        return {
            k: str(v) for k, v in (self.client.get_registered_model(name).aliases or {}).items()
        }

    def alias_version(self, name: str, alias: str) -> str | None:
        """The version an alias points at, or None."""
        self._check_model(name)
        return self.aliases(name).get(alias)

    def all_versions(self, name: str) -> list[ModelVersionInfo]:
        """Every version with its tags (and its run's records), oldest first."""
        return [self.version(name, v) for v in self.versions(name)]

    # -- writes ----------------------------------------------------------------------------

    def set_tags(self, name: str, version: str, tags: dict[str, str]) -> None:
        """Set tags on a version."""
        for key, value in tags.items():
            self.client.set_model_version_tag(name, version, key, value)

    def delete_tags(self, name: str, version: str, keys: list[str]) -> None:
        """Remove tags from a version (those it does not have are ignored)."""
        present = set(self.client.get_model_version(name, version).tags or {})
        for key in keys:
            if key in present:
                self.client.delete_model_version_tag(name, version, key)

    def set_alias(self, name: str, alias: str, version: str) -> None:
        """Point ``alias`` at ``version``."""
        self.client.set_registered_model_alias(name, alias, version)

    # -- artifacts -------------------------------------------------------------------------

    def log_artifacts(
        self,
        info: ModelVersionInfo,
        files: dict[str, bytes],
        artifact_path: str = AUDIT_ARTIFACT_DIR,
    ) -> None:
        """Log files (name -> content) under ``artifact_path`` (``audit/``) of the version's run."""
        with tempfile.TemporaryDirectory() as tmp:
            for name, content in files.items():
                path = Path(tmp) / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
            self.client.log_artifacts(info.run_id, tmp, artifact_path=artifact_path)

    def read_artifact(self, info: ModelVersionInfo, path: str) -> bytes:
        """The content of one artifact of the version's run (e.g. ``audit/report.html``)."""
        with tempfile.TemporaryDirectory() as tmp:
            try:
                local = self.client.download_artifacts(info.run_id, path, tmp)
            except (MlflowException, OSError):
                raise RegistryError(
                    _NO_ARTIFACT.format(
                        name=info.name, version=info.version, run=info.run_id, path=path
                    )
                ) from None
            return Path(local).read_bytes()

    def read_json_artifact(self, info: ModelVersionInfo, path: str) -> Any:
        """An artifact parsed as JSON."""
        return json.loads(self.read_artifact(info, path))

    def model_files(self, info: ModelVersionInfo) -> dict[str, str]:
        """The SHA-256 of every file of the version's logged model, by relative path, sorted.

        Everything under the model's root counts (``MLmodel``, the pickles, the environment
        files, the code), so the board's decision can name exactly what it approved.
        """
        with tempfile.TemporaryDirectory() as tmp:
            return _hash_tree(self._download_model(info, Path(tmp)))

    def load_model(
        self, info: ModelVersionInfo, *, expected_files: Mapping[str, str] | None = None
    ) -> Any:
        """The version's logged model, unwrapped from its pyfunc shell.

        What training logged: an object with ``predict(frame)`` (calibrated risk), ``raw``,
        ``columns`` (the inputs) and ``scorer`` (the LightGBM booster).

        Parameters
        ----------
        info
            The version.
        expected_files
            The board's signed ``path -> sha256`` mapping (``Decision.model_artifacts``).
            When given, the model is downloaded, every file hashed and compared before
            anything is unpickled, and loaded from that very copy; scoring for a release
            always passes it.

        Raises
        ------
        ModelArtifactsError
            If a file was changed, added or removed since the board signed; the message
            names each one.
        """
        return self.load_model_and_files(info, expected_files=expected_files)[0]

    def load_model_and_files(
        self, info: ModelVersionInfo, *, expected_files: Mapping[str, str] | None = None
    ) -> tuple[Any, dict[str, str]]:
        """:meth:`load_model`, and the ``path -> sha256`` of the very files it loaded.

        The audit records what it audited this way (the digest goes into the report the
        board signs), so a model rewritten between the audit and the review is caught.
        """
        found = self.load_version_models(info, expected_files=expected_files)
        return found.served, found.files

    def load_version_models(
        self, info: ModelVersionInfo, *, expected_files: Mapping[str, str] | None = None
    ) -> VersionModels:
        """The served and the evaluated model and the refit's record, as :meth:`load_model`.

        The audit judges ``evaluated`` on the later test period and ``served`` on the persons
        held out of the refit; both come from the one copy whose files it records.
        """
        import mlflow.pyfunc

        with tempfile.TemporaryDirectory() as tmp:
            local = self._download_model(info, Path(tmp))
            files = _hash_tree(local)
            if expected_files is not None:
                found = artifact_differences(expected_files, files)
                if found:
                    raise ModelArtifactsError(
                        _NOT_APPROVED_FILES.format(
                            name=info.name, version=info.version, found="; ".join(found)
                        )
                    )
            wrapper = mlflow.pyfunc.load_model(str(local)).unwrap_python_model()
            evaluated = getattr(wrapper, "evaluated", wrapper.model)
            return VersionModels(wrapper.model, evaluated, getattr(wrapper, "refit", None), files)

    def _download_model(self, info: ModelVersionInfo, target: Path) -> Path:
        """A local copy of the version's logged model (from the artifacts' own location)."""
        import mlflow.artifacts

        # no process-wide tracking state is touched: the location is the store's own
        location = self.client.get_model_version_download_uri(info.name, info.version)
        try:
            local = mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=str(target))
        except (MlflowException, OSError):
            raise RegistryError(
                _NO_MODEL_FILES.format(name=info.name, version=info.version, location=location)
            ) from None
        return Path(local)

    def _check_model(self, name: str) -> None:
        try:
            self.client.get_registered_model(name)
        except MlflowException:
            have = sorted(m.name for m in self.client.search_registered_models())
            raise RegistryError(_NO_MODEL.format(name=name, have=have)) from None


def _hash_tree(root: Path) -> dict[str, str]:
    """``relative/posix/path -> sha256`` of every file under ``root``, sorted by path."""
    found: dict[str, str] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(_HASH_CHUNK):
                digest.update(chunk)
        found[path.relative_to(root).as_posix()] = digest.hexdigest()
    return found


def _quote(text: str) -> str:
    return text.replace("'", "''")
