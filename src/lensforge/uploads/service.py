"""Upload rules: sessions, parts, assembly, and who may touch them.

An upload session belongs to the user who opened it; for anyone else it does not exist (404).
Its bytes live in object storage (see `layout` for the keys), its bookkeeping in the database.

Status moves open → completing → completed, or open → aborted / expired. `completing` is
committed before assembly starts so that the long copy runs outside any transaction (see
`complete`), and parts arriving meanwhile are refused.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import partial

import structlog
from sqlalchemy.orm import Session

from lensforge.auth.principal import Principal
from lensforge.errors import Conflict, Gone, NotFound, PayloadTooLarge, ValidationFailed
from lensforge.kit.types import utcnow
from lensforge.models import UploadPart, UploadSession
from lensforge.projects.service import ProjectService
from lensforge.storage.base import DEFAULT_CONTENT_TYPE, ObjectStore
from lensforge.uploads.layout import (
    DEFAULT_PART_SIZE,
    MAX_PART_SIZE,
    MAX_PARTS,
    MAX_TOTAL_SIZE,
    MIN_PART_SIZE,
    SESSION_TTL,
    CompletedObject,
    MiB,
    PartTarget,
    UploadState,
    expected_part_size,
    final_key,
    part_count,
    part_key,
    parts_prefix,
    sanitize_filename,
    size_mismatch,
)
from lensforge.uploads.repository import UploadRepository
from lensforge.uploads.streams import ConcatenatedReader, PartMismatch, PartSource, ReceivedBody

# An assembly silent for this long is presumed dead (the server restarted mid-copy).
COMPLETING_STALE_AFTER = timedelta(hours=1)
_ASSEMBLY_BUFFER = 1 * MiB

log = structlog.get_logger("lensforge.uploads")

__all__ = ["COMPLETING_STALE_AFTER", "CompletedObject", "UploadService", "UploadState"]


class UploadService:
    """`store` may be left out by callers that only read sessions (`get`, `completed_object`)."""

    def __init__(
        self,
        session: Session,
        store: ObjectStore | None = None,
        *,
        min_part_size: int = MIN_PART_SIZE,
        ttl: timedelta = SESSION_TTL,
    ) -> None:
        self.session = session
        self._store = store
        self.uploads = UploadRepository(session)
        self.min_part_size = min_part_size
        self.ttl = ttl

    @property
    def store(self) -> ObjectStore:
        if self._store is None:
            raise RuntimeError("this UploadService was made without an object store")
        return self._store

    # -- sessions ----------------------------------------------------------------------------

    def create(
        self,
        principal: Principal,
        *,
        project_id: uuid.UUID,
        filename: str,
        total_size: int,
        part_size: int | None = None,
        content_type: str | None = None,
        sha256: str | None = None,
    ) -> UploadState:
        ProjectService(self.session).visible(principal, project_id)
        name = sanitize_filename(filename)
        if name == "parts":  # would collide with the folder of part objects
            raise ValidationFailed("'parts' is reserved; rename the file", code="invalid_filename")
        if not 0 < total_size <= MAX_TOTAL_SIZE:
            raise PayloadTooLarge(
                f"an upload may hold at most {MAX_TOTAL_SIZE} bytes",
                code="upload_too_large",
                details={"total_size": total_size, "max": MAX_TOTAL_SIZE},
            )
        part_size = part_size or DEFAULT_PART_SIZE
        if not self.min_part_size <= part_size <= MAX_PART_SIZE:
            raise ValidationFailed(
                f"part_size must be within {self.min_part_size}..{MAX_PART_SIZE} bytes",
                code="invalid_part_size",
                details={"part_size": part_size, "min": self.min_part_size, "max": MAX_PART_SIZE},
            )
        if -(-total_size // part_size) > MAX_PARTS:
            raise ValidationFailed(
                f"that makes more than {MAX_PARTS} parts; use parts of at least "
                f"{-(-total_size // MAX_PARTS)} bytes",
                code="too_many_parts",
                details={"max_parts": MAX_PARTS},
            )
        upload = self.uploads.add(
            UploadSession(
                organization_id=principal.organization_id,
                user_id=principal.user_id,
                project_id=project_id,
                filename=name,
                total_size=total_size,
                part_size=part_size,
                content_type=content_type or DEFAULT_CONTENT_TYPE,
                expected_sha256=sha256.lower() if sha256 else None,
                status="open",
                expires_at=utcnow() + self.ttl,
            )
        )
        return UploadState(upload, upload.status, [])

    def get(self, principal: Principal, upload_id: uuid.UUID) -> UploadState:
        return self._state(self._owned(principal, upload_id))

    def abort(self, principal: Principal, upload_id: uuid.UUID) -> None:
        """Delete the received parts; aborting twice is fine, aborting a finished upload not."""
        upload = self._owned(principal, upload_id, lock=True)
        if upload.status == "aborted":
            return
        if upload.status == "completed":
            raise Conflict(
                "this upload is completed; there is nothing to abort", code="upload_completed"
            )
        self._refuse_if_completing(upload)
        self._delete_part_objects(upload.id)
        self.uploads.delete_parts(upload.id)
        upload.status = "aborted"
        self.session.flush()

    def expire_stale(self, *, limit: int = 100) -> int:
        """Expire open sessions past their expiry and free their parts; for a periodic sweep."""
        expired = self.uploads.expired_open(utcnow(), limit=limit)
        for upload in expired:
            self._delete_part_objects(upload.id)
            self.uploads.delete_parts(upload.id)
            upload.status = "expired"
        self.session.flush()
        return len(expired)

    def completed_object(
        self, principal: Principal, upload_id: uuid.UUID, *, project_id: uuid.UUID | None = None
    ) -> CompletedObject:
        """The assembled file of a completed upload: what an importer reads.

        With `project_id`, an upload opened for another project counts as not found.
        """
        upload = self._owned(principal, upload_id)
        if project_id is not None and upload.project_id != project_id:
            raise NotFound("upload not found in this project", code="upload_not_found")
        if upload.status != "completed" or upload.object_key is None or upload.sha256 is None:
            raise Conflict(
                f"upload {upload.id} is not completed (it is {self._status(upload)})",
                code="upload_not_completed",
                details={"status": self._status(upload)},
            )
        return CompletedObject(upload.object_key, upload.total_size, upload.sha256, upload.filename)

    # -- parts -------------------------------------------------------------------------------

    def open_part(
        self,
        principal: Principal,
        upload_id: uuid.UUID,
        part_number: int,
        *,
        content_length: int | None = None,
    ) -> PartTarget:
        """Check a part may be sent, before any of its body is read."""
        upload = self._owned(principal, upload_id)
        self._require_open(upload)
        count = part_count(upload)
        if not 1 <= part_number <= count:
            raise ValidationFailed(
                f"part numbers of this upload run from 1 to {count}",
                code="invalid_part_number",
                details={"part_number": part_number, "part_count": count},
            )
        expected = expected_part_size(upload, part_number)
        if content_length is not None and content_length != expected:
            raise size_mismatch(part_number, expected, content_length)
        existing = self.uploads.get_part(upload.id, part_number)
        return PartTarget(upload.id, part_number, expected, existing.sha256 if existing else None)

    def save_part(
        self,
        principal: Principal,
        target: PartTarget,
        body: ReceivedBody,
        *,
        declared_sha256: str | None = None,
    ) -> UploadPart:
        """Store a received part. Re-sending a part replaces it; identical bytes are a no-op."""
        if declared_sha256 is not None and declared_sha256.lower() != body.sha256:
            raise ValidationFailed(
                f"part {target.part_number} does not match its Content-SHA256 header",
                code="part_checksum_mismatch",
                details={
                    "part_number": target.part_number,
                    "expected": declared_sha256.lower(),
                    "received": body.sha256,
                },
            )
        key = part_key(target.upload_id, target.part_number)
        wrote = body.sha256 != target.existing_sha256
        # Bytes first, outside the row lock: parts of one upload may arrive in parallel.
        if wrote:
            self.store.put(key, body.file, size=body.size)
        upload = self._owned(principal, target.upload_id, lock=True)
        if upload.status != "open" or self._expired(upload):
            # Aborted, expired or completed meanwhile: what was just written is an orphan. While
            # completing it is left alone; assembly notices a changed part by its checksum.
            if wrote and upload.status in ("aborted", "expired", "completed"):
                self.store.delete(key)
            self._require_open(upload)
        part = self.uploads.save_part(upload.id, target.part_number, body.size, body.sha256)
        self._touch(upload)
        return part

    # -- completion --------------------------------------------------------------------------

    def complete(
        self,
        principal: Principal,
        upload_id: uuid.UUID,
        *,
        checkpoint: Callable[[], None] | None = None,
    ) -> UploadState:
        """Assemble the parts in order into the final object. Completing twice returns it again.

        Assembling a large file takes minutes, and an open transaction would hold SQLite's write
        lock (and a PostgreSQL connection) that long. So `checkpoint` is called to make the
        `completing` status durable before copying, and to make a reopened session durable
        before an error is raised. A request passes `session.commit`; the default only flushes,
        for callers that own a wider transaction.
        """
        checkpoint = checkpoint or self.session.flush
        upload = self._owned(principal, upload_id, lock=True)
        if upload.status == "completed":
            return self._state(upload)
        self._refuse_if_completing(upload)
        self._require_open(upload, allow_stale_completing=True)
        parts = self.uploads.parts(upload.id)
        state = UploadState(upload, upload.status, parts)
        if state.missing:
            raise Conflict(
                f"{len(state.missing)} of {state.part_count} parts are missing",
                code="upload_incomplete",
                details={"missing_parts": state.missing, "part_count": state.part_count},
            )
        upload.status = "completing"
        self._touch(upload)
        checkpoint()
        key = final_key(upload.id, upload.filename)
        try:
            sha256 = self._assemble(upload, key, parts)
        except PartMismatch as exc:
            # The client can re-send that part: it is listed as missing again.
            self.store.delete(part_key(upload.id, exc.number))
            self.uploads.delete_part(upload.id, exc.number)
            self._reopen(upload, checkpoint)
            raise ValidationFailed(
                f"part {exc.number} {exc.reason}; send it again, then complete",
                code="part_checksum_mismatch",
                details={"part_number": exc.number, "reason": exc.reason},
            ) from None
        except BaseException:
            self._reopen(upload, checkpoint)
            raise
        if upload.expected_sha256 is not None and sha256 != upload.expected_sha256:
            self.store.delete(key)
            self._reopen(upload, checkpoint)
            raise ValidationFailed(
                "the assembled file does not match the expected SHA-256; "
                "re-send the parts that are wrong, then complete again",
                code="checksum_mismatch",
                details={"expected": upload.expected_sha256, "received": sha256},
            )
        upload.status, upload.object_key, upload.sha256 = "completed", key, sha256
        self._touch(upload)
        checkpoint()
        # Only once `completed` is durable: a crash before this point must not lose the parts.
        try:
            self._delete_part_objects(upload.id)
        except Exception as exc:  # leftovers cost space, not correctness; the upload is done
            log.warning("upload parts not deleted", upload_id=str(upload.id), error=str(exc))
        return self._state(upload)

    def _assemble(self, upload: UploadSession, key: str, parts: Sequence[UploadPart]) -> str:
        sources = [
            PartSource(
                p.part_number,
                p.size,
                p.sha256,
                partial(self.store.open, part_key(upload.id, p.part_number)),
            )
            for p in parts
        ]
        reader = ConcatenatedReader(sources)
        with io.BufferedReader(reader, buffer_size=_ASSEMBLY_BUFFER) as stream:
            try:
                self.store.put(
                    key, stream, size=upload.total_size, content_type=upload.content_type
                )
            except Exception:
                if reader.failure is not None:  # the backend may have wrapped it
                    raise reader.failure from None
                raise
        return reader.sha256()

    def _reopen(self, upload: UploadSession, checkpoint: Callable[[], None]) -> None:
        upload.status = "open"
        self._touch(upload)
        checkpoint()

    # -- helpers -----------------------------------------------------------------------------

    def _owned(
        self, principal: Principal, upload_id: uuid.UUID, *, lock: bool = False
    ) -> UploadSession:
        upload = self.uploads.get_owned(
            principal.organization_id, principal.user_id, upload_id, lock=lock
        )
        if upload is None:
            raise NotFound("upload not found", code="upload_not_found")
        return upload

    def _state(self, upload: UploadSession) -> UploadState:
        return UploadState(upload, self._status(upload), self.uploads.parts(upload.id))

    def _expired(self, upload: UploadSession) -> bool:
        return upload.status == "open" and upload.expires_at <= utcnow()

    def _status(self, upload: UploadSession) -> str:
        return "expired" if self._expired(upload) else upload.status

    def _stale_completing(self, upload: UploadSession) -> bool:
        return upload.updated_at <= utcnow() - COMPLETING_STALE_AFTER

    def _refuse_if_completing(self, upload: UploadSession) -> None:
        if upload.status == "completing" and not self._stale_completing(upload):
            raise Conflict(
                "this upload is being assembled; poll it until it is completed",
                code="upload_completing",
            )

    def _require_open(self, upload: UploadSession, *, allow_stale_completing: bool = False) -> None:
        status = self._status(upload)
        if status == "open" or (allow_stale_completing and status == "completing"):
            return
        if status == "expired":
            raise Gone(
                f"this upload expired at {upload.expires_at.isoformat()}; start a new one",
                code="upload_expired",
                details={"expires_at": upload.expires_at.isoformat()},
            )
        raise Conflict(
            f"this upload is {status} and accepts no more parts",
            code="upload_not_open",
            details={"status": status},
        )

    def _touch(self, upload: UploadSession) -> None:
        now = utcnow()
        upload.updated_at = now
        if upload.status == "open":
            upload.expires_at = now + self.ttl
        self.session.flush()

    def _delete_part_objects(self, upload_id: uuid.UUID) -> None:
        # By prefix, not by record: a part written by a request that lost a race has no record.
        for info in list(self.store.list(parts_prefix(upload_id))):
            self.store.delete(info.key)
