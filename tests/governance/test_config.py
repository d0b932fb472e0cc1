"""Config loading: every problem named by file, key and value, all at once, before any work."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from governance.contracts.config import config_hash, load_config
from governance.contracts.errors import ConfigError
from training.config import PipelineConfig


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(text)
    return path


def test_shipped_config_is_valid() -> None:
    cfg = load_config(Path("configs/pipeline.yaml"), PipelineConfig)
    assert cfg.generate.persons >= 100


def test_every_bad_value_is_reported_with_file_key_and_value(tmp_path: Path) -> None:
    path = _write(tmp_path, "generate:\n  persons: lots\n  noise:\n    forename_typo: 2\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, PipelineConfig)
    lines = str(err.value).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{path}: 'generate.persons' Input should be a valid integer")
    assert lines[0].endswith("(got 'lots')")
    assert (
        "'generate.noise.forename_typo' Input should be less than or equal to 1 (got 2)" in lines[1]
    )


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "generate:\n  person: 100\n")
    with pytest.raises(
        ConfigError, match=r"'generate.person' Extra inputs are not permitted \(got 100\)"
    ):
        load_config(path, PipelineConfig)


def test_literal_lists_the_allowed_values(tmp_path: Path) -> None:
    path = _write(tmp_path, "generate:\n  geography:\n    source: osm\n")
    with pytest.raises(
        ConfigError,
        match=r"'generate.geography.source' Input should be 'generated', 'london' or 'ons' \(got 'osm'\)",
    ):
        load_config(path, PipelineConfig)


def test_cross_field_rules(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "generate:\n  geography: {source: ons}\n  population:\n    ethnicity: {White: 0.5, Black: 0.2}\n",
    )
    with pytest.raises(ConfigError) as err:
        load_config(path, PipelineConfig)
    assert "source 'ons' needs lookup_csv" in str(err.value)
    assert "ethnicity shares must sum to 1 (they sum to 0.700000)" in str(err.value)


def test_unknown_risk_factor_and_out_of_order_cause(tmp_path: Path) -> None:
    path = _write(tmp_path, "generate:\n  outcome:\n    log_or: {knife_crime_postcode: 1.0}\n")
    with pytest.raises(
        ConfigError,
        match=r"unknown outcome cause \['knife_crime_postcode'\]; allowed: \['deprivation'",
    ):
        load_config(path, PipelineConfig)
    path = _write(tmp_path, "generate:\n  risk:\n    log_or: {poverty: {exclusion: 1.0}}\n")
    with pytest.raises(
        ConfigError,
        match=r"unknown cause of poverty \['exclusion'\]; allowed: \['deprivation', 'male'\]",
    ):
        load_config(path, PipelineConfig)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("generate: [1, 2\n", "not valid YAML"),
        ("- a\n- b\n", "expected a mapping of keys to values at the top level, got list"),
    ],
)
def test_malformed_files(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_config(_write(tmp_path, text), PipelineConfig)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: config file not found"):
        load_config(tmp_path / "nope.yaml", PipelineConfig)


def test_overrides_are_validated_and_named(tmp_path: Path) -> None:
    path = _write(tmp_path, "seed: 5\n")
    cfg = load_config(path, PipelineConfig, {"generate.persons": 500, "seed": None})
    assert cfg.generate.persons == 500 and cfg.seed == 5
    with pytest.raises(
        ConfigError, match=r"\(with command-line generate.persons\): 'generate.persons'"
    ):
        load_config(path, PipelineConfig, {"generate.persons": 3})


def test_config_is_frozen_and_hash_is_stable() -> None:
    a, b = PipelineConfig(), PipelineConfig()
    assert config_hash(a) == config_hash(b)
    assert config_hash(a) != config_hash(PipelineConfig(seed=1))
    with pytest.raises(ValueError, match="frozen"):
        a.seed = 3  # type: ignore[misc]


def test_validation_error_of_any_model_is_a_config_error() -> None:
    class Small(BaseModel):
        model_config = ConfigDict(extra="forbid")
        n: int

    with pytest.raises(ConfigError, match=r"<defaults>: 'n' Field required"):
        load_config(None, Small)


def test_audit_intersections_default_to_every_pair_and_all_together() -> None:
    from governance.contracts.settings import AuditSettings

    assert AuditSettings().chosen_intersections == (
        ("sex", "ethnicity"),
        ("sex", "deprivation_quintile"),
        ("ethnicity", "deprivation_quintile"),
        ("sex", "ethnicity", "deprivation_quintile"),
    )
    chosen = AuditSettings(intersections=(("ethnicity", "sex"),)).chosen_intersections
    assert chosen == (("ethnicity", "sex"),)
    assert AuditSettings(sensitive=("sex", "ethnicity")).chosen_intersections == (
        ("sex", "ethnicity"),
    )


def test_an_audit_intersection_of_other_columns_is_refused_by_name(tmp_path: Path) -> None:
    from governance.contracts.settings import GovernanceConfig

    path = tmp_path / "governance.yaml"
    path.write_text("audit:\n  intersections: [[sex, postcode]]\n")
    with pytest.raises(ConfigError, match=r"\['sex', 'postcode'\] must name two or more distinct"):
        load_config(path, GovernanceConfig)
    path.write_text("audit:\n  intersections: [[sex]]\n")
    with pytest.raises(ConfigError, match=r"audit.intersections: \['sex'\]"):
        load_config(path, GovernanceConfig)


def test_the_area_identifier_rule_is_configured_and_checked(tmp_path: Path) -> None:
    from governance.contracts.settings import GovernanceConfig

    path = tmp_path / "governance.yaml"
    path.write_text("audit:\n  area_identifiers: {min_distinct_share: 0}\n")
    with pytest.raises(ConfigError, match=r"min_distinct_share"):
        load_config(path, GovernanceConfig)
    path.write_text("audit:\n  area_identifiers: {area_column: ward_code}\n")
    assert load_config(path, GovernanceConfig).audit.area_identifiers.area_column == "ward_code"
