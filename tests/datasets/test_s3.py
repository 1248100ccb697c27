"""Datasets with S3: importing from a bucket prefix, and a server whose own storage is S3."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lensforge.app import create_app
from lensforge.config import S3StorageSettings, Settings
from lensforge.storage.s3 import S3ObjectStore
from tests.datasets.importing import (
    create_dataset,
    create_project,
    import_archive,
    tiny_yolo,
    wait_import,
    zip_folder,
)
from tests.fixtures.app import sign_up
from tests.fixtures.s3_server import S3Server

pytestmark = pytest.mark.s3


def test_import_from_an_s3_prefix(client: TestClient, s3_server: S3Server, tmp_path: Path) -> None:
    admin = sign_up(client)
    project = create_project(client, admin)
    dataset = create_dataset(client, admin, project)
    folder = tiny_yolo(
        tmp_path / "ds", boxes={"a": ["0 0.5 0.5 0.2 0.2"], "b": ["1 0.2 0.2 0.1 0.1"]}
    )
    s3 = s3_server.client()
    bucket = f"src-{tmp_path.name[-8:].lower().replace('_', '-')}"
    s3.create_bucket(Bucket=bucket)
    for path in folder.rglob("*"):
        if path.is_file():
            s3.upload_file(str(path), bucket, f"exports/ds/{path.relative_to(folder).as_posix()}")
    source = {
        "kind": "s3",
        "bucket": bucket,
        "prefix": "exports/ds",
        "endpoint_url": s3_server.endpoint_url,
        "region": s3_server.region,
        "access_key_id": s3_server.access_key,
        "secret_access_key": s3_server.secret_key,
    }
    started = client.post(
        f"/api/v1/datasets/{dataset}/imports", json={"source": source}, headers=admin.headers
    )
    assert started.status_code == 202, started.text
    # The secret is used, never recorded.
    assert "secret_access_key" not in started.json()["source"]
    result = wait_import(client, admin, started.json()["id"])
    assert result["status"] == "succeeded", result
    assert result["version_number"] == 1
    # Wrong credentials: a clear failure, not a crash.
    source["secret_access_key"] = "wrong-secret"
    failed = client.post(
        f"/api/v1/datasets/{dataset}/imports", json={"source": source}, headers=admin.headers
    )
    result = wait_import(client, admin, failed.json()["id"])
    assert result["status"] == "failed"
    assert result["report"]["issues"][0]["code"] == "source_unreadable"


@pytest.fixture
def s3_client(settings: Settings, s3_settings: S3StorageSettings) -> Iterator[TestClient]:
    settings.storage.backend = "s3"
    settings.storage.s3 = s3_settings
    with TestClient(create_app(settings, run_migrations=False)) as test_client:
        yield test_client


def test_a_server_on_s3_storage_imports_and_serves_images(
    s3_client: TestClient, s3_settings: S3StorageSettings, tmp_path: Path
) -> None:
    client = s3_client
    assert client.get("/api/v1/ready").json()["checks"]["storage"] == "ok"
    admin = sign_up(client)
    project = create_project(client, admin)
    dataset = create_dataset(client, admin, project)
    folder = tiny_yolo(tmp_path / "ds", boxes={"a": ["0 0.5 0.5 0.2 0.2"]})
    result = import_archive(client, admin, dataset, project, zip_folder(folder, tmp_path / "d.zip"))
    assert result["status"] == "succeeded", result
    store = S3ObjectStore(s3_settings)
    images = list(store.list(f"orgs/{admin.organization_id}/images/"))
    assert len(images) == 1
    original = (folder / "images" / "a.jpg").read_bytes()
    with store.open(images[0].key) as stream:
        assert stream.read() == original
