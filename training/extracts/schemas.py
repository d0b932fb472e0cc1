"""One schema per agency extract, used on generated extracts and on real ones alike.

Each column is declared once (:data:`COLUMNS`): its Arrow type for writing, whether it may be
empty, and its allowed values or pattern. :func:`validate_extract` checks a table with pandera
and raises :class:`ExtractError` naming the file, the column, the check and the row numbers at
fault, never the values (they may be identifiers).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow
import pyarrow.parquet as pq

from governance.contracts.errors import ExtractError
from governance.contracts.layout import SOURCES

__all__ = [
    "COLUMNS",
    "EXTRACT_SCHEMA_VERSION",
    "Col",
    "arrow_schema",
    "read_extract",
    "validate_extract",
]

EXTRACT_SCHEMA_VERSION = "1.1"

_POSTCODE = r"^[A-Z]{1,2}[0-9][0-9A-Z]? [0-9][A-Z]{2}$"
_MAX_ROWS_SHOWN = 10
_BAD_COLUMN = "{path}: column '{column}' failed '{check}' in {n} row(s) (rows {rows})"
_MISSING = "{path}: missing column(s) {missing} for the {source} extract; expected {expected}"
_UNKNOWN_SOURCE = "unknown extract source {source!r}; sources are {sources}"


@dataclass(frozen=True)
class Col:
    """One extract column: Arrow type, nullability, allowed values or regex."""

    type: pa_arrow.DataType
    nullable: bool = False
    isin: tuple[str, ...] | None = None
    regex: str | None = None


_S, _D, _B, _I = pa_arrow.string(), pa_arrow.date32(), pa_arrow.bool_(), pa_arrow.int16()
_SEX = ("M", "F")
_DFE_ETHNICITY = ("WHIT", "MIXD", "ASIA", "BLAC", "OOEG", "NOBT", "REFU")

COLUMNS: dict[str, dict[str, Col]] = {
    "health": {
        "source": Col(_S, isin=("health",)),
        "record_id": Col(_S),
        "nhs_number": Col(_S, nullable=True, regex=r"^[0-9]{10}$"),
        "hospital_number": Col(_S, regex=r"^RH[0-9]{8}$"),
        "forename": Col(_S),
        "surname": Col(_S),
        "date_of_birth": Col(_D),
        "sex": Col(_S, isin=_SEX),
        "postcode": Col(_S, nullable=True, regex=_POSTCODE),
        "arrival_date": Col(_D),
        "ethnic_category": Col(_S, isin=tuple("ABCDEFGHJKLMNPRSZ")),
        "attendance_type": Col(_S, isin=("ae_attendance", "admission")),
        "diagnosis_category": Col(
            _S, isin=("accidental_injury", "illness", "self_harm", "assault", "sharp_object_injury")
        ),
    },
    "education": {
        "source": Col(_S, isin=("education",)),
        "record_id": Col(_S),
        "upn": Col(_S, regex=r"^[A-Z][0-9]{12}$"),
        "legal_forename": Col(_S),
        "legal_surname": Col(_S),
        "date_of_birth": Col(_D),
        "gender": Col(_S, isin=_SEX),
        "home_postcode": Col(_S, nullable=True, regex=_POSTCODE),
        "ethnicity": Col(_S, isin=_DFE_ETHNICITY),
        "record_type": Col(_S, isin=("census", "suspension", "permanent_exclusion")),
        "event_date": Col(_D),
        "academic_year": Col(_S, nullable=True, regex=r"^[0-9]{4}/[0-9]{2}$"),
        "nc_year": Col(_S, nullable=True, isin=tuple(f"Y{i}" for i in range(12))),
        "sessions_possible": Col(_I, nullable=True),
        "sessions_absent_autumn": Col(_I, nullable=True),
        "sessions_absent_spring": Col(_I, nullable=True),
        "sessions_absent_summer": Col(_I, nullable=True),
        "fsm_eligible": Col(_B, nullable=True),
        "sen_provision": Col(_S, nullable=True, isin=("N", "K", "E")),
        "exclusion_days": Col(_I, nullable=True),
    },
    "social_care": {
        "source": Col(_S, isin=("social_care",)),
        "record_id": Col(_S),
        "la_code": Col(_S, regex=r"^[A-Z][0-9]{8}$"),
        "la_child_id": Col(_S),
        "nhs_number": Col(_S, nullable=True, regex=r"^[0-9]{3} [0-9]{3} [0-9]{4}$"),
        "first_name": Col(_S),
        "last_name": Col(_S),
        "dob": Col(_D),
        "gender": Col(_S, isin=("1", "2")),
        "postcode": Col(_S, nullable=True, regex=_POSTCODE),
        "ethnicity": Col(_S, isin=_DFE_ETHNICITY),
        "event_type": Col(
            _S,
            isin=(
                "referral",
                "referral_nfa",
                "assessment",
                "cin_plan",
                "cp_plan",
                "looked_after",
                "missing_episode",
            ),
        ),
        "event_date": Col(_D),
        "end_date": Col(_D, nullable=True),
        "cp_category": Col(
            _S, nullable=True, isin=("neglect", "emotional_abuse", "physical_abuse", "sexual_abuse")
        ),
        "legal_status": Col(_S, nullable=True, isin=("C2", "V2", "J2")),
        "factor_domestic_abuse": Col(_B, nullable=True),
        "factor_parental_mental_health": Col(_B, nullable=True),
        "factor_parental_substance_misuse": Col(_B, nullable=True),
        "factor_parent_in_custody": Col(_B, nullable=True),
    },
    "police": {
        "source": Col(_S, isin=("police",)),
        "record_id": Col(_S),
        "crime_reference": Col(_S, regex=r"^CR[0-9]{10}$"),
        "nominal_id": Col(_S, nullable=True, regex=r"^PN[0-9]{8}$"),
        "forename": Col(_S),
        "surname": Col(_S),
        "date_of_birth": Col(_S, regex=r"^[0-9]{2}/[0-9]{2}/[0-9]{4}$"),
        "sex": Col(_S, isin=_SEX),
        "address_postcode": Col(_S, nullable=True, regex=_POSTCODE),
        "incident_type": Col(_S, isin=("domestic_abuse_incident", "crime")),
        "incident_date": Col(_D),
        "offence_group": Col(
            _S,
            nullable=True,
            isin=(
                "violence_against_person",
                "possession_of_weapons",
                "robbery",
                "theft",
                "drugs",
                "criminal_damage",
                "public_order",
            ),
        ),
        "role": Col(_S, isin=("child_present", "suspect", "victim")),
        "outcome": Col(
            _S, nullable=True, isin=("charge", "caution", "community_resolution", "nfa")
        ),
    },
}


def arrow_schema(source: str) -> pa_arrow.Schema:
    """The Arrow schema an extract of ``source`` is written with."""
    return pa_arrow.schema([(name, col.type) for name, col in _columns(source).items()])


def validate_extract(frame: pd.DataFrame, source: str, path: Path | str) -> None:
    """Check one extract against its schema; raise :class:`ExtractError` listing every fault."""
    cols = _columns(source)
    if missing := [c for c in cols if c not in frame.columns]:
        raise ExtractError(
            _MISSING.format(path=path, missing=missing, source=source, expected=list(cols))
        )
    try:
        _pandera_schema(source).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
        lines = []
        for (column, check), rows in cases.groupby(["column", "check"], dropna=False, sort=True)[
            "index"
        ]:
            shown = sorted({int(i) for i in rows.dropna()})[:_MAX_ROWS_SHOWN]
            lines.append(
                _BAD_COLUMN.format(path=path, column=column, check=check, n=len(rows), rows=shown)
            )
        raise ExtractError("\n".join(lines)) from None


def read_extract(path: Path | str, source: str) -> pd.DataFrame:
    """Read and validate one extract (Parquet or CSV)."""
    path = Path(path)
    columns = _columns(source)
    if not path.is_file():
        raise ExtractError(f"{path}: extract file not found")
    if path.suffix == ".csv":
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        for name, col in columns.items():
            if name in frame and col.type == _D:
                parsed = pd.to_datetime(frame[name], errors="coerce", format="%Y-%m-%d")
                bad = parsed.isna() & frame[name].notna()
                if bad.any():
                    rows = list(map(int, frame.index[bad][:_MAX_ROWS_SHOWN]))
                    raise ExtractError(
                        _BAD_COLUMN.format(
                            path=path,
                            column=name,
                            check="date YYYY-MM-DD",
                            n=int(bad.sum()),
                            rows=rows,
                        )
                    )
                frame[name] = parsed.dt.date
    else:
        frame = pq.read_table(path).to_pandas()
    validate_extract(frame, source, path)
    return frame


def _columns(source: str) -> dict[str, Col]:
    if source not in COLUMNS:
        raise ExtractError(_UNKNOWN_SOURCE.format(source=source, sources=list(SOURCES)))
    return COLUMNS[source]


def _pandera_schema(source: str) -> pa.DataFrameSchema:
    columns = {}
    for name, col in _columns(source).items():
        checks = []
        if col.isin is not None:
            checks.append(pa.Check.isin(list(col.isin)))
        if col.regex is not None:
            checks.append(pa.Check.str_matches(col.regex))
        columns[name] = pa.Column(nullable=col.nullable, checks=checks, required=True)
    unique_id = pa.Check(lambda s: ~s.duplicated(), element_wise=False, name="unique")
    columns["record_id"] = pa.Column(nullable=False, checks=[unique_id])
    return pa.DataFrameSchema(columns, strict=False, coerce=False)
