"""The error family of vru-risk.

Every error a user can cause is a :class:`VruError`; each subclass also inherits the builtin
it refines, so callers may catch either. Messages say what was given, what is allowed and
where (file, key or column). They never contain an individual's row or identifier.
"""

from __future__ import annotations

__all__ = ["AuditInputError", "ConfigError", "ExtractError", "VruError"]


class VruError(Exception):
    """Base of every error that vru-risk raises on purpose."""


class ConfigError(VruError, ValueError):
    """A configuration file, key or value is missing or not allowed."""


class ExtractError(VruError, ValueError):
    """An agency extract (or a file standing in for one) does not meet its schema."""


class AuditInputError(VruError, ValueError):
    """What an audit was given cannot be audited: a missing column, no rows, a bad option."""
