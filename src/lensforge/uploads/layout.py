"""The shape of an upload: limits, part sizes, object keys, file names, and the values the
service hands to its routes.

    uploads/<id>/parts/<000001>   one object per received part, deleted once assembled
    uploads/<id>/<filename>       the assembled file
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import NamedTuple

from lensforge.errors import ValidationFailed
from lensforge.models import UploadPart, UploadSession
from lensforge.uploads.streams import BodyTooLarge, ReceivedBody, receive_body

MiB = 1024 * 1024
GiB = 1024 * MiB
# Clients are told 5 MiB+ (S3's own floor for multipart parts); the server accepts 1 MiB so
# that tests and slow links can use small parts.
MIN_PART_SIZE = 1 * MiB
MAX_PART_SIZE = 512 * MiB
DEFAULT_PART_SIZE = 16 * MiB
MAX_TOTAL_SIZE = 100 * GiB
# Bounds the bookkeeping (rows, `missing_parts` lists) of one session.
MAX_PARTS = 10_000
SESSION_TTL = timedelta(hours=24)
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_MAX_FILENAME_BYTES = 255


def part_key(upload_id: uuid.UUID, part_number: int) -> str:
    return f"uploads/{upload_id}/parts/{part_number:06d}"


def parts_prefix(upload_id: uuid.UUID) -> str:
    return f"uploads/{upload_id}/parts/"


def final_key(upload_id: uuid.UUID, filename: str) -> str:
    return f"uploads/{upload_id}/{filename}"


def part_count(upload: UploadSession) -> int:
    return -(-upload.total_size // upload.part_size)


def expected_part_size(upload: UploadSession, part_number: int) -> int:
    """Every part is `part_size` bytes except the last, which holds the remainder."""
    if part_number < part_count(upload):
        return upload.part_size
    return upload.total_size - upload.part_size * (part_count(upload) - 1)


def sanitize_filename(raw: str) -> str:
    """The base name of what a client sent, safe as the last segment of an object key."""
    # Both separators: a browser on Windows may send the whole `C:\\Users\\...` path.
    name = re.split(r"[/\\]", raw)[-1]
    name = _CONTROL_CHARS.sub("", unicodedata.normalize("NFC", name)).strip()
    if name in ("", ".", ".."):
        raise ValidationFailed(
            "the filename is empty once folders and control characters are removed",
            code="invalid_filename",
            details={"filename": raw[:300]},
        )
    if len(name.encode()) > _MAX_FILENAME_BYTES:
        raise ValidationFailed(
            f"the filename is longer than {_MAX_FILENAME_BYTES} bytes",
            code="invalid_filename",
            details={"filename": name[:300]},
        )
    return name


@dataclass(frozen=True, slots=True)
class UploadState:
    upload: UploadSession
    # As clients see it: an open session past its expiry reads 'expired' before a sweep.
    status: str
    received: Sequence[UploadPart]

    @property
    def part_count(self) -> int:
        return part_count(self.upload)

    @property
    def missing(self) -> list[int]:
        have = {part.part_number for part in self.received}
        return [n for n in range(1, self.part_count + 1) if n not in have]


class CompletedObject(NamedTuple):
    object_key: str
    size: int
    sha256: str
    filename: str


def size_mismatch(
    part_number: int, expected: int, received: int, *, more: bool = False
) -> Exception:
    return ValidationFailed(
        f"part {part_number} must be exactly {expected} bytes; "
        + (f"received more than that ({received} so far)" if more else f"received {received}"),
        code="part_size_mismatch",
        details={
            "part_number": part_number,
            "expected": expected,
            "received": received,
            "exceeded": more,
        },
    )


@dataclass(frozen=True, slots=True)
class PartTarget:
    """Where one incoming part goes and what it must look like; checked before its body."""

    upload_id: uuid.UUID
    part_number: int
    expected_size: int
    existing_sha256: str | None

    async def receive(self, chunks: AsyncIterator[bytes]) -> ReceivedBody:
        """Spool the body, refusing it the moment it outgrows the part."""
        try:
            body = await receive_body(chunks, limit=self.expected_size)
        except BodyTooLarge as exc:
            raise size_mismatch(
                self.part_number, self.expected_size, exc.received, more=True
            ) from None
        if body.size != self.expected_size:
            body.close()
            raise size_mismatch(self.part_number, self.expected_size, body.size)
        return body
