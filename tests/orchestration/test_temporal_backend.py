"""The local backend's end-to-end tests on the Temporal backend, against a real Temporal dev
server: a job created through the API runs as a workflow on `lensforge worker --orchestrator
temporal` processes with the reference trainer reporting over the SDK; its status, progress
and logs reach a WebSocket subscriber; cancel stops it; and the faults: a worker killed with
SIGKILL mid-training (another worker resumes the job from its last checkpoint), the Temporal
server restarted mid-run, and two workers on two queues taking only their own jobs."""

from __future__ import annotations

import io
import os
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from lensforge.app import create_app
from lensforge.config import Settings
from lensforge.kit.db import create_db_engine, transaction
from lensforge.models import JobCheckpoint, JobMetric, Worker
from lensforge.orchestration.local.processes import ProcessRecord
from lensforge.orchestration.temporal.devserver import DevServer
from tests.fixtures.app import Account, sign_up
from tests.fixtures.live_server import LiveServer, serve
from tests.jobs.helpers import create_job, make_version, receive_json
from tests.orchestration.helpers import LENSFORGE, Jobs, alive, attempt_dir, process, wait_until
from tests.orchestration.temporal_helpers import (
    cancel_workflow,
    dev_server,
    free_port,
    temporal_settings,
    temporal_worker,
    workflow_status,
)

# Groups of their own (one for the faults): these run beside the other subprocess tests.
pytestmark = [pytest.mark.xdist_group("temporal"), pytest.mark.slow]

FINISHED = ("completed", "failed", "cancelled")


@pytest.fixture(scope="module")
def temporal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    with dev_server(tmp_path_factory.mktemp("temporal")) as server:
        yield server


@pytest.fixture
def tsettings(settings: Settings, temporal: DevServer) -> Settings:
    return temporal_settings(settings, temporal.address)


@pytest.fixture
def tclient(tsettings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(tsettings, run_migrations=False)) as test_client:
        yield test_client


@pytest.fixture
def tlive(tsettings: Settings) -> Iterator[LiveServer]:
    with serve(tsettings) as server:
        yield server


def _metrics(sessions: sessionmaker[Session], job_id: uuid.UUID) -> list[tuple[int, int]]:
    with transaction(sessions) as session:
        return [
            (m.step, m.attempt_number)
            for m in session.scalars(
                select(JobMetric).where(JobMetric.job_id == job_id).order_by(JobMetric.step)
            )
        ]


def _last_epoch(sessions: sessionmaker[Session], job_id: uuid.UUID) -> int:
    with transaction(sessions) as session:
        epoch = session.scalar(
            select(JobCheckpoint.trained_epoch).where(
                JobCheckpoint.job_id == job_id, JobCheckpoint.kind == "last"
            )
        )
    return epoch or 0


def _slow_job(client: TestClient, account: Account, folder: Path, epochs: int, **body: Any) -> str:
    config = {"basic": {"epochs": epochs}, "advanced": {"epoch_delay_seconds": 0.6}}
    return create_job(client, account, folder, config=config, **body).job_id


def _finished(jobs: Jobs, job_id: uuid.UUID, log: Path, timeout: float = 120) -> Any:
    wait_until(
        lambda: jobs.get(job_id).status in FINISHED,
        timeout=timeout,
        what=f"the job to finish; logs in {log}",
    )
    return jobs.get(job_id)


def _workflow_ended(settings: Settings, job_id: uuid.UUID, status: str) -> None:
    deadline = time.monotonic() + 30
    while (seen := workflow_status(settings, job_id)[0]) != status:
        if time.monotonic() > deadline:
            pytest.fail(f"the workflow is {seen}, not {status}")
        time.sleep(0.2)


