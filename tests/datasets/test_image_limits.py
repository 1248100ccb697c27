"""Images that would take too much memory, JPEGs missing their end marker, images that cannot
be decoded: refused, kept or skipped at import, and thumbnails with bounded sizes and memory."""

from __future__ import annotations

import hashlib
import io
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from lensforge.config import Settings
from lensforge.datasets import keys
from tests.datasets.importing import (
    create_dataset,
    create_project,
    import_archive,
    tiny_yolo,
    zip_folder,
)
from tests.fixtures.app import Account, sign_up
from tests.formats.builders import jpeg_without_end_marker, png_header_only


def _import(
    client: TestClient, admin: Account, folder: Path, **options: Any
) -> tuple[str, dict[str, Any]]:
    project = create_project(client, admin, name=f"p-{uuid.uuid4().hex[:8]}")
    dataset = create_dataset(client, admin, project)
    archive = zip_folder(folder, folder.parent / f"{folder.name}-{uuid.uuid4().hex[:6]}.zip")
    return dataset, import_archive(client, admin, dataset, project, archive, **options)


def _items(client: TestClient, admin: Account, dataset: str) -> dict[str, dict[str, Any]]:
    page = client.get(
        f"/api/v1/datasets/{dataset}/versions/1/items?limit=500", headers=admin.headers
    ).json()
    return {item["file_name"]: item for item in page["items"]}


def _pets(folder: Path) -> Path:
    return tiny_yolo(folder, boxes={"a": ["0 0.5 0.5 0.2 0.2"], "b": ["1 0.5 0.5 0.2 0.2"]})


def test_an_image_above_the_pixel_limit_is_refused_from_its_header(
    client: TestClient, tmp_path: Path
) -> None:
    admin = sign_up(client)
    folder = _pets(tmp_path / "huge")
    # 13000 x 13000 declared, a few bytes of pixels: decoding it would say "truncated", so an
    # `image_too_large` shows the header was read and nothing decoded.
    (folder / "images/huge.png").write_bytes(png_header_only(13000, 13000))
    (folder / "labels/huge.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    _, refused = _import(client, admin, folder)
    assert refused["status"] == "failed"
    [issue] = [i for i in refused["report"]["issues"] if i["severity"] == "error"]
    assert (issue["code"], issue["file"]) == ("image_too_large", "images/huge.png")
    assert "13000x13000" in issue["message"]
    assert "LENSFORGE_DATASETS__MAX_IMAGE_PIXELS" in issue["message"]

    dataset, skipped = _import(client, admin, folder, skip_invalid_images=True)
    assert skipped["status"] == "succeeded", skipped
    assert skipped["source"]["skip_invalid_images"] is True
    [warning] = [i for i in skipped["report"]["issues"] if i["code"] == "image_skipped"]
    assert warning["file"] == "images/huge.png"
    assert warning["extra"]["reason"] == "image_too_large"
    assert sorted(_items(client, admin, dataset)) == ["a.jpg", "b.jpg"]


def test_undecodable_images_fail_the_import_unless_skipping_was_asked(
    client: TestClient, tmp_path: Path
) -> None:
    admin = sign_up(client)
    folder = _pets(tmp_path / "broken")
    data = (folder / "images/b.jpg").read_bytes()
    (folder / "images/b.jpg").write_bytes(data[: len(data) // 2])
    _, strict = _import(client, admin, folder)
    assert strict["status"] == "failed"
    assert {(i["code"], i["file"]) for i in strict["report"]["issues"]} >= {
        ("image_unreadable", "images/b.jpg")
    }
    dataset, skipped = _import(client, admin, folder, skip_invalid_images=True)
    assert skipped["status"] == "succeeded", skipped
    assert [(i["code"], i["file"]) for i in skipped["report"]["issues"]] == [
        ("image_skipped", "images/b.jpg")
    ]
    assert list(_items(client, admin, dataset)) == ["a.jpg"]


def test_a_jpeg_missing_only_its_end_marker_is_kept_and_stored_repaired(
    client: TestClient, tmp_path: Path, settings: Settings
) -> None:
    admin = sign_up(client)
    folder = _pets(tmp_path / "eoi")
    jpeg_without_end_marker(folder / "images/a.jpg", (320, 240))
    original = (folder / "images/a.jpg").read_bytes()
    with pytest.raises(OSError, match="truncated"):  # what used to refuse the whole import
        Image.open(io.BytesIO(original)).load()
    dataset, result = _import(client, admin, folder)
    assert result["status"] == "succeeded", result
    [warning] = [i for i in result["report"]["issues"] if i["severity"] == "warning"]
    assert (warning["code"], warning["file"]) == ("corrupt_jpeg_restored", "images/a.jpg")
    item = _items(client, admin, dataset)["a.jpg"]
    repaired = original + b"\xff\xd9"
    assert item["image_sha256"] == hashlib.sha256(repaired).hexdigest()
    served = client.get(item["image_url"], headers=admin.headers)
    assert served.content == repaired
    thumb = client.get(item["thumbnail_url"], headers=admin.headers)
    assert thumb.status_code == 200
    assert Image.open(io.BytesIO(thumb.content)).size == (256, 192)


def test_thumbnail_sizes_snap_to_a_few_values(
    client: TestClient, tmp_path: Path, settings: Settings
) -> None:
    admin = sign_up(client)
    folder = tiny_yolo(tmp_path / "big", boxes={"a": ["0 0.5 0.5 0.2 0.2"]}, size=(1500, 1000))
    dataset, result = _import(client, admin, folder)
    assert result["status"] == "succeeded", result
    item = _items(client, admin, dataset)["a.jpg"]
    etags = set()
    for size in (100, 101, 128):
        response = client.get(f"{item['thumbnail_url']}?size={size}", headers=admin.headers)
        assert response.status_code == 200
        assert Image.open(io.BytesIO(response.content)).size == (128, 85)
        etags.add(response.headers["etag"])
    assert len(etags) == 1
    org = uuid.UUID(admin.organization_id)
    cached = settings.local_storage_root / keys.thumbnail_key(org, item["image_sha256"], 128)
    assert cached.is_file()
    thumbs = settings.local_storage_root / "orgs" / str(org) / "thumbnails"
    assert [p.name for p in thumbs.iterdir()] == ["128"]  # one cached size for three asked
    largest = client.get(f"{item['thumbnail_url']}?size=1000", headers=admin.headers)
    assert Image.open(io.BytesIO(largest.content)).size == (1024, 683)


def test_no_thumbnail_for_an_image_above_the_pixel_limit(
    client: TestClient, tmp_path: Path, settings: Settings
) -> None:
    admin = sign_up(client)
    dataset, result = _import(client, admin, _pets(tmp_path / "small"))
    assert result["status"] == "succeeded", result
    item = _items(client, admin, dataset)["a.jpg"]
    # An image imported while the limit was higher: refused from its recorded size.
    settings.datasets.max_image_pixels = 1000
    response = client.get(item["thumbnail_url"], headers=admin.headers)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "image_too_large"
