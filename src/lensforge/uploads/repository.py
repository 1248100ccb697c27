from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from lensforge.models import UploadPart, UploadSession


class UploadRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, upload: UploadSession) -> UploadSession:
        self.session.add(upload)
        self.session.flush()
        return upload

    def get_owned(
        self,
        organization_id: uuid.UUID,
        user_id: uuid.UUID,
        upload_id: uuid.UUID,
        *,
        lock: bool = False,
    ) -> UploadSession | None:
        """The session if `user_id` created it in `organization_id`.

        `lock` takes the row lock (PostgreSQL; SQLite transactions already hold the database's
        write lock) and reloads the row: a request that ended its transaction to stream a body
        must see what other requests committed meanwhile, not its own stale copy.
        """
        query = select(UploadSession).where(
            UploadSession.id == upload_id,
            UploadSession.organization_id == organization_id,
            UploadSession.user_id == user_id,
        )
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        return self.session.scalar(query)

    def parts(self, upload_id: uuid.UUID) -> Sequence[UploadPart]:
        return self.session.scalars(
            select(UploadPart)
            .where(UploadPart.upload_id == upload_id)
            .order_by(UploadPart.part_number)
        ).all()

    def get_part(self, upload_id: uuid.UUID, part_number: int) -> UploadPart | None:
        return self.session.get(UploadPart, (upload_id, part_number), populate_existing=True)

    def save_part(
        self, upload_id: uuid.UUID, part_number: int, size: int, sha256: str
    ) -> UploadPart:
        """Insert or replace a part's record; callers hold the upload's row lock."""
        part = self.get_part(upload_id, part_number)
        if part is None:
            part = UploadPart(
                upload_id=upload_id, part_number=part_number, size=size, sha256=sha256
            )
            self.session.add(part)
        else:
            part.size, part.sha256 = size, sha256
        self.session.flush()
        return part

    def delete_part(self, upload_id: uuid.UUID, part_number: int) -> None:
        self.session.execute(
            delete(UploadPart).where(
                UploadPart.upload_id == upload_id, UploadPart.part_number == part_number
            )
        )
        self.session.flush()

    def delete_parts(self, upload_id: uuid.UUID) -> None:
        self.session.execute(delete(UploadPart).where(UploadPart.upload_id == upload_id))
        self.session.flush()

    def expired_open(self, now: datetime, *, limit: int) -> Sequence[UploadSession]:
        return self.session.scalars(
            select(UploadSession)
            .where(UploadSession.status == "open", UploadSession.expires_at <= now)
            .order_by(UploadSession.expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
