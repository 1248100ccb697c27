"""Running one dataset import, start to end, in the background.

    fetch source → read & validate (formats) → store images (content-addressed, once per org)
    → merge with the parent version (merge mode) → assign splits → hash → create the version

Fatal validation problems create nothing but the import's report. The version is created in one
short transaction at the very end, so a crash at any point leaves no half-made version, and
running the same import again is safe: images already stored are skipped by hash.
"""

from __future__ import annotations

import json
import shutil
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy.orm import Session, sessionmaker

from lensforge.config import Settings
from lensforge.datasets.blobs import hash_items, store_new_images
from lensforge.datasets.manifests import load_manifest
from lensforge.datasets.repository import (
    BlobRepository,
    ImportRepository,
    VersionRepository,
)
from lensforge.datasets.sources import (
    S3Source,
    check_folder,
    fetch_s3_prefix,
    fetch_uploaded_archive,
)
from lensforge.datasets.splits import SplitConfig
from lensforge.datasets.versions import create_version, with_splits
from lensforge.errors import LensforgeError
from lensforge.formats import (
    DatasetManifest,
    ImagePolicy,
    read_dataset,
)
from lensforge.kit.background import BackgroundRunner
from lensforge.kit.db import transaction
from lensforge.kit.types import utcnow
from lensforge.models import Dataset, DatasetImport, DatasetVersion
from lensforge.storage.base import ObjectStore

log = structlog.get_logger("lensforge.datasets.import")

_PROGRESS_EVERY = 50


