"""Acting as the worker and the trainer, with nothing but the database and HTTP.

The worker is simulated where it meets the server: a claim is an attempt row with a fresh job
token and the queued → preparing transition, written through the state machine. The trainer is
plain HTTP against the contract's endpoints.
"""

from __future__ import annotations

import itertools
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import WebSocketTestSession

from lensforge.jobs.state import JobStatus, transition
from lensforge.jobs.tokens import issue_attempt_token
from lensforge.kit.db import transaction
from lensforge.models import JobAttempt, TrainingJob
from tests.datasets.importing import (
    create_dataset,
    create_project,
    import_archive,
    tiny_yolo,
    zip_folder,
)
from tests.fixtures.app import Account

BOXES = {
    "a": ["0 0.5 0.5 0.2 0.2"],
    "b": ["1 0.4 0.4 0.2 0.3"],
    "c": ["0 0.3 0.6 0.1 0.1", "1 0.7 0.2 0.2 0.2"],
    "d": ["1 0.5 0.5 0.5 0.5"],
}


@dataclass
class JobSetup:
    project_id: str
    dataset_id: str
    job_id: str


def make_version(
    client: TestClient,
    account: Account,
    folder: Path,
    *,
    project_id: str | None = None,
    boxes: dict[str, list[str]] | None = None,
    name: str = "data",
    size: tuple[int, int] = (64, 48),
) -> tuple[str, str]:
    """(project_id, dataset_id) of a new detection dataset with one version."""
    project_id = project_id or create_project(client, account, name=f"p-{uuid.uuid4().hex[:6]}")
    dataset_id = create_dataset(client, account, project_id, name=name)
    archive = zip_folder(
        tiny_yolo(folder, boxes=boxes or BOXES, size=size), folder.with_suffix(".zip")
    )
    result = import_archive(client, account, dataset_id, project_id, archive)
    assert result["status"] == "succeeded", result
    return project_id, dataset_id


def create_job(
    client: TestClient,
    account: Account,
    folder: Path,
    *,
    project_id: str | None = None,
    dataset_id: str | None = None,
    **body: Any,
) -> JobSetup:
    if dataset_id is None:
        project_id, dataset_id = make_version(client, account, folder, project_id=project_id)
    assert project_id is not None
    response = client.post(
        "/api/v1/training/jobs",
        json={
            "project_id": project_id,
            "dataset_id": dataset_id,
            "trainer": "reference",
            "model": "linear",
            "config": {"basic": {"epochs": 3}},
            **body,
        },
        headers=account.headers,
    )
    assert response.status_code == 201, response.text
    return JobSetup(project_id, dataset_id, response.json()["id"])


def sessions(client: TestClient) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = client.app.state.session_factory  # type: ignore[attr-defined]
    return factory


@dataclass
class Trainer:
    """The trainer side of one attempt: its token and its report sequence."""

    client: TestClient
    job_id: str
    token: str
    attempt: int
    attempt_id: uuid.UUID
    _sequence: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def url(self, rest: str = "") -> str:
        return f"/api/v1/trainer/jobs/{self.job_id}{rest}"

    def get(self, rest: str = "") -> httpx.Response:
        return self.client.get(self.url(rest), headers=self.headers)

    def post(self, rest: str, body: Any) -> httpx.Response:
        return self.client.post(self.url(rest), json=body, headers=self.headers)

    def report(self, kind: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one report with the next sequence number; asserts it was applied."""
        sequence = next(self._sequence)
        response = self.send([self.make(sequence, kind, data)])
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert body["applied"] == [sequence], body
        return body

    def make(self, sequence: int, kind: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"sequence": sequence, "kind": kind, "data": data or {}}

    def send(self, reports: list[dict[str, Any]]) -> httpx.Response:
        # Encoded here, not by httpx: Python's json writes NaN (as an SDK would), httpx refuses.
        return self.client.post(
            self.url("/reports"),
            content=json.dumps({"reports": reports}),
            headers={**self.headers, "Content-Type": "application/json"},
        )

    def upload(self, name: str, content: bytes) -> None:
        urls = self.post("/outputs/urls", {"files": [{"name": name}]})
        assert urls.status_code == 200, urls.text
        put = self.client.put(urls.json()["urls"][name], content=content)
        assert put.status_code in (200, 201, 204), put.text


def claim(client: TestClient, job_id: str, worker: str = "test-worker") -> Trainer:
    """What the worker does when it takes a queued job: a new attempt with its own token."""
    with transaction(sessions(client)) as session:
        job = session.get(TrainingJob, uuid.UUID(job_id))
        assert job is not None
        job.attempt_count += 1
        token, token_hash = issue_attempt_token()
        attempt = JobAttempt(
            job_id=job.id,
            number=job.attempt_count,
            status="preparing",
            worker_id=worker,
            token_hash=token_hash,
        )
        session.add(attempt)
        transition(
            session,
            job,
            JobStatus.PREPARING,
            f"claimed by {worker}",
            attempt_number=attempt.number,
        )
        return Trainer(client, job_id, token, attempt.number, attempt.id)


def end_attempt(client: TestClient, attempt_id: uuid.UUID, status: str = "lost") -> None:
    """What the worker does when a trainer process disappears."""
    with transaction(sessions(client)) as session:
        attempt = session.get(JobAttempt, attempt_id)
        assert attempt is not None
        attempt.status = status


def receive_json(websocket: WebSocketTestSession, timeout: float = 10.0) -> dict[str, Any]:
    """`websocket.receive_json()` with a deadline, so a missing event fails instead of hanging.

    Reads the session's private stream: Starlette's test session has no receive timeout.
    """

    async def receive() -> Any:
        with anyio.fail_after(timeout):
            return await websocket._send_rx.receive()

    message = websocket.portal.call(receive)
    websocket._raise_on_close(message)
    result: dict[str, Any] = json.loads(message["text"])
    return result
