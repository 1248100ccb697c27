"""`client.trainers` and `client.jobs` against a real server: manifests and config validation,
creating, listing, cancelling and restarting jobs, waiting, and live events."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from lensforge.client import (
    ConflictError,
    Dataset,
    EventStream,
    JobDetail,
    JobEvent,
    LensforgeClient,
    LensforgeError,
    NotFoundError,
    Project,
    ValidationError,
)
from tests.client.dataset_files import yolo_folder, zip_folder

EVENT_TIMEOUT_SECONDS = 15.0


@pytest.fixture
def project(admin: LensforgeClient) -> Project:
    return admin.projects.create("vision")


@pytest.fixture
def dataset(admin: LensforgeClient, project: Project, tmp_path: Path) -> Dataset:
    created = admin.datasets.create(project.id, "pets", "detection")
    archive = zip_folder(yolo_folder(tmp_path / "pets"), tmp_path / "pets.zip")
    done = admin.datasets.import_file(created.id, project.id, archive, poll_interval=0.05)
    assert done.succeeded, done
    return admin.datasets.get(created.id)


def create_job(client: LensforgeClient, project: Project, dataset: Dataset, **kw: Any) -> JobDetail:
    return client.jobs.create(project.id, dataset.id, "reference", "linear", **kw)


@pytest.fixture
def job(admin: LensforgeClient, project: Project, dataset: Dataset) -> JobDetail:
    return create_job(admin, project, dataset, config={"basic": {"epochs": 2}}, name="first")


def first_status(stream: EventStream, status: str, job_id: uuid.UUID) -> JobEvent:
    """The first `job_status` event of `job_id` to `status`; a watchdog closes the stream if
    none comes. (Events committed just before the subscription may come first: the server
    tails its outbox a few times a second.)"""
    watchdog = threading.Timer(EVENT_TIMEOUT_SECONDS, stream.close)
    watchdog.start()
    try:
        for event in stream:
            if (event.type, event.job_id, event.data.get("status")) == (
                "job_status",
                job_id,
                status,
            ):
                return event
    finally:
        watchdog.cancel()
    raise AssertionError(f"no {status} event within {EVENT_TIMEOUT_SECONDS} s")


def test_trainers_list_show_and_validate_config(admin: LensforgeClient) -> None:
    trainers = admin.trainers.list()
    assert "reference" in [t.name for t in trainers]
    reference = admin.trainers.get("reference")
    manifest = reference.manifest
    assert reference.source == "builtin"
    assert "detection" in manifest.tasks
    assert manifest.model_named("linear") is not None
    assert manifest.capabilities.resume
    assert manifest.config_schema.section("basic")["properties"]["epochs"]["minimum"] == 1

    checked = admin.trainers.validate_config("reference", {"basic": {"epochs": 3}})
    assert checked.valid
    assert checked.errors == []
    assert checked.config is not None
    assert checked.config["basic"]["epochs"] == 3
    assert checked.config["basic"]["batch_size"] == 16  # the schema's default, filled in

    bad = admin.trainers.validate_config(
        "reference", {"basic": {"epochs": 0, "colour": "red"}, "extra": {}}
    )
    assert not bad.valid
    assert bad.config is None
    fields = {e.field for e in bad.errors}
    assert {"basic.epochs", "basic.colour", "extra"} <= fields

    with pytest.raises(NotFoundError) as missing:
        admin.trainers.get("nope")
    assert missing.value.code == "trainer_not_found"


def test_create_get_and_list_with_filters(
    admin: LensforgeClient, project: Project, dataset: Dataset, job: JobDetail
) -> None:
    assert (job.status, job.name, job.trainer, job.model) == (
        "queued",
        "first",
        "reference",
        "linear",
    )
    assert job.task == "detection"
    assert job.config["basic"]["epochs"] == 2
    assert job.config["basic"]["learning_rate"] == 0.1
    assert [(t.from_status, t.to_status) for t in job.transitions] == [("pending", "queued")]
    assert not job.finished

    fetched = admin.jobs.get(job.id)
    assert fetched.id == job.id
    assert fetched.dataset_version_id == job.dataset_version_id

    second = create_job(
        admin, project, dataset, dataset_version=1, queue="gpu", priority=5, resources={"gpu": 1}
    )
    assert (second.queue, second.priority, second.resources["gpu"]) == ("gpu", 5, 1)
    assert [j.id for j in admin.jobs.iter(project_id=project.id)] == [second.id, job.id]
    assert admin.jobs.list(project_id=project.id, limit=1).has_more
    assert {j.id for j in admin.jobs.iter(status="queued")} == {job.id, second.id}
    assert list(admin.jobs.iter(status=["completed", "failed"])) == []
    assert len(list(admin.jobs.iter(trainer="reference", dataset_id=dataset.id))) == 2
    assert list(admin.jobs.iter(trainer="other")) == []

    # Telemetry of a job that has not run: empty, not an error.
    assert admin.jobs.metrics(job.id) == []
    assert admin.jobs.logs(job.id).items == []
    assert list(admin.jobs.iter_logs(job.id, level="warning")) == []
    assert admin.jobs.checkpoints(job.id) == []


def test_an_invalid_job_names_each_field(
    admin: LensforgeClient, project: Project, dataset: Dataset
) -> None:
    with pytest.raises(ValidationError) as refused:
        admin.jobs.create(
            project.id, dataset.id, "reference", "nope", config={"basic": {"epochs": 0}}
        )
    fields = {f.field for f in refused.value.fields}
    assert {"body.model", "body.config.basic.epochs"} <= fields
    with pytest.raises(NotFoundError):
        admin.jobs.create(project.id, dataset.id, "missing-trainer", "linear")
    assert admin.jobs.list().total == 0


def test_cancel_a_queued_job_then_restart_it(admin: LensforgeClient, job: JobDetail) -> None:
    cancelled = admin.jobs.cancel(job.id)
    assert cancelled.status == "cancelled"
    assert cancelled.finished
    assert cancelled.transitions[-1].reason == "cancelled before it started"
    with pytest.raises(ConflictError) as again:
        admin.jobs.cancel(job.id)
    assert again.value.code == "job_finished"
    assert admin.jobs.wait(job.id, timeout=5).status == "cancelled"
    with pytest.raises(ConflictError) as no_checkpoint:
        admin.jobs.resume(job.id)
    assert no_checkpoint.value.code == "no_checkpoint"

    restarted = admin.jobs.restart(job.id)
    assert restarted.status == "queued"
    assert [t.to_status for t in restarted.transitions] == ["queued", "cancelled", "queued"]
    assert restarted.transitions[-1].reason == "restarted by user"
    with pytest.raises(ConflictError):
        admin.jobs.restart(job.id)


def test_wait_gives_up_after_the_timeout(admin: LensforgeClient, job: JobDetail) -> None:
    seen: list[JobDetail] = []
    with pytest.raises(LensforgeError) as late:
        admin.jobs.wait(job.id, timeout=0.2, poll_interval=0.05, on_update=seen.append)
    assert late.value.code == "wait_timeout"
    assert seen
    assert all(j.status == "queued" for j in seen)


def test_stream_events_delivers_status_changes(admin: LensforgeClient, job: JobDetail) -> None:
    with admin.jobs.stream_events(job.id) as stream:
        stream.connect()
        admin.jobs.cancel(job.id)
        event = first_status(stream, "cancelled", job.id)
    assert event.data["previous"] == "queued"
    assert event.data["reason"] == "cancelled before it started"
    assert stream.connections == 1


def test_stream_events_reads_in_another_thread_and_closes_from_this_one(
    admin: LensforgeClient, job: JobDetail
) -> None:
    stream = admin.jobs.stream_events(job.id)
    seen: list[JobEvent] = []
    reader = threading.Thread(target=lambda: seen.extend(stream), daemon=True)
    reader.start()
    assert stream.wait_connected(EVENT_TIMEOUT_SECONDS)
    admin.jobs.cancel(job.id)
    admin.jobs.restart(job.id)
    deadline = time.monotonic() + EVENT_TIMEOUT_SECONDS
    while statuses(seen)[-2:] != ["cancelled", "queued"] and time.monotonic() < deadline:
        time.sleep(0.05)
    stream.close()
    reader.join(EVENT_TIMEOUT_SECONDS)
    assert not reader.is_alive()
    # Possibly preceded by the job's creation, committed just before the subscription.
    assert statuses(seen) in (["cancelled", "queued"], ["queued", "cancelled", "queued"])


def statuses(events: list[JobEvent]) -> list[str]:
    return [e.data["status"] for e in list(events) if e.type == "job_status"]


def test_project_stream_sees_every_job_of_the_project(
    admin: LensforgeClient, project: Project, dataset: Dataset, job: JobDetail
) -> None:
    with admin.jobs.stream_events(project_id=project.id) as stream:
        stream.connect()
        second = create_job(admin, project, dataset)
        event = first_status(stream, "queued", second.id)
    assert event.data["previous"] == "pending"


def test_stream_events_refuses_unknown_jobs_and_bad_credentials(
    admin: LensforgeClient, live_url: str
) -> None:
    with pytest.raises(NotFoundError):
        next(admin.jobs.stream_events("00000000-0000-4000-8000-000000000000"))
    with (
        LensforgeClient(live_url, api_key="lfk_wrong") as stranger,
        pytest.raises(LensforgeError) as refused,
    ):
        next(stranger.jobs.stream_events())
    assert refused.value.status_code == 401


@pytest.fixture
def live_url(admin: LensforgeClient) -> str:
    return admin.base_url


def test_stream_events_reconnects_after_the_connection_drops(
    admin: LensforgeClient, job: JobDetail
) -> None:
    stream = admin.jobs.stream_events(job.id)
    seen: list[JobEvent] = []
    reader = threading.Thread(target=lambda: seen.extend(stream), daemon=True)
    reader.start()
    assert stream.wait_connected(EVENT_TIMEOUT_SECONDS)
    connection = stream._ws
    assert connection is not None
    connection.socket.shutdown(socket.SHUT_RDWR)  # the network goes away under the stream
    deadline = time.monotonic() + EVENT_TIMEOUT_SECONDS
    while stream.connections < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stream.connections == 2
    assert stream.wait_connected(EVENT_TIMEOUT_SECONDS)
    admin.jobs.cancel(job.id)
    while "cancelled" not in statuses(seen) and time.monotonic() < deadline:
        time.sleep(0.05)
    stream.close()
    reader.join(EVENT_TIMEOUT_SECONDS)
    assert statuses(seen)[-1] == "cancelled"
