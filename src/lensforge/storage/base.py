"""The object storage contract every backend implements.

Keys are POSIX-style relative paths (`datasets/<id>/images/<sha256>`). Everything streams:
`put` reads from a binary stream in chunks and `open` returns a stream, so no object is ever held
whole in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Protocol, runtime_checkable

from lensforge.errors import BadRequest, NotFound, ServiceUnavailable

MAX_KEY_LENGTH = 1024
# What an object is served as when its writer did not say; both backends store it explicitly.
DEFAULT_CONTENT_TYPE = "application/octet-stream"
# SigV4 refuses presigned URLs valid for longer than a week; the local backend keeps the same cap.
MAX_PRESIGN_SECONDS = 7 * 24 * 3600


class ObjectNotFound(NotFound):
    code = "object_not_found"


class InvalidObjectKey(BadRequest):
    code = "invalid_object_key"


class StorageUnavailable(ServiceUnavailable):
    code = "storage_unavailable"


class SizeMismatch(BadRequest):
    """The stream did not hold the number of bytes the caller announced; nothing was stored."""

    code = "size_mismatch"


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    last_modified: datetime
    content_type: str | None = None


@runtime_checkable
class ObjectStore(Protocol):
    def put(
        self,
        key: str,
        stream: BinaryIO,
        *,
        size: int | None = None,
        content_type: str | None = None,
    ) -> ObjectInfo:
        """Store `stream` under `key`, replacing any previous object; atomic for readers."""
        ...

    def open(self, key: str) -> BinaryIO:
        """A readable binary stream of the object; the caller closes it."""
        ...

    def iter_chunks(self, key: str, chunk_size: int = 1024 * 1024) -> Iterator[bytes]: ...

    def head(self, key: str) -> ObjectInfo:
        """Metadata of one object; raises ObjectNotFound."""
        ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object whose key starts with `prefix`, each once, in key order.

        Key order is S3's: UTF-8 bytes ("a-b" < "a/c" < "a0"). Some S3-compatible servers that
        store keys as folders (SeaweedFS) list a folder's keys before siblings sorting below
        "/" ("a/c" < "a-b"); only callers that compare positions across such names care.
        `content_type` is None here (S3 listings do not carry it); `head` has it.
        """
        ...

    def delete(self, key: str) -> None:
        """Remove the object; removing a missing key is not an error."""
        ...

    def copy(self, source_key: str, destination_key: str) -> ObjectInfo: ...

    def presign_get(self, key: str, *, expires_in: int, filename: str | None = None) -> str:
        """A URL anyone holding it may GET until it expires."""
        ...

    def presign_put(self, key: str, *, expires_in: int, content_type: str | None = None) -> str:
        """A URL anyone holding it may PUT exactly this key to until it expires."""
        ...

    def check(self) -> None:
        """Raise StorageUnavailable if the backend cannot be reached (readiness probe)."""
        ...


def validate_key(key: str) -> str:
    """Refuse keys that could escape a prefix or mean different things on different backends."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidObjectKey(
            f"object key must be 1..{MAX_KEY_LENGTH} characters", details={"key": key[:100]}
        )
    if key.startswith("/") or "\\" in key or "\x00" in key:
        raise InvalidObjectKey("object key must be a relative POSIX path", details={"key": key})
    parts = key.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise InvalidObjectKey("object key has an empty, '.' or '..' segment", details={"key": key})
    return key


def validate_expires_in(expires_in: int, maximum: int = MAX_PRESIGN_SECONDS) -> int:
    if not 1 <= expires_in <= maximum:
        raise BadRequest(
            f"a presigned link must expire within 1..{maximum} seconds",
            details={"expires_in": expires_in},
            code="invalid_expiry",
        )
    return expires_in