def test_a_job_runs_as_a_workflow_and_streams_status_progress_and_logs(
    tclient: TestClient,
    tlive: LiveServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
) -> None:
    account = sign_up(tclient)
    setup = create_job(tclient, account, tmp_path / "data", config={"basic": {"epochs": 3}})
    job_id = uuid.UUID(setup.job_id)
    created = tclient.get(f"/api/v1/training/jobs/{job_id}", headers=account.headers).json()
    assert created["orchestrator"] == "temporal"
    assert created["workflow_id"] == f"lensforge-job-{job_id}"
    assert created["workflow_url"] == (
        f"http://temporal-ui.example/namespaces/default/workflows/lensforge-job-{job_id}"
    )
    messages: list[dict[str, Any]] = []
    ws = f"/api/v1/ws/training?token={account.access_token}"
    with tclient.websocket_connect(ws) as websocket:
        assert receive_json(websocket)["type"] == "ready"
        websocket.send_json({"action": "subscribe", "job_id": setup.job_id})
        assert receive_json(websocket)["type"] == "subscribed"
        with temporal_worker(tlive.settings, tmp_path, "t-solo"):
            while not messages or messages[-1].get("status") not in FINISHED:
                messages.append(receive_json(websocket, timeout=60))
            _workflow_ended(tlive.settings, job_id, "COMPLETED")
    statuses = [m["status"] for m in messages if m["type"] == "job_status"]
    assert statuses[-3:] == ["preparing", "running", "completed"], statuses
    epochs = [m["epoch"] for m in messages if m["type"] == "training_progress"]
    assert epochs == [1, 2, 3]
    notes = [m["message"] for m in messages if m["type"] == "log" and m["source"] == "worker"]
    assert any("prepared by worker t-solo" in note for note in notes), notes
    jobs = Jobs(sessions, seed=False)
    (attempt,) = jobs.attempts(job_id)
    assert (attempt.status, attempt.worker_id) == ("completed", "t-solo")
    assert [step for step, _ in _metrics(sessions, job_id)] == [1, 2, 3]
    status, summary = workflow_status(tlive.settings, job_id)
    assert status == "COMPLETED"
    assert summary["status"] == "completed"
    assert summary["attempts"] == 1
    assert sorted(Path(key).stem for key in summary["checkpoints"]) == ["best", "last"]
    # The clean-up step ran on the worker that trained: its folders are gone.
    assert not (tlive.settings.data_dir / "jobs" / str(job_id)).exists()


