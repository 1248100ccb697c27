"""Official pretrained weights by name (`lensforge train --weights yolo11n.pt`, issue 13 item 4):
the server downloads them from a local HTTP server standing in for the internet, verifies size
and SHA-256, caches them for every later job, works offline from the cache or from an uploaded
artifact, and refuses a job whose weights cannot be had before it exists (422
`weights_unavailable` with what to do)."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from lensforge.app import create_app
from lensforge.config import Settings
from lensforge.model_artifacts.pretrained import weights_cache_dir
from lensforge.models import ModelArtifact, TrainingJob
from tests.datasets.importing import upload
from tests.fixtures.app import Account, sign_up
from tests.jobs.helpers import claim, make_version, sessions

OFFICIAL = b"PK\x03\x04 a checkpoint standing in for yolo11n.pt " * 200
OFFICIAL_SHA = hashlib.sha256(OFFICIAL).hexdigest()


@dataclass
class FakeInternet:
    """A local HTTP server: path -> bytes, every request recorded."""

    files: dict[str, bytes]
    requests: list[str] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def internet() -> Iterator[FakeInternet]:
    fake = FakeInternet({"/assets/yolo11n.pt": OFFICIAL})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fake.requests.append(self.path)
            body = fake.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_port}/assets"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def weights_settings(settings: Settings, internet: FakeInternet, tmp_path: Path) -> Settings:
    checksums = tmp_path / "weights-checksums.json"
    known = {"sha256": OFFICIAL_SHA, "size": len(OFFICIAL)}
    checksums.write_text(json.dumps({"yolo11n.pt": known, "yolo11s.pt": known}))
    return settings.model_copy(
        update={
            "trainers": settings.trainers.model_copy(
                update={"weights_base_url": internet.url, "weights_checksums": str(checksums)}
            )
        }
    )


@pytest.fixture
def weights_client(weights_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(weights_settings, run_migrations=False)) as test_client:
        yield test_client


def _job(
    client: TestClient,
    account: Account,
    project_id: str,
    dataset_id: str,
    weights: str | None,
    model: str = "yolo11n",
    basic: dict[str, Any] | None = None,
) -> httpx.Response:
    return client.post(
        "/api/v1/training/jobs",
        json={
            "project_id": project_id,
            "dataset_id": dataset_id,
            "trainer": "ultralytics",
            "model": model,
            "config": {"basic": basic or {"epochs": 1}},
            "weights": weights,
        },
        headers=account.headers,
    )


def _count(client: TestClient, model: type[Any]) -> int:
    with sessions(client)() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_official_weights_are_downloaded_verified_cached_and_handed_to_the_trainer(
    weights_client: TestClient, weights_settings: Settings, internet: FakeInternet, tmp_path: Path
) -> None:
    account = sign_up(weights_client)
    project_id, dataset_id = make_version(weights_client, account, tmp_path / "a")
    created = _job(weights_client, account, project_id, dataset_id, "yolo11n.pt")
    assert created.status_code == 201, created.text
    assert internet.requests == ["/assets/yolo11n.pt"]
    cached = weights_cache_dir(weights_settings) / "yolo11n.pt"
    assert cached.read_bytes() == OFFICIAL
    assert [p.name for p in cached.parent.iterdir()] == ["yolo11n.pt"]  # no partial left
    artifact_id = created.json()["weights_artifact_id"]
    artifact = weights_client.get(
        f"/api/v1/models/artifacts/{artifact_id}", headers=account.headers
    )
    assert artifact.json()["name"] == "yolo11n.pt"
    assert (artifact.json()["sha256"], artifact.json()["size_bytes"]) == (
        OFFICIAL_SHA,
        len(OFFICIAL),
    )

    # The trainer (offline) receives them through the weights route, with their checksum.
    trainer = claim(weights_client, created.json()["id"])
    spec = trainer.get().json()
    assert spec["weights"]["sha256"] == OFFICIAL_SHA
    route = trainer.get("/weights").json()
    assert weights_client.get(route["url"]).content == OFFICIAL

    # Every later job uses the cache: a second job of the project reuses its artifact, and a
    # job of another project (the internet gone) the cached file, without a request.
    again = _job(weights_client, account, project_id, dataset_id, "yolo11n.pt")
    assert again.json()["weights_artifact_id"] == artifact_id
    internet.files.clear()
    other_project, other_dataset = make_version(weights_client, account, tmp_path / "b")
    offline = _job(weights_client, account, other_project, other_dataset, "yolo11n.pt")
    assert offline.status_code == 201, offline.text
    assert internet.requests == ["/assets/yolo11n.pt"]
    assert _count(weights_client, ModelArtifact) == 2


def test_a_download_that_does_not_match_its_checksum_is_refused_and_not_kept(
    weights_client: TestClient, weights_settings: Settings, internet: FakeInternet, tmp_path: Path
) -> None:
    account = sign_up(weights_client)
    project_id, dataset_id = make_version(weights_client, account, tmp_path / "a")
    tampered = OFFICIAL[:-1] + b"!"  # the same size, another content
    internet.files["/assets/yolo11n.pt"] = tampered
    refused = _job(weights_client, account, project_id, dataset_id, "yolo11n.pt")
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "weights_unavailable"
    assert "SHA-256" in error["message"]
    assert "refused" in error["message"]
    assert "lensforge models upload yolo11n.pt" in error["message"]
    cache = weights_cache_dir(weights_settings)
    assert list(cache.iterdir()) == []
    assert (_count(weights_client, ModelArtifact), _count(weights_client, TrainingJob)) == (0, 0)

    internet.files["/assets/yolo11n.pt"] = OFFICIAL + b"more"  # larger than the official file
    larger = _job(weights_client, account, project_id, dataset_id, "yolo11n.pt")
    assert "larger than the official" in larger.json()["error"]["message"]
    assert list(cache.iterdir()) == []

    # A file in the cache that is not the official one is not used either.
    (cache / "yolo11n.pt").write_bytes(tampered)
    wrong = _job(weights_client, account, project_id, dataset_id, "yolo11n.pt")
    assert wrong.json()["error"]["code"] == "weights_unavailable"
    assert "is not the official yolo11n.pt" in wrong.json()["error"]["message"]


def test_weights_that_cannot_be_had_are_refused_before_the_job_exists(
    weights_client: TestClient, internet: FakeInternet, tmp_path: Path
) -> None:
    account = sign_up(weights_client)
    project_id, dataset_id = make_version(weights_client, account, tmp_path / "a")
    internet.files.clear()  # offline: the official file cannot be downloaded
    offline = _job(weights_client, account, project_id, dataset_id, "yolo11n.pt")
    assert offline.status_code == 422
    assert offline.json()["error"]["code"] == "weights_unavailable"
    assert "HTTP 404" in offline.json()["error"]["message"]
    # A name that is neither an artifact nor a file with a known checksum: never downloaded.
    unknown = _job(weights_client, account, project_id, dataset_id, "yolo99z.pt")
    assert unknown.json()["error"]["code"] == "weights_unavailable"
    assert "lensforge models upload FILE" in unknown.json()["error"]["message"]
    assert internet.requests == ["/assets/yolo11n.pt"]
    assert _count(weights_client, TrainingJob) == 0


def test_offline_an_uploaded_artifact_of_that_name_is_used(
    weights_client: TestClient, internet: FakeInternet, tmp_path: Path
) -> None:
    account = sign_up(weights_client)
    project_id, dataset_id = make_version(weights_client, account, tmp_path / "a")
    internet.files.clear()
    path = tmp_path / "mine.pt"
    path.write_bytes(b"my own weights")
    upload_id = upload(weights_client, account, project_id, path)
    recorded = weights_client.post(
        "/api/v1/models/artifacts",
        json={"project_id": project_id, "upload_id": upload_id, "name": "yolo11n.pt"},
        headers=account.headers,
    )
    assert recorded.status_code == 201, recorded.text
    created = _job(weights_client, account, project_id, dataset_id, "yolo11n.pt")
    assert created.status_code == 201, created.text
    assert created.json()["weights_artifact_id"] == recorded.json()["id"]
    assert internet.requests == []


def test_a_job_naming_no_weights_starts_from_the_official_ones_where_they_can_be_had(
    weights_client: TestClient, internet: FakeInternet, tmp_path: Path
) -> None:
    account = sign_up(weights_client)
    project_id, dataset_id = make_version(weights_client, account, tmp_path / "a")
    default = _job(weights_client, account, project_id, dataset_id, None)
    assert default.status_code == 201, default.text
    assert default.json()["weights_artifact_id"] is not None
    assert internet.requests == ["/assets/yolo11n.pt"]
    # From scratch on purpose: an empty basic.pretrained.
    scratch = _job(weights_client, account, project_id, dataset_id, None, basic={"pretrained": ""})
    assert scratch.json()["weights_artifact_id"] is None
    # Official weights that cannot be had (not served) or whose checksum is unknown: from
    # scratch, the job is not refused for a default it did not ask for.
    offline = _job(weights_client, account, project_id, dataset_id, None, model="yolo11s")
    assert offline.status_code == 201, offline.text
    assert offline.json()["weights_artifact_id"] is None
    unknown = _job(weights_client, account, project_id, dataset_id, None, model="yolo11m")
    assert unknown.json()["weights_artifact_id"] is None
    assert internet.requests == ["/assets/yolo11n.pt", "/assets/yolo11s.pt"]
