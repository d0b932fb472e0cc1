"""Identifier standardisation and per-agency profiles, as SQL for DuckDB.

Pure functions returning SQL: names upper-cased with accents, punctuation and repeated spaces
removed; dates of birth parsed; postcodes re-spaced (UK) or squashed to letters and digits (any
country); NHS numbers kept only when their check digit is valid; sex recoded; extra
identifiers standardised by their comparison method. A value that does not parse becomes
missing; :func:`invalid_sql` counts such values per column so that the run can report them
(row numbers, never values) and refuse a column that is mostly unparseable. Records that share an agency's own person id (a hospital number,
a UPN) become one *profile* carrying the most common value of each field, so that Splink
compares people rather than repeated rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from training.linkage.config import (
    PROFILE_COLUMNS,
    ExtraComparison,
    PostcodeFormat,
    SourceMapping,
)

__all__ = [
    "PROFILE_COLUMNS",
    "Checked",
    "checked_columns",
    "dob_expression",
    "invalid_sql",
    "profiles_sql",
    "standardised_sql",
]

# a UK unit postcode, spaces removed: area, district, sector digit, unit letters
_UK_POSTCODE = "^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}$"


def _name(column: str) -> str:
    # hyphens separate name parts and apostrophes join them (O'Brien → OBRIEN)
    raw = f"replace(replace(CAST({column} AS VARCHAR), '-', ' '), chr(39), '')"
    letters = f"regexp_replace(upper(strip_accents({raw})), '[^A-Z ]', '', 'g')"
    return f"nullif(trim(regexp_replace({letters}, '\\s+', ' ', 'g')), '')"


def _squashed(column: str) -> str:
    """Letters and digits only, upper-cased, accents stripped."""
    return f"regexp_replace(upper(strip_accents(CAST({column} AS VARCHAR))), '[^A-Z0-9]', '', 'g')"


def _postcode(column: str, postcode_format: PostcodeFormat = "uk") -> str:
    squashed = _squashed(column)
    if postcode_format == "any":
        return f"nullif({squashed}, '')"
    return (
        f"CASE WHEN regexp_full_match({squashed}, '{_UK_POSTCODE}') "
        f"THEN substr({squashed}, 1, length({squashed}) - 3) || ' ' || right({squashed}, 3) END"
    )


def _extra(column: str, comparison: ExtraComparison) -> str:
    """An extra identifier standardised for its method (NULL when blank or unparseable)."""
    raw = f"CAST({column} AS VARCHAR)"
    if comparison.method == "number":
        return f"TRY_CAST(trim({raw}) AS DOUBLE)"
    if comparison.method == "identifier":
        return f"nullif({_squashed(column)}, '')"
    if comparison.method == "exact":
        return f"nullif(upper(trim({raw})), '')"
    words = f"regexp_replace(upper(strip_accents({raw})), '[^A-Z0-9]+', ' ', 'g')"
    return f"nullif(trim({words}), '')"


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


def _extras(
    mapping: SourceMapping,
    comparisons: Mapping[str, ExtraComparison],
    groups: Sequence[str],
) -> str:
    """Every declared extra and group column, NULL where this source does not map it."""
    out = []
    for name, comparison in comparisons.items():
        column = mapping.columns.get(name)
        null = "CAST(NULL AS DOUBLE)" if comparison.method == "number" else "CAST(NULL AS VARCHAR)"
        out.append(f"{null if column is None else _extra(_q(column), comparison)} AS {name}")
    for name in groups:
        column = mapping.groups.get(name)
        value = "NULL" if column is None else f"nullif(trim(CAST({_q(column)} AS VARCHAR)), '')"
        out.append(f"CAST({value} AS VARCHAR) AS group_{name}")
    return "".join(f",\n        {c}" for c in out)


@dataclass(frozen=True)
class Checked:
    """A mapped column whose unparseable values are counted: what it holds and how it parses."""

    field: str  # dob, postcode, or an extra comparison's name
    column: str  # the extract's column
    expected: str  # what a valid value is, in words for the error message
    raw: str  # SQL: the raw value as text
    parsed: str  # SQL: the standardised value, NULL where it does not parse


def checked_columns(
    mapping: SourceMapping,
    postcode_format: PostcodeFormat = "uk",
    comparisons: Mapping[str, ExtraComparison] | None = None,
) -> list[Checked]:
    """The columns of one extract whose values must parse: dates, postcodes, numbers."""
    dob_words = (
        f"dates of birth in the format '{mapping.dob_format}'"
        if mapping.dob_format
        else "dates of birth (a date, or text as YYYY-MM-DD; else set dob_format)"
    )
    out = [
        Checked(
            "dob",
            mapping.dob,
            dob_words,
            f"CAST({_q(mapping.dob)} AS VARCHAR)",
            dob_expression(mapping),
        )
    ]
    if mapping.postcode is not None:
        words = (
            "UK postcodes (set link.postcode_format: any for other countries)"
            if postcode_format == "uk"
            else "postcodes with at least one letter or digit"
        )
        out.append(
            Checked(
                "postcode",
                mapping.postcode,
                words,
                f"CAST({_q(mapping.postcode)} AS VARCHAR)",
                _postcode(_q(mapping.postcode), postcode_format),
            )
        )
    for name, comparison in (comparisons or {}).items():
        column = mapping.columns.get(name)
        if column is not None and comparison.method == "number":
            out.append(
                Checked(
                    name,
                    column,
                    "numbers",
                    f"CAST({_q(column)} AS VARCHAR)",
                    _extra(_q(column), comparison),
                )
            )
    return out


def invalid_sql(table: str, checked: Sequence[Checked], first: int = 10) -> str:
    """The record count, then each checked column's unparseable count and first records.

    One row; record numbers count from 1 (the extract's first record), at most ``first`` each.
    """
    flags = ", ".join(
        f"({c.raw} IS NOT NULL AND trim({c.raw}) <> '' AND {c.parsed} IS NULL) AS bad_{i}"
        for i, c in enumerate(checked)
    )
    counts = ", ".join(
        f"count(*) FILTER (WHERE bad_{i}), "
        f"coalesce(list(rn ORDER BY rn) FILTER (WHERE bad_{i}), [])[1:{first}]"
        for i in range(len(checked))
    )
    return (
        f"SELECT count(*), {counts} FROM (SELECT row_number() OVER () AS rn, {flags} FROM {table})"
    )


def standardised_sql(
    source: str,
    table: str,
    mapping: SourceMapping,
    *,
    postcode_format: PostcodeFormat = "uk",
    comparisons: Mapping[str, ExtraComparison] | None = None,
    groups: Sequence[str] = (),
) -> str:
    """One row per extract record with standardised identifiers and its profile key.

    ``comparisons`` and ``groups`` are the whole linkage's (every source yields every column,
    so that the sources stack); a source that does not map one gets NULL.
    """
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
        {_optional(mapping.postcode, _postcode(_q(mapping.postcode or ""), postcode_format))}
            AS postcode,
        {_optional(mapping.nhs_number, _nhs_number(_q(mapping.nhs_number or "")))} AS nhs_number,
        {truth} AS truth_id{_extras(mapping, comparisons or {}, groups)}
    FROM {table}
    """


