"""Load YAML configuration into frozen pydantic models; errors name file, key and value."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from governance.contracts.errors import ConfigError

__all__ = ["config_hash", "load_config", "validate_config"]

M = TypeVar("M", bound=BaseModel)

_BAD_KEY = "{path}: '{key}' {msg} (got {value!r})"
_NOT_FOUND = "{path}: config file not found"
_NOT_YAML = "{path}: not valid YAML ({err})"
_NOT_MAPPING = "{path}: expected a mapping of keys to values at the top level, got {kind}"


def load_config(
    path: Path | str | None, model: type[M], overrides: dict[str, Any] | None = None
) -> M:
    """Read a YAML file and validate it against ``model``; every problem is reported at once.

    Parameters
    ----------
    path
        The YAML file. ``None`` means "no file": the model's defaults apply.
    model
        The pydantic model that owns the file.
    overrides
        Dotted keys (``"generate.persons"``) set after reading the file, e.g. from CLI flags.
        They are validated like the file's own values.
    """
    raw: Any = {}
    label = "<defaults>"
    if path is not None:
        path = Path(path)
        label = str(path)
        if not path.is_file():
            raise ConfigError(_NOT_FOUND.format(path=path))
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(
                _NOT_YAML.format(path=path, err=str(err).replace("\n", " "))
            ) from None
        if not isinstance(raw, dict):
            raise ConfigError(_NOT_MAPPING.format(path=path, kind=type(raw).__name__))
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    for dotted, value in given.items():
        _set_dotted(raw, dotted, value)
    if given:
        label += f" (with command-line {', '.join(sorted(given))})"
    return validate_config(raw, model, label)


def validate_config(raw: dict[str, Any], model: type[M], label: str) -> M:
    """Validate an already-parsed mapping; ``label`` names its origin in error messages."""
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        lines = [
            _BAD_KEY.format(
                path=label,
                key=".".join(map(str, e["loc"])) or "<top>",
                msg=e["msg"],
                value=e.get("input"),
            )
            for e in err.errors()
        ]
        raise ConfigError("\n".join(lines)) from None


def config_hash(config: BaseModel) -> str:
    """SHA-256 of a config's canonical JSON: the same settings always give the same hash."""
    payload = json.dumps(config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def _set_dotted(raw: dict[str, Any], dotted: str, value: Any) -> None:
    node = raw
    *parents, leaf = dotted.split(".")
    for key in parents:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"'{key}' must be a mapping to set '{dotted}' (got {child!r})")
        node = child
    node[leaf] = value
