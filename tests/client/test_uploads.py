"""`upload_file` against a real server: parts, interruption and resume, retries, checksums."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lensforge.client import ConnectionFailed, LensforgeClient, Project
from lensforge.client.resources import uploads as uploads_module
from tests.client.helpers import new_email
from tests.fixtures.app import STRONG_PASSWORD
from tests.fixtures.live_server import LiveServer

MiB = 1024 * 1024
SIZE = 3 * MiB + 100_000  # four parts of 1 MiB, the last one short


class Stop(Exception):
    """Stands for the user pressing Ctrl-C, or the laptop going to sleep."""


class Recorder:
    """Counts what the client sends, through an httpx event hook."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []

    def __call__(self, request: httpx.Request) -> None:
        self.requests.append((request.method, request.url.path))

    def parts_sent(self) -> list[int]:
        return [int(p.rsplit("/", 1)[1]) for m, p in self.requests if m == "PUT"]

    def sessions_created(self) -> int:
        return sum(1 for m, p in self.requests if (m, p) == ("POST", "/api/v1/uploads"))


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    path = tmp_path / "images.zip"
    path.write_bytes(os.urandom(SIZE))
    return path


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def _client(url: str, **kwargs: object) -> LensforgeClient:
    client = LensforgeClient(url, **kwargs)  # type: ignore[arg-type]
    client.auth.signup(new_email(), STRONG_PASSWORD, "uploader")
    return client


@pytest.fixture
def uploader(live_server: LiveServer, recorder: Recorder) -> Iterator[LensforgeClient]:
    with _client(live_server.url, event_hooks={"request": [recorder]}) as client:
        yield client


@pytest.fixture
def project(uploader: LensforgeClient) -> Project:
    return uploader.projects.create("uploads")


def _stop_after_two_parts(done: int, total: int) -> None:
    if done >= 2 * MiB:
        raise Stop


def test_interrupted_upload_resumes_with_only_the_missing_parts(
    uploader: LensforgeClient,
    project: Project,
    archive: Path,
    recorder: Recorder,
    config_dir: Path,
) -> None:
    progress: list[tuple[int, int]] = []

    def record_then_stop(done: int, total: int) -> None:
        progress.append((done, total))
        _stop_after_two_parts(done, total)

    with pytest.raises(Stop):
        uploader.uploads.upload_file(
            project.id, archive, part_size=MiB, on_progress=record_then_stop
        )
    assert recorder.parts_sent() == [1, 2]
    assert progress == [(0, SIZE), (MiB, SIZE), (2 * MiB, SIZE)]

    state_file = config_dir / "uploads.json"
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    [entry] = json.loads(state_file.read_text())["uploads"].values()
    pending = uploader.uploads.get(entry["upload_id"])
    assert (pending.status, pending.part_count) == ("open", 4)
    assert (pending.received_parts, pending.missing_parts) == ([1, 2], [3, 4])

    recorder.requests.clear()
    progress.clear()
    completed = uploader.uploads.upload_file(
        project.id, archive, on_progress=lambda d, t: progress.append((d, t))
    )
    assert recorder.sessions_created() == 0
    assert recorder.parts_sent() == [3, 4]
    assert progress == [(2 * MiB, SIZE), (3 * MiB, SIZE), (SIZE, SIZE)]
    assert completed.id == pending.id
    assert completed.status == "completed"
    assert completed.sha256 == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert (completed.filename, completed.total_size) == ("images.zip", SIZE)
    assert completed.content_type == "application/zip"
    assert json.loads(state_file.read_text())["uploads"] == {}


def test_changed_aborted_or_unresumed_files_start_afresh(
    uploader: LensforgeClient, project: Project, archive: Path, recorder: Recorder
) -> None:
    upload = uploader.uploads
    with pytest.raises(Stop):
        upload.upload_file(project.id, archive, part_size=MiB, on_progress=_stop_after_two_parts)
    first_id = upload.get(_only_pending_id(uploader)).id

    # Edited since: the parts on the server belong to other bytes.
    os.utime(archive, ns=(archive.stat().st_atime_ns, archive.stat().st_mtime_ns + 10**9))
    with pytest.raises(Stop):
        upload.upload_file(project.id, archive, part_size=MiB, on_progress=_stop_after_two_parts)
    second_id = upload.get(_only_pending_id(uploader)).id
    assert second_id != first_id

    upload.abort(second_id)
    assert upload.get(second_id).status == "aborted"
    recorder.requests.clear()
    completed = upload.upload_file(project.id, archive, part_size=MiB)
    assert completed.id not in (first_id, second_id)
    assert recorder.parts_sent() == [1, 2, 3, 4]

    recorder.requests.clear()
    again = upload.upload_file(project.id, archive, part_size=MiB, resume=False)
    assert again.id != completed.id
    assert recorder.sessions_created() == 1


def _only_pending_id(client: LensforgeClient) -> str:
    state = json.loads(client.uploads._state.path.read_text())["uploads"]
    [entry] = state.values()
    return str(entry["upload_id"])


class FlakyNetwork(httpx.HTTPTransport):
    """The network and a proxy misbehaving for chosen parts: the edge of the world."""

    def __init__(self, connect_failures: dict[int, int], proxy_errors: dict[int, int]) -> None:
        super().__init__()
        self.connect_failures = connect_failures
        self.proxy_errors = proxy_errors
        self.attempts: Counter[int] = Counter()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            number = int(request.url.path.rsplit("/", 1)[1])
            self.attempts[number] += 1
            if self.connect_failures.get(number, 0) > 0:
                self.connect_failures[number] -= 1
                raise httpx.ConnectError("connection reset (simulated)", request=request)
            if self.proxy_errors.get(number, 0) > 0:
                self.proxy_errors[number] -= 1
                return httpx.Response(503, text="Service Unavailable", request=request)
        return super().handle_request(request)


def test_parts_are_retried_with_backoff(
    live_server: LiveServer, archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(uploads_module, "BACKOFF_SECONDS", 0.01)
    network = FlakyNetwork(connect_failures={2: 1}, proxy_errors={3: 2})
    with _client(live_server.url, transport=network) as client:
        project = client.projects.create("flaky")
        completed = client.uploads.upload_file(project.id, archive, part_size=MiB)
    assert completed.status == "completed"
    assert completed.sha256 == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert network.attempts == Counter({1: 1, 2: 2, 3: 3, 4: 1})


def test_gives_up_after_max_attempts_then_resumes(
    live_server: LiveServer, archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(uploads_module, "BACKOFF_SECONDS", 0.01)
    network = FlakyNetwork(connect_failures={3: 100}, proxy_errors={})
    with _client(live_server.url, transport=network) as client:
        project = client.projects.create("down")
        with pytest.raises(ConnectionFailed):
            client.uploads.upload_file(project.id, archive, part_size=MiB)
        assert network.attempts[3] == uploads_module.MAX_ATTEMPTS
        network.connect_failures.clear()
        network.attempts.clear()
        completed = client.uploads.upload_file(project.id, archive, part_size=MiB)
    assert completed.status == "completed"
    assert network.attempts == Counter({3: 1, 4: 1})