def _most_common(column: str) -> str:
    """The most frequent non-null value; ties go to the smallest, so the result is stable."""
    entries = f"map_entries(histogram({column}))"
    return (
        f"list_min(list_transform({entries}, "
        f"lambda e: {{'n': -CAST(e.value AS BIGINT), 'k': e.key}})).k"
    )


def profiles_sql(
    records: str, postcode_format: PostcodeFormat = "uk", extras: Sequence[str] = ()
) -> str:
    """One row per profile (records sharing an agency id), each field its most common value."""
    first, last, dob, postcode = (
        _most_common(c) for c in ("first_name", "surname", "dob", "postcode")
    )
    district = (
        "regexp_extract(postcode, '^[A-Z]{1,2}[0-9][A-Z0-9]?')"
        if postcode_format == "uk"
        else "CAST(NULL AS VARCHAR)"
    )
    extra = "".join(f",\n            {_most_common(name)} AS {name}" for name in extras)
    return f"""
    SELECT *,
        first_name || ' ' || surname AS full_name,
        strftime(dob, '%Y-%m-%d') AS dob_text,
        year(dob) AS birth_year,
        {district} AS postcode_district,
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
            count(*) AS n_records{extra}
        FROM {records}
        GROUP BY unique_id
    )
    ORDER BY unique_id
    """
