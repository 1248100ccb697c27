"""What users read of a run: log filters, metrics paging, checkpoints, and who may read them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from lensforge.jobs.state import JobStatus, transition
from lensforge.kit.db import transaction
from lensforge.models import TrainingJob
from tests.fixtures.app import Account, sign_up
from tests.jobs.helpers import Trainer, claim, create_job, end_attempt, sessions

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
LINES = [
    ("DEBUG", "Loading data"),
    ("INFO", "epoch 1 done"),
    ("WARNING", "disk SLOW"),
    ("ERROR", "loss is nan"),
    ("CRITICAL", "100% of memory used"),
]


def _log_lines(trainer: Trainer, first_sequence: int = 0) -> None:
    reports = [
        {
            "sequence": first_sequence + index,
            "kind": "log",
            "at": (T0 + timedelta(seconds=index)).isoformat(),
            "data": {"level": level, "message": message, "metadata": {"i": index}},
        }
        for index, (level, message) in enumerate(LINES)
    ]
    response = trainer.send(reports)
    assert response.status_code == 200, response.text


def _messages(client: TestClient, user: Account, job_id: str, **params: Any) -> list[str]:
    response = client.get(
        f"/api/v1/training/jobs/{job_id}/logs", params=params, headers=user.headers
    )
    assert response.status_code == 200, response.text
    return [line["message"] for line in response.json()["items"]]


def test_log_filters(client: TestClient, tmp_path: Path) -> None:
    user = sign_up(client)
    setup = create_job(client, user, tmp_path / "data")
    first = claim(client, setup.job_id)
    _log_lines(first)
    # The attempt is lost; the worker puts the job back in the queue and a second one runs.
    end_attempt(client, first.attempt_id, "lost")
    with transaction(sessions(client)) as session:
        job = session.get(TrainingJob, uuid.UUID(setup.job_id))
        assert job is not None
        transition(session, job, JobStatus.QUEUED, "attempt lost", attempt_number=1)
    second = claim(client, setup.job_id)
    second.send([second.make(0, "log", {"level": "ERROR", "message": "again nan"})])

    job_id = setup.job_id
    everything = _messages(client, user, job_id)
    assert everything[:5] == [message for _, message in LINES]
    assert everything[5] == "again nan"  # logged now, after 2026-01-01
    assert _messages(client, user, job_id, level="WARNING", attempt=1) == [
        "disk SLOW",
        "loss is nan",
        "100% of memory used",
    ]
    assert _messages(client, user, job_id, attempt=2) == ["again nan"]
    window = {"since": (T0 + timedelta(seconds=1)).isoformat(), "until": T0 + timedelta(seconds=3)}
    assert _messages(client, user, job_id, **window) == ["epoch 1 done", "disk SLOW"]
    assert _messages(client, user, job_id, search="slow") == ["disk SLOW"]
    assert _messages(client, user, job_id, search="NaN") == ["loss is nan", "again nan"]
    # LIKE wildcards in a search are literal characters.
    assert _messages(client, user, job_id, search="100%") == ["100% of memory used"]
    assert _messages(client, user, job_id, search="_") == []
    page = client.get(
        f"/api/v1/training/jobs/{job_id}/logs",
        params={"limit": 2, "offset": 2},
        headers=user.headers,
    ).json()
    assert page["total"] == 6
    assert [line["message"] for line in page["items"]] == ["disk SLOW", "loss is nan"]
    assert page["items"][0]["extra"] == {"i": 2}
    bad = client.get(
        f"/api/v1/training/jobs/{job_id}/logs", params={"level": "LOUD"}, headers=user.headers
    )
    assert bad.status_code == 422


def test_telemetry_of_another_organization_is_not_found(client: TestClient, tmp_path: Path) -> None:
    owner = sign_up(client)
    setup = create_job(client, owner, tmp_path / "data")
    stranger = sign_up(client)
    for rest in ("metrics", "logs", "checkpoints"):
        response = client.get(
            f"/api/v1/training/jobs/{setup.job_id}/{rest}", headers=stranger.headers
        )
        assert response.status_code == 404, (rest, response.text)
        assert response.json()["error"]["code"] == "job_not_found"


def test_checkpoints_are_listed_with_download_links(client: TestClient, tmp_path: Path) -> None:
    user = sign_up(client)
    setup = create_job(client, user, tmp_path / "data")
    trainer = claim(client, setup.job_id)
    trainer.report("started")
    for epoch in (1, 2):
        content = f"weights-{epoch}".encode()
        for kind, name in (("last", "checkpoints/last.bin"), ("epoch", f"checkpoints/e{epoch}")):
            trainer.upload(name, content)
            trainer.report(
                "checkpoint", {"kind": kind, "epoch": epoch, "name": name, "size": len(content)}
            )
    listed = client.get(
        f"/api/v1/training/jobs/{setup.job_id}/checkpoints", headers=user.headers
    ).json()
    # `last` is one row, replaced as training goes on; `epoch` checkpoints are kept.
    assert [(c["kind"], c["epoch"]) for c in listed] == [("epoch", 1), ("epoch", 2), ("last", 2)]
    assert [client.get(c["url"]).content for c in listed] == [
        b"weights-1",
        b"weights-2",
        b"weights-2",
    ]
