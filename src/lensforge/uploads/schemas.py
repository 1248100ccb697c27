from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from lensforge.kit.schemas import Schema
from lensforge.uploads.layout import UploadState

SHA256_PATTERN = r"^[0-9a-fA-F]{64}$"


class UploadCreate(Schema):
    project_id: uuid.UUID
    # Sanitised by the service (base name only); the raw value may carry a client's path.
    filename: str = Field(min_length=1, max_length=1024)
    total_size: int = Field(gt=0, description="bytes of the whole file")
    part_size: int | None = Field(
        default=None, gt=0, description="bytes per part except the last; 16 MiB if omitted"
    )
    # Token characters only: the type is sent back verbatim as a response header on download.
    content_type: str | None = Field(
        default=None, max_length=255, pattern=r"^[\w!#$&^.+-]+/[\w!#$&^.+-]+$"
    )
    sha256: str | None = Field(
        default=None, pattern=SHA256_PATTERN, description="checked on completion if given"
    )


class UploadPartRead(Schema):
    part_number: int
    size: int
    sha256: str
    created_at: datetime


class UploadRead(Schema):
    id: uuid.UUID
    project_id: uuid.UUID
    filename: str
    content_type: str
    total_size: int
    part_size: int
    part_count: int
    status: str
    expected_sha256: str | None
    sha256: str | None
    object_key: str | None
    received_parts: list[int]
    missing_parts: list[int]
    received_bytes: int
    created_at: datetime
    updated_at: datetime
    expires_at: datetime

    @classmethod
    def from_state(cls, state: UploadState) -> UploadRead:
        upload = state.upload
        return cls(
            id=upload.id,
            project_id=upload.project_id,
            filename=upload.filename,
            content_type=upload.content_type,
            total_size=upload.total_size,
            part_size=upload.part_size,
            part_count=state.part_count,
            status=state.status,
            expected_sha256=upload.expected_sha256,
            sha256=upload.sha256,
            object_key=upload.object_key,
            received_parts=[part.part_number for part in state.received],
            missing_parts=state.missing,
            received_bytes=sum(part.size for part in state.received),
            created_at=upload.created_at,
            updated_at=upload.updated_at,
            expires_at=upload.expires_at,
        )
