"""Attacks on the release table's last check, :func:`check_no_individuals`.

Each test makes the table unsafe in one way and asserts the refusal and its message; a
one-line change to the check (``make mutation``) trips at least one of them. The table is a
ward of four LSOAs, disclosure-controlled for real, then edited as an attacker would.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from governance.disclosure import (
    DisclosureConfig,
    DisclosureError,
    apply_disclosure_control,
    check_no_individuals,
    without_negative_zeros,
)
from tests.governance.test_disclosure import _hand_table

RULES = DisclosureConfig(method="threshold", hierarchy=(("ward", "lsoa"),))
COUNT = "count_looked_after"


@pytest.fixture
def table() -> pd.DataFrame:
    """Published: the ward (count 70) and L1, L2 (15, 20); L0 and L3 withheld as complements."""
    made = apply_disclosure_control(_hand_table([12, 15, 20, 25]), RULES).table
    check_no_individuals(made, RULES)
    assert made[COUNT].isna().tolist() == [False, True, False, False, True]
    return made


def _refusal(table: pd.DataFrame, rules: DisclosureConfig = RULES) -> str:
    with pytest.raises(DisclosureError) as refused:
        check_no_individuals(table, rules)
    return str(refused.value)


def _with(table: pd.DataFrame, code: str, **values: object) -> pd.DataFrame:
    changed = table.copy()
    row = changed.index[changed["code"] == code][0]
    for column, value in values.items():
        changed.loc[row, column] = value
    return changed


def test_check_no_individuals_refuses_small_published_counts(table: pd.DataFrame) -> None:
    """The attack: let a count of 5 (a multiple of the base) through below the threshold of 10."""
    message = _refusal(_with(table, "L1", **{COUNT: 5}))
    assert message == (
        "release table: column 'count_looked_after' has 1 published count(s) below 10, "
        "e.g. in ['L1']"
    )


def test_a_published_count_at_the_threshold_is_allowed(table: pd.DataFrame) -> None:
    check_no_individuals(_with(table, "L1", **{COUNT: 10}), RULES)


def test_a_published_zero_count_is_refused_unless_zeros_are_structural(table: pd.DataFrame) -> None:
    zero = _with(table, "L2", **{COUNT: 0})
    assert "has 1 published count(s) below 10, e.g. in ['L2']" in _refusal(zero)
    structural = RULES.model_copy(update={"zeros_disclosive": False})
    check_no_individuals(zero, structural)
    # a structural zero does not let a small non-zero count through
    small = _with(zero, "L1", **{COUNT: 5})
    assert "has 1 published count(s) below 10, e.g. in ['L1']" in _refusal(small, structural)


def test_the_threshold_is_min_count_rounded_to_the_base(table: pd.DataFrame) -> None:
    """min_count 13 publishes as 15 under base 5: a count of 10 is then too small."""
    rules = RULES.model_copy(update={"min_count": 13})
    assert "below 15, e.g. in ['L1']" in _refusal(_with(table, "L1", **{COUNT: 10}), rules)
    check_no_individuals(_with(table, "L1", **{COUNT: 15}), rules)
    # 12 rounds down to 10
    check_no_individuals(
        _with(table, "L1", **{COUNT: 10}), RULES.model_copy(update={"min_count": 12})
    )


def test_an_unrounded_count_is_refused(table: pd.DataFrame) -> None:
    message = _refusal(_with(table, "L2", **{COUNT: 21}))
    assert message == (
        "release table: column 'count_looked_after' has 1 published value(s) that are not "
        "multiples of rounding_base 5, e.g. in ['L2']"
    )


def test_a_count_published_while_flagged_withheld_is_refused(table: pd.DataFrame) -> None:
    flagged = _with(table, "L1", **{f"{COUNT}_suppressed": True})
    assert _refusal(flagged) == (
        "release table: 'count_looked_after' is published where "
        "'count_looked_after_suppressed' is true, e.g. in ['L1']"
    )


def test_a_withheld_count_put_back_is_refused(table: pd.DataFrame) -> None:
    """L0's count was withheld (12, a complement): publishing it with the flag still set."""
    assert "published where 'count_looked_after_suppressed' is true, e.g. in ['L0']" in (
        _refusal(_with(table, "L0", **{COUNT: 10}))
    )


