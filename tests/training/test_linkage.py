"""Record linkage: the spine, its quality against truth, own extracts by mapping, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from governance.contracts.errors import ExtractError
from governance.contracts.layout import SOURCES, DataLayout
from training.config import PipelineConfig
from training.linkage.config import SourceMapping
from training.linkage.stage import LinkResult, run_link
from training.linkage.standardise import standardised_sql

FAST = {"u_max_pairs": 2e5, "em_max_pairs": 2e5}


def _config(**link: object) -> PipelineConfig:
    return PipelineConfig.model_validate({"seed": 5, "link": {**FAST, **link}})


@pytest.fixture(scope="module")
def linked(
    small_city_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, LinkResult]:
    data = tmp_path_factory.mktemp("linked") / "data"
    shutil.copytree(small_city_dir, data)
    return data, run_link(_config(), data)


def test_spine_has_one_row_per_extract_record(linked: tuple[Path, LinkResult]) -> None:
    data, _ = linked
    spine = pd.read_parquet(data / "linked/spine.parquet")
    assert list(spine.columns) == ["source", "record_id", "person_key", "match_probability"]
    for source in SOURCES:
        ids = pd.read_parquet(DataLayout(data).extract(source), columns=["record_id"])["record_id"]
        assert set(spine.loc[spine["source"] == source, "record_id"]) == set(ids)
    assert not spine.duplicated(["source", "record_id"]).any()
    assert spine["person_key"].str.fullmatch(r"P\d{9}").all()  # opaque: no agency id inside
    p = spine["match_probability"].dropna()
    assert ((p >= 0.9) & (p <= 1)).all()


def test_quality_on_generated_data_meets_the_bar(linked: tuple[Path, LinkResult]) -> None:
    _, result = linked
    quality = result.report["quality"]
    assert quality["available"] and quality["measured_against"] == "the generator's ground truth"
    overall = quality["overall"]
    assert overall["precision"] >= 0.98 and overall["recall"] >= 0.95
    assert 0 < overall["f1"] <= 1 and overall["cluster_purity"] > 0.98
    assert set(quality["by_group"]) == {
        "sex",
        "ethnicity",
        "deprivation_quintile",
        "ethnicity_x_sex",
    }
    assert set(quality["by_group"]["ethnicity"]) == {"White", "Mixed", "Asian", "Black", "Other"}
    for figures in quality["by_group"]["ethnicity"].values():
        assert 0.9 <= figures["recall"] <= 1 and 0.9 <= figures["precision"] <= 1
    assert "health~social_care" in quality["by_source_pair"]
    curve = quality["threshold_curve"]
    recalls = [c["recall"] for c in curve]
    assert recalls == sorted(recalls, reverse=True)  # stricter thresholds never find more


def test_report_and_charts_are_written_without_identifiers(linked: tuple[Path, LinkResult]) -> None:
    data, result = linked
    out = data / "linked"
    report_text = (out / "report.json").read_text()
    assert json.loads(report_text)["persons"] == result.report["persons"]
    charts = {
        "match_weights.png",
        "precision_recall.png",
        "splink_match_weights.html",
        "splink_m_u_parameters.html",
    }
    assert {p.name for p in (out / "charts").iterdir()} == charts == set(result.report["charts"])
    assert "<script" in (out / "charts/splink_match_weights.html").read_text()
    assert (out / "charts/match_weights.png").read_bytes()[:4] == b"\x89PNG"
    health = pd.read_parquet(DataLayout(data).extract("health"))
    for column in ("record_id", "hospital_number", "postcode", "surname"):
        sample = health[column].dropna().head(50)
        assert not any(str(v) in report_text for v in sample), column
    assert not (out / ".." / ".staging").exists()


def test_the_same_seed_links_the_same_way(linked: tuple[Path, LinkResult], tmp_path: Path) -> None:
    data, _ = linked
    again = tmp_path / "again"
    shutil.copytree(data, again)
    run_link(_config(), again)
    a = pd.read_parquet(data / "linked/spine.parquet")
    b = pd.read_parquet(again / "linked/spine.parquet")
    pd.testing.assert_frame_equal(a, b)


def test_without_truth_the_report_says_so(linked: tuple[Path, LinkResult], tmp_path: Path) -> None:
    data, _ = linked
    bare = tmp_path / "bare"
    shutil.copytree(data / "extracts", bare / "extracts")
    result = run_link(_config(), bare)
    assert result.report["quality"] == {
        "available": False,
        "note": "No ground truth: quality figures need generated data or a truth column in the mapping.",
    }
    assert (bare / "linked/spine.parquet").is_file()
    assert "precision_recall.png" not in {p.name for p in (bare / "linked/charts").iterdir()}


# --- your own extracts, through the mapping ---------------------------------------------


def _people(n: int, rng: np.random.Generator) -> pd.DataFrame:
    first = np.array(
        ["Amara", "Ben", "Chloe", "Dmitri", "Efua", "Farah", "George", "Hana", "Ivan", "Jade"]
    )
    last = np.array(
        ["Okoye", "Smith", "Khan", "Nowak", "Mensah", "Ali", "Brown", "Chen", "Patel", "Jones"]
    )
    return pd.DataFrame(
        {
            "pid": np.arange(n),
            "first": first[rng.integers(0, 10, n)],
            "last": last[rng.integers(0, 10, n)],
            "dob": pd.to_datetime("2005-01-01")
            + pd.to_timedelta(rng.integers(0, 3650, n), unit="D"),
            "sex": rng.choice(["M", "F"], n),
            "postcode": [
                f"E{rng.integers(1, 9)} {rng.integers(0, 9)}{'AB'[i % 2]}{'DE'[i % 2]}"
                for i in range(n)
            ],
        }
    )


@pytest.fixture
def own_extracts(tmp_path: Path) -> tuple[Path, dict[str, object]]:
    """Two tables of the same 300 people in other layouts, one with typos, labelled."""
    rng = np.random.default_rng(3)
    people = _people(300, rng)
    school = pd.DataFrame(
        {
            "pupil": people["pid"].map(lambda i: f"S{i}"),
            "Given": people["first"],
            "Family": people["last"],
            "Born": people["dob"].dt.strftime("%d.%m.%Y"),
            "Gender": people["sex"].map({"M": "Male", "F": "Female"}),
            "Home": people["postcode"].str.replace(" ", "").str.lower(),
            "true_person": people["pid"],
        }
    )
    clinic = people.sample(frac=0.7, random_state=1).reset_index(drop=True)
    typo = rng.random(len(clinic)) < 0.2
    clinic.loc[typo, "first"] = clinic.loc[typo, "first"].str[:-1] + "x"
    clinic = pd.DataFrame(
        {
            "visit": [f"V{i}" for i in range(len(clinic))],
            "name_first": clinic["first"].str.upper(),
            "name_last": clinic["last"],
            "birth_date": clinic["dob"].dt.date,
            "sex": clinic["sex"],
            "pc": clinic["postcode"],
            "true_person": clinic["pid"],
        }
    )
    school.to_csv(tmp_path / "school.csv", index=False)
    clinic.to_parquet(tmp_path / "clinic.parquet")
    sources = {
        "school": {
            "path": str(tmp_path / "school.csv"),
            "record_id": "pupil",
            "first_name": "Given",
            "surname": "Family",
            "dob": "Born",
            "dob_format": "%d.%m.%Y",
            "sex": "Gender",
            "sex_codes": {"Male": "M", "Female": "F"},
            "postcode": "Home",
            "truth_column": "true_person",
        },
        "clinic": {
            "path": "clinic.parquet",
            "record_id": "visit",
            "first_name": "name_first",
            "surname": "name_last",
            "dob": "birth_date",
            "sex": "sex",
            "postcode": "pc",
            "truth_column": "true_person",
        },
    }
    return tmp_path, sources


def test_own_extracts_link_through_the_mapping_with_labelled_quality(
    own_extracts: tuple[Path, dict[str, object]],
) -> None:
    data, sources = own_extracts
    result = run_link(_config(sources=sources), data)
    quality = result.report["quality"]
    assert quality["measured_against"] == "the mapping's truth column"
    assert quality["overall"]["precision"] > 0.95 and quality["overall"]["recall"] > 0.9
    assert set(quality["by_group"]) == {"sex"}
    spine = pd.read_parquet(data / "linked/spine.parquet")
    assert set(spine["source"]) == {"school", "clinic"} and len(spine) == 300 + 210


def test_missing_mapped_column_is_named_and_nothing_is_written(
    own_extracts: tuple[Path, dict[str, object]],
) -> None:
    data, sources = own_extracts
    sources["clinic"] = {**sources["clinic"], "postcode": "post_code"}  # type: ignore[dict-item]
    with pytest.raises(
        ExtractError, match=r"clinic.parquet: mapped column\(s\) \['post_code'\] not in the extract"
    ):
        run_link(_config(sources=sources), data)
    assert not (data / "linked").exists()


def test_empty_extract_is_refused(own_extracts: tuple[Path, dict[str, object]]) -> None:
    data, sources = own_extracts
    pd.read_parquet(data / "clinic.parquet").head(0).to_parquet(data / "clinic.parquet")
    with pytest.raises(ExtractError, match=r"clinic.parquet: the extract has no rows"):
        run_link(_config(sources=sources), data)
    assert not (data / "linked").exists()


def test_a_few_unparseable_dates_become_missing_and_are_counted_without_values(
    own_extracts: tuple[Path, dict[str, object]], caplog: pytest.LogCaptureFixture
) -> None:
    data, sources = own_extracts
    school = pd.read_csv(data / "school.csv", dtype=str)
    school.loc[[4, 11], "Born"] = ["31.02.2009", "2009-05-01"]
    school.to_csv(data / "school.csv", index=False)
    with caplog.at_level("WARNING", logger="vru.link"):
        result = run_link(_config(sources=sources), data)
    assert result.report["invalid_values"]["school"]["Born"] == {
        "field": "dob",
        "records": 300,
        "invalid": 2,
        "share": round(2 / 300, 6),
        "first_records": [5, 12],  # the 5th and 12th records: pandas rows 4 and 11
    }
    assert result.report["invalid_values"]["clinic"]["birth_date"]["invalid"] == 0
    warned = [r.getMessage() for r in caplog.records if "'Born'" in r.getMessage()]
    assert warned == [
        f"{data / 'school.csv'}: column 'Born' (dob) has 2 of 300 values that are not dates of "
        "birth in the format '%d.%m.%Y' (0.7%; records 5, 12; the first record is 1): "
        "counted as missing"
    ]
    text = (data / "linked/report.json").read_text() + caplog.text
    assert "31.02.2009" not in text and "2009-05-01" not in text  # numbers, never values
    spine = pd.read_parquet(data / "linked/spine.parquet")
    assert len(spine) == 510  # the two records still link, on their other identifiers


def test_a_column_that_mostly_does_not_parse_is_refused_and_nothing_is_written(
    own_extracts: tuple[Path, dict[str, object]],
) -> None:
    data, sources = own_extracts
    sources["school"] = {**sources["school"], "dob_format": "%Y-%m-%d"}  # type: ignore[dict-item]
    with pytest.raises(ExtractError) as err:
        run_link(_config(sources=sources), data)
    message = str(err.value)
    assert message.startswith(
        f"{data / 'school.csv'}: column 'Born' (dob) has 300 of 300 values that are not dates "
        "of birth in the format '%Y-%m-%d' (100.0%; records 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, …"
    )
    assert "link.max_invalid_share (5%)" in message and "dob_format" in message
    born = pd.read_csv(data / "school.csv", dtype=str)["Born"]
    assert not any(value in message for value in born)
    assert not (data / "linked").exists()


@pytest.mark.parametrize(("limit", "refused"), [(0.05, True), (0.07, False)])
def test_max_invalid_share_is_where_dirty_data_becomes_a_wrong_format(
    own_extracts: tuple[Path, dict[str, object]], limit: float, refused: bool
) -> None:
    data, sources = own_extracts
    school = pd.read_csv(data / "school.csv", dtype=str)
    school.loc[:19, "Born"] = "unknown"  # 20 of 300: 6.7%
    school.to_csv(data / "school.csv", index=False)
    config = _config(sources=sources, max_invalid_share=limit)
    if refused:
        with pytest.raises(ExtractError, match=r"20 of 300 values .* \(6\.7%; records 1, 2, "):
            run_link(config, data)
        assert not (data / "linked").exists()
    else:
        assert run_link(config, data).report["invalid_values"]["school"]["Born"]["invalid"] == 20


def test_a_previous_spine_survives_a_failed_run(
    own_extracts: tuple[Path, dict[str, object]],
) -> None:
    data, sources = own_extracts
    run_link(_config(sources=sources), data)
    before = (data / "linked/spine.parquet").read_bytes()
    (data / "clinic.parquet").unlink()
    with pytest.raises(ExtractError, match="extract file not found"):
        run_link(_config(sources=sources), data)
    assert (data / "linked/spine.parquet").read_bytes() == before


# --- standardisation ---------------------------------------------------------------------


def test_standardisation_of_each_identifier() -> None:
    raw = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "fn": ["  josé-maría ", "O'Neil", None],
            "sn": ["Smith--Jones", "de la Cruz", ""],
            "dob": ["03/04/2010", "31/12/2009", "not a date"],
            "sx": ["1", "2", "9"],
            "pc": ["e1 6an", "SW1A1AA", "nonsense"],
            "nhs": ["943 476 5919", "9434765918", None],  # the first is valid, the second not
        }
    )
    mapping = SourceMapping(
        path=Path("x.csv"),
        record_id="id",
        first_name="fn",
        surname="sn",
        dob="dob",
        dob_format="%d/%m/%Y",
        sex="sx",
        sex_codes={"1": "M", "2": "F"},
        postcode="pc",
        nhs_number="nhs",
    )
    con = duckdb.connect()
    con.register("raw", raw)
    out = con.execute(standardised_sql("clinic", "raw", mapping)).df()
    assert out["first_name"].tolist()[:2] == ["JOSE MARIA", "ONEIL"]
    assert out["surname"].tolist()[:2] == ["SMITH JONES", "DE LA CRUZ"] and pd.isna(
        out["surname"][2]
    )
    assert out["dob"].astype(str).tolist()[:2] == ["2010-04-03", "2009-12-31"] and pd.isna(
        out["dob"][2]
    )
    assert out["sex"].tolist()[:2] == ["M", "F"] and pd.isna(out["sex"][2])
    assert out["postcode"].tolist()[:2] == ["E1 6AN", "SW1A 1AA"] and pd.isna(out["postcode"][2])
    assert out["nhs_number"][0] == "9434765919" and pd.isna(out["nhs_number"][1])
    assert out["unique_id"].tolist() == ["clinic:record:a", "clinic:record:b", "clinic:record:c"]
