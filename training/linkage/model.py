"""The Splink model: comparisons per identifier and the blocking rules that find candidates.

Comparisons (Fellegi-Sunter, m and u estimated from the data, no labels):

* names: exact on both, swapped, Jaro-Winkler ≥ 0.92 / 0.88 on both, surname or first name
  exact, else; term-frequency adjusted on the full name so that common names count for less;
* date of birth: exact, day and month transposed, one character apart (typed digit swaps),
  same year and month, within a year, else;
* postcode: exact unit, sector, district, area (people move nearby; extracts lag); or, for
  postcodes of any country (``postcode_format: any``), exact and one character apart;
* NHS number: exact where both have a valid one; sex: exact;
* each extra identifier declared in ``link.comparisons``, by its method (exact; text: exact,
  Jaro-Winkler levels, term-frequency adjusted; identifier: exact, one character apart;
  number: equal, within the tolerance).

Blocking rules keep recall high while bounding pairs: any shared valid NHS number; same date
of birth with the same surname or first-name initial; same birth year with the same full
name; the same postcode and birth year; and the names-swapped case.
"""

from __future__ import annotations

import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import SettingsCreator, block_on
from splink.internals.blocking_rule_creator import BlockingRuleCreator
from splink.internals.comparison_creator import ComparisonCreator

from training.linkage.config import ExtraComparison, LinkConfig, PostcodeFormat

__all__ = ["blocking_rules", "extra_comparison", "settings", "training_rules"]


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


def _postcode_comparison(postcode_format: PostcodeFormat) -> ComparisonCreator:
    if postcode_format == "uk":
        return cl.PostcodeComparison("postcode")
    return cl.DamerauLevenshteinAtThresholds("postcode", [1])


def extra_comparison(name: str, comparison: ExtraComparison) -> ComparisonCreator:
    """The Splink comparison of one extra identifier, by its method."""
    if comparison.method == "exact":
        return cl.ExactMatch(name)
    if comparison.method == "identifier":
        return cl.DamerauLevenshteinAtThresholds(name, [1])
    if comparison.method == "text":
        return cl.JaroWinklerAtThresholds(name, [0.92, 0.8]).configure(
            term_frequency_adjustments=True
        )
    return cl.CustomComparison(
        output_column_name=name,
        comparison_levels=[
            cll.NullLevel(name),
            cll.ExactMatchLevel(name),
            cll.AbsoluteDifferenceLevel(name, comparison.within),
            cll.ElseLevel(),
        ],
        comparison_description=f"{name}: equal, within {comparison.within:g}",
    )


def settings(config: LinkConfig | None = None) -> SettingsCreator:
    """Settings for deduplicating profiles from every agency at once."""
    config = config or LinkConfig()
    extras = [extra_comparison(n, c) for n, c in config.comparisons.items()]
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=[
            cl.ForenameSurnameComparison(
                "first_name", "surname", forename_surname_concat_col_name="full_name"
            ),
            _dob_comparison(),
            _postcode_comparison(config.postcode_format),
            cl.ExactMatch("nhs_number"),
            cl.ExactMatch("sex"),
            *extras,
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