def test_cancel_stops_the_trainer_and_cancels_the_workflow_and_resume_starts_a_new_one(
    tclient: TestClient,
    tlive: LiveServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
) -> None:
    account = sign_up(tclient)
    epochs = 8
    job_id = uuid.UUID(_slow_job(tclient, account, tmp_path / "data", epochs=epochs))
    jobs = Jobs(sessions, seed=False)
    settings = tlive.settings
    with temporal_worker(settings, tmp_path, "t-cancel"):
        wait_until(lambda: _last_epoch(sessions, job_id) >= 1, timeout=60, what="an epoch")
        record = ProcessRecord.read(attempt_dir(settings, job_id, 1))
        assert record is not None
        assert alive(record.pid)
        response = tclient.post(f"/api/v1/training/jobs/{job_id}/cancel", headers=account.headers)
        assert response.status_code == 202, response.text
        done = _finished(jobs, job_id, tmp_path, timeout=60)
        assert (done.status, done.status_reason) == ("cancelled", "cancelled by user")
        wait_until(lambda: not alive(record.pid), timeout=10, what="the trainer to stop")
        _workflow_ended(settings, job_id, "CANCELED")
        (attempt,) = jobs.attempts(job_id)
        assert attempt.status == "cancelled"
        assert not (settings.data_dir / "jobs" / str(job_id)).exists()  # cleaned up
        # The same workflow id runs again: a closed workflow's id is reused.
        response = tclient.post(f"/api/v1/training/jobs/{job_id}/resume", headers=account.headers)
        assert response.status_code == 202, response.text
        resumed = _finished(jobs, job_id, tmp_path, timeout=60)
        _workflow_ended(settings, job_id, "COMPLETED")
    assert resumed.status == "completed", resumed.status_reason
    cancelled, second = jobs.attempts(job_id)
    assert cancelled.status == "cancelled"
    assert second.resumed_from == f"jobs/{job_id}/outputs/checkpoints/last.json"
    assert [step for step, _ in _metrics(sessions, job_id)] == list(range(1, epochs + 1))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_cancel_made_in_temporal_itself_cancels_the_job(
    tclient: TestClient,
    tlive: LiveServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
) -> None:
    account = sign_up(tclient)
    job_id = uuid.UUID(_slow_job(tclient, account, tmp_path / "data", epochs=100))
    jobs = Jobs(sessions, seed=False)
    settings = tlive.settings
    with temporal_worker(settings, tmp_path, "t-ops"):
        wait_until(lambda: _last_epoch(sessions, job_id) >= 1, timeout=60, what="an epoch")
        cancel_workflow(settings, job_id)  # as `temporal workflow cancel` or the UI would
        done = _finished(jobs, job_id, tmp_path, timeout=60)
        _workflow_ended(settings, job_id, "CANCELED")
    assert (done.status, done.status_reason) == ("cancelled", "cancelled by user")
    assert done.cancel_requested_at is not None
    (attempt,) = jobs.attempts(job_id)
    assert attempt.status == "cancelled"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_job_created_while_temporal_is_down_starts_once_it_is_up(
    settings: Settings, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    port = free_port()
    tsettings = temporal_settings(settings, f"127.0.0.1:{port}")  # nothing listens yet
    with (
        TestClient(create_app(tsettings, run_migrations=False)) as client,
        serve(tsettings) as live,
    ):
        account = sign_up(client)
        started = time.monotonic()
        setup = create_job(client, account, tmp_path / "data", config={"basic": {"epochs": 2}})
        assert time.monotonic() - started < 30  # the API does not hang on Temporal
        job_id = uuid.UUID(setup.job_id)
        jobs = Jobs(sessions, seed=False)
        assert jobs.get(job_id).status == "queued"
        with (
            dev_server(tmp_path / "temporal", port),
            temporal_worker(live.settings, tmp_path, "t-late"),
        ):
            done = _finished(jobs, job_id, tmp_path, timeout=90)
            _workflow_ended(live.settings, job_id, "COMPLETED")
    assert done.status == "completed", done.status_reason


@pytest.mark.xdist_group("temporal-faults")
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_stopped_worker_hands_its_job_to_another_without_spending_a_retry(
    tclient: TestClient,
    tlive: LiveServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
) -> None:
    account = sign_up(tclient)
    job_id = uuid.UUID(_slow_job(tclient, account, tmp_path / "data", epochs=6))
    jobs = Jobs(sessions, seed=False)
    settings = tlive.settings
    with temporal_worker(settings, tmp_path, "t-polite") as polite:
        wait_until(lambda: _last_epoch(sessions, job_id) >= 1, timeout=60, what="an epoch")
        with temporal_worker(settings, tmp_path, "t-next"):
            polite.send_signal(signal.SIGTERM)
            assert polite.wait(timeout=30) == 0
            handed = jobs.attempts(job_id)[0]
            assert handed.status == "lost"
            assert handed.error_message == "attempt 1 lost (worker t-polite stopped)"
            done = _finished(jobs, job_id, tmp_path)
    assert done.status == "completed", done.status_reason
    assert done.retries_left == done.max_attempts - 1  # nothing went wrong with the job
    assert [a.worker_id for a in jobs.attempts(job_id)] == ["t-polite", "t-next"]


@pytest.mark.xdist_group("temporal-faults")
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_worker_killed_mid_training_is_resumed_by_another_worker_from_the_last_checkpoint(
    tclient: TestClient,
    tlive: LiveServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
) -> None:
    account = sign_up(tclient)
    epochs = 6
    job_id = uuid.UUID(_slow_job(tclient, account, tmp_path / "data", epochs=epochs))
    jobs = Jobs(sessions, seed=False)
    settings = tlive.settings
    with (
        temporal_worker(settings, tmp_path, "t-one") as one,
        temporal_worker(settings, tmp_path, "t-two") as two,
    ):
        wait_until(lambda: _last_epoch(sessions, job_id) >= 2, timeout=90, what="two epochs")
        first = jobs.attempts(job_id)[0]
        victim, survivor = (one, "t-two") if first.worker_id == "t-one" else (two, "t-one")
        record = ProcessRecord.read(attempt_dir(settings, job_id, 1))
        assert record is not None
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        wait_until(lambda: not alive(record.pid), timeout=10, what="the trainer to die with it")
        done = _finished(jobs, job_id, tmp_path)
        _workflow_ended(settings, job_id, "COMPLETED")
    assert done.status == "completed", done.status_reason
    lost, resumed = jobs.attempts(job_id)
    assert lost.status == "lost"
    assert "stopped responding" in (lost.error_message or "")
    assert (resumed.status, resumed.worker_id) == ("completed", survivor)
    assert resumed.resumed_from == f"jobs/{job_id}/outputs/checkpoints/last.json"
    steps = _metrics(sessions, job_id)
    # One point per epoch, none twice; the resumed attempt wrote only what it trained.
    assert [step for step, _ in steps] == list(range(1, epochs + 1))
    assert {attempt for _, attempt in steps} == {1, 2}


@pytest.mark.xdist_group("temporal-faults")
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_job_completes_when_the_temporal_server_restarts_mid_run(
    settings: Settings, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    port = free_port()
    with dev_server(tmp_path / "temporal", port) as server:
        # Longer than the outage: the running attempt survives it.
        tsettings = temporal_settings(settings, server.address, heartbeat_timeout=15)
        with (
            TestClient(create_app(tsettings, run_migrations=False)) as client,
            serve(tsettings) as live,
        ):
            account = sign_up(client)
            job_id = uuid.UUID(_slow_job(client, account, tmp_path / "data", epochs=8))
            jobs = Jobs(sessions, seed=False)
            with temporal_worker(live.settings, tmp_path, "t-steady"):
                wait_until(lambda: _last_epoch(sessions, job_id) >= 2, timeout=90, what="2 epochs")
                server.stop()
                assert jobs.get(job_id).status == "running"  # mid-run, for real
                server.start()  # same port, same database file: the workflow is still there
                done = _finished(jobs, job_id, tmp_path)
                _workflow_ended(live.settings, job_id, "COMPLETED")
            assert done.status == "completed", done.status_reason
            assert [s for s, _ in _metrics(sessions, job_id)] == list(range(1, 9))
            assert [a.status for a in jobs.attempts(job_id)] == ["completed"]


@pytest.mark.xdist_group("temporal-faults")
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_workers_on_two_queues_take_only_the_jobs_routed_to_them(
    tclient: TestClient,
    tlive: LiveServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
) -> None:
    account = sign_up(tclient)
    suffix = uuid.uuid4().hex[:6]
    cpu, gpu = f"cpu-{suffix}", f"gpu-a100-{suffix}"
    project_id, dataset_id = make_version(tclient, account, tmp_path / "data")
    ids = {}
    for queue in (cpu, gpu):
        made = create_job(
            tclient,
            account,
            tmp_path / "unused",
            project_id=project_id,
            dataset_id=dataset_id,
            queue=queue,
            config={"basic": {"epochs": 1}},
        )
        ids[uuid.UUID(made.job_id)] = queue
    jobs = Jobs(sessions, seed=False)
    settings = tlive.settings
    with (
        temporal_worker(settings, tmp_path, "t-cpu", cpu),
        temporal_worker(settings, tmp_path, "t-gpu", gpu),
    ):
        for job_id in ids:
            assert _finished(jobs, job_id, tmp_path).status == "completed"
    for job_id, queue in ids.items():
        (attempt,) = jobs.attempts(job_id)
        assert attempt.worker_id == ("t-cpu" if queue == cpu else "t-gpu")


def test_up_with_temporal_runs_a_dev_server_and_a_temporal_worker_and_stops_both(
    tmp_path: Path,
) -> None:
    port, temporal_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LENSFORGE_", "TEMPORAL_"))}
    env |= {
        "LENSFORGE_DATA_DIR": str(tmp_path / "data"),
        "LENSFORGE_TEMPORAL__DEV_SERVER_PORT": str(temporal_port),
    }
    argv = [LENSFORGE, "up", "--port", str(port), "--orchestrator", "temporal", "--no-serve"]
    log = tmp_path / "up.log"

    def ready() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/api/v1/ready", timeout=2).is_success
        except httpx.TransportError:
            return False

    with process(argv, env, log) as up:
        wait_until(ready, timeout=60, what=f"the server; log:\n{log}")
        engine = create_db_engine(f"sqlite:///{tmp_path / 'data' / 'lensforge.db'}")
        try:
            advertised = wait_until(
                lambda: _worker_rows(engine), timeout=60, what=f"the worker; log at {log}"
            )
        finally:
            engine.dispose()
        ((queues, resources),) = advertised
        assert queues == ["training-tasks"]
        assert resources == {"cpu": 1, "gpus": []}
        assert (tmp_path / "data" / "temporal" / "temporal.db").is_file()
        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=60) == 0, log.read_text()
    wait_until(lambda: not _listening(temporal_port), timeout=15, what="the dev server to stop")


def test_up_restarts_a_dead_temporal_dev_server_and_reports_it_in_ready(
    tmp_path: Path,
) -> None:
    """Issue 12, item 14: the dev server killed with SIGKILL under `up` made `/ready` lie and
    left every new job queued until `up` was restarted."""
    port, temporal_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LENSFORGE_", "TEMPORAL_"))}
    env |= {
        "LENSFORGE_DATA_DIR": str(tmp_path / "data"),
        "LENSFORGE_TEMPORAL__DEV_SERVER_PORT": str(temporal_port),
        "LENSFORGE_TEMPORAL__CONNECT_TIMEOUT_SECONDS": "2",
        "LENSFORGE_TEMPORAL__RECONCILE_INTERVAL_SECONDS": "1",
        "LENSFORGE_TRAINERS__ENVIRONMENT": "current",
    }
    argv = [LENSFORGE, "up", "--port", str(port), "--orchestrator", "temporal", "--no-serve"]
    log = tmp_path / "up.log"
    api = f"http://127.0.0.1:{port}"

    def readiness() -> tuple[int, dict[str, Any]] | None:
        try:
            answer = httpx.get(f"{api}/api/v1/ready", timeout=10)
        except httpx.TransportError:
            return None
        return answer.status_code, answer.json()

    with process(argv, env, log) as up:
        wait_until(lambda: (readiness() or (0,))[0] == 200, timeout=60, what=f"ready; {log}")
        _, body = readiness() or (0, {})
        assert body["checks"]["temporal"] == "ok"
        first = _dev_server_pid(up.pid)
        os.kill(first, signal.SIGKILL)
        down = wait_until(
            lambda: (r := readiness()) is not None and r[0] == 503 and r,
            timeout=30,
            what="ready to report Temporal down",
        )
        assert down[1]["checks"]["temporal"].startswith("error")
        assert down[1]["checks"]["database"] == "ok"
        wait_until(lambda: (readiness() or (0,))[0] == 200, timeout=60, what=f"ready; {log}")
        second = _dev_server_pid(up.pid)
        assert second != first
        # A job created after the restart runs to the end.
        with httpx.Client(base_url=api, timeout=30) as client:
            account = sign_up(client)  # type: ignore[arg-type]
            setup = create_job(
                client,  # type: ignore[arg-type]
                account,
                tmp_path / "images",
                config={"basic": {"epochs": 1}},
            )
            wait_until(
                lambda: (
                    client.get(
                        f"/api/v1/training/jobs/{setup.job_id}", headers=account.headers
                    ).json()["status"]
                    in FINISHED
                ),
                timeout=120,
                what=f"the job to finish; log at {log}",
            )
            job = client.get(f"/api/v1/training/jobs/{setup.job_id}", headers=account.headers)
            assert job.json()["status"] == "completed", job.text
        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=60) == 0, log.read_text()
    wait_until(lambda: not _listening(temporal_port), timeout=15, what="the dev server to stop")


