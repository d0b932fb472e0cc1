"""Only a release whose board approval verifies is served; the snapshot is built once."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from governance.contracts.release_schema import ReleaseError
from governance.disclosure import DisclosureConfig
from serving.app import create_app
from serving.config import DisclosureFloor
from serving.releases import ReleaseHolder, ReleaseLibrary, _sort_key
from serving.schemas import AreaList, AreaResponse
from tests.serving.release_factory import (
    T0,
    area_rows,
    make_board,
    make_release_key,
    release_key,
    resign,
    serving_config,
    write_release,
)


def library(releases: Path, board: Any, **kwargs: Any) -> ReleaseLibrary:
    """A library trusting ``board``'s key and the test release key."""
    return ReleaseLibrary(
        releases, board.public_key_b64, release_key_b64=release_key().public_key_b64, **kwargs
    )


@pytest.fixture
def board_and_dir(tmp_path: Path) -> tuple[Any, Path]:
    return make_board(tmp_path / "board"), tmp_path / "releases"


def test_a_verified_release_is_loaded_with_every_response_ready(
    board_and_dir: tuple[Any, Path],
) -> None:
    board, releases = board_and_dir
    write_release(releases, board, release_id="r1")
    catalog = library(releases, board).load()
    current = catalog.current
    assert catalog.release_id == "r1"
    assert len(current.areas) == len(area_rows()) == 26
    assert set(current.area_body) == set(current.areas)
    body = AreaResponse.model_validate_json(current.area_body["L03"])
    assert body.area == current.areas["L03"]
    assert current.ancestors["L03"] == ("W2", "B1", "BCU-N", "city")
    listing = current.listings[("lsoa", "BCU-N")]["code"]
    assert len(listing) == 9
    page = current.list_prefix + b',"level":"lsoa","parent":"BCU-N","sort":"code","total":9,'
    page += b'"limit":9,"offset":0,"items":[' + b",".join(listing) + b"]}"
    assert [a.code for a in AreaList.model_validate_json(page).items] == [
        f"L0{i}" for i in range(1, 10)
    ]


def test_every_prepared_listing_is_in_the_order_of_its_sort(
    board_and_dir: tuple[Any, Path],
) -> None:
    """Listings are ordered once over all areas and read per group: the same order as sorting
    each group's areas by the sort itself (published first, nulls last, ties by code)."""
    board, releases = board_and_dir
    write_release(releases, board, release_id="r1")
    current = library(releases, board).load().current
    body_of = {area.model_dump_json().encode("utf-8"): code for code, area in current.areas.items()}
    checked = 0
    for (level, parent), orders in current.listings.items():
        members = [
            a
            for a in current.areas.values()
            if a.level == level and (parent is None or parent in current.ancestors[a.code])
        ]
        for sort, listed in orders.items():
            name, descending = sort.lstrip("-"), sort.startswith("-")
            expected = sorted(members, key=lambda a: _sort_key(a, name, descending))
            assert [body_of[item] for item in listed] == [a.code for a in expected], sort
            checked += 1
    assert checked > 100


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("other_key", "approval does not verify"),
        ("edited_version", "approval does not verify"),
        (
            "other_version",
            "the approval is for vru-risk version 2, the release is from vru-risk version 3",
        ),
        ("no_key", "no board public key configured"),
        ("renamed", "the manifest's release_id is 'r1', not the directory's name"),
    ],
)
def test_a_release_that_does_not_verify_is_refused(
    board_and_dir: tuple[Any, Path], change: str, message: str
) -> None:
    board, releases = board_and_dir
    signer = make_board(releases.parent / "intruder") if change == "other_key" else board
    write_release(
        releases, signer, release_id="r1", signed_version="2" if change == "other_version" else None
    )
    manifest_path = releases / "r1" / "manifest.json"
    if change == "edited_version":
        manifest = json.loads(manifest_path.read_text())
        manifest["approval"][0]["decision"]["version"] = "4"
        manifest["model_version"] = "4"
        manifest_path.write_text(json.dumps(manifest))
    if change == "renamed":
        (releases / "r1").rename(releases / "r1-copy")
        (releases / "CURRENT").write_text("r1-copy\n")
    key = None if change == "no_key" else board.public_key_b64
    holder = ReleaseHolder(
        ReleaseLibrary(releases, key, release_key_b64=release_key().public_key_b64)
    )
    with pytest.raises(ReleaseError, match=message):
        holder.reload()
    assert holder.catalog is None
    assert holder.last_error is not None and message in holder.last_error


def test_current_must_name_a_release_id(board_and_dir: tuple[Any, Path]) -> None:
    board, releases = board_and_dir
    write_release(releases, board, release_id="r1")
    (releases / "CURRENT").write_text("../../etc\n")
    with pytest.raises(ReleaseError, match=r"names '\.\./\.\./etc', which is not a release id"):
        library(releases, board).load()


