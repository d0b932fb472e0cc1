"""Only a release whose board approval verifies is served; the snapshot is built once."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from governance.contracts.release_schema import ReleaseError
from serving.app import create_app
from serving.releases import ReleaseHolder, ReleaseLibrary
from serving.schemas import AreaList, AreaResponse
from tests.serving.release_factory import T0, area_rows, make_board, serving_config, write_release


@pytest.fixture
def board_and_dir(tmp_path: Path) -> tuple[Any, Path]:
    return make_board(tmp_path / "board"), tmp_path / "releases"


def test_a_verified_release_is_loaded_with_every_response_ready(
    board_and_dir: tuple[Any, Path],
) -> None:
    board, releases = board_and_dir
    write_release(releases, board, release_id="r1")
    catalog = ReleaseLibrary(releases, board.public_key_b64).load()
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
        manifest["approval"]["decision"]["version"] = "4"
        manifest["model_version"] = "4"
        manifest_path.write_text(json.dumps(manifest))
    if change == "renamed":
        (releases / "r1").rename(releases / "r1-copy")
        (releases / "CURRENT").write_text("r1-copy\n")
    key = None if change == "no_key" else board.public_key_b64
    holder = ReleaseHolder(ReleaseLibrary(releases, key))
    with pytest.raises(ReleaseError, match=message):
        holder.reload()
    assert holder.catalog is None
    assert holder.last_error is not None and message in holder.last_error


def test_current_must_name_a_release_id(board_and_dir: tuple[Any, Path]) -> None:
    board, releases = board_and_dir
    write_release(releases, board, release_id="r1")
    (releases / "CURRENT").write_text("../../etc\n")
    with pytest.raises(ReleaseError, match=r"names '\.\./\.\./etc', which is not a release id"):
        ReleaseLibrary(releases, board.public_key_b64).load()


def test_a_release_missing_a_column_is_refused_naming_it(board_and_dir: tuple[Any, Path]) -> None:
    board, releases = board_and_dir
    write_release(releases, board, release_id="r2")
    table = pq.read_table(releases / "r2" / "areas.parquet").drop(["risk_high"])
    pq.write_table(table, releases / "r2" / "areas.parquet")
    with pytest.raises(ReleaseError, match=r"missing column\(s\) \['risk_high'\]"):
        ReleaseLibrary(releases, board.public_key_b64).load("r2")


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
