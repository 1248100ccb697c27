"""The job workflow with its activities in this process, on a Temporal dev server started by
`WorkflowEnvironment.start_local` from the pip-installed `temporal` binary (offline), against
real databases: the validate step refuses a job whose pinned data changed or is missing, and a
job finished before its workflow ran is left alone. (The trainer steps, with real worker
processes, are in test_temporal_backend.py.)"""

from __future__ import annotations

import asyncio
import io
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Worker

from lensforge.config import Settings
from lensforge.jobs.state import JobStatus, transition
from lensforge.kit.db import transaction
from lensforge.models import DatasetVersion, JobAttempt, TrainingJob
from lensforge.orchestration.local import LocalWorker
from lensforge.orchestration.local.claim import claim_job, claim_next
from lensforge.orchestration.temporal.activities import JobActivities
from lensforge.orchestration.temporal.contract import AttemptInput, JobInput, JobSummary
from lensforge.orchestration.temporal.devserver import temporal_cli
from lensforge.orchestration.temporal.names import workflow_id_for
from lensforge.orchestration.temporal.workflows import WORKFLOWS
from lensforge.storage.factory import create_object_store
from tests.orchestration.helpers import Jobs, registry_for

QUEUE = "workflow-tests"


def _run(settings: Settings, sessions: sessionmaker[Session], job_id: uuid.UUID) -> JobSummary:
    store = create_object_store(settings)
    activities = JobActivities(settings, sessions, registry_for(settings), store, "in-process")

    async def main() -> Any:
        async with await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(temporal_cli()),
            dev_server_extra_args=["--headless"],
        ) as env:
            with ThreadPoolExecutor(4) as executor:
                async with Worker(
                    env.client,
                    task_queue=QUEUE,
                    workflows=WORKFLOWS,
                    activities=activities.all(),
                    activity_executor=executor,
                ):
                    return await env.client.execute_workflow(
                        "TrainingWorkflow",
                        JobInput(str(job_id), heartbeat_timeout_seconds=5),
                        id=workflow_id_for(job_id),
                        task_queue=QUEUE,
                        result_type=JobSummary,
                    )

    summary: JobSummary = asyncio.run(main())
    return summary


def _temporal_job(jobs: Jobs, settings: Settings) -> uuid.UUID:
    """A queued Temporal job whose dataset version's manifest is in storage."""
    job_id = jobs.create()
    with transaction(jobs.sessions) as session:
        job = session.get(TrainingJob, job_id)
        assert job is not None
        job.orchestrator = "temporal"
        version = session.get(DatasetVersion, job.dataset_version_id)
        assert version is not None
        key = version.manifest_key
    create_object_store(settings).put(key, io.BytesIO(b"{}"), size=2)
    return job_id


def test_a_job_whose_pinned_data_changed_fails_without_an_attempt(
    wsettings: Settings, sessions: sessionmaker[Session], jobs: Jobs
) -> None:
    job_id = _temporal_job(jobs, wsettings)
    with transaction(sessions) as session:
        job = session.get(TrainingJob, job_id)
        assert job is not None
        version = session.get(DatasetVersion, job.dataset_version_id)
        assert version is not None
        version.content_hash = "f" * 64
    summary = _run(wsettings, sessions, job_id)
    reason = "invalid job: its pinned dataset version's content changed since it was created"
    assert (summary.status, summary.reason, summary.attempts) == ("failed", reason, 0)
    assert jobs.get(job_id).status == "failed"
    assert jobs.attempts(job_id) == []


def test_a_job_whose_dataset_manifest_is_missing_fails(
    wsettings: Settings, sessions: sessionmaker[Session], jobs: Jobs
) -> None:
    job_id = jobs.create()  # its version's manifest was never stored
    with transaction(sessions) as session:
        job = session.get(TrainingJob, job_id)
        assert job is not None
        job.orchestrator = "temporal"
    summary = _run(wsettings, sessions, job_id)
    assert summary.status == "failed"
    assert "manifest manifests/x.json is missing" in summary.reason


