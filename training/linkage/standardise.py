"""Identifier standardisation and per-agency profiles, as SQL for DuckDB.

Pure functions returning SQL: names upper-cased with accents, punctuation and repeated spaces
removed; dates of birth parsed; postcodes re-spaced; NHS numbers kept only when their check
digit is valid; sex recoded. Records that share an agency's own person id (a hospital number,
a UPN) become one *profile* carrying the most common value of each field, so that Splink
compares people rather than repeated rows.
"""

from __future__ import annotations

from training.linkage.config import SourceMapping

__all__ = ["PROFILE_COLUMNS", "dob_expression", "profiles_sql", "standardised_sql"]

PROFILE_COLUMNS: tuple[str, ...] = (
    "unique_id",
    "source",
    "first_name",
    "surname",
    "full_name",
    "dob",
    "dob_text",
    "birth_year",
    "sex",
    "postcode",
    "postcode_district",
    "nhs_number",
    "first_initial",
    "surname_initial",
)


def _name(column: str) -> str:
    # hyphens separate name parts and apostrophes join them (O'Brien → OBRIEN)
    raw = f"replace(replace(CAST({column} AS VARCHAR), '-', ' '), chr(39), '')"
    letters = f"regexp_replace(upper(strip_accents({raw})), '[^A-Z ]', '', 'g')"
    return f"nullif(trim(regexp_replace({letters}, '\\s+', ' ', 'g')), '')"


def _postcode(column: str) -> str:
    squashed = f"regexp_replace(upper(CAST({column} AS VARCHAR)), '[^A-Z0-9]', '', 'g')"
    return (
        f"CASE WHEN length({squashed}) BETWEEN 5 AND 7 "
        f"THEN substr({squashed}, 1, length({squashed}) - 3) || ' ' || right({squashed}, 3) END"
    )


def _nhs_number(column: str) -> str:
    digits = f"regexp_replace(CAST({column} AS VARCHAR), '[^0-9]', '', 'g')"
    weighted = " + ".join(f"CAST(substr(d, {i}, 1) AS INTEGER) * {11 - i}" for i in range(1, 10))
    check = f"(11 - (({weighted}) % 11)) % 11"
    return (
        f"(SELECT CASE WHEN length(d) = 10 AND {check} <> 10 "
        f"AND {check} = CAST(substr(d, 10, 1) AS INTEGER) THEN d END FROM (SELECT {digits} AS d))"
    )


def dob_expression(mapping: SourceMapping) -> str:
    """The mapped date of birth parsed as a DATE (NULL where it does not parse)."""
    if mapping.dob_format is not None:
        text = f"CAST({_q(mapping.dob)} AS VARCHAR)"
        return f"CAST(try_strptime({text}, '{mapping.dob_format}') AS DATE)"
    return f"TRY_CAST({_q(mapping.dob)} AS DATE)"


def _sex(mapping: SourceMapping) -> str:
    if mapping.sex is None:
        return "CAST(NULL AS VARCHAR)"
    cases = " ".join(f"WHEN '{code}' THEN '{sex}'" for code, sex in mapping.sex_codes.items())
    return f"CASE trim(CAST({_q(mapping.sex)} AS VARCHAR)) {cases} END"


def _q(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _optional(column: str | None, expr: str) -> str:
    return "CAST(NULL AS VARCHAR)" if column is None else expr


def standardised_sql(source: str, table: str, mapping: SourceMapping) -> str:
    """One row per extract record with standardised identifiers and its profile key."""
    local = (
        f"coalesce(nullif(trim(CAST({_q(mapping.local_id)} AS VARCHAR)), ''), "
        f"'record:' || CAST({_q(mapping.record_id)} AS VARCHAR))"
        if mapping.local_id is not None
        else f"'record:' || CAST({_q(mapping.record_id)} AS VARCHAR)"
    )
    truth = (
        f"CAST({_q(mapping.truth_column)} AS VARCHAR)"
        if mapping.truth_column
        else "CAST(NULL AS VARCHAR)"
    )
    return f"""
    SELECT
        '{source}' AS source,
        CAST({_q(mapping.record_id)} AS VARCHAR) AS record_id,
        '{source}:' || {local} AS unique_id,
        {_name(_q(mapping.first_name))} AS first_name,
        {_name(_q(mapping.surname))} AS surname,
        {dob_expression(mapping)} AS dob,
        {_sex(mapping)} AS sex,
        {_optional(mapping.postcode, _postcode(_q(mapping.postcode or "")))} AS postcode,
        {_optional(mapping.nhs_number, _nhs_number(_q(mapping.nhs_number or "")))} AS nhs_number,
        {truth} AS truth_id
    FROM {table}
    """


def _most_common(column: str) -> str:
    """The most frequent non-null value; ties go to the smallest, so the result is stable."""
    entries = f"map_entries(histogram({column}))"
    return (
        f"list_min(list_transform({entries}, "
        f"lambda e: {{'n': -CAST(e.value AS BIGINT), 'k': e.key}})).k"
    )


def profiles_sql(records: str) -> str:
    """One row per profile (records sharing an agency id), each field its most common value."""
    first, last, dob, postcode = (
        _most_common(c) for c in ("first_name", "surname", "dob", "postcode")
    )
    return f"""
    SELECT *,
        first_name || ' ' || surname AS full_name,
        strftime(dob, '%Y-%m-%d') AS dob_text,
        year(dob) AS birth_year,
        regexp_extract(postcode, '^[A-Z]{{1,2}}[0-9][A-Z0-9]?') AS postcode_district,
        left(first_name, 1) AS first_initial,
        left(surname, 1) AS surname_initial
    FROM (
        SELECT
            unique_id,
            min(source) AS source,
            {first} AS first_name,
            {last} AS surname,
            {dob} AS dob,
            {_most_common("sex")} AS sex,
            {postcode} AS postcode,
            {_most_common("nhs_number")} AS nhs_number,
            count(*) AS n_records
        FROM {records}
        GROUP BY unique_id
    )
    ORDER BY unique_id
    """
