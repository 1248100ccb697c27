"""How a trainer process authenticates: `Authorization: Bearer lfj_...`, the token of one live
attempt of the job named in the path. A user's JWT or API key is never accepted here, and a job
token is never accepted anywhere else (it is not a user credential)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from lensforge.dependencies import SessionDep
from lensforge.errors import Forbidden, Unauthorized
from lensforge.jobs.tokens import hash_job_token, looks_like_job_token
from lensforge.jobs.trainer_repository import TrainerRepository
from lensforge.models import JobAttempt, TrainingJob

# Attempt statuses whose token still works. Once the attempt completed, failed, was lost or
# cancelled, a process still holding the token (a zombie after a crash recovery) must not be
# able to write into the job that a newer attempt now owns.
LIVE_ATTEMPT_STATUSES = frozenset({"preparing", "running"})

_job_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="JobToken",
    description="The attempt's job token (lfj_...), given to the trainer as LENSFORGE_JOB_TOKEN",
)


class AttemptFinished(Forbidden):
    code = "attempt_finished"


@dataclass(frozen=True, slots=True)
class TrainerContext:
    job: TrainingJob
    attempt: JobAttempt


def get_trainer_context(
    job_id: uuid.UUID,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_job_bearer)],
) -> TrainerContext:
    token = credentials.credentials if credentials is not None else ""
    if not looks_like_job_token(token):
        raise Unauthorized(
            "trainer endpoints need the attempt's job token: 'Authorization: Bearer lfj_...'",
            code="job_token_required",
        )
    attempt = TrainerRepository(session).attempt_by_token_hash(hash_job_token(token))
    # An unknown token and another job's token get the same answer: nothing about other jobs
    # is revealed.
    if attempt is None or attempt.job_id != job_id:
        raise Unauthorized("the job token is not valid for this job", code="job_token_invalid")
    if attempt.status not in LIVE_ATTEMPT_STATUSES:
        raise AttemptFinished(
            f"attempt {attempt.number} is {attempt.status}; its token no longer works",
            details={"attempt": attempt.number, "status": attempt.status},
        )
    job = session.get(TrainingJob, attempt.job_id)
    if job is None:  # deleted between the two reads
        raise Unauthorized("the job token is not valid for this job", code="job_token_invalid")
    return TrainerContext(job=job, attempt=attempt)


# Read by the policy test: routes depending on this are the trainer category, outside the
# role × action matrix.
get_trainer_context.lensforge_trainer_token = True  # type: ignore[attr-defined]

TrainerAuth = Annotated[TrainerContext, Depends(get_trainer_context)]
