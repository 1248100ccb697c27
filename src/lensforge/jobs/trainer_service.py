"""What a trainer may read and write of its own job: the spec, the pinned data (as presigned
links to exactly that version's images), upload links under its own outputs prefix, and its
checkpoints. Storage credentials never leave the server; only presigned URLs do."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from sqlalchemy.orm import Session

from lensforge.datasets.keys import image_key
from lensforge.datasets.manifests import load_manifest
from lensforge.datasets.repository import VersionRepository
from lensforge.datasets.splits import SplitConfig
from lensforge.datasets.versions import with_splits
from lensforge.errors import Forbidden, NotFound
from lensforge.formats.model import canonical_json
from lensforge.jobs.outputs import output_key
from lensforge.jobs.trainer_auth import TrainerContext
from lensforge.jobs.trainer_repository import TrainerRepository
from lensforge.jobs.trainer_schemas import (
    CheckpointDownload,
    CheckpointRef,
    DatasetSpec,
    JobSpec,
    OutputFile,
    ResumeSpec,
    UrlsResult,
)
from lensforge.kit.types import utcnow
from lensforge.models import DatasetVersion, JobCheckpoint
from lensforge.storage.base import ObjectStore

_SHOWN_MISSING = 10


class NotInDataset(Forbidden):
    code = "not_in_dataset"


class CheckpointNotFound(NotFound):
    code = "checkpoint_not_found"


class TrainerService:
    def __init__(
        self, session: Session, store: ObjectStore, context: TrainerContext, expires_in: int
    ) -> None:
        self.session = session
        self.store = store
        self.job = context.job
        self.attempt = context.attempt
        self.expires_in = expires_in
        self.repo = TrainerRepository(session)

    @property
    def cancel_requested(self) -> bool:
        return self.job.cancel_requested_at is not None

    def _version(self) -> DatasetVersion:
        version = VersionRepository(self.session).get_by_id(self.job.dataset_version_id)
        if version is None:  # versions are RESTRICTed while a job references them
            raise NotFound("the job's dataset version no longer exists", code="version_not_found")
        return version

    def spec(self) -> JobSpec:
        version = self._version()
        resume = None
        if self.job.resume_requested:
            last = self.repo.checkpoint(self.job.id, "last")
            if last is not None:
                resume = ResumeSpec(checkpoint=_ref(last))
        return JobSpec(
            job_id=self.job.id,
            attempt=self.attempt.number,
            trainer=self.job.trainer,
            trainer_version=self.job.trainer_version,
            model=self.job.model,
            task=self.job.task,
            config=self.job.config,
            dataset=DatasetSpec(
                dataset_id=self.job.dataset_id,
                version_id=version.id,
                version_number=version.number,
                content_hash=version.content_hash,
                task=version.task,
                classes=list(version.classes),
                keypoint_names=version.keypoint_names,
                item_count=version.item_count,
                split=self.job.split_config,
            ),
            resume=resume,
            cancel_requested=self.cancel_requested,
        )

    def heartbeat(self, epoch: int | None) -> bool:
        self.attempt.last_heartbeat_at = utcnow()
        if epoch is not None and self.attempt.number >= self.job.attempt_count:
            self.job.epoch = epoch
        self.session.flush()
        return self.cancel_requested

    def manifest(self) -> Iterator[bytes] | bytes:
        """Streamed from storage when the job keeps the version's own split; re-split (the same
        way a dataset re-split does) and served from memory when it does not."""
        version = self._version()
        job_split = SplitConfig.model_validate(self.job.split_config)
        if job_split == SplitConfig.model_validate(version.split_config):
            self.store.head(version.manifest_key)  # fail now, not after a 200 went out
            return self.store.iter_chunks(version.manifest_key)
        manifest = load_manifest(self.store, version)
        if job_split.mode == "ratio":
            cleared = manifest.model_copy(
                update={"items": [i.model_copy(update={"split": None}) for i in manifest.items]}
            )
            manifest = with_splits(cleared, job_split)
        # mode "source" on a version means keeping its current assignment (see resplit).
        return canonical_json(manifest)

    def dataset_urls(self, hashes: Sequence[str]) -> UrlsResult:
        wanted = list(dict.fromkeys(hashes))
        present = self.repo.hashes_in_version(self.job.dataset_version_id, wanted)
        missing = [sha for sha in wanted if sha not in present]
        if missing:
            raise NotInDataset(
                f"{len(missing)} image(s) are not in this job's dataset version",
                details={"sha256": missing[:_SHOWN_MISSING], "count": len(missing)},
            )
        return UrlsResult(
            urls={
                sha: self.store.presign_get(
                    image_key(self.job.organization_id, sha), expires_in=self.expires_in
                )
                for sha in wanted
            },
            expires_in=self.expires_in,
        )

    def output_urls(self, files: Sequence[OutputFile]) -> UrlsResult:
        return UrlsResult(
            urls={
                file.name: self.store.presign_put(
                    output_key(self.job.id, file.name),
                    expires_in=self.expires_in,
                    content_type=file.content_type,
                )
                for file in files
            },
            expires_in=self.expires_in,
        )

    def checkpoint(self, kind: str) -> CheckpointDownload:
        row = self.repo.checkpoint(self.job.id, kind)
        if row is None:
            raise CheckpointNotFound(f"the job has no {kind} checkpoint", details={"kind": kind})
        return CheckpointDownload(
            kind=kind,  # the route admits only best|last
            url=self.store.presign_get(row.object_key, expires_in=self.expires_in),
            epoch=row.trained_epoch,
            sha256=row.sha256,
            size=row.size_bytes,
            expires_in=self.expires_in,
        )


def _ref(row: JobCheckpoint) -> CheckpointRef:
    return CheckpointRef(
        kind=row.kind,  # the CHECK constraint admits only these
        epoch=row.trained_epoch,
        sha256=row.sha256,
        size=row.size_bytes,
    )
