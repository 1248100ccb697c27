"""Datasets with S3: importing from a bucket prefix, and a server whose own storage is S3."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
from tests.fixtures.app import Account, sign_up
from tests.fixtures.s3_server import S3Server

pytestmark = pytest.mark.s3


def _bucket_with_dataset(s3_server: S3Server, tmp_path: Path, prefix: str) -> str:
    folder = tiny_yolo(
        tmp_path / "ds", boxes={"a": ["0 0.5 0.5 0.2 0.2"], "b": ["1 0.2 0.2 0.1 0.1"]}
    )
    s3 = s3_server.client()
    bucket = f"src-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    for path in folder.rglob("*"):
        if path.is_file():
            s3.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(folder).as_posix()}")
    return bucket


def _start(client: TestClient, account: Account, dataset: str, source: dict[str, Any]) -> Any:
    return client.post(
        f"/api/v1/datasets/{dataset}/imports", json={"source": source}, headers=account.headers
    )


def test_import_from_an_s3_prefix(
    client: TestClient, settings: Settings, s3_server: S3Server, tmp_path: Path
) -> None:
    # The test server is on loopback: refused unless an admin allows it (see the next test).
    settings.datasets.s3_import_allowed_networks = ["127.0.0.1"]
    admin = sign_up(client)
    project = create_project(client, admin)
    dataset = create_dataset(client, admin, project)
    # Characters that must be encoded (and signed) exactly as S3 expects.
    bucket = _bucket_with_dataset(s3_server, tmp_path, "exports/my ds+é")
    source = {
        "kind": "s3",
        "bucket": bucket,
        "prefix": "exports/my ds+é",
        "endpoint_url": s3_server.endpoint_url,
        "region": s3_server.region,
        "access_key_id": s3_server.access_key,
        "secret_access_key": s3_server.secret_key,
    }
    started = _start(client, admin, dataset, source)
    assert started.status_code == 202, started.text
    # The secret is used, never recorded.
    assert "secret_access_key" not in started.json()["source"]
    result = wait_import(client, admin, started.json()["id"])
    assert result["status"] == "succeeded", result
    assert result["version_number"] == 1
    # Wrong credentials: a clear failure, not a crash.
    source["secret_access_key"] = "wrong-secret"
    failed = _start(client, admin, dataset, source)
    result = wait_import(client, admin, failed.json()["id"])
    assert result["status"] == "failed"
    assert result["report"]["issues"][0]["code"] == "source_unreadable"


def test_loopback_endpoints_are_refused_by_default(
    client: TestClient, s3_server: S3Server, tmp_path: Path
) -> None:
    admin = sign_up(client)
    dataset = create_dataset(client, admin, create_project(client, admin))
    bucket = _bucket_with_dataset(s3_server, tmp_path, "ds")
    refused = _start(
        client,
        admin,
        dataset,
        {
            "kind": "s3",
            "bucket": bucket,
            "prefix": "ds",
            "endpoint_url": s3_server.endpoint_url,
            "access_key_id": s3_server.access_key,
            "secret_access_key": s3_server.secret_key,
        },
    )
    assert refused.status_code == 403, refused.text
    error = refused.json()["error"]
    assert error["code"] == "source_not_allowed"
    assert "loopback" in error["message"]
    assert "S3_IMPORT_ALLOWED_NETWORKS" in error["message"]
    # Nothing was recorded: there is no import to poll.
    listed = client.get(f"/api/v1/datasets/{dataset}/imports", headers=admin.headers)
    assert listed.json() == []


def test_the_servers_own_aws_credentials_are_never_used(
    client: TestClient,
    settings: Settings,
    s3_server: S3Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server's environment holds keys that the S3 server accepts (ambient credentials, as
    on a cloud machine); an import that brings none must read anonymously, and fail."""
    credentials_file = tmp_path / "aws-credentials"
    credentials_file.write_text(
        f"[default]\naws_access_key_id = {s3_server.access_key}\n"
        f"aws_secret_access_key = {s3_server.secret_key}\n"
    )
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials_file))
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint_url)
    settings.datasets.s3_import_allowed_networks = ["127.0.0.1"]
    admin = sign_up(client)
    dataset = create_dataset(client, admin, create_project(client, admin))
    bucket = _bucket_with_dataset(s3_server, tmp_path, "ds")
    started = _start(
        client,
        admin,
        dataset,
        {"kind": "s3", "bucket": bucket, "prefix": "ds", "endpoint_url": s3_server.endpoint_url},
    )
    assert started.status_code == 202, started.text
    result = wait_import(client, admin, started.json()["id"])
    assert result["status"] == "failed", result
    issue = result["report"]["issues"][0]
    assert issue["code"] == "source_unreadable"
    assert "403" in issue["message"]  # SeaweedFS refused the unsigned request
    assert result["version_number"] is None