def _dev_server_pid(parent: int) -> int:
    """The `temporal server start-dev` child of `parent`, once it runs."""

    def find() -> int | None:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == parent and b"start-dev" in cmdline:
                return int(entry.name)
        return None

    found: int = wait_until(find, timeout=30, what="the dev server process")
    return found


def _worker_rows(engine: Any) -> list[tuple[Any, Any]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(select(Worker.queues, Worker.resources))]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_exports_and_inference_run_as_workflows_too(
    tclient: TestClient,
    tlive: LiveServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
) -> None:
    account = sign_up(tclient)
    setup = create_job(tclient, account, tmp_path / "data", config={"basic": {"epochs": 1}})
    jobs = Jobs(sessions, seed=False)
    api = "/api/v1"
    log = tmp_path / "worker-t-models.log"
    with temporal_worker(tlive.settings, tmp_path, "t-models"):
        assert _finished(jobs, uuid.UUID(setup.job_id), log).status == "completed"
        export = tclient.post(
            f"{api}/exports",
            json={"job_id": setup.job_id, "format": "json"},
            headers=account.headers,
        ).json()
        export_job = tclient.get(f"{api}/training/jobs/{export['job_id']}", headers=account.headers)
        assert export_job.json()["orchestrator"] == "temporal"
        assert export_job.json()["workflow_id"] == f"lensforge-job-{export['job_id']}"
        done = _finished(jobs, uuid.UUID(export["job_id"]), log)
        assert done.status == "completed", done.status_reason
        _workflow_ended(tlive.settings, uuid.UUID(export["job_id"]), "COMPLETED")
        report = tclient.get(f"{api}/exports/{export['id']}", headers=account.headers).json()
        assert report["verification"]["passed"] is True
        image = io.BytesIO()
        Image.new("RGB", (32, 24), (200, 10, 10)).save(image, "PNG")
        answer = tclient.post(
            f"{api}/training/jobs/{setup.job_id}/predict",
            files=[("files", ("red.png", image.getvalue(), "image/png"))],
            data={"export_id": export["id"], "conf": "0", "wait": "90"},
            headers=account.headers,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["run"]["status"] == "completed", answer.json()["run"]
        assert len(answer.json()["results"][0]["detections"]) == 1