def test_a_small_published_area_is_refused(table: pd.DataFrame) -> None:
    message = _refusal(_with(table, "L2", population=5))
    assert message == (
        "release table: 1 published area(s) have population below 10 "
        "(min_count 10 rounded to base 5), e.g. ['L2']"
    )


def test_a_published_area_at_the_threshold_is_allowed(table: pd.DataFrame) -> None:
    expected = float(table.loc[table["code"] == "L2", "expected"].iloc[0])
    at_threshold = _with(table, "L2", population=10, rate_per_1000=round(100 * expected, 1))
    check_no_individuals(at_threshold, RULES)


@pytest.mark.parametrize(
    ("column", "scale", "step"), [("mean_risk_raw", 1, 0.01), ("rate_per_1000", 1000, 0.1)]
)
def test_a_mean_or_rate_not_made_from_the_published_expected_is_refused(
    table: pd.DataFrame, column: str, scale: int, step: float
) -> None:
    """The attack it stops: a raw mean times the population undid the rounding of expected.

    L1 publishes 30 young people, so its raw mean has 2 decimals and its rate 1.
    """
    ratio = table["expected"] / table["population"].astype(float)
    derived = table.assign(mean_risk_raw=ratio.round(3), rate_per_1000=(1000 * ratio).round(1))
    check_no_individuals(derived)
    want = scale * float(ratio[derived["code"] == "L1"].iloc[0])
    check_no_individuals(_with(derived, "L1", **{column: want + 0.99 * step / 2}))
    leaky = _with(derived, "L1", **{column: want + 1.01 * step / 2})
    assert _refusal(leaky) == (
        f"release table: column {column!r} is not the published expected over the published "
        "population in 1 area(s), e.g. ['L1']; a mean or rate made from the unrounded expected "
        "undoes its rounding"
    )


def test_a_published_area_without_a_population_is_refused(table: pd.DataFrame) -> None:
    assert "1 published area(s) have population below 10" in _refusal(
        _with(table, "L1", population=np.nan)
    )


def test_an_unrounded_population_is_refused(table: pd.DataFrame) -> None:
    assert "column 'population' has 1 published value(s) that are not multiples" in _refusal(
        _with(table, "L1", population=31)
    )


def test_a_suppressed_area_may_publish_a_small_population_of_nothing(
    table: pd.DataFrame,
) -> None:
    """A suppressed area publishes only its identity: every figure null, flags aside."""
    hidden = _with(table, "L3", suppressed=True, suppression_reason="primary")
    figures = [
        c
        for c in table.columns
        if c not in ("level", "code", "name", "parent_code")
        and c not in ("suppressed", "suppression_reason")
        and not c.endswith("_suppressed")
    ]
    hidden.loc[hidden["code"] == "L3", figures] = None
    check_no_individuals(hidden, RULES)
    for column in figures:
        leaky = _with(hidden, "L3", **{column: 5})
        assert _refusal(leaky) == (
            f"release table: suppressed area(s) ['L3'] still publish figures in "
            f"column(s) ['{column}']"
        ), column


@pytest.mark.parametrize(
    "column",
    [
        "person_key",
        "person_id",
        "record_id",
        "score",
        "risk",
        "shrinkage_weight",
        "within_variance",
    ],
)
def test_a_forbidden_column_is_refused(table: pd.DataFrame, column: str) -> None:
    assert _refusal(table.assign(**{column: 1})) == (
        f"release table: column(s) ['{column}'] may not be published "
        "(identifiers, scores or inputs)"
    )