def test_a_release_missing_a_column_is_refused_naming_it(board_and_dir: tuple[Any, Path]) -> None:
    board, releases = board_and_dir
    write_release(releases, board, release_id="r2")
    table = pq.read_table(releases / "r2" / "areas.parquet").drop(["risk_high"])
    pq.write_table(table, releases / "r2" / "areas.parquet")
    resign(releases / "r2")
    with pytest.raises(ReleaseError, match=r"missing column\(s\) \['risk_high'\]"):
        library(releases, board).load("r2")


def test_a_bad_new_release_leaves_the_old_one_served(tmp_path: Path) -> None:
    board = make_board(tmp_path / "board")
    releases = tmp_path / "releases"
    write_release(releases, board, release_id="r1")
    intruder = make_board(tmp_path / "intruder")
    write_release(releases, intruder, release_id="r2", created=T0 + timedelta(days=1))
    config = serving_config(tmp_path, board)
    from serving.keys import create_key

    _, admin = create_key(config.keys_file, role="admin", name="ops")
    headers = {"Authorization": f"Bearer {admin}"}
    (releases / "CURRENT").write_text("r1\n")
    with TestClient(create_app(config)) as client:
        (releases / "CURRENT").write_text("r2\n")
        refused = client.post("/v1/admin/reload", headers=headers)
        assert refused.status_code == 409
        detail = refused.json()["detail"]
        assert "release r2: approval does not verify" in detail
        assert detail.endswith("still serving r1.")
        assert client.get("/v1/areas/W1", headers=headers).json()["release_id"] == "r1"
        assert client.get("/readyz").json()["release_id"] == "r1"


# -- the release's data and disclosure rules are signed (issue 15, finding 3) ---------------


def _admin_client(tmp_path: Path, board: Any) -> tuple[TestClient, dict[str, str]]:
    config = serving_config(tmp_path, board)
    from serving.keys import create_key

    _, admin = create_key(config.keys_file, role="admin", name="ops")
    return TestClient(create_app(config)), {"Authorization": f"Bearer {admin}"}


def _tamper_areas(directory: Path) -> None:
    """Unround a population and publish small withheld counts; the manifest is kept as is."""
    path = directory / "areas.parquet"
    table = pq.read_table(path).to_pandas()
    l03 = table["code"] == "L03"
    table.loc[l03, "population"] = 156
    hidden = table["count_child_in_need_suppressed"]
    table.loc[hidden & ~table["suppressed"], "count_child_in_need"] = 3
    table.loc[hidden & ~table["suppressed"], "count_child_in_need_suppressed"] = False
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), path)


def test_a_copied_release_with_edited_data_is_refused_and_the_old_one_served(
    tmp_path: Path,
) -> None:
    board = make_board(tmp_path / "board")
    releases = tmp_path / "releases"
    write_release(releases, board, release_id="r1")
    write_release(releases, board, release_id="r2", created=T0 + timedelta(days=1))
    (releases / "r3").mkdir()
    manifest = (releases / "r2" / "manifest.json").read_bytes()
    shutil.copy(releases / "r2" / "areas.parquet", releases / "r3" / "areas.parquet")
    (releases / "r3" / "manifest.json").write_bytes(manifest.replace(b'"r2"', b'"r3"'))
    (releases / "CURRENT").write_text("r2\n")
    (releases / "r2" / "manifest.json").write_bytes(manifest)  # byte for byte
    _tamper_areas(releases / "r2")
    (releases / "CURRENT").write_text("r1\n")
    client, headers = _admin_client(tmp_path, board)
    with client:
        (releases / "CURRENT").write_text("r2\n")
        refused = client.post("/v1/admin/reload", headers=headers)
        assert refused.status_code == 409
        detail = refused.json()["detail"]
        assert f"{releases / 'r2' / 'areas.parquet'}: SHA-256" in detail
        assert "differs from the signed manifest's" in detail
        assert client.get("/v1/areas/L03", headers=headers).json()["release_id"] == "r1"
        for rid in ("r2", "r3"):  # r3: a renamed copy, its signature no longer verifies
            assert client.get(f"/v1/releases/{rid}", headers=headers).status_code == 404
        listed = client.get("/v1/releases", headers=headers).json()["releases"]
        assert [r["release_id"] for r in listed] == ["r1"]


def test_a_release_signed_with_another_key_is_refused(board_and_dir: tuple[Any, Path]) -> None:
    board, releases = board_and_dir
    intruder = make_release_key(releases.parent / "intruder")
    write_release(releases, board, release_id="r1", signer=intruder)
    with pytest.raises(ReleaseError, match="signature does not verify with the configured"):
        library(releases, board).load()


