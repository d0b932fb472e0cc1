"""Contracts that several stages rely on: errors, config loading, the data directory layout."""

from governance.contracts.config import load_config
from governance.contracts.errors import ConfigError, ExtractError, VruError
from governance.contracts.layout import DataLayout

__all__ = ["ConfigError", "DataLayout", "ExtractError", "VruError", "load_config"]
