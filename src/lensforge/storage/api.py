"""Routes: /storage/objects, where the local backend's presigned links lead.

Public routes: the link's signature is the credential. It binds the method, the key, the expiry
and the options (download filename, upload content type); see `signing.py`. With the S3 backend
links point at the S3 server itself, so these routes answer 404.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator
from email.utils import format_datetime
from functools import partial
from typing import TYPE_CHECKING, BinaryIO

import anyio
import anyio.from_thread
import anyio.to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect

from lensforge.dependencies import ObjectStoreDep
from lensforge.errors import BadRequest, NotFound
from lensforge.storage.base import ObjectStore
from lensforge.storage.local import CHUNK_SIZE, LocalObjectStore
from lensforge.storage.signing import (
    PresignInvalid,
    PresignSigner,
    content_disposition,
    get_extra,
    parse_expires,
    put_extra,
)

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer


def _signed_link() -> None:
    """Marks these routes as reachable without a login (the policy test reads the marker)."""


# Same marker as lensforge.auth's PUBLIC, which storage may not import (it knows no domain).
_signed_link.lensforge_public = True  # type: ignore[attr-defined]

router = APIRouter(prefix="/storage", tags=["storage"], dependencies=[Depends(_signed_link)])

# Objects are served from the API's own origin: never let a browser run one as a page of it.
_SAFE_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"}


@router.get("/objects/{key:path}")
def download(
    key: str,
    store: ObjectStoreDep,
    *,
    method: str = "",
    expires: str = "",
    signature: str = "",
    filename: str | None = None,
) -> StreamingResponse:
    """Stream an object through a presigned GET link."""
    local = _local(store)
    _verify(
        local.signer,
        "GET",
        key,
        method=method,
        expires=expires,
        signature=signature,
        extra=get_extra(filename),
    )
    handle, info = local.open_with_info(key)
    headers = {
        **_SAFE_HEADERS,
        "Content-Length": str(info.size),
        "ETag": f'"{info.etag}"',
        "Last-Modified": format_datetime(info.last_modified, usegmt=True),
    }
    if filename is not None:
        headers["Content-Disposition"] = content_disposition(filename)
    return StreamingResponse(
        _chunks(handle),
        media_type=info.content_type,
        headers=headers,
        # Also closes the file when the client left before the body was sent.
        background=BackgroundTask(handle.close),
    )


@router.put("/objects/{key:path}")
async def upload(
    key: str,
    request: Request,
    store: ObjectStoreDep,
    *,
    method: str = "",
    expires: str = "",
    signature: str = "",
    content_type: str | None = None,
) -> Response:
    """Store the request body through a presigned PUT link, streaming it to disk."""
    local = _local(store)
    _verify(
        local.signer,
        "PUT",
        key,
        method=method,
        expires=expires,
        signature=signature,
        extra=put_extra(content_type),
    )
    sent_type = request.headers.get("content-type")
    if content_type is not None and sent_type != content_type:
        raise PresignInvalid(
            f"this link was signed for Content-Type {content_type!r}; the upload sent {sent_type!r}"
        )
    size = _content_length(request)
    body = io.BufferedReader(_RequestBody(request.stream()), buffer_size=CHUNK_SIZE)
    # The disk writes run in a worker thread, which pulls the body from the event loop chunk by
    # chunk: neither the loop blocks on the disk nor does the body ever sit whole in memory.
    put = partial(local.put, key, body, size=size, content_type=content_type or sent_type)
    try:
        info = await anyio.to_thread.run_sync(put)
    except ClientDisconnect as exc:
        raise BadRequest("the upload was interrupted", code="upload_incomplete") from exc
    return Response(status_code=200, headers={"ETag": f'"{info.etag}"'})


def _local(store: ObjectStore) -> LocalObjectStore:
    if not isinstance(store, LocalObjectStore):
        raise NotFound("presigned links are served by S3 directly")
    return store


def _verify(
    signer: PresignSigner,
    route_method: str,
    key: str,
    *,
    method: str,
    expires: str,
    signature: str,
    extra: str,
) -> None:
    expiry = parse_expires(expires)
    if method.upper() != route_method or expiry is None or not signature:
        raise PresignInvalid("this is not a valid presigned link for this method")
    signer.verify(route_method, key, expiry, signature, extra)


# 10^18 bytes is beyond any disk; longer values are garbage, not big files.
_MAX_LENGTH_DIGITS = 18


def _content_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    # ASCII digits only: `str.isdigit` also accepts '²' and other scripts' digits, which `int`
    # then refuses (or reads as a number nobody sent).
    if not (value.isascii() and value.isdigit()) or len(value) > _MAX_LENGTH_DIGITS:
        raise BadRequest("Content-Length must be a number of bytes", code="bad_content_length")
    return int(value)


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(CHUNK_SIZE):
            yield chunk


class _RequestBody(io.RawIOBase):
    """The ASGI request body as a blocking raw stream, for use from a worker thread only."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = memoryview(b"")
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        while not self._pending and not self._done:
            chunk = anyio.from_thread.run(self._next)
            self._done = not chunk  # starlette ends every body with one empty chunk
            self._pending = memoryview(chunk)
        view = memoryview(buffer).cast("B")
        count = min(len(view), len(self._pending))
        view[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    async def _next(self) -> bytes:
        return await anext(self._chunks, b"")
