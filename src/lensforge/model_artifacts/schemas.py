from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from lensforge.kit.schemas import Schema


class ArtifactCreate(Schema):
    project_id: uuid.UUID
    upload_id: uuid.UUID = Field(description="A completed upload of the model file.")
    name: str = Field(
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="Unique in the project; what `--weights` names it by.",
    )


class ArtifactRead(Schema):
    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    filename: str
    size_bytes: int
    sha256: str
    created_by_id: uuid.UUID | None
    created_at: datetime