def test_an_unsigned_release_and_a_server_without_a_release_key_are_refused(
    board_and_dir: tuple[Any, Path],
) -> None:
    board, releases = board_and_dir
    write_release(releases, board, release_id="r1")
    with pytest.raises(ReleaseError, match="no release public key configured"):
        ReleaseLibrary(releases, board.public_key_b64).load()
    path = releases / "r1" / "manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["signature"]
    path.write_text(json.dumps(manifest))
    with pytest.raises(ReleaseError, match="the manifest is not signed by a release key"):
        library(releases, board).load()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("min_count", 1, "min_count 1 < 10"),
        ("rounding_base", 1, "rounding_base 1 < 5"),
        ("zeros_disclosive", False, "zeros_disclosive false"),
    ],
)
def test_a_signed_release_made_with_weak_rules_is_refused_by_the_floor(
    board_and_dir: tuple[Any, Path], field: str, value: Any, message: str
) -> None:
    board, releases = board_and_dir
    weak = DisclosureConfig(**{"method": "threshold", field: value})
    write_release(releases, board, release_id="r1", disclosure=weak)
    with pytest.raises(ReleaseError, match="weaker than this server's floor") as refused:
        library(releases, board).load()
    assert message in str(refused.value)
    # a server whose floor allows it serves it (the floor, not the signature, refused it)
    floor = DisclosureFloor(min_count=1, rounding_base=1, zeros_disclosive=False)
    assert library(releases, board, floor=floor).load().release_id == "r1"


def test_disclosure_rules_edited_after_signing_are_refused(
    board_and_dir: tuple[Any, Path],
) -> None:
    board, releases = board_and_dir
    write_release(releases, board, release_id="r1")
    path = releases / "r1" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["disclosure"]["min_count"] = 20
    path.write_text(json.dumps(manifest))
    with pytest.raises(ReleaseError, match="signature does not verify with the configured"):
        library(releases, board).load()


def test_a_signed_table_that_fails_the_disclosure_check_is_refused(
    board_and_dir: tuple[Any, Path],
) -> None:
    board, releases = board_and_dir
    write_release(releases, board, release_id="r1")
    _tamper_areas(releases / "r1")
    resign(releases / "r1")  # even the release key cannot publish it
    with pytest.raises(ReleaseError, match="fails the disclosure check under its signed rules"):
        library(releases, board).load()


def test_a_file_beside_the_signed_ones_is_refused(board_and_dir: tuple[Any, Path]) -> None:
    board, releases = board_and_dir
    write_release(releases, board, release_id="r1")
    (releases / "r1" / "extra.parquet").write_bytes(b"x")
    with pytest.raises(ReleaseError, match=r"extra\.parquet: a file not listed"):
        library(releases, board).load()
    (releases / "r1" / "extra.parquet").unlink()
    (releases / "r1" / "areas.parquet").unlink()
    with pytest.raises(ReleaseError, match=r"areas\.parquet: listed in the signed manifest"):
        library(releases, board).load()


def test_a_signed_release_is_served_and_says_verified(tmp_path: Path) -> None:
    board = make_board(tmp_path / "board")
    write_release(tmp_path / "releases", board, release_id="r1")
    client, headers = _admin_client(tmp_path, board)
    with client:
        detail = client.get("/v1/releases/r1", headers=headers).json()
        assert detail["verified"] is True
        manifest = detail["manifest"]
        assert set(manifest["files"]) == {"areas.parquet"}
        assert manifest["disclosure"]["min_count"] == 10
        assert client.get("/v1/areas/L03", headers=headers).status_code == 200


def test_release_init_makes_a_private_key_only_its_owner_reads(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from vru.cli import app

    args = ["keys", "release-init", "--private-key", str(tmp_path / "r.pem")]
    args += ["--public-key", str(tmp_path / "r.pub"), "-q"]
    made = CliRunner().invoke(app, args)
    assert made.exit_code == 0, made.output
    assert len(made.output.strip()) == 44  # the base64 public key, for release_public_key_b64
    assert (tmp_path / "r.pem").stat().st_mode & 0o777 == 0o600
    again = CliRunner().invoke(app, args)
    assert again.exit_code != 0 and "already exists" in again.output


def test_the_demo_configs_sign_releases_and_trust_the_key(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    (tmp_path / "board.b64").write_text(make_board(tmp_path / "b").public_key_b64 + "\n")
    (tmp_path / "release.b64").write_text(release_key().public_key_b64 + "\n")
    args = ["configs", str(tmp_path / "board.b64"), str(tmp_path), str(tmp_path / "release.b64")]
    done = subprocess.run(
        [sys.executable, "scripts/demo_configs.py", *args], cwd=root, capture_output=True
    )
    assert done.returncode == 0, done.stderr
    from governance.contracts.config import load_config
    from serving.config import load_serving_config
    from training.release.config import ReleaseConfig

    assert load_config(tmp_path / "release.yaml", ReleaseConfig).release_key == (
        tmp_path / "release.pem"
    )
    serving = load_serving_config(tmp_path / "serving.yaml")
    assert serving.release_public_key_b64 == release_key().public_key_b64
