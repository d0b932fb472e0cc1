"""Linking one's own extracts: another country's postcodes, extra identifiers, mapped groups.

The fixture is what a new user brings: two files of the same people from another country
(four-digit postcodes, dates as YYYYMMDD text, an address, a town, a house number and a local
reference), with typos, a few values that do not parse, and a labelled person id.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from governance.contracts.errors import ExtractError
from training.config import PipelineConfig
from training.linkage.config import LinkConfig, SourceMapping
from training.linkage.stage import run_link
from training.linkage.standardise import checked_columns, invalid_sql, standardised_sql

FAST = {"u_max_pairs": 2e5, "em_max_pairs": 2e5}
FIRST = ["Olivia", "Jack", "Charlotte", "Noah", "Amelia", "Oliver", "Isla", "William", "Mia"]
LAST = ["Smith", "Jones", "Williams", "Brown", "Wilson", "Taylor", "Nguyen", "Martin", "Lee"]
STREETS = ["George", "Pitt", "King", "Queen", "Elizabeth", "Bourke", "Collins", "Flinders"]
TOWNS = ["Parramatta", "Newtown", "Fitzroy", "Carlton", "Bondi", "Manly", "Glebe", "Ryde"]
COMPARISONS = {
    "address": "text",
    "town": "text",
    "house_number": "number",
    "local_ref": "identifier",
}


def _people(n: int, rng: np.random.Generator) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "pid": np.arange(n),
            "first": np.array(FIRST)[rng.integers(0, len(FIRST), n)],
            "last": np.array(LAST)[rng.integers(0, len(LAST), n)],
            "dob": pd.Timestamp("2004-01-01")
            + pd.to_timedelta(rng.integers(0, 6 * 365, n), unit="D"),
            "postcode": rng.integers(2000, 2200, n),
            "street": [f"{s} Street" for s in np.array(STREETS)[rng.integers(0, 8, n)]],
            "town": np.array(TOWNS)[rng.integers(0, len(TOWNS), n)],
            "number": rng.integers(1, 300, n),
            "ref": [f"R{v:06d}" for v in rng.integers(0, 999_999, n)],
            "state": rng.choice(["NSW", "VIC"], n),
        }
    )


def _typo(values: pd.Series, rng: np.random.Generator, share: float) -> pd.Series:
    hit = rng.random(len(values)) < share
    out = values.copy()
    out[hit] = out[hit].str[:-1] + "q"
    return out


def _write(
    tmp_path: Path, people: pd.DataFrame, rng: np.random.Generator, postcode_typos: float = 0.08
) -> None:
    clinic = pd.DataFrame(
        {
            "visit": [f"V{i}" for i in range(len(people))],
            "given": _typo(people["first"], rng, 0.1),
            "family": people["last"].str.upper(),
            "born": people["dob"].dt.strftime("%Y%m%d"),
            "pc": people["postcode"].astype(str),
            "street": _typo(people["street"], rng, 0.1),
            "suburb": people["town"],
            "no": people["number"].astype(str),
            "ref_no": people["ref"],
            "truth": people["pid"],
            "state": people["state"],
        }
    )
    clinic.loc[[3, 40, 41], "born"] = ["00000000", "unknown", "2009-13-45"]
    clinic.loc[[7, 90], "pc"] = ["--", "?"]
    clinic.loc[[8], "no"] = ["12a"]
    clinic.to_csv(tmp_path / "clinic.csv", index=False)
    register = people.sample(frac=0.8, random_state=2).reset_index(drop=True)
    pd.DataFrame(
        {
            "id": [f"G{i}" for i in range(len(register))],
            "first": register["first"],
            "last": _typo(register["last"], rng, 0.1),
            "dob": register["dob"].dt.date,
            "postcode": np.where(  # a mistyped last digit now and then
                rng.random(len(register)) < postcode_typos,
                register["postcode"] // 10 * 10 + (register["postcode"] + 3) % 10,
                register["postcode"],
            ),
            "address": register["street"].str.lower(),
            "suburb": register["town"].str.upper(),
            "house": register["number"],
            "ref": _typo(register["ref"], rng, 0.15),
            "truth": register["pid"],
            "region": register["state"],
        }
    ).to_parquet(tmp_path / "register.parquet")
    school = people.sample(frac=0.3, random_state=3).reset_index(drop=True)
    pd.DataFrame(
        {
            "pupil": [f"S{i}" for i in range(len(school))],
            "forename": school["first"],
            "surname": school["last"],
            "birth": school["dob"].dt.strftime("%d/%m/%Y"),
            "postcode": school["postcode"].astype(str),
            "home": school["street"],
            "truth": school["pid"],
        }
    ).to_csv(tmp_path / "school.csv", index=False)


def _sources() -> dict[str, object]:
    return {
        "clinic": {
            "path": "clinic.csv",
            "record_id": "visit",
            "first_name": "given",
            "surname": "family",
            "dob": "born",
            "dob_format": "%Y%m%d",
            "postcode": "pc",
            "columns": {
                "address": "street",
                "town": "suburb",
                "house_number": "no",
                "local_ref": "ref_no",
            },
            "truth_column": "truth",
            "groups": {"state": "state"},
        },
        "register": {
            "path": "register.parquet",
            "record_id": "id",
            "first_name": "first",
            "surname": "last",
            "dob": "dob",
            "postcode": "postcode",
            "columns": {
                "address": "address",
                "town": "suburb",
                "house_number": "house",
                "local_ref": "ref",
            },
            "truth_column": "truth",
            "groups": {"state": "region"},
        },
        "school": {  # no town, house number, reference or group: a source may omit them
            "path": "school.csv",
            "record_id": "pupil",
            "first_name": "forename",
            "surname": "surname",
            "dob": "birth",
            "dob_format": "%d/%m/%Y",
            "postcode": "postcode",
            "columns": {"address": "home"},
            "truth_column": "truth",
        },
    }


def _config(**link: object) -> PipelineConfig:
    return PipelineConfig.model_validate({"seed": 5, "link": {**FAST, **link}})


@pytest.fixture
def foreign(tmp_path: Path) -> Path:
    rng = np.random.default_rng(11)
    _write(tmp_path, _people(400, rng), rng)
    return tmp_path


def test_another_countrys_extracts_link_with_extra_identifiers(foreign: Path) -> None:
    result = run_link(
        _config(postcode_format="any", comparisons=COMPARISONS, sources=_sources()), foreign
    )
    report = result.report
    invalid = report["invalid_values"]
    assert invalid["clinic"]["born"]["invalid"] == 3
    assert invalid["clinic"]["born"]["first_records"] == [4, 41, 42]
    assert invalid["clinic"]["pc"]["invalid"] == 2 and invalid["clinic"]["no"]["invalid"] == 1
    assert invalid["register"]["dob"]["invalid"] == 0
    quality = report["quality"]
    assert quality["overall"]["precision"] > 0.97 and quality["overall"]["recall"] > 0.97
    assert set(quality["by_group"]) == {"sex", "state"}
    assert set(quality["by_group"]["state"]) == {"NSW", "VIC"}  # the school's have no state
    model = report["model"]
    for name in COMPARISONS:  # each extra identifier is in the model and an agreement counts for
        assert model[name][0]["match_weight"] > 2, name
    assert [level["level"] for level in model["postcode"]] == [
        "Exact match on postcode",
        "Damerau-Levenshtein distance of postcode <= 1",
        "All other comparisons",
    ]
    spine = pd.read_parquet(foreign / "linked/spine.parquet")
    assert len(spine) == 400 + 320 + 120


def test_uk_postcodes_expected_for_foreign_ones_is_refused_with_the_fix(foreign: Path) -> None:
    with pytest.raises(ExtractError) as err:
        run_link(_config(comparisons=COMPARISONS, sources=_sources()), foreign)
    message = str(err.value)
    assert f"{foreign / 'clinic.csv'}: column 'pc' (postcode) has 400 of 400" in message
    assert f"{foreign / 'register.parquet'}: column 'postcode' (postcode) has 320 of 320" in message
    assert f"{foreign / 'school.csv'}: column 'postcode' (postcode) has 120 of 120" in message
    assert "set link.postcode_format: any for other countries" in message
    assert not (foreign / "linked").exists()


def test_a_level_never_seen_among_matches_does_not_end_the_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """No postcode is ever mistyped: EM drives "one character apart" towards m = 0, which
    Splink 5 refuses; the floor holds it at link.em_min_probability and says so."""
    import splink.internals.expectation_maximisation as em

    rng = np.random.default_rng(11)
    _write(tmp_path, _people(400, rng), rng, postcode_typos=0.0)
    before = em.m_u_records_to_lookup_dict
    config = _config(postcode_format="any", comparisons=COMPARISONS, sources=_sources())
    with caplog.at_level("INFO", logger="vru.link"):
        result = run_link(config, tmp_path)
    assert em.m_u_records_to_lookup_dict is before  # the floor is lifted after training
    held = [r.getMessage() for r in caplog.records if "em_min_probability" in r.getMessage()]
    words = "m of 'postcode': Damerau-Levenshtein distance of postcode <= 1"
    assert f"EM estimate of {words} held at link.em_min_probability" in held
    assert words in result.report["model_trained"]["em_floored_levels"]
    assert result.report["quality"]["overall"]["recall"] > 0.97


# --- standardisation and counting, on small tables ---------------------------------------


def _mapping(**extra: object) -> SourceMapping:
    fields = {"path": "x.csv", "record_id": "id", "first_name": "fn", "surname": "sn"}
    return SourceMapping.model_validate({**fields, "dob": "dob", "postcode": "pc", **extra})


def test_extra_identifiers_and_any_postcode_are_standardised_by_method() -> None:
    raw = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "fn": ["Ana", "Ben", "Cy"],
            "sn": ["Ruiz", "Lee", "Oh"],
            "dob": ["2010-01-02", "2010-01-03", "2010-01-04"],
            "pc": ["75001", "sw1a 1aa", "  "],
            "street": ["12, Rue de l'Église", "  ", None],
            "kind": [" flat ", "house", ""],
            "ref": ["ab-12 3", "X", None],
            "num": ["12", " 7.5 ", "12a"],
        }
    )
    config = LinkConfig.model_validate(
        {
            "comparisons": {
                "street": "text",
                "kind": "exact",
                "ref": "identifier",
                "num": "number",
                "town": "text",
            }
        }
    )
    mapping = _mapping(columns={c: c for c in ("street", "kind", "ref", "num")})
    con = duckdb.connect()
    con.register("raw", raw)
    sql = standardised_sql(
        "clinic",
        "raw",
        mapping,
        postcode_format="any",
        comparisons=config.comparisons,
        groups=["state"],
    )
    out = con.execute(sql).df()
    assert out["postcode"].tolist()[:2] == ["75001", "SW1A1AA"] and pd.isna(out["postcode"][2])
    assert out["street"][0] == "12 RUE DE L EGLISE" and out["street"][1:].isna().all()
    assert out["kind"].tolist()[:2] == ["FLAT", "HOUSE"] and pd.isna(out["kind"][2])
    assert out["ref"].tolist()[:2] == ["AB123", "X"]
    assert out["num"].tolist()[:2] == [12.0, 7.5] and pd.isna(out["num"][2])
    assert out["town"].isna().all() and out["group_state"].isna().all()  # not mapped here
    uk = con.execute(standardised_sql("clinic", "raw", mapping)).df()
    assert uk["postcode"].isna().tolist() == [True, False, True]  # 75001 is no UK postcode

    counted = checked_columns(mapping, "any", config.comparisons)
    assert [c.field for c in counted] == ["dob", "postcode", "num"]
    row = con.execute(invalid_sql("raw", counted)).fetchone()
    assert row == (3, 0, [], 0, [], 1, [3])  # blank is missing, not invalid; "12a" is invalid


@pytest.mark.parametrize(
    ("link", "error"),
    [
        ({"comparisons": {"address": "fuzzy"}}, "Input should be 'exact', 'text', 'identifier'"),
        ({"comparisons": {"dob": "text"}}, "'dob' must be lower-case letters"),
        (
            {"comparisons": {"town": {"method": "text", "tolerance": 2}}},
            "tolerance applies to method 'number' only, not 'text'",
        ),
        ({"postcode_format": "us"}, "Input should be 'uk' or 'any'"),
        ({"max_invalid_share": 1.5}, "less than or equal to 1"),
    ],
)
def test_a_bad_comparison_setting_is_refused_naming_it(link: dict[str, object], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        LinkConfig.model_validate(link)


def test_a_source_mapping_an_undeclared_comparison_is_refused_naming_both() -> None:
    sources = _sources()
    with pytest.raises(ValidationError) as err:
        LinkConfig.model_validate({"comparisons": {"address": "text"}, "sources": sources})
    assert "sources.clinic.columns: ['house_number', 'local_ref', 'town'] not declared" in str(
        err.value
    )
    assert "(declared: address)" in str(err.value)


def test_a_number_tolerance_is_a_level_of_its_own() -> None:
    config = LinkConfig.model_validate(
        {"comparisons": {"height": {"method": "number", "tolerance": 2.5}}}
    )
    from training.linkage.model import extra_comparison

    spec = extra_comparison("height", config.comparisons["height"]).get_comparison("duckdb")
    conditions = [level.sql_condition for level in spec.comparison_levels]
    assert conditions[1] == '"height_l" = "height_r"'
    assert "ABS" in conditions[2].upper() and "2.5" in conditions[2]


def test_vru_link_takes_the_documented_config_and_counts_bad_values_on_stderr(
    foreign: Path,
) -> None:
    import yaml
    from typer.testing import CliRunner

    from vru.cli import app

    link = {
        **FAST,
        "postcode_format": "any",
        "max_invalid_share": 0.05,
        "comparisons": COMPARISONS,
        "sources": _sources(),
    }
    config = foreign / "pipeline.yaml"
    config.write_text(yaml.safe_dump({"seed": 5, "link": link}, sort_keys=False))
    result = CliRunner().invoke(app, ["link", "--config", str(config), "--data", str(foreign)])
    assert result.exit_code == 0, result.output
    stderr = "".join(result.stderr.split())  # rich wraps log lines to the terminal's width
    assert "column'born'(dob)has3of400values" in stderr
    assert "records4,41,42" in stderr and "unknown" not in result.stderr
    assert "values that do not parse, kept as missing: clinic.born 3 (0.8%)" in result.output

    link["postcode_format"] = "uk"
    config.write_text(yaml.safe_dump({"seed": 5, "link": link}, sort_keys=False))
    before = (foreign / "linked/spine.parquet").read_bytes()
    refused = CliRunner().invoke(app, ["link", "--config", str(config), "--data", str(foreign)])
    assert refused.exit_code == 2
    assert "setlink.postcode_format:anyforothercountries" in "".join(refused.output.split())
    assert (foreign / "linked/spine.parquet").read_bytes() == before  # nothing changed


# --- a model trained once, reused ---------------------------------------------------------


def test_a_saved_model_scores_the_same_spine_without_training(
    foreign: Path, tmp_path: Path
) -> None:
    link = {"postcode_format": "any", "comparisons": COMPARISONS, "sources": _sources()}
    first = run_link(_config(**link), foreign)
    spine = pd.read_parquet(foreign / "linked/spine.parquet")
    saved = tmp_path / "model.json"
    saved.write_bytes((foreign / "linked/model.json").read_bytes())
    again = run_link(_config(**link, model=str(saved)), foreign)
    pd.testing.assert_frame_equal(pd.read_parquet(foreign / "linked/spine.parquet"), spine)
    assert again.report["model"] == first.report["model"]
    trained = again.report["model_trained"]
    assert trained["here"] is False and len(trained["saved_model_sha256"]) == 64


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"comparisons": {"address": "text"}}, "link.model compares"),
        ({"postcode_format": "uk", "max_invalid_share": 1.0}, "levels of .postcode. are"),
    ],
)
def test_a_saved_model_of_other_comparisons_is_refused_naming_them(
    foreign: Path, change: dict[str, object], error: str
) -> None:
    link = {"postcode_format": "any", "comparisons": COMPARISONS, "sources": _sources()}
    run_link(_config(**link), foreign)
    before = (foreign / "linked/spine.parquet").read_bytes()
    other = {**link, **change, "model": "linked/model.json"}
    if "comparisons" in change:
        for mapping in other["sources"].values():  # type: ignore[attr-defined]
            mapping["columns"] = {"address": mapping["columns"]["address"]}
    with pytest.raises(ExtractError, match=error):
        run_link(_config(**other), foreign)
    assert (foreign / "linked/spine.parquet").read_bytes() == before


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (None, "link.model not found"),
        ("{not json", "link.model is not JSON"),
        ('{"link_type": "dedupe_only"}', "has no 'comparisons': not a Splink model"),
        ('{"comparisons": [], "probability_two_random_records_match": 2.0}', "must be in"),
    ],
)
def test_a_bad_saved_model_is_refused_before_any_work(
    foreign: Path, content: str | None, error: str
) -> None:
    if content is not None:
        (foreign / "model.json").write_text(content)
    config = _config(
        postcode_format="any", comparisons=COMPARISONS, sources=_sources(), model="model.json"
    )
    with pytest.raises(ExtractError, match=error):
        run_link(config, foreign)
    assert not (foreign / "linked").exists()
