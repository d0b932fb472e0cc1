"""The Splink model: comparisons per identifier and the blocking rules that find candidates.

Comparisons (Fellegi-Sunter, m and u estimated from the data, no labels):

* names: exact on both, swapped, Jaro-Winkler ≥ 0.92 / 0.88 on both, surname or first name
  exact, else; term-frequency adjusted on the full name so that common names count for less;
* date of birth: exact, day and month transposed, one character apart (typed digit swaps),
  same year and month, within a year, else;
* postcode: exact unit, sector, district, area (people move nearby; extracts lag);
* NHS number: exact where both have a valid one; sex: exact.

Blocking rules keep recall high while bounding pairs: any shared valid NHS number; same date
of birth with the same surname or first-name initial; same birth year with the same full
name; the same postcode and birth year; and the names-swapped case.
"""

from __future__ import annotations

import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import SettingsCreator, block_on
from splink.internals.blocking_rule_creator import BlockingRuleCreator

__all__ = ["blocking_rules", "settings", "training_rules"]


def _dob_comparison() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="dob",
        comparison_levels=[
            cll.NullLevel("dob"),
            cll.ExactMatchLevel("dob"),
            cll.CustomLevel(
                "month(dob_l) = day(dob_r) AND day(dob_l) = month(dob_r) "
                "AND year(dob_l) = year(dob_r)",
                label_for_charts="Day and month transposed",
            ),
            cll.DamerauLevenshteinLevel("dob_text", 1).configure(
                label_for_charts="One character apart"
            ),
            cll.CustomLevel(
                "year(dob_l) = year(dob_r) AND month(dob_l) = month(dob_r)",
                label_for_charts="Same year and month",
            ),
            cll.AbsoluteDateDifferenceLevel(
                "dob", input_is_string=False, threshold=1, metric="year"
            ),
            cll.ElseLevel(),
        ],
        comparison_description="Date of birth",
    )


def settings() -> SettingsCreator:
    """Settings for deduplicating profiles from every agency at once."""
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=[
            cl.ForenameSurnameComparison(
                "first_name", "surname", forename_surname_concat_col_name="full_name"
            ),
            _dob_comparison(),
            cl.PostcodeComparison("postcode"),
            cl.ExactMatch("nhs_number"),
            cl.ExactMatch("sex"),
        ],
        blocking_rules_to_generate_predictions=blocking_rules(),
        additional_columns_to_retain=["source"],
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )


def blocking_rules() -> list[BlockingRuleCreator | str]:
    """Rules that generate the candidate pairs to score (their union)."""
    return [
        block_on("nhs_number"),
        block_on("dob", "surname_initial"),
        block_on("dob", "first_initial"),
        block_on("birth_year", "first_name", "surname"),
        block_on("postcode", "birth_year"),
        "l.dob = r.dob AND l.first_name = r.surname AND l.surname = r.first_name",
    ]


def training_rules() -> dict[str, list[BlockingRuleCreator | str]]:
    """Exact rules for the match prior, and blocks whose pairs train m by EM."""
    return {
        "deterministic": [
            block_on("nhs_number"),
            block_on("first_name", "surname", "dob"),
        ],
        "em": [block_on("dob"), block_on("first_name", "surname")],
    }