@pytest.mark.parametrize(
    "column",
    ["age", "count_Looked", "prevalence_a-b", "contrib_", "counts_x", "count_x_suppressed_y!"],
)
def test_a_column_outside_the_contract_is_refused(table: pd.DataFrame, column: str) -> None:
    assert _refusal(table.assign(**{column: 1})) == (
        f"release table: column(s) [{column!r}] may not be published (not in the release contract)"
    )


@pytest.mark.parametrize("column", ["code", "suppressed", "population"])
def test_a_table_without_a_column_the_checks_read_is_refused(
    table: pd.DataFrame, column: str
) -> None:
    message = _refusal(table.drop(columns=[column]))
    assert message == (
        f"areas: missing column(s) ['{column}']; disclosure control needs ['code', 'suppressed']"
    )


def test_the_default_rules_are_applied_when_none_are_given(table: pd.DataFrame) -> None:
    check_no_individuals(table)
    with pytest.raises(DisclosureError, match="below 10"):
        check_no_individuals(_with(table, "L1", **{COUNT: 5}))


@pytest.fixture
def eight() -> pd.DataFrame:
    """A ward of eight published LSOAs, for refusals that name at most five areas."""
    return apply_disclosure_control(_hand_table([15] * 8), RULES).table


SIX = [f"L{i}" for i in range(6)]
FIVE = SIX[:5]


def _six(table: pd.DataFrame, **values: object) -> pd.DataFrame:
    changed = table.copy()
    rows = changed["code"].isin(SIX)
    for column, value in values.items():
        changed.loc[rows, column] = value
    return changed


def test_a_refusal_names_at_most_five_small_counts(eight: pd.DataFrame) -> None:
    assert _refusal(_six(eight, **{COUNT: 5})) == (
        f"release table: column 'count_looked_after' has 6 published count(s) below 10, "
        f"e.g. in {FIVE}"
    )


def test_a_refusal_names_at_most_five_unrounded_counts(eight: pd.DataFrame) -> None:
    assert _refusal(_six(eight, **{COUNT: 16})) == (
        "release table: column 'count_looked_after' has 6 published value(s) that are not "
        f"multiples of rounding_base 5, e.g. in {FIVE}"
    )


def test_a_refusal_names_at_most_five_flagged_counts(eight: pd.DataFrame) -> None:
    assert _refusal(_six(eight, **{f"{COUNT}_suppressed": True})) == (
        "release table: 'count_looked_after' is published where "
        f"'count_looked_after_suppressed' is true, e.g. in {FIVE}"
    )


def test_a_refusal_names_at_most_five_small_areas(eight: pd.DataFrame) -> None:
    assert _refusal(_six(eight, population=5)) == (
        "release table: 6 published area(s) have population below 10 "
        f"(min_count 10 rounded to base 5), e.g. {FIVE}"
    )


def test_a_refusal_names_at_most_five_leaking_suppressed_areas(eight: pd.DataFrame) -> None:
    figures = [
        c
        for c in eight.columns
        if c not in ("level", "code", "name", "parent_code", "suppressed", "suppression_reason")
        and not c.endswith("_suppressed")
    ]
    hidden = _six(eight, suppressed=True)
    hidden.loc[hidden["code"].isin(SIX), figures] = None
    check_no_individuals(hidden, RULES)
    assert _refusal(_six(hidden, mean_risk=0.1)) == (
        f"release table: suppressed area(s) {FIVE} still publish figures in column(s) ['mean_risk']"
    )


@pytest.mark.parametrize("figure", ["contrib_looked_after", "prevalence_looked_after"])
def test_a_withheld_counts_contribution_or_prevalence_put_back_is_refused(
    table: pd.DataFrame, figure: str
) -> None:
    """L0's count is withheld: its contribution told a count of zero from one or two."""
    assert table.loc[table["code"] == "L0", figure].isna().all()
    assert _refusal(_with(table, "L0", **{figure: -0.01})) == (
        f"release table: {figure!r} is published where 'count_looked_after_suppressed' is "
        "true, e.g. in ['L0']"
    )


