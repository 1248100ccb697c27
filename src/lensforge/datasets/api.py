"""Routes: /datasets, their imports and versions."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Literal

from fastapi import APIRouter, BackgroundTasks, Query, Request, status

from lensforge.auth.dependencies import requires
from lensforge.auth.policy import Action
from lensforge.auth.principal import Principal
from lensforge.datasets import imports
from lensforge.datasets.browse_api import VersionNumber
from lensforge.datasets.importer import ImportContext, run_import
from lensforge.datasets.resplit import resplit
from lensforge.datasets.schemas import (
    DatasetCreate,
    DatasetRead,
    DatasetShare,
    DatasetUpdate,
    ImportCreate,
    ImportRead,
    IssueRead,
    SplitRequest,
    VersionRead,
)
from lensforge.datasets.service import DatasetService
from lensforge.dependencies import ObjectStoreDep, SessionDep, SettingsDep
from lensforge.kit.pagination import Offset
from lensforge.kit.schemas import Page
from lensforge.models import DatasetVersion

router = APIRouter(prefix="/datasets", tags=["datasets"])


def version_read(version: DatasetVersion) -> VersionRead:
    counts = {
        split: count
        for split, count in Counter(version.stats.get("split_image_counts", {})).items()
        if count
    }
    return VersionRead.model_validate(
        {
            **{
                field: getattr(version, field)
                for field in VersionRead.model_fields
                if hasattr(version, field)
            },
            "warning_count": len(version.warnings),
            "split_counts": counts,
        }
    )


@router.post("", response_model=DatasetRead, status_code=status.HTTP_201_CREATED)
def create_dataset(
    body: DatasetCreate, session: SessionDep, principal: Principal = requires(Action.DATASET_IMPORT)
) -> DatasetRead:
    dataset = DatasetService(session).create(
        principal,
        project_id=body.project_id,
        name=body.name,
        description=body.description,
        task=body.task,
    )
    return DatasetRead.model_validate(dataset)


@router.get("", response_model=Page[DatasetRead])
def list_datasets(
    session: SessionDep,
    principal: Principal = requires(Action.DATASET_READ),
    project_id: uuid.UUID | None = None,
    limit: int = Query(50, ge=1, le=500),
    offset: Offset = 0,
) -> Page[DatasetRead]:
    rows, total = DatasetService(session).list(
        principal, project_id=project_id, limit=limit, offset=offset
    )
    return Page(
        items=[DatasetRead.model_validate(d) for d in rows], total=total, limit=limit, offset=offset
    )


@router.get("/imports/{import_id}", response_model=ImportRead)
def get_import(
    import_id: uuid.UUID, session: SessionDep, principal: Principal = requires(Action.DATASET_READ)
) -> ImportRead:
    """An import's status, progress and validation report (errors with file and line)."""
    return imports.to_read(session, imports.get_import(session, principal, import_id))


@router.get("/imports/{import_id}/issues", response_model=Page[IssueRead])
def list_import_issues(
    import_id: uuid.UUID,
    session: SessionDep,
    principal: Principal = requires(Action.DATASET_READ),
    severity: Literal["error", "warning"] | None = None,
    limit: int = Query(200, ge=1, le=1000),
    offset: Offset = 0,
) -> Page[IssueRead]:
    """The import's report a page at a time, errors first: for reports too long to show whole
    (up to 1000 issues per code are kept; `report.counts` has the full numbers)."""
    record = imports.get_import(session, principal, import_id)
    items, total = imports.report_issues(record, severity, limit, offset)
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.get("/{dataset_id}", response_model=DatasetRead)
def get_dataset(
    dataset_id: uuid.UUID, session: SessionDep, principal: Principal = requires(Action.DATASET_READ)
) -> DatasetRead:
    return DatasetRead.model_validate(DatasetService(session).visible(principal, dataset_id))


@router.patch("/{dataset_id}", response_model=DatasetRead)
def update_dataset(
    dataset_id: uuid.UUID,
    body: DatasetUpdate,
    session: SessionDep,
    principal: Principal = requires(Action.DATASET_EDIT),
) -> DatasetRead:
    dataset = DatasetService(session).update(
        principal, dataset_id, name=body.name, description=body.description
    )
    return DatasetRead.model_validate(dataset)


@router.put("/{dataset_id}/sharing", response_model=DatasetRead)
def share_dataset(
    dataset_id: uuid.UUID,
    body: DatasetShare,
    session: SessionDep,
    principal: Principal = requires(Action.DATASET_SHARE),
) -> DatasetRead:
    """Share with (or hide from) every member of the organization, read-only."""
    dataset = DatasetService(session).share(principal, dataset_id, body.shared_with_organization)
    return DatasetRead.model_validate(dataset)


@router.delete("/{dataset_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_dataset(
    dataset_id: uuid.UUID,
    session: SessionDep,
    principal: Principal = requires(Action.DATASET_DELETE),
) -> None:
    DatasetService(session).delete(principal, dataset_id)


@router.post(
    "/{dataset_id}/imports", response_model=ImportRead, status_code=status.HTTP_202_ACCEPTED
)
def create_import(
    dataset_id: uuid.UUID,
    body: ImportCreate,
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    settings: SettingsDep,
    principal: Principal = requires(Action.DATASET_IMPORT),
) -> ImportRead:
    """Start importing data into a new version. Poll `GET /datasets/imports/{id}` for progress
    and the validation report."""
    context: ImportContext = request.app.state.import_context
    record = imports.start_import(session, settings, principal, dataset_id, body, context.secrets)
    # Queued after the response, i.e. after this request's transaction committed the record.
    background.add_task(
        request.app.state.background.submit,
        run_import,
        context,
        record.id,
        group=record.organization_id,  # fair between organizations
    )
    return imports.to_read(session, record)


@router.get("/{dataset_id}/imports", response_model=list[ImportRead])
def list_imports(
    dataset_id: uuid.UUID, session: SessionDep, principal: Principal = requires(Action.DATASET_READ)
) -> list[ImportRead]:
    return [
        imports.to_read(session, r) for r in imports.list_imports(session, principal, dataset_id)
    ]


@router.get("/{dataset_id}/versions", response_model=list[VersionRead])
def list_versions(
    dataset_id: uuid.UUID, session: SessionDep, principal: Principal = requires(Action.DATASET_READ)
) -> list[VersionRead]:
    return [version_read(v) for v in DatasetService(session).versions_of(principal, dataset_id)]


@router.get("/{dataset_id}/versions/{number}", response_model=VersionRead)
def get_version(
    dataset_id: uuid.UUID,
    number: VersionNumber,
    session: SessionDep,
    principal: Principal = requires(Action.DATASET_READ),
) -> VersionRead:
    _, version = DatasetService(session).visible_version(principal, dataset_id, number)
    return version_read(version)


@router.post(
    "/{dataset_id}/versions/{number}/split",
    response_model=VersionRead,
    status_code=status.HTTP_201_CREATED,
)
def split_version(
    dataset_id: uuid.UUID,
    number: VersionNumber,
    body: SplitRequest,
    request: Request,
    session: SessionDep,
    store: ObjectStoreDep,
    principal: Principal = requires(Action.DATASET_EDIT),
) -> VersionRead:
    """A new version with the same data and another train/val/test assignment."""
    version = resplit(
        session,
        request.app.state.session_factory,
        store,
        principal,
        dataset_id,
        number,
        body.split,
        body.message,
    )
    return version_read(version)