class ImportFailed(Exception):
    """Ends an import with a report (validation errors) rather than a crash."""

    def __init__(self, message: str, report: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.report = report


@dataclass
class ImportContext:
    settings: Settings
    store: ObjectStore
    sessions: sessionmaker[Session]
    # Secrets handed over in memory only (an S3 source's secret key), keyed by import id.
    secrets: dict[uuid.UUID, str]


def resume_unfinished_imports(context: ImportContext, runner: BackgroundRunner) -> int:
    """Imports the server was running (or had queued) when it stopped are run again."""
    with context.sessions() as session:
        unfinished = ImportRepository(session).unfinished_by_organization()
    for import_id, organization_id in unfinished:
        runner.submit(run_import, context, import_id, group=organization_id)
    return len(unfinished)


def run_import(context: ImportContext, import_id: uuid.UUID) -> None:
    work = context.settings.work_dir / "imports" / str(import_id)
    try:
        record = _start(context, import_id)
        if record is None:
            return
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        outcome = _run(context, record, work)
        # The report of a success is kept too: its warnings (orphan labels, missing class
        # names, boxes drawn as polygons, ...) are what the user should look at next.
        _finish(
            context,
            import_id,
            status="succeeded",
            version_id=outcome.version_id,
            report=outcome.report,
            images=outcome.images,
        )
    except ImportFailed as failure:
        _finish(context, import_id, status="failed", error=failure.message, report=failure.report)
    except LensforgeError as exc:
        _finish(
            context,
            import_id,
            status="failed",
            error=exc.message,
            report=_single_issue_report(exc.code, exc.message, exc.details),
        )
    except Exception as exc:
        log.error("import crashed", import_id=str(import_id), trace=traceback.format_exc())
        _finish(context, import_id, status="failed", error=f"internal error: {exc!r}")
    finally:
        context.secrets.pop(import_id, None)
        shutil.rmtree(work, ignore_errors=True)


@dataclass(frozen=True)
class _Job:
    id: uuid.UUID
    organization_id: uuid.UUID
    dataset_id: uuid.UUID
    created_by_id: uuid.UUID | None
    source: dict[str, Any]
    requested_format: str | None
    mode: str
    split_config: dict[str, Any] | None
    message: str
    skip_invalid_images: bool


def _start(context: ImportContext, import_id: uuid.UUID) -> _Job | None:
    with transaction(context.sessions) as session:
        record = ImportRepository(session).get(import_id)
        if record is None or record.status in ("succeeded", "failed"):
            return None  # finished already: a duplicate submission is a no-op
        record.status = "running"
        record.phase = "fetching"
        return _Job(
            id=record.id,
            organization_id=record.organization_id,
            dataset_id=record.dataset_id,
            created_by_id=record.created_by_id,
            source=dict(record.source),
            requested_format=record.requested_format,
            mode=record.mode,
            split_config=record.split_config,
            message=str(record.source.get("message", "")),
            skip_invalid_images=bool(record.source.get("skip_invalid_images", False)),
        )


@dataclass(frozen=True)
class _Outcome:
    version_id: uuid.UUID
    report: dict[str, Any]
    images: int
    """Images the import read (the new version may hold more, in merge mode)."""


def _run(context: ImportContext, job: _Job, work: Path) -> _Outcome:
    data_dir = _fetch(context, job, work)
    _progress(context, job.id, "validating", 0, 0)
    task = _dataset_task(context, job.dataset_id)
    policy = ImagePolicy(
        max_pixels=context.settings.datasets.max_image_pixels,
        skip_invalid=job.skip_invalid_images,
    )
    manifest, report = read_dataset(
        data_dir, format=job.requested_format, task=task, image_policy=policy
    )
    report_data = report.model_dump(mode="json") | {"summary": report.summary()}
    if report.has_errors:
        raise ImportFailed(
            f"the dataset has {report.error_count} error(s): fix them and re-import",
            report=report_data,
        )
    if manifest.task.value != task:
        raise ImportFailed(
            f"the data is a {manifest.task.value} dataset but this dataset is for {task}",
            report=_single_issue_report("task_mismatch", f"expected {task}", None),
        )
    _set_detected_format(context, job.id, manifest.source_format)
    stored = _store_images(context, job, data_dir, manifest)
    parent, parent_manifest = _parent(context, job.dataset_id)
    if job.mode == "merge" and parent_manifest is not None:
        stored = _merge(parent_manifest, stored)
    split_config = SplitConfig.model_validate(
        job.split_config
        or (parent.split_config if parent is not None else None)
        or SplitConfig().model_dump()
    )
    final = with_splits(stored, split_config)
    version_id = _create_version(
        context,
        job,
        final,
        split_config,
        parent,
        warnings=report_data["issues"],
        report=report_data,
    )
    return _Outcome(version_id, report_data, len(manifest.items))


def _fetch(context: ImportContext, job: _Job, work: Path) -> Path:
    kind = job.source.get("kind")
    if kind == "upload":
        return fetch_uploaded_archive(
            context.store, str(job.source["object_key"]), work, context.settings
        )
    if kind == "folder":
        return check_folder(context.settings, str(job.source["path"]))
    if kind == "s3":
        source = S3Source.model_validate(
            {k: v for k, v in job.source.items() if k in S3Source.model_fields}
        )
        return fetch_s3_prefix(source, context.secrets.get(job.id), work, context.settings)
    raise ImportFailed(f"unknown source kind {kind!r}")


def _store_images(
    context: ImportContext, job: _Job, data_dir: Path, manifest: DatasetManifest
) -> DatasetManifest:
    """Hash each image (if the reader did not) and store the new ones, once per organization."""
    _progress(context, job.id, "hashing images", 0, len(manifest.items))
    hashed, by_hash = hash_items(data_dir, list(manifest.items))
    with context.sessions() as session:
        known = BlobRepository(session).existing(job.organization_id, by_hash)
    pending = [image for sha, image in by_hash.items() if sha not in known]
    total = len(pending)
    _progress(context, job.id, "storing images", 0, total)

    def progress(done: int) -> None:
        if done % _PROGRESS_EVERY == 0 or done == total:
            _progress(context, job.id, "storing images", done, total)

    rows = store_new_images(context.store, job.organization_id, pending, progress)
    if rows:
        with transaction(context.sessions) as session:
            # Another import may have stored the same image meanwhile; keep only new rows.
            repo = BlobRepository(session)
            already = repo.existing(job.organization_id, (row["sha256"] for row in rows))
            repo.add_many([row for row in rows if row["sha256"] not in already])
    return manifest.model_copy(update={"items": hashed})


def _parent(
    context: ImportContext, dataset_id: uuid.UUID
) -> tuple[DatasetVersion | None, DatasetManifest | None]:
    with context.sessions() as session:
        parent = VersionRepository(session).latest(dataset_id)
    if parent is None:
        return None, None
    return parent, load_manifest(context.store, parent)


def _merge(parent: DatasetManifest, new: DatasetManifest) -> DatasetManifest:
    """Adding images: the parent's items plus the new ones; a new item with the same file name
    replaces the parent's. Classes are united (parent order first) and ids remapped."""
    classes = list(parent.classes) + [c for c in new.classes if c not in parent.classes]
    remap = {index: classes.index(name) for index, name in enumerate(new.classes)}
    # A new item replaces the parent's item of the same name in the same split; a new item
    # without a split replaces a same-named item in any split.
    replaced = {(item.split, item.file_name) for item in new.items}
    unsplit = {item.file_name for item in new.items if item.split is None}
    items = [
        item
        for item in parent.items
        if (item.split, item.file_name) not in replaced and item.file_name not in unsplit
    ]
    for item in new.items:
        items.append(
            item.model_copy(
                update={
                    "annotations": [
                        a.model_copy(update={"class_id": remap[a.class_id]})
                        for a in item.annotations
                    ],
                    "labels": [remap[label] for label in item.labels],
                }
            )
        )
    return parent.model_copy(update={"classes": classes, "items": items})


def _create_version(
    context: ImportContext,
    job: _Job,
    manifest: DatasetManifest,
    split_config: SplitConfig,
    parent: DatasetVersion | None,
    *,
    warnings: list[dict[str, Any]],
    report: dict[str, Any],
) -> uuid.UUID:
    return create_version(
        context.sessions,
        context.store,
        dataset_id=job.dataset_id,
        organization_id=job.organization_id,
        manifest=manifest,
        split_config=split_config,
        source={
            "kind": "import",
            "import_id": str(job.id),
            "format": manifest.source_format,
            "mode": job.mode,
        },
        warnings=[w for w in warnings if w.get("severity") == "warning"],
        created_by_id=job.created_by_id,
        message=job.message,
        on_progress=lambda: _progress(context, job.id, "creating version", 0, 0),
    )


# --- bookkeeping -------------------------------------------------------------------------------


def _dataset_task(context: ImportContext, dataset_id: uuid.UUID) -> str:
    with context.sessions() as session:
        dataset = session.get(Dataset, dataset_id)
        if dataset is None:
            raise ImportFailed("the dataset was deleted")
        return dataset.task


def _progress(
    context: ImportContext, import_id: uuid.UUID, phase: str, done: int, total: int
) -> None:
    with transaction(context.sessions) as session:
        ImportRepository(session).set_progress(import_id, phase=phase, done=done, total=total)


def _set_detected_format(context: ImportContext, import_id: uuid.UUID, fmt: str | None) -> None:
    with transaction(context.sessions) as session:
        record = ImportRepository(session).get(import_id)
        if record is not None:
            record.detected_format = fmt


def _finish(
    context: ImportContext,
    import_id: uuid.UUID,
    *,
    status: str,
    version_id: uuid.UUID | None = None,
    error: str | None = None,
    report: dict[str, Any] | None = None,
    images: int | None = None,
) -> None:
    with transaction(context.sessions) as session:
        record: DatasetImport | None = ImportRepository(session).get(import_id)
        if record is None:
            return
        record.status = status
        record.phase = "done" if status == "succeeded" else "failed"
        record.version_id = version_id
        record.error = error
        if report is not None:
            record.report = report
        if images is not None:  # a finished import shows what it did, not the last phase's 0/0
            record.progress_done = record.progress_total = images
        record.finished_at = utcnow()
    log.info("import finished", import_id=str(import_id), status=status, error=error)


def _single_issue_report(code: str, message: str, details: Any) -> dict[str, Any]:
    return {
        "issues": [
            {
                "severity": "error",
                "code": code,
                "message": message,
                "file": None,
                "line": None,
                "object_index": None,
                # Details as JSON (a hostile archive's members are a list, not a repr).
                "extra": _json_safe(details) if isinstance(details, dict) else {},
            }
        ],
        "counts": {code: 1},
        "summary": f"1 errors, 0 warnings ({code}: 1)",
    }


def _json_safe(details: dict[str, Any]) -> dict[str, Any]:
    safe: dict[str, Any] = json.loads(json.dumps(details, default=str))
    problems = safe.get("problems")
    if isinstance(problems, list):
        safe["members"] = [
            p["member"] for p in problems if isinstance(p, dict) and p.get("member") is not None
        ]
    return safe