def test_a_job_cancelled_before_its_workflow_ran_is_left_alone(
    wsettings: Settings, sessions: sessionmaker[Session], jobs: Jobs
) -> None:
    job_id = _temporal_job(jobs, wsettings)
    with transaction(sessions) as session:
        job = session.get(TrainingJob, job_id)
        assert job is not None
        transition(session, job, JobStatus.CANCELLED, "cancelled before it started")
    summary = _run(wsettings, sessions, job_id)
    assert (summary.status, summary.reason) == ("cancelled", "cancelled before it started")
    assert jobs.attempts(job_id) == []


def test_local_workers_leave_temporal_jobs_and_attempts_alone(
    wsettings: Settings, sessions: sessionmaker[Session], jobs: Jobs
) -> None:
    """Both backends may share a database (while switching): a local worker neither claims a
    Temporal job nor takes a Temporal attempt under its own name for one of its dead ones."""
    queued = _temporal_job(jobs, wsettings)
    running = _temporal_job(jobs, wsettings)
    with transaction(sessions) as session:
        job = session.get(TrainingJob, running)
        assert job is not None
        claim_job(session, job, worker=wsettings.worker.name)  # same name as the local worker
    worker = LocalWorker(wsettings, sessions, registry_for(wsettings))
    with transaction(sessions) as session:
        assert claim_next(session, worker="x", queues=["default"], free_cpu=9, free_gpus=0) is None
    assert worker.recovery.recover_own() == 0
    assert worker.recovery.recover_orphans() == 0
    assert jobs.get(queued).status == "queued"
    assert [a.status for a in jobs.attempts(running)] == ["preparing"]


def _activities(settings: Settings, sessions: sessionmaker[Session]) -> JobActivities:
    store = create_object_store(settings)
    return JobActivities(settings, sessions, registry_for(settings), store, "in-process")


def test_prepare_run_twice_adopts_the_attempt_it_claimed(
    wsettings: Settings, sessions: sessionmaker[Session], jobs: Jobs
) -> None:
    job_id = _temporal_job(jobs, wsettings)
    activities = _activities(wsettings, sessions)
    env = ActivityEnvironment()
    first = env.run(activities.prepare_attempt, str(job_id))
    again = env.run(activities.prepare_attempt, str(job_id))  # as after a lost completion
    assert first.attempt == again.attempt == 1
    assert [a.status for a in jobs.attempts(job_id)] == ["preparing"]
    assert jobs.get(job_id).status_reason == "claimed by in-process"


def test_the_trainer_step_run_again_after_its_trainer_started_settles_it_lost(
    wsettings: Settings, sessions: sessionmaker[Session], jobs: Jobs
) -> None:
    """Temporal runs the step again only when its worker vanished (heartbeat timeout): the
    trainer it had started is gone with it, so the attempt is lost and the job resumes."""
    job_id = jobs.create(max_attempts=2, last_checkpoint_epoch=3)
    with transaction(sessions) as session:
        job = session.get(TrainingJob, job_id)
        assert job is not None
        job.orchestrator = "temporal"
        claim = claim_job(session, job, worker="vanished")
        attempt = session.get(JobAttempt, claim.attempt_id)
        assert attempt is not None
        attempt.pid = 999_999  # started by the earlier run of the step
    activities = _activities(wsettings, sessions)
    outcome = ActivityEnvironment().run(activities.run_trainer, AttemptInput(str(job_id), 1))
    assert (outcome.attempt_status, outcome.job_status) == ("lost", "queued")
    (lost,) = jobs.attempts(job_id)
    assert lost.error_message == "attempt 1 lost (worker vanished stopped responding)"
    job_after = jobs.get(job_id)
    assert (job_after.retries_left, job_after.resume_requested) == (0, True)
    assert job_after.status_reason.endswith("resuming from epoch 3")
    # And once more (the completion of that run was lost too): nothing changes.
    again = ActivityEnvironment().run(activities.run_trainer, AttemptInput(str(job_id), 1))
    assert (again.attempt_status, again.job_status) == ("lost", "queued")
    assert jobs.get(job_id).retries_left == 0
