"""The issue's acceptance walk on real data: the raccoon VOC set imports with the right counts,
exports to YOLO, COCO and Pascal VOC through the API, and each export re-imports to the identical version."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.datasets.importing import (
    RACCOON,
    create_dataset,
    create_project,
    import_archive,
    zip_folder,
)
from tests.fixtures.app import sign_up


@pytest.mark.parametrize("export_format", ["yolo", "coco", "voc"])
def test_raccoon_exports_and_reimports_identically(
    client: TestClient, tmp_path: Path, export_format: str
) -> None:
    admin = sign_up(client)
    project = create_project(client, admin)
    source = create_dataset(client, admin, project, name="raccoon")
    imported = import_archive(
        client, admin, source, project, zip_folder(RACCOON, tmp_path / "raccoon.zip")
    )
    assert imported["status"] == "succeeded", imported
    original = client.get(f"/api/v1/datasets/{source}/versions/1", headers=admin.headers).json()
    assert (original["item_count"], original["annotation_count"], original["classes"]) == (
        200,
        217,
        ["raccoon"],
    )

    exported = client.get(
        f"/api/v1/datasets/{source}/versions/1/export?format={export_format}", headers=admin.headers
    )
    assert exported.status_code == 200, exported.text
    archive = tmp_path / f"raccoon-{export_format}.zip"
    archive.write_bytes(exported.content)

    again = create_dataset(client, admin, project, name=f"raccoon-{export_format}")
    reimported = import_archive(client, admin, again, project, archive)
    assert reimported["status"] == "succeeded", reimported
    assert reimported["detected_format"] == export_format
    copy = client.get(f"/api/v1/datasets/{again}/versions/1", headers=admin.headers).json()
    assert copy["item_count"] == 200
    assert copy["annotation_count"] == 217
    assert copy["split_counts"] == original["split_counts"]
    # Same images, boxes, classes and splits: the same content hash.
    assert copy["content_hash"] == original["content_hash"]
