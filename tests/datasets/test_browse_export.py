"""Browsing, thumbnails, stats, manifest, diff and export of versions made through the API."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from lensforge.config import Settings
from lensforge.datasets import keys
from lensforge.formats import DatasetManifest, canonical_json, read_dataset
from tests.datasets.helpers import (
    DETECTION,
    Version,
    imagefolder_dataset,
    make_version,
    write_image,
    yolo_dataset,
)
from tests.fixtures.app import Account, sign_up


@pytest.fixture
def admin(client: TestClient) -> Account:
    return sign_up(client)


@pytest.fixture
def detection(client: TestClient, admin: Account, tmp_path: Path) -> Version:
    return make_version(client, admin, yolo_dataset(tmp_path / "det"), name="boxes")


def items(
    client: TestClient, account: Account, version: Version, query: str = ""
) -> dict[str, Any]:
    response = client.get(version.url(f"/items{query}"), headers=account.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def by_name(client: TestClient, account: Account, version: Version) -> dict[str, Any]:
    return {i["file_name"]: i for i in items(client, account, version, "?limit=500")["items"]}


def version_manifest(client: TestClient, account: Account, version: Version) -> DatasetManifest:
    response = client.get(version.url("/manifest"), headers=account.headers)
    assert response.status_code == 200, response.text
    return DatasetManifest.model_validate_json(response.content)


# --- items ---------------------------------------------------------------------------------


def test_items_page_in_file_name_order(
    client: TestClient, admin: Account, detection: Version
) -> None:
    first = items(client, admin, detection, "?limit=2")
    assert (first["total"], first["limit"], first["offset"]) == (4, 2, 0)
    assert [i["file_name"] for i in first["items"]] == ["a.jpg", "b.jpg"]
    rest = items(client, admin, detection, "?limit=2&offset=2")
    assert [i["file_name"] for i in rest["items"]] == ["c.png", "d.jpg"]
    a = first["items"][0]
    assert (a["split"], a["width"], a["height"]) == ("train", 640, 480)
    # Absolute pixels: YOLO's `0 0.5 0.5 0.25 0.5` on 640x480.
    assert {"class_id": 0, "bbox": [240.0, 120.0, 160.0, 240.0]} in a["annotations"]
    base = f"/api/v1/datasets/{detection.dataset_id}/versions/1/items/{a['id']}"
    assert a["image_url"] == f"{base}/image"
    assert a["thumbnail_url"] == f"{base}/thumbnail"


def test_items_filter_by_split_and_class(
    client: TestClient, admin: Account, detection: Version
) -> None:
    def names(query: str) -> list[str]:
        return [i["file_name"] for i in items(client, admin, detection, query)["items"]]

    assert names("?split=val") == ["d.jpg"]
    assert names("?class_id=1") == ["a.jpg", "b.jpg"]
    assert names("?class_id=0&split=train") == ["a.jpg"]
    assert names("?class_id=7") == []
    assert items(client, admin, detection, "?split=val")["total"] == 1
    bad = client.get(detection.url("/items?split=holdout"), headers=admin.headers)
    assert bad.status_code == 422


def test_image_is_the_original_file(client: TestClient, admin: Account, detection: Version) -> None:
    listed = by_name(client, admin, detection)
    for name, split, media_type in [
        ("a.jpg", "train", "image/jpeg"),
        ("c.png", "train", "image/png"),
    ]:
        response = client.get(listed[name]["image_url"], headers=admin.headers)
        assert response.status_code == 200
        original = (detection.folder / "images" / split / name).read_bytes()
        assert response.content == original
        assert response.headers["content-type"] == media_type
        assert response.headers["etag"] == f'"{hashlib.sha256(original).hexdigest()}"'
        assert response.headers["cache-control"] == "private, max-age=86400"
        again = client.get(
            listed[name]["image_url"],
            headers={**admin.headers, "If-None-Match": response.headers["etag"]},
        )
        assert again.status_code == 304
        assert again.content == b""


def test_thumbnail_is_an_upright_jpeg_rendered_once(
    client: TestClient, admin: Account, detection: Version, settings: Settings
) -> None:
    listed = by_name(client, admin, detection)
    url = listed["a.jpg"]["thumbnail_url"] + "?size=64"
    first = client.get(url, headers=admin.headers)
    assert first.status_code == 200
    assert first.headers["content-type"] == "image/jpeg"
    assert first.headers["cache-control"] == "private, max-age=86400"
    image = Image.open(io.BytesIO(first.content))
    assert image.format == "JPEG"
    assert image.size == (64, 48)
    org = uuid.UUID(admin.organization_id)
    cached = settings.local_storage_root / keys.thumbnail_key(
        org, listed["a.jpg"]["image_sha256"], 64
    )
    assert cached.read_bytes() == first.content
    # Later requests stream the stored object: replace it and the response follows.
    marker = io.BytesIO()
    Image.new("RGB", (8, 8), (255, 0, 0)).save(marker, "JPEG")
    cached.write_bytes(marker.getvalue())
    second = client.get(url, headers=admin.headers)
    assert second.content == marker.getvalue()
    assert second.headers["etag"] == first.headers["etag"]
    not_modified = client.get(
        url, headers={**admin.headers, "If-None-Match": first.headers["etag"]}
    )
    assert not_modified.status_code == 304


def test_thumbnail_applies_exif_orientation_and_checks_size(
    client: TestClient, admin: Account, detection: Version
) -> None:
    listed = by_name(client, admin, detection)
    b = listed["b.jpg"]
    assert (b["width"], b["height"]) == (60, 120)  # stored 120x60, EXIF orientation 6
    thumb = client.get(b["thumbnail_url"] + "?size=32", headers=admin.headers)
    image = Image.open(io.BytesIO(thumb.content))
    assert image.size == (32, 64)  # 32 is served at the smallest fixed size, 64
    # The bright corner of the stored image ends top-right once turned upright.
    assert image.getpixel((28, 6))[0] > 200  # type: ignore[index]
    assert image.getpixel((6, 6))[0] < 200  # type: ignore[index]
    for size in (16, 2048):
        response = client.get(f"{b['thumbnail_url']}?size={size}", headers=admin.headers)
        assert response.status_code == 422


# --- stats, manifest -----------------------------------------------------------------------


def test_stats(client: TestClient, admin: Account, detection: Version) -> None:
    response = client.get(detection.url("/stats"), headers=admin.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["version"], body["warning_count"]) == (1, 0)
    stats = body["stats"]
    assert (stats["image_count"], stats["annotation_count"]) == (4, 5)
    assert stats["images_without_annotations"] == 1
    assert stats["split_image_counts"] == {"train": 3, "val": 1, "test": 0}
    assert [(c["name"], c["count"]) for c in stats["classes"]] == [("cat", 2), ("dog", 3)]
    assert stats["image_sizes"]["width"]["max"] == 640


def test_manifest_is_the_canonical_json_of_the_content_hash(
    client: TestClient, admin: Account, detection: Version
) -> None:
    response = client.get(detection.url("/manifest"), headers=admin.headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    version = client.get(detection.url(), headers=admin.headers).json()
    assert hashlib.sha256(response.content).hexdigest() == version["content_hash"]
    assert response.headers["etag"] == f'"{version["content_hash"]}"'
    manifest = DatasetManifest.model_validate_json(response.content)
    assert canonical_json(manifest) == response.content


# --- diff ----------------------------------------------------------------------------------


def test_diff_between_two_versions(
    client: TestClient, admin: Account, detection: Version, tmp_path: Path
) -> None:
    layout = {
        "train": {
            "a.jpg": DETECTION["train"]["a.jpg"],
            "b.jpg": (DETECTION["train"]["b.jpg"][0], ["1 0.5 0.5 0.5 0.5"], 6),  # one box less
            "d.jpg": DETECTION["val"]["d.jpg"],  # moved from val
        },
        "val": {"e.jpg": ((64, 64), ["0 0.5 0.5 0.5 0.5"], 1)},  # new; c.png removed
    }
    v2 = make_version(client, admin, yolo_dataset(tmp_path / "v2", layout), into=detection)
    assert v2.number == 2
    response = client.get(v2.url("/diff?against=1"), headers=admin.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["from_version"], body["to_version"]) == (1, 2)
    diff = body["diff"]
    summary = diff["summary"]
    assert (summary["items_added"], summary["items_removed"], summary["items_moved"]) == (1, 1, 1)
    assert (summary["items_changed"], summary["annotations_removed"]) == (1, 1)
    assert summary["items_unchanged"] == 1
    assert [i["file_name"] for i in diff["added"]] == ["e.jpg"]
    assert [i["file_name"] for i in diff["removed"]] == ["c.png"]
    assert diff["moved"] == [{"file_name": "d.jpg", "old_split": "val", "new_split": "train"}]
    (changed,) = diff["changed"]
    assert changed["file_name"] == "b.jpg"
    assert changed["annotations_removed"] == [{"class_id": 1, "bbox": [6.0, 12.0, 12.0, 24.0]}]
    limited = client.get(v2.url("/diff?against=1&limit=1"), headers=admin.headers).json()
    assert limited["diff"]["truncated"] is False
    assert client.get(v2.url("/diff?against=9"), headers=admin.headers).status_code == 404
    assert client.get(v2.url("/diff"), headers=admin.headers).status_code == 422


# --- export --------------------------------------------------------------------------------


def exported(
    client: TestClient, account: Account, version: Version, fmt: str, tmp_path: Path
) -> Path:
    response = client.get(version.url(f"/export?format={fmt}"), headers=account.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"].startswith(
        f'attachment; filename="{version_name(client, account, version)}-v{version.number}-{fmt}.zip"'
    )
    target = tmp_path / f"export-{fmt}"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        for info in archive.infolist():
            image = info.filename.endswith((".jpg", ".png"))
            assert info.compress_type == (zipfile.ZIP_STORED if image else zipfile.ZIP_DEFLATED)
        archive.extractall(target)
    return target


def version_name(client: TestClient, account: Account, version: Version) -> str:
    return str(
        client.get(f"/api/v1/datasets/{version.dataset_id}", headers=account.headers).json()["name"]
    )


@pytest.mark.parametrize("fmt", ["yolo", "coco", "native"])
def test_detection_export_round_trips(
    client: TestClient,
    admin: Account,
    detection: Version,
    tmp_path: Path,
    settings: Settings,
    fmt: str,
) -> None:
    folder = exported(client, admin, detection, fmt, tmp_path)
    manifest, report = read_dataset(folder, fmt)
    assert not report.has_errors, report
    assert canonical_json(manifest) == canonical_json(version_manifest(client, admin, detection))
    exports = settings.work_dir / "exports"
    assert not exports.exists() or not any(exports.iterdir()), "the work folder was not removed"


@pytest.mark.parametrize(
    ("fmt", "read_as"),
    [("imagefolder", "imagefolder"), ("native", "native"), ("yolo", "imagefolder")],
)
def test_classification_export_round_trips(
    client: TestClient, admin: Account, tmp_path: Path, fmt: str, read_as: str
) -> None:
    version = make_version(
        client,
        admin,
        imagefolder_dataset(tmp_path / "cls"),
        task="classification",
        format="imagefolder",
        name="pets",
    )
    folder = exported(client, admin, version, fmt, tmp_path)
    # YOLO classification is ImageFolder (what Ultralytics reads), so it is read back as such.
    manifest, report = read_dataset(folder, read_as)
    assert not report.has_errors, report
    assert canonical_json(manifest) == canonical_json(version_manifest(client, admin, version))


def test_unsupported_export_lists_the_formats_that_work(
    client: TestClient, admin: Account, detection: Version
) -> None:
    for fmt in ("imagefolder", "pdf"):
        response = client.get(detection.url(f"/export?format={fmt}"), headers=admin.headers)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "unsupported_export"
        assert sorted(error["details"]["formats"]) == ["coco", "native", "voc", "yolo"]
    missing = client.get(detection.url("/export"), headers=admin.headers)
    assert missing.status_code == 422


# --- access --------------------------------------------------------------------------------


def test_other_organizations_get_404_everywhere(
    client: TestClient, admin: Account, detection: Version
) -> None:
    item = by_name(client, admin, detection)["a.jpg"]
    stranger = sign_up(client)
    urls = [
        detection.url("/items"),
        item["image_url"],
        item["thumbnail_url"],
        detection.url("/stats"),
        detection.url("/manifest"),
        detection.url("/diff?against=1"),
        detection.url("/export?format=yolo"),
    ]
    for url in urls:
        response = client.get(url, headers=stranger.headers)
        assert response.status_code == 404, (url, response.text)
        assert response.json()["error"]["code"] == "dataset_not_found"


def test_unknown_version_and_item_are_404(
    client: TestClient, admin: Account, detection: Version
) -> None:
    item = by_name(client, admin, detection)["a.jpg"]
    missing_version = detection.url("/items").replace("/versions/1/", "/versions/5/")
    response = client.get(missing_version, headers=admin.headers)
    assert response.json()["error"]["code"] == "version_not_found"
    other_item = item["image_url"].replace(item["id"], str(uuid.uuid4()))
    response = client.get(other_item, headers=admin.headers)
    assert (response.status_code, response.json()["error"]["code"]) == (404, "item_not_found")


def test_an_item_is_only_found_through_its_own_version(
    client: TestClient, admin: Account, detection: Version, tmp_path: Path
) -> None:
    folder = yolo_dataset(tmp_path / "v2")
    write_image(folder / "images" / "val" / "z.jpg", (10, 10), (1, 2, 3))
    v2 = make_version(client, admin, folder, into=detection)
    old_item = by_name(client, admin, detection)["a.jpg"]
    through_v2 = old_item["image_url"].replace("/versions/1/", f"/versions/{v2.number}/")
    assert client.get(through_v2, headers=admin.headers).status_code == 404
    assert json.loads(client.get(through_v2, headers=admin.headers).text)["error"]["code"] == (
        "item_not_found"
    )
