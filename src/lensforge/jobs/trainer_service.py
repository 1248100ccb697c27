"""What a trainer may read and write of its own job: the spec, the pinned data (as presigned
links to exactly that version's images), upload links under its own outputs prefix, and its
checkpoints. Storage credentials never leave the server; only presigned URLs do."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import select
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
    ExportRef,
    InputImage,
    InputsResult,
    JobSpec,
    OutputFile,
    ResumeSpec,
    SourceDownload,
    SourceSpec,
    UrlsResult,
    WeightsDownload,
    WeightsSpec,
)
from lensforge.kit.types import utcnow
from lensforge.model_work.keys import input_image_key
from lensforge.models import (
    DatasetVersion,
    InferenceRun,
    JobCheckpoint,
    ModelArtifact,
    ModelExport,
)
from lensforge.storage.base import ObjectStore

_SHOWN_MISSING = 10


class NotInDataset(Forbidden):
    code = "not_in_dataset"


class CheckpointNotFound(NotFound):
    code = "checkpoint_not_found"


class SourceNotFound(NotFound):
    code = "source_not_found"


class WeightsNotFound(NotFound):
    code = "weights_not_found"


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
            kind=self.job.kind,  # the CHECK constraint admits only these
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
            source=self._source_spec(),
            inputs=self._inputs_spec(),
            weights=self._weights_spec(),
            cancel_requested=self.cancel_requested,
        )

    # --- training jobs: uploaded pretrained weights --------------------------------------------

    def _weights(self) -> ModelArtifact | None:
        if self.job.weights_artifact_id is None:
            return None
        # Artifacts are RESTRICTed while a job references them.
        return self.session.get(ModelArtifact, self.job.weights_artifact_id)

    def _weights_spec(self) -> WeightsSpec | None:
        artifact = self._weights()
        if artifact is None:
            return None
        return WeightsSpec(
            name=artifact.name,
            filename=artifact.filename,
            sha256=artifact.sha256,
            size=artifact.size_bytes,
        )

    def weights_download(self) -> WeightsDownload:
        artifact = self._weights()
        if artifact is None:
            raise WeightsNotFound("this job starts from no uploaded weights")
        return WeightsDownload(
            url=self.store.presign_get(
                artifact.object_key, expires_in=self.expires_in, filename=artifact.filename
            ),
            filename=artifact.filename,
            sha256=artifact.sha256,
            size=artifact.size_bytes,
            expires_in=self.expires_in,
        )

    # --- export and inference jobs: the model they use, the images they read ------------------

    def _source_checkpoint(self) -> JobCheckpoint | None:
        kind = (self.job.source or {}).get("checkpoint")
        if self.job.source_job_id is None or kind not in ("best", "last"):
            return None
        return self.repo.checkpoint(self.job.source_job_id, kind)

    def _source_export(self) -> ModelExport | None:
        export_id = (self.job.source or {}).get("export_id")
        if export_id is None:
            return None
        return self.session.get(ModelExport, uuid.UUID(str(export_id)))

    def _source_spec(self) -> SourceSpec | None:
        if self.job.kind == "training":
            return None
        checkpoint = self._source_checkpoint()
        if checkpoint is not None:
            return SourceSpec(checkpoint=_ref(checkpoint))
        export = self._source_export()
        if export is not None:
            return SourceSpec(
                export=ExportRef(format=export.format, sha256=export.sha256, size=export.size_bytes)
            )
        return None

    def _run(self) -> InferenceRun | None:
        return self.session.scalar(select(InferenceRun).where(InferenceRun.job_id == self.job.id))

    def _inputs_spec(self) -> dict[str, Any] | None:
        if self.job.kind == "inference":
            run = self._run()
            images = [] if run is None else run.images
            return {
                **(self.job.inputs or {}),
                "images": [{"name": i["name"], "sha256": i["sha256"]} for i in images],
            }
        return self.job.inputs

    def source_download(self) -> SourceDownload:
        """The source checkpoint or exported model, as a presigned GET."""
        checkpoint = self._source_checkpoint()
        if checkpoint is not None:
            return SourceDownload(
                url=self.store.presign_get(checkpoint.object_key, expires_in=self.expires_in),
                name=PurePosixPath(checkpoint.object_key).name,
                sha256=checkpoint.sha256,
                size=checkpoint.size_bytes,
                expires_in=self.expires_in,
            )
        export = self._source_export()
        if export is not None and export.artifact_key is not None:
            return SourceDownload(
                url=self.store.presign_get(export.artifact_key, expires_in=self.expires_in),
                name=PurePosixPath(export.artifact_key).name,
                sha256=export.sha256,
                size=export.size_bytes,
                expires_in=self.expires_in,
            )
        raise SourceNotFound(
            "this job has no source model (not an export or inference job, or the model is gone)"
        )

    def inputs(self) -> InputsResult:
        """Presigned GETs of exactly the images of this inference run."""
        run = self._run()
        if run is None:
            raise NotFound("this job is not an inference run", code="not_an_inference_run")
        return InputsResult(
            images=[
                InputImage(
                    name=image["name"],
                    sha256=image["sha256"],
                    url=self.store.presign_get(
                        input_image_key(run.organization_id, run.input_origin, image["sha256"]),
                        expires_in=self.expires_in,
                    ),
                )
                for image in run.images
            ],
            expires_in=self.expires_in,
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