def test_half_a_key_pair_is_refused(client: TestClient) -> None:
    admin = sign_up(client)
    dataset = create_dataset(client, admin, create_project(client, admin))
    refused = _start(
        client,
        admin,
        dataset,
        {"kind": "s3", "bucket": "some-bucket", "access_key_id": "AKIAEXAMPLE"},
    )
    assert refused.status_code == 422, refused.text


@pytest.fixture
def s3_client(settings: Settings, s3_settings: S3StorageSettings) -> Iterator[TestClient]:
    settings.storage.backend = "s3"
    settings.storage.s3 = s3_settings
    with TestClient(create_app(settings, run_migrations=False)) as test_client:
        yield test_client


def test_the_platforms_own_bucket_is_never_importable(
    s3_client: TestClient,
    settings: Settings,
    s3_settings: S3StorageSettings,
    s3_server: S3Server,
    tmp_path: Path,
) -> None:
    """Organization B points an import at the platform's bucket and organization A's images
    there, with the platform's own keys and an allow-listed endpoint: refused, every way."""
    client = s3_client
    port = s3_settings.endpoint_url.rsplit(":", 1)[1] if s3_settings.endpoint_url else ""
    # The storage's own port allowed explicitly: only the bucket rule is left to refuse.
    settings.datasets.s3_import_allowed_networks = [f"127.0.0.1:{port}"]
    alice = sign_up(client)
    project = create_project(client, alice)
    dataset = create_dataset(client, alice, project)
    folder = tiny_yolo(tmp_path / "ds", boxes={"a": ["0 0.5 0.5 0.2 0.2"]})
    result = import_archive(client, alice, dataset, project, zip_folder(folder, tmp_path / "d.zip"))
    assert result["status"] == "succeeded", result
    mallory = sign_up(client)
    target = create_dataset(client, mallory, create_project(client, mallory))
    for endpoint, bucket in [
        (s3_settings.endpoint_url, s3_settings.bucket),
        (f"http://2130706433:{port}", s3_settings.bucket),  # 127.0.0.1: another name, same place
        (s3_settings.endpoint_url, s3_settings.bucket.upper()),
    ]:
        refused = _start(
            client,
            mallory,
            target,
            {
                "kind": "s3",
                "bucket": bucket,
                "prefix": f"orgs/{alice.organization_id}",
                "endpoint_url": endpoint,
                "access_key_id": s3_server.access_key,
                "secret_access_key": s3_server.secret_key,
            },
        )
        assert refused.status_code == 403, (endpoint, bucket, refused.text)
        assert refused.json()["error"]["code"] == "source_not_allowed"
        assert "platform's own storage bucket" in refused.json()["error"]["message"]
    # Another bucket on the platform's storage server: refused although its network is allowed,
    # until an entry names the storage's port (the administrator's call).
    other = _bucket_with_dataset(s3_server, tmp_path / "other", "ds")
    source = {
        "kind": "s3",
        "bucket": other,
        "prefix": "ds",
        "endpoint_url": s3_settings.endpoint_url,
        "access_key_id": s3_server.access_key,
        "secret_access_key": s3_server.secret_key,
    }
    settings.datasets.s3_import_allowed_networks = ["127.0.0.1"]
    refused = _start(client, mallory, target, source)
    assert refused.status_code == 403, refused.text
    assert "platform's own services" in refused.json()["error"]["message"]
    settings.datasets.s3_import_allowed_networks = [f"127.0.0.1:{port}"]
    started = _start(client, mallory, target, source)
    assert started.status_code == 202, started.text
    assert wait_import(client, mallory, started.json()["id"])["status"] == "succeeded"


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
