"""The linked events: every extract record as (person, date, kind, value), and person facts.

Pure SQL generators over the extracts and the spine. ``kind`` names what happened (an A&E
diagnosis, a census fact, a social care event, a police role and offence group), so that each
feature is one filter over one table.

The SQL is written once, in DuckDB's dialect, within a subset that sqlglot transpiles to Spark
SQL with the same meaning: no ``mode``, ``strptime`` or ``EXCLUDE``, and every choice among tied
values is explicit, so that both engines pick the same one. The extracts and the spine are
relations (views) that the caller has registered; the SQL does not know where they are stored.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "RECORD_DATE",
    "events_sql",
    "label_condition",
    "person_facts_sql",
    "persons_sql",
    "residence_sql",
]

_SERIOUS_GROUPS = ("violence_against_person", "possession_of_weapons", "robbery")
#: each extract's record date: when the agency saw the young person (and what it recorded)
RECORD_DATE = {
    "health": "arrival_date",
    "education": "event_date",
    "social_care": "event_date",
    "police": "incident_date",
}


def events_sql(extract: dict[str, str], spine: str) -> str:
    """One row per fact: ``person_key, source, event_date, kind, value``.

    ``extract`` maps each source to the relation holding its extract; ``spine`` names the spine.
    """

    def joined(source: str, alias: str) -> str:
        return (
            f"FROM {extract[source]} {alias} "
            f"JOIN {spine} s ON s.source = '{source}' AND s.record_id = {alias}.record_id"
        )

    census = f"{joined('education', 'x')} WHERE x.record_type = 'census'"
    rate = (
        "(x.sessions_absent_autumn + x.sessions_absent_spring + x.sessions_absent_summer)"
        " / nullif(x.sessions_possible, 0)"
    )
    parts = [
        f"SELECT s.person_key, 'health' AS source, x.arrival_date AS event_date, "
        f"x.diagnosis_category AS kind, NULL::DOUBLE AS value {joined('health', 'x')}",
        f"SELECT s.person_key, 'health', x.arrival_date, 'admission', NULL {joined('health', 'x')} "
        "WHERE x.attendance_type = 'admission'",
        f"SELECT s.person_key, 'education', x.event_date, 'absence_rate', {rate} {census}",
        f"SELECT s.person_key, 'education', x.event_date, 'persistent_absence', NULL {census} AND {rate} >= 0.1",
        f"SELECT s.person_key, 'education', x.event_date, 'fsm', NULL {census} AND x.fsm_eligible",
        f"SELECT s.person_key, 'education', x.event_date, 'sen_support', NULL {census} AND x.sen_provision = 'K'",
        f"SELECT s.person_key, 'education', x.event_date, 'ehcp', NULL {census} AND x.sen_provision = 'E'",
        f"SELECT s.person_key, 'education', x.event_date, x.record_type, x.exclusion_days "
        f"{joined('education', 'x')} WHERE x.record_type <> 'census'",
        f"SELECT s.person_key, 'social_care', x.event_date, x.event_type, NULL {joined('social_care', 'x')}",
        *(
            f"SELECT s.person_key, 'social_care', x.event_date, '{factor}', NULL "
            f"{joined('social_care', 'x')} WHERE x.{factor}"
            for factor in (
                "factor_domestic_abuse",
                "factor_parental_mental_health",
                "factor_parental_substance_misuse",
                "factor_parent_in_custody",
            )
        ),
        f"SELECT s.person_key, 'police', x.incident_date, "
        f"CASE WHEN x.role = 'child_present' THEN 'da_incident' ELSE x.role || ':' || x.offence_group END, "
        f"NULL {joined('police', 'x')}",
        f"SELECT s.person_key, 'police', x.incident_date, 'proven:' || x.offence_group, NULL "
        f"{joined('police', 'x')} WHERE x.role = 'suspect' AND x.outcome IN ('charge', 'caution')",
    ]
    return "\nUNION ALL\n".join(parts)


def label_condition(outcome: str) -> str:
    """Events that count as involvement in serious violence, for the configured outcome."""
    victim = "e.kind IN ('assault', 'sharp_object_injury')"
    perpetrator = f"e.kind IN {tuple(f'proven:{g}' for g in _SERIOUS_GROUPS)}"
    return {"victim": victim, "perpetrator": perpetrator, "either": f"({victim} OR {perpetrator})"}[
        outcome
    ]


def person_facts_sql(extract: dict[str, str], spine: str) -> str:
    """Every date of birth, sex and ethnic group an agency recorded for a linked person, and when.

    ``event_date`` is the record's date (:data:`RECORD_DATE`): what an agency recorded after
    an as-of date was not known then, so :func:`persons_sql` reads only earlier records.
    """
    nhs_group = (
        "CASE WHEN x.ethnic_category IN ('A','B','C') THEN 'White' "
        "WHEN x.ethnic_category IN ('D','E','F','G') THEN 'Mixed' "
        "WHEN x.ethnic_category IN ('H','J','K','L') THEN 'Asian' "
        "WHEN x.ethnic_category IN ('M','N','P') THEN 'Black' "
        "WHEN x.ethnic_category IN ('R','S') THEN 'Other' END"
    )
    dfe_group = (
        "CASE x.ethnicity WHEN 'WHIT' THEN 'White' WHEN 'MIXD' THEN 'Mixed' WHEN 'ASIA' THEN 'Asian' "
        "WHEN 'BLAC' THEN 'Black' WHEN 'OOEG' THEN 'Other' END"
    )

    def joined(source: str) -> str:
        return (
            f"FROM {extract[source]} x "
            f"JOIN {spine} s ON s.source = '{source}' AND s.record_id = x.record_id"
        )

    return "\nUNION ALL\n".join(
        [
            f"SELECT s.person_key, x.{RECORD_DATE['health']} AS event_date, x.date_of_birth AS dob, "
            f"x.sex, {nhs_group} AS ethnicity {joined('health')}",
            f"SELECT s.person_key, x.{RECORD_DATE['education']}, x.date_of_birth, x.gender, "
            f"{dfe_group} {joined('education')}",
            f"SELECT s.person_key, x.{RECORD_DATE['social_care']}, x.dob, "
            f"CASE x.gender WHEN '1' THEN 'M' WHEN '2' THEN 'F' END, {dfe_group} "
            f"{joined('social_care')}",
            f"SELECT s.person_key, x.{RECORD_DATE['police']}, "
            f"{_day_month_year('x.date_of_birth')}, x.sex, NULL {joined('police')}",
        ]
    )


def persons_sql(facts: str, as_of_dates: Sequence[object]) -> str:
    """One row per linked person and as-of date: most common date of birth, sex and ethnic group.

    ``facts`` is a relation of :func:`person_facts_sql`. Only records dated before the as-of
    date count: a sex, ethnic group or date of birth first recorded later was not known then
    (and a corrected date of birth would move a young person in or out of the cohort). A tie
    between values seen equally often goes to the smallest (the earliest date of birth), on
    every engine.
    """
    fields = ("dob", "sex", "ethnicity")
    dates = " UNION ALL ".join(f"SELECT DATE '{d}' AS as_of_date" for d in as_of_dates)
    known = (
        f"(SELECT f.*, a.as_of_date FROM {facts} f JOIN ({dates}) a ON f.event_date < a.as_of_date)"
    )
    joins = "\n".join(
        f"LEFT JOIN ({_most_common(known, f)}) m_{f} USING (person_key, as_of_date)" for f in fields
    )
    return f"""
    SELECT p.person_key, p.as_of_date, {", ".join(f"m_{f}.{f}" for f in fields)}
    FROM (SELECT DISTINCT person_key, as_of_date FROM {known} k) p
    {joins}
    """


def _most_common(table: str, field: str) -> str:
    """Each person's most frequent non-null ``field`` by as-of date; ties go to the smallest."""
    return f"""
    SELECT person_key, as_of_date, {field} FROM (
        SELECT person_key, as_of_date, {field},
               row_number() OVER (
                   PARTITION BY person_key, as_of_date ORDER BY count(*) DESC, {field}
               ) AS rank
        FROM {table} t WHERE {field} IS NOT NULL GROUP BY person_key, as_of_date, {field})
    WHERE rank = 1"""


def _day_month_year(column: str) -> str:
    """A 'dd/mm/yyyy' text as a DATE; NULL where it is not a date (portable: no strptime)."""
    part = [f"split_part({column}, '/', {i})" for i in (3, 2, 1)]
    return f"TRY_CAST({part[0]} || '-' || {part[1]} || '-' || {part[2]} AS DATE)"


def residence_sql(extract: dict[str, str], spine: str) -> str:
    """Every (person, date, postcode) an agency recorded: where a person lived, and when."""
    postcodes = {
        "health": "postcode",
        "education": "home_postcode",
        "social_care": "postcode",
        "police": "address_postcode",
    }
    columns = {source: (RECORD_DATE[source], postcode) for source, postcode in postcodes.items()}
    return "\nUNION ALL\n".join(
        f"SELECT s.person_key, x.{date} AS event_date, x.{postcode} AS postcode "
        f"FROM {extract[source]} x "
        f"JOIN {spine} s ON s.source = '{source}' AND s.record_id = x.record_id "
        f"WHERE x.{postcode} IS NOT NULL"
        for source, (date, postcode) in columns.items()
    )
