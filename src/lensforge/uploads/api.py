"""Routes: /uploads, resumable chunked uploads."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Request, status
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from lensforge.auth.dependencies import requires
from lensforge.auth.policy import Action
from lensforge.auth.principal import Principal
from lensforge.dependencies import ObjectStoreDep, SessionDep
from lensforge.errors import BadRequest
from lensforge.kit.pagination import INT32_MAX
from lensforge.uploads.schemas import SHA256_PATTERN, UploadCreate, UploadPartRead, UploadRead
from lensforge.uploads.service import UploadService

router = APIRouter(prefix="/uploads", tags=["uploads"])

# The part body is read from the raw stream, so FastAPI cannot describe it on its own.
_RAW_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.post("", response_model=UploadRead, status_code=status.HTTP_201_CREATED)
def create_upload(
    body: UploadCreate,
    session: SessionDep,
    store: ObjectStoreDep,
    principal: Principal = requires(Action.DATASET_IMPORT),
) -> UploadRead:
    state = UploadService(session, store).create(
        principal,
        project_id=body.project_id,
        filename=body.filename,
        total_size=body.total_size,
        part_size=body.part_size,
        content_type=body.content_type,
        sha256=body.sha256,
    )
    return UploadRead.from_state(state)


@router.get("/{upload_id}", response_model=UploadRead)
def get_upload(
    upload_id: uuid.UUID,
    session: SessionDep,
    store: ObjectStoreDep,
    principal: Principal = requires(Action.DATASET_READ),
) -> UploadRead:
    return UploadRead.from_state(UploadService(session, store).get(principal, upload_id))


@router.put(
    "/{upload_id}/parts/{part_number}", response_model=UploadPartRead, openapi_extra=_RAW_BODY
)
async def put_part(
    *,
    upload_id: uuid.UUID,
    part_number: Annotated[int, Path(ge=1, le=INT32_MAX)],
    request: Request,
    session: SessionDep,
    store: ObjectStoreDep,
    principal: Principal = requires(Action.DATASET_IMPORT),
    content_sha256: Annotated[
        str | None, Header(alias="Content-SHA256", pattern=SHA256_PATTERN)
    ] = None,
) -> UploadPartRead:
    """Send part `part_number` (1-based) as the raw body; sending it again replaces it.

    `async` because the body is consumed chunk by chunk from `request.stream()` and never held
    whole. Everything blocking (database, storage) runs in the threadpool, one call after the
    other, so the session is only ever used by one thread at a time.
    """
    service = UploadService(session, store)
    length = request.headers.get("content-length")
    target = await run_in_threadpool(
        service.open_part,
        principal,
        upload_id,
        part_number,
        content_length=int(length) if length and length.isascii() and length.isdigit() else None,
    )
    # A part may take minutes to arrive. On SQLite an open transaction holds the database's
    # write lock (BEGIN IMMEDIATE), so end it now; recording the part starts a fresh one.
    await run_in_threadpool(session.commit)
    try:
        body = await target.receive(request.stream())
    except ClientDisconnect:
        # An interrupted part is routine (the client resumes later), not a server error.
        raise BadRequest(
            "the connection closed before the part was complete; send it again",
            code="part_interrupted",
        ) from None
    try:
        part = await run_in_threadpool(
            service.save_part, principal, target, body, declared_sha256=content_sha256
        )
    finally:
        body.close()
    return UploadPartRead.model_validate(part)


@router.post("/{upload_id}/complete", response_model=UploadRead)
def complete_upload(
    upload_id: uuid.UUID,
    session: SessionDep,
    store: ObjectStoreDep,
    principal: Principal = requires(Action.DATASET_IMPORT),
) -> UploadRead:
    """Assemble the parts; 409 `upload_incomplete` lists the missing ones. Safe to repeat."""
    # The service commits at its checkpoints so the long copy runs outside a transaction.
    state = UploadService(session, store).complete(principal, upload_id, checkpoint=session.commit)
    return UploadRead.from_state(state)


@router.delete("/{upload_id}", status_code=status.HTTP_204_NO_CONTENT)
def abort_upload(
    upload_id: uuid.UUID,
    session: SessionDep,
    store: ObjectStoreDep,
    principal: Principal = requires(Action.DATASET_IMPORT),
) -> None:
    UploadService(session, store).abort(principal, upload_id)
