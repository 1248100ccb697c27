"""Storing a job's artifacts (plots and tables a trainer reports) and reading them back.

The bytes live in object storage under `jobs/<job_id>/artifacts/<name>`, a prefix trainers
cannot PUT to through presigned links (those stay under `outputs/`), so every stored artifact
went through the checks of `artifacts.py`. The row is written after the object: a reader never
sees a row whose object is missing.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lensforge.errors import NotFound
from lensforge.jobs.artifacts import (
    MAX_ARTIFACTS_PER_JOB,
    ArtifactKind,
    TooManyArtifacts,
    check_artifact,
)
from lensforge.jobs.events import emit
from lensforge.models import JobArtifact, JobAttempt, TrainingJob
from lensforge.storage.base import ObjectStore


class ArtifactNotFound(NotFound):
    code = "artifact_not_found"


def artifact_key(job_id: uuid.UUID, name: str) -> str:
    return f"jobs/{job_id}/artifacts/{name}"


class ArtifactService:
    def __init__(self, session: Session, store: ObjectStore) -> None:
        self.session = session
        self.store = store

    def record(
        self,
        job: TrainingJob,
        attempt: JobAttempt,
        *,
        name: str,
        kind: ArtifactKind,
        title: str | None,
        content_type: str,
        body: bytes,
    ) -> JobArtifact:
        """Check, store and list one artifact; the same name again replaces it."""
        checked = check_artifact(name, kind, content_type, body)
        row = self.session.scalar(
            select(JobArtifact).where(JobArtifact.job_id == job.id, JobArtifact.name == name)
        )
        if row is None:
            count = self.session.scalar(
                select(func.count()).select_from(JobArtifact).where(JobArtifact.job_id == job.id)
            )
            if (count or 0) >= MAX_ARTIFACTS_PER_JOB:
                raise TooManyArtifacts(
                    f"the job has {count} artifacts already, the most one job may have",
                    details={"limit": MAX_ARTIFACTS_PER_JOB},
                )
        key = artifact_key(job.id, name)
        info = self.store.put(
            key, io.BytesIO(checked.body), size=len(checked.body), content_type=content_type
        )
        values = {
            "attempt_number": attempt.number,
            "kind": kind,
            "title": (title or name).strip()[:200] or name,
            "content_type": content_type,
            "size_bytes": info.size,
            "sha256": hashlib.sha256(checked.body).hexdigest(),
            "object_key": key,
        }
        if row is None:
            row = JobArtifact(job_id=job.id, name=name, **values)
            self.session.add(row)
        else:
            for field, value in values.items():
                setattr(row, field, value)
        self.session.flush()
        emit(self.session, job, "artifact", {"name": name, "kind": kind})
        return row

    def listed(self, job: TrainingJob) -> Sequence[JobArtifact]:
        return self.session.scalars(
            select(JobArtifact)
            .where(JobArtifact.job_id == job.id)
            .order_by(JobArtifact.kind.desc(), JobArtifact.name)
        ).all()

    def get(self, job: TrainingJob, name: str) -> JobArtifact:
        row = self.session.scalar(
            select(JobArtifact).where(JobArtifact.job_id == job.id, JobArtifact.name == name)
        )
        if row is None:
            raise ArtifactNotFound(f"the job has no artifact {name!r}", details={"name": name})
        return row
