"""The agencies' extracts as a contract: their columns, types and allowed values (pandera)."""

from training.extracts.schemas import (
    EXTRACT_SCHEMA_VERSION,
    arrow_schema,
    read_extract,
    validate_extract,
)

__all__ = ["EXTRACT_SCHEMA_VERSION", "arrow_schema", "read_extract", "validate_extract"]
