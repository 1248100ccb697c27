"""The job workflow. Deterministic code only: it sequences activities and decides nothing
that depends on the clock, the database or the environment (the activities do).

    validate the pinned dataset version
    loop: prepare an attempt (claim + trainer environment) → run the trainer
          (again while the job went back to the queue: a lost attempt with retries left)
    finalize (the job's outcome, checkpoints and best metric, as the workflow's result)
    clean up (the job's folders on each machine that ran it; best effort)

Retries: the infrastructure steps retry (database or object store hiccups). The trainer step
retries only when its worker vanished (heartbeat timeout): that retry settles the lost attempt
by the recovery rules (a retry spent, `resume_requested` from the `last` checkpoint) and the
loop runs the next attempt. A training that failed is an outcome, not an error: it is never
retried blindly.

Cancel (the API, or `temporal workflow cancel` / the Temporal UI): the trainer step is
cancelled and waited for (it stops the trainer's process group and records the cancel); a job
cancelled before it ran is recorded by `request_cancel`; the workflow then ends cancelled.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, CancelledError

from lensforge.orchestration.temporal.contract import (
    CLEANUP,
    FINALIZE,
    PREPARE,
    REQUEST_CANCEL,
    RUN,
    VALIDATE,
    AttemptInput,
    JobInput,
    JobSummary,
    Prepared,
    RunOutcome,
    Validated,
)

INFRASTRUCTURE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=20,
    non_retryable_error_types=["JobGone", "InvalidJob"],
)
# Retried only for a vanished worker or a worker without a free slot; a training failure is
# returned as an outcome and never raised.
TRAINER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=50,
    non_retryable_error_types=["JobGone", "InvalidJob"],
)
_SHORT = timedelta(minutes=2)
_CLEANUP_TIMEOUT = timedelta(minutes=5)


def _cancelled(error: BaseException) -> bool:
    if isinstance(error, asyncio.CancelledError | CancelledError):
        return True
    return isinstance(error, ActivityError) and isinstance(error.cause, CancelledError)


async def run_job(job: JobInput) -> JobSummary:
    heartbeat = timedelta(seconds=job.heartbeat_timeout_seconds)
    hosts: list[str] = []
    cancelled = False
    try:
        checked: Validated = await workflow.execute_activity(
            VALIDATE,
            job.job_id,
            result_type=Validated,
            start_to_close_timeout=_SHORT,
            retry_policy=INFRASTRUCTURE_RETRY,
        )
        while checked.runnable:
            prepared: Prepared = await workflow.execute_activity(
                PREPARE,
                job.job_id,
                result_type=Prepared,
                # An environment build may take long; its heartbeats show it is alive.
                start_to_close_timeout=timedelta(hours=2),
                heartbeat_timeout=heartbeat,
                retry_policy=INFRASTRUCTURE_RETRY,
                cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            )
            if prepared.attempt is None:
                break
            outcome: RunOutcome = await workflow.execute_activity(
                RUN,
                AttemptInput(job.job_id, prepared.attempt),
                result_type=RunOutcome,
                start_to_close_timeout=timedelta(seconds=job.run_timeout_seconds),
                heartbeat_timeout=heartbeat,
                retry_policy=TRAINER_RETRY,
                cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            )
            if outcome.host_queue and outcome.host_queue not in hosts:
                hosts.append(outcome.host_queue)
            # A cancel may arrive while the trainer already stops for it (the SDK saw the
            # cancel in the database first): the step then ends normally; no next attempt.
            if outcome.job_status != "queued" or workflow.cancellation_reason() is not None:
                break
        cancelled = workflow.cancellation_reason() is not None
    except (asyncio.CancelledError, ActivityError, CancelledError) as error:
        if not _cancelled(error):
            raise
        cancelled = True
        # A cancelled trainer step names its worker's queue: its folders are cleaned too.
        cause = error.cause if isinstance(error, ActivityError) else None
        details = cause.details if isinstance(cause, CancelledError) else ()
        if details and isinstance(details[0], str) and details[0] not in hosts:
            hosts.append(details[0])
    if cancelled:
        await workflow.execute_activity(
            REQUEST_CANCEL,
            job.job_id,
            start_to_close_timeout=_SHORT,
            retry_policy=INFRASTRUCTURE_RETRY,
        )
    summary: JobSummary = await workflow.execute_activity(
        FINALIZE,
        job.job_id,
        result_type=JobSummary,
        start_to_close_timeout=_SHORT,
        retry_policy=INFRASTRUCTURE_RETRY,
    )
    for queue in hosts:
        try:
            await workflow.execute_activity(
                CLEANUP,
                job.job_id,
                task_queue=queue,
                # The machine may be gone for good; its folders then go with it.
                schedule_to_close_timeout=_CLEANUP_TIMEOUT,
                retry_policy=RetryPolicy(maximum_attempts=3),
            )
        except ActivityError:
            workflow.logger.warning("clean-up on %s did not happen", queue)
    if cancelled:
        raise asyncio.CancelledError()
    return summary


@workflow.defn(name="TrainingWorkflow")
class TrainingWorkflow:
    @workflow.run
    async def run(self, job: JobInput) -> JobSummary:
        return await run_job(job)


@workflow.defn(name="ExportWorkflow")
class ExportWorkflow:
    @workflow.run
    async def run(self, job: JobInput) -> JobSummary:
        return await run_job(job)


@workflow.defn(name="InferenceWorkflow")
class InferenceWorkflow:
    @workflow.run
    async def run(self, job: JobInput) -> JobSummary:
        return await run_job(job)


WORKFLOWS = [TrainingWorkflow, ExportWorkflow, InferenceWorkflow]
