"""Imports through the API: the real raccoon dataset, hashes, splits, reports, hostile archives."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from lensforge.config import Settings
from tests.datasets.importing import (
    RACCOON,
    create_dataset,
    create_project,
    import_archive,
    tiny_yolo,
    upload,
    wait_import,
    zip_folder,
)
from tests.fixtures.app import member_with_role, sign_up


@pytest.fixture
def raccoon_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return zip_folder(RACCOON, tmp_path_factory.mktemp("raccoon") / "raccoon-voc.zip")


def test_raccoon_voc_imports_with_the_right_counts(client: TestClient, raccoon_zip: Path) -> None:
    admin = sign_up(client)
    project = create_project(client, admin)
    dataset = create_dataset(client, admin, project)
    result = import_archive(client, admin, dataset, project, raccoon_zip)
    assert result["status"] == "succeeded", result
    assert result["detected_format"] == "voc"
    assert result["version_number"] == 1
    version = client.get(f"/api/v1/datasets/{dataset}/versions/1", headers=admin.headers).json()
    assert version["item_count"] == 200
    assert version["annotation_count"] == 217
    assert version["classes"] == ["raccoon"]
    assert sum(version["split_counts"].values()) == 200
    # No source splits in VOC: the platform default 80/10/10, seeded.
    assert version["split_counts"] == {"train": 160, "val": 20, "test": 20}


def test_reimport_of_identical_data_keeps_the_hash_and_stores_images_once(
    client: TestClient, raccoon_zip: Path, settings: Settings
) -> None:
    admin = sign_up(client)
    project = create_project(client, admin)
    first = create_dataset(client, admin, project, name="a")
    second = create_dataset(client, admin, project, name="b")
    import_archive(client, admin, first, project, raccoon_zip)
    objects = settings.local_storage_root / "orgs" / admin.organization_id / "images"
    stored_once = sum(1 for p in objects.rglob("*") if p.is_file())
    again = import_archive(client, admin, first, project, raccoon_zip)
    import_archive(client, admin, second, project, raccoon_zip)
    stored_after = sum(1 for p in objects.rglob("*") if p.is_file())
    # The raccoon set itself holds 4 byte-identical images: each distinct image is stored once.
    distinct = {hashlib.sha256(p.read_bytes()).hexdigest() for p in RACCOON.rglob("*.jpg")}
    assert len(distinct) == 196
    assert stored_once == stored_after == len(distinct)
    # Same data into the same dataset: no new version.
    assert again["version_number"] == 1
    hash_a = client.get(f"/api/v1/datasets/{first}/versions/1", headers=admin.headers).json()
    hash_b = client.get(f"/api/v1/datasets/{second}/versions/1", headers=admin.headers).json()
    assert hash_a["content_hash"] == hash_b["content_hash"]


def test_hash_changes_when_one_annotation_changes(client: TestClient, tmp_path: Path) -> None:
    admin = sign_up(client)
    project = create_project(client, admin)
    dataset = create_dataset(client, admin, project)
    boxes = {"a": ["0 0.5 0.5 0.2 0.2"], "b": ["1 0.3 0.3 0.1 0.1"]}
    v1 = import_archive(
        client,
        admin,
        dataset,
        project,
        zip_folder(tiny_yolo(tmp_path / "one", boxes=boxes), tmp_path / "one.zip"),
    )
    boxes["b"] = ["1 0.3 0.3 0.1 0.12"]
    v2 = import_archive(
        client,
        admin,
        dataset,
        project,
        zip_folder(tiny_yolo(tmp_path / "two", boxes=boxes), tmp_path / "two.zip"),
    )
    assert (v1["version_number"], v2["version_number"]) == (1, 2)
    versions = client.get(f"/api/v1/datasets/{dataset}/versions", headers=admin.headers).json()
    assert versions[0]["content_hash"] != versions[1]["content_hash"]
    assert versions[0]["parent_id"] == versions[1]["id"]


def test_validation_errors_fail_the_import_and_create_nothing(
    client: TestClient, tmp_path: Path
) -> None:
    admin = sign_up(client)
    project = create_project(client, admin)
    dataset = create_dataset(client, admin, project)
    folder = tiny_yolo(
        tmp_path / "bad", boxes={"a": ["7 0.5 0.5 0.2 0.2"], "b": ["0 0.5 0.5 0 0.1"]}
    )
    result = import_archive(
        client, admin, dataset, project, zip_folder(folder, tmp_path / "bad.zip")
    )
    assert result["status"] == "failed"
    codes = {issue["code"] for issue in result["report"]["issues"]}
    assert "class_id_out_of_range" in codes
    issue = next(i for i in result["report"]["issues"] if i["code"] == "class_id_out_of_range")
    assert issue["file"].endswith("a.txt")
    assert issue["line"] == 1
    assert client.get(f"/api/v1/datasets/{dataset}/versions", headers=admin.headers).json() == []


def test_warnings_are_kept_with_the_version(client: TestClient, tmp_path: Path) -> None:
    admin = sign_up(client)
    project = create_project(client, admin)
    dataset = create_dataset(client, admin, project)
    folder = tiny_yolo(tmp_path / "w", boxes={"a": ["0 0.5 0.5 0.2 0.2"]})
    Image.new("RGB", (20, 20)).save(folder / "images" / "unlabelled.jpg")
    result = import_archive(client, admin, dataset, project, zip_folder(folder, tmp_path / "w.zip"))
    assert result["status"] == "succeeded", result
    version = client.get(f"/api/v1/datasets/{dataset}/versions/1", headers=admin.headers).json()
    assert version["warning_count"] >= 1
    assert version["item_count"] == 2


@pytest.mark.parametrize(
    ("name", "entries"),
    [
        ("traversal", {"../evil.txt": b"x", "images/a.jpg": b"y"}),
        ("absolute", {"/etc/evil": b"x"}),
    ],
)
def test_hostile_archives_are_refused_with_nothing_written(
    client: TestClient, tmp_path: Path, settings: Settings, name: str, entries: dict[str, bytes]
) -> None:
    admin = sign_up(client)
    project = create_project(client, admin)
    dataset = create_dataset(client, admin, project)
    archive = tmp_path / f"{name}.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for member, data in entries.items():
            info = zipfile.ZipInfo(member)
            z.writestr(info, data)
    result = import_archive(client, admin, dataset, project, archive)
    assert result["status"] == "failed"
    assert result["report"]["issues"][0]["code"] == "hostile_archive"
    assert not (settings.local_storage_root / "orgs").exists()
    work = settings.work_dir / "imports"
    assert not work.exists() or not any(work.iterdir())
    assert not (tmp_path / "evil.txt").exists()


def test_source_splits_are_kept_and_ratio_split_is_seeded_and_stratified(
    client: TestClient, tmp_path: Path
) -> None:
    admin = sign_up(client)
    project = create_project(client, admin)
    dataset = create_dataset(client, admin, project)
    root = tmp_path / "splits"
    for split, stems in {"train": ["a", "b", "c"], "val": ["d"]}.items():
        tiny_yolo(root / split, boxes={s: ["0 0.5 0.5 0.2 0.2"] for s in stems})
        (root / split / "data.yaml").unlink()
    (root / "data.yaml").write_text("train: train/images\nval: val/images\nnames: [cat, dog]\n")
    first = import_archive(client, admin, dataset, project, zip_folder(root, tmp_path / "s.zip"))
    assert first["status"] == "succeeded", first
    v1 = client.get(f"/api/v1/datasets/{dataset}/versions/1", headers=admin.headers).json()
    assert v1["split_counts"] == {"train": 3, "val": 1}
    resplit = client.post(
        f"/api/v1/datasets/{dataset}/versions/1/split",
        json={"split": {"mode": "ratio", "train": 0.5, "val": 0.5, "test": 0.0, "seed": 3}},
        headers=admin.headers,
    )
    assert resplit.status_code == 201, resplit.text
    assert resplit.json()["number"] == 2
    assert resplit.json()["split_counts"] == {"train": 2, "val": 2}
    assert resplit.json()["content_hash"] != v1["content_hash"]
    bad = client.post(
        f"/api/v1/datasets/{dataset}/versions/1/split",
        json={"split": {"mode": "ratio", "train": 0.9, "val": 0.5, "test": 0.0}},
        headers=admin.headers,
    )
    assert bad.status_code == 422


def test_merge_mode_adds_images_to_the_latest_version(client: TestClient, tmp_path: Path) -> None:
    admin = sign_up(client)
    project = create_project(client, admin)
    dataset = create_dataset(client, admin, project)
    one = tiny_yolo(tmp_path / "one", boxes={"a": ["0 0.5 0.5 0.2 0.2"]})
    two = tiny_yolo(tmp_path / "two", boxes={"b": ["1 0.5 0.5 0.2 0.2"]})
    import_archive(client, admin, dataset, project, zip_folder(one, tmp_path / "1.zip"))
    merged = import_archive(
        client, admin, dataset, project, zip_folder(two, tmp_path / "2.zip"), mode="merge"
    )
    assert merged["version_number"] == 2
    version = client.get(f"/api/v1/datasets/{dataset}/versions/2", headers=admin.headers).json()
    assert version["item_count"] == 2


def test_folder_import_needs_an_allowed_root(
    client: TestClient, settings: Settings, tmp_path: Path
) -> None:
    admin = sign_up(client)
    project = create_project(client, admin)
    dataset = create_dataset(client, admin, project)
    folder = tiny_yolo(tmp_path / "allowed" / "ds", boxes={"a": ["0 0.5 0.5 0.2 0.2"]})
    body = {"source": {"kind": "folder", "path": str(folder)}}
    refused = client.post(f"/api/v1/datasets/{dataset}/imports", json=body, headers=admin.headers)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "source_not_allowed"
    settings.datasets.import_roots = [str(tmp_path / "allowed")]
    outside = client.post(
        f"/api/v1/datasets/{dataset}/imports",
        json={"source": {"kind": "folder", "path": str(tmp_path / "allowed" / "..")}},
        headers=admin.headers,
    )
    assert outside.status_code == 403
    started = client.post(f"/api/v1/datasets/{dataset}/imports", json=body, headers=admin.headers)
    assert started.status_code == 202
    assert wait_import(client, admin, started.json()["id"])["status"] == "succeeded"


def test_unknown_upload_and_bad_bodies_are_4xx(client: TestClient) -> None:
    admin = sign_up(client)
    project = create_project(client, admin)
    dataset = create_dataset(client, admin, project)
    missing = client.post(
        f"/api/v1/datasets/{dataset}/imports",
        json={"source": {"kind": "upload", "upload_id": "00000000-0000-0000-0000-000000000000"}},
        headers=admin.headers,
    )
    assert missing.status_code == 404
    wrong_kind = client.post(
        f"/api/v1/datasets/{dataset}/imports",
        json={"source": {"kind": "ftp"}},
        headers=admin.headers,
    )
    assert wrong_kind.status_code == 422
    bad_format = client.post(
        f"/api/v1/datasets/{dataset}/imports",
        json={"source": {"kind": "folder", "path": "/x"}, "format": "pascal"},
        headers=admin.headers,
    )
    assert bad_format.status_code == 422


def test_permissions_and_isolation(client: TestClient, tmp_path: Path) -> None:
    admin = sign_up(client)
    project = create_project(client, admin)
    dataset = create_dataset(client, admin, project)
    guest = member_with_role(client, admin, "guest")
    engineer = member_with_role(client, admin, "standard_engineer")
    outsider = sign_up(client)
    # Not a project member: the engineer cannot see it; a guest cannot create datasets at all.
    assert client.get(f"/api/v1/datasets/{dataset}", headers=engineer.headers).status_code == 404
    assert (
        client.post(
            "/api/v1/datasets",
            json={"project_id": project, "name": "g", "task": "detection"},
            headers=guest.headers,
        ).status_code
        == 403
    )
    # Shared with the organization: readable by all members, still not writable.
    shared = client.put(
        f"/api/v1/datasets/{dataset}/sharing",
        json={"shared_with_organization": True},
        headers=admin.headers,
    )
    assert shared.status_code == 200
    assert client.get(f"/api/v1/datasets/{dataset}", headers=engineer.headers).status_code == 200
    assert (
        client.patch(
            f"/api/v1/datasets/{dataset}", json={"name": "x"}, headers=engineer.headers
        ).status_code
        == 404
    )
    listed = client.get("/api/v1/datasets", headers=engineer.headers).json()
    assert [d["id"] for d in listed["items"]] == [dataset]
    # Another organization never sees it.
    assert client.get(f"/api/v1/datasets/{dataset}", headers=outsider.headers).status_code == 404
    assert client.get("/api/v1/datasets", headers=outsider.headers).json()["total"] == 0
    _ = tmp_path, io, upload


def test_same_file_name_in_two_splits(client: TestClient, tmp_path: Path) -> None:
    admin = sign_up(client)
    project = create_project(client, admin)
    dataset = create_dataset(client, admin, project, task="classification")
    for split, colour in (("train", (200, 10, 10)), ("val", (10, 200, 10))):
        folder = tmp_path / "ds" / split / "left"
        folder.mkdir(parents=True)
        Image.new("RGB", (16, 16), colour).save(folder / "0.png")
        Image.new("RGB", (16, 16), colour[::-1]).save(folder / "1.png")
    result = import_archive(
        client, admin, dataset, project, zip_folder(tmp_path / "ds", tmp_path / "c.zip")
    )
    assert result["status"] == "succeeded", result
    version = client.get(f"/api/v1/datasets/{dataset}/versions/1", headers=admin.headers).json()
    assert version["item_count"] == 4
    assert version["split_counts"] == {"train": 2, "val": 2}
    resplit = client.post(
        f"/api/v1/datasets/{dataset}/versions/1/split",
        json={"split": {"mode": "ratio", "train": 0.5, "val": 0.5, "test": 0.0}},
        headers=admin.headers,
    )
    assert resplit.status_code == 201, resplit.text
    assert resplit.json()["item_count"] == 4