@pytest.mark.parametrize("column", ["contrib_looked_after", "mean_risk", "risk_low"])
def test_a_negative_zero_is_refused(table: pd.DataFrame, column: str) -> None:
    """JSON -0.0 against 0.0 told a withheld zero from a withheld non-zero count."""
    check_no_individuals(_with(table, "L1", **{column: 0.0}), RULES)
    assert _refusal(_with(table, "L1", **{column: -0.0})) == (
        f"release table: column {column!r} has 1 negative zero(s) (-0.0), e.g. in ['L1']; the "
        "sign of a zero tells on which side of zero the unrounded figure was"
    )


def test_suppression_reasons_that_tell_primary_from_complementary_are_refused(
    table: pd.DataFrame,
) -> None:
    blank = [c for c in table.columns if c not in ("level", "code", "name", "parent_code")]
    hidden = table.copy()
    rows = hidden["code"].isin(["L0", "L3"])
    for column in blank:
        hidden.loc[rows, column] = True if column.endswith("suppressed") else None
    hidden.loc[rows, "suppression_reason"] = "suppressed"
    check_no_individuals(hidden, RULES)
    hidden.loc[hidden["code"] == "L3", "suppression_reason"] = "complementary"
    assert _refusal(hidden) == (
        "release table: suppressed areas give 2 different suppression_reason values "
        "['complementary', 'suppressed']; one reason for all, or the reason tells primary "
        "from complementary suppressions"
    )


def test_without_negative_zeros_keeps_every_other_value() -> None:
    frame = pd.DataFrame({"a": [-0.0, 0.0, -0.01, np.nan], "b": ["x", "y", "z", None]})
    cleaned = without_negative_zeros(frame)
    assert not np.signbit(cleaned["a"].to_numpy()[:2]).any()
    assert cleaned["a"].iloc[2] == -0.01 and np.isnan(cleaned["a"].iloc[3])
    pd.testing.assert_series_equal(cleaned["b"], frame["b"])
    assert np.signbit(frame["a"].iloc[0])  # the input is not changed


def test_a_rate_is_checked_even_where_no_raw_mean_is_published(table: pd.DataFrame) -> None:
    """The raw mean is optional; its absence must not end the check of the rate."""
    ratio = table["expected"] / table["population"].astype(float)
    derived = table.assign(rate_per_1000=(1000 * ratio).round(1))
    if "mean_risk_raw" in derived.columns:
        derived = derived.drop(columns=["mean_risk_raw"])
    check_no_individuals(derived)
    want = 1000 * float(ratio[derived["code"] == "L1"].iloc[0])
    assert "column 'rate_per_1000' is not the published expected" in _refusal(
        _with(derived, "L1", rate_per_1000=want + 0.06)
    )


def test_a_refusal_names_at_most_five_negative_zeros(eight: pd.DataFrame) -> None:
    assert _refusal(_six(eight, mean_risk=-0.0)) == (
        f"release table: column 'mean_risk' has 6 negative zero(s) (-0.0), e.g. in {FIVE}; the "
        "sign of a zero tells on which side of zero the unrounded figure was"
    )


def test_a_refusal_names_at_most_five_rates_not_made_from_the_published_expected(
    eight: pd.DataFrame,
) -> None:
    ratio = eight["expected"] / eight["population"].astype(float)
    derived = eight.assign(rate_per_1000=(1000 * ratio).round(1))
    check_no_individuals(derived, RULES)
    leaky = _six(derived)
    leaky.loc[leaky["code"].isin(SIX), "rate_per_1000"] += 0.5
    assert _refusal(leaky) == (
        "release table: column 'rate_per_1000' is not the published expected over the "
        f"published population in 6 area(s), e.g. {FIVE}; a mean or rate made from the "
        "unrounded expected undoes its rounding"
    )
