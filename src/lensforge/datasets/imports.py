"""Starting imports (request side); the work itself is `importer.run_import`, in the background."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Literal

from sqlalchemy.orm import Session

from lensforge.auth.principal import Principal
from lensforge.config import Settings
from lensforge.datasets.repository import ImportRepository, VersionRepository
from lensforge.datasets.schemas import ImportCreate, ImportRead, IssueRead
from lensforge.datasets.service import DatasetService
from lensforge.datasets.sources import (
    FolderSource,
    S3Source,
    UploadSource,
    check_folder,
    check_s3_request,
)
from lensforge.errors import NotFound
from lensforge.models import DatasetImport
from lensforge.uploads.service import UploadService


def start_import(
    session: Session,
    settings: Settings,
    principal: Principal,
    dataset_id: uuid.UUID,
    body: ImportCreate,
    secrets: dict[uuid.UUID, str],
) -> DatasetImport:
    """Check the request and record a pending import. Refusals that need no reading of the data
    (no such upload, folder not allowed) happen here, synchronously."""
    dataset = DatasetService(session).writable(principal, dataset_id)
    source = body.source
    secret: str | None = None
    if isinstance(source, UploadSource):
        completed = UploadService(session).completed_object(principal, uuid.UUID(source.upload_id))
        recorded = {
            "kind": "upload",
            "upload_id": source.upload_id,
            "object_key": completed.object_key,
            "filename": completed.filename,
            "size": completed.size,
            "sha256": completed.sha256,
        }
    elif isinstance(source, FolderSource):
        recorded = {"kind": "folder", "path": str(check_folder(settings, source.path))}
    else:
        assert isinstance(source, S3Source)
        check_s3_request(settings, source)  # refused here, before any connection
        recorded = source.public()
        secret = source.secret_access_key.get_secret_value() if source.secret_access_key else None
    recorded["message"] = body.message
    recorded["skip_invalid_images"] = body.skip_invalid_images
    record = ImportRepository(session).add(
        DatasetImport(
            organization_id=principal.organization_id,
            dataset_id=dataset.id,
            created_by_id=principal.user_id,
            status="pending",
            source=recorded,
            requested_format=body.format,
            mode=body.mode,
            split_config=body.split.model_dump() if body.split is not None else None,
        )
    )
    if secret is not None:
        secrets[record.id] = secret
    return record


def get_import(session: Session, principal: Principal, import_id: uuid.UUID) -> DatasetImport:
    record = ImportRepository(session).get_in_organization(principal.organization_id, import_id)
    if record is None:
        raise NotFound("import not found", code="import_not_found")
    DatasetService(session).visible(principal, record.dataset_id)
    return record


def list_imports(
    session: Session, principal: Principal, dataset_id: uuid.UUID
) -> Sequence[DatasetImport]:
    return ImportRepository(session).list(DatasetService(session).visible(principal, dataset_id).id)


def to_read(session: Session, record: DatasetImport) -> ImportRead:
    read = ImportRead.model_validate(record)
    if record.version_id is not None:
        version = VersionRepository(session).get_by_id(record.version_id)
        read.version_number = version.number if version is not None else None
    return read


def report_issues(
    record: DatasetImport,
    severity: Literal["error", "warning"] | None,
    limit: int,
    offset: int,
) -> tuple[list[IssueRead], int]:
    """A page of the report's issues, errors first (each kind in the order found), and how
    many match: a report holds up to 1000 issues per code, too many for one page or response."""
    issues: list[dict[str, Any]] = list((record.report or {}).get("issues", []))
    ordered = [i for i in issues if i.get("severity") == "error"] + [
        i for i in issues if i.get("severity") != "error"
    ]
    if severity is not None:
        ordered = [i for i in ordered if i.get("severity") == severity]
    return [IssueRead.model_validate(i) for i in ordered[offset : offset + limit]], len(ordered)
