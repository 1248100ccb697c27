"""Streams for uploads: receiving one part's body, and reading stored parts back as one file.

Neither ever holds a whole part or file in memory: a received body spools to disk past
`SPOOL_MAX_MEMORY`, and assembly reads one bounded chunk of one part at a time.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO, NoReturn, cast

from starlette.concurrency import run_in_threadpool

from lensforge.storage.base import ObjectNotFound

MiB = 1024 * 1024
SPOOL_MAX_MEMORY = 8 * MiB
# Received chunks (~64 KiB from the server) are batched before each hop to a worker thread.
_WRITE_BATCH = 1 * MiB


class BodyTooLarge(Exception):
    """The body went past its limit; reading stopped there."""

    def __init__(self, received: int) -> None:
        super().__init__(f"body exceeded its limit after {received} bytes")
        self.received = received


@dataclass
class ReceivedBody:
    """A body spooled to a temporary file (rewound), with its size and SHA-256."""

    file: BinaryIO
    size: int
    sha256: str

    def close(self) -> None:
        self.file.close()


async def receive_body(chunks: AsyncIterator[bytes], *, limit: int) -> ReceivedBody:
    """Spool an async byte stream, hashing as it goes; stop as soon as it exceeds `limit`.

    Writing and hashing happen in a worker thread (hashlib releases the GIL on large buffers),
    so a slow disk never stalls the event loop.
    """
    # Closed by the caller through ReceivedBody.close(), or below on failure.
    spool = cast(BinaryIO, tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX_MEMORY))  # noqa: SIM115
    digest = hashlib.sha256()
    size = 0
    pending = bytearray()

    def write(data: bytes | bytearray) -> None:
        digest.update(data)
        spool.write(data)

    try:
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(size)
            pending += chunk
            if len(pending) >= _WRITE_BATCH:
                batch, pending = pending, bytearray()
                await run_in_threadpool(write, batch)
        if pending:
            await run_in_threadpool(write, pending)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return ReceivedBody(spool, size, digest.hexdigest())


@dataclass(frozen=True, slots=True)
class PartSource:
    number: int
    size: int
    sha256: str
    open: Callable[[], BinaryIO]


class PartMismatch(Exception):
    """A stored part is missing or no longer holds the bytes recorded when it was received."""

    def __init__(self, number: int, reason: str) -> None:
        super().__init__(f"part {number}: {reason}")
        self.number = number
        self.reason = reason


class ConcatenatedReader(io.RawIOBase):
    """Reads parts one after another as a single stream, checking each against its record.

    The SHA-256 of everything read is available from `sha256()` once the stream is exhausted.
    A failure is kept in `failure` too: a storage backend may wrap what its reader raised.
    """

    def __init__(self, parts: Sequence[PartSource]) -> None:
        super().__init__()
        self._pending: Iterator[PartSource] = iter(parts)
        self._current: tuple[PartSource, BinaryIO] | None = None
        self._part_digest = hashlib.sha256()
        self._part_read = 0
        self._digest = hashlib.sha256()
        self.failure: PartMismatch | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        while True:
            current = self._current or self._next_part()
            if current is None:
                return 0
            part, stream = current
            data = stream.read(len(view))
            if not data:
                self._finish_part(part, stream)
                continue
            self._part_read += len(data)
            if self._part_read > part.size:
                self._fail(part, f"holds more than its recorded {part.size} bytes")
            self._part_digest.update(data)
            self._digest.update(data)
            view[: len(data)] = data
            return len(data)

    def sha256(self) -> str:
        return self._digest.hexdigest()

    def close(self) -> None:
        if self._current is not None:
            self._current[1].close()
            self._current = None
        super().close()

    def _next_part(self) -> tuple[PartSource, BinaryIO] | None:
        part = next(self._pending, None)
        if part is None:
            return None
        try:
            stream = part.open()
        except ObjectNotFound:
            self._fail(part, "is missing from storage")
        self._current = (part, stream)
        self._part_digest, self._part_read = hashlib.sha256(), 0
        return self._current

    def _finish_part(self, part: PartSource, stream: BinaryIO) -> None:
        stream.close()
        self._current = None
        if self._part_read != part.size:
            self._fail(part, f"holds {self._part_read} bytes, not its recorded {part.size}")
        if self._part_digest.hexdigest() != part.sha256:
            self._fail(part, "no longer matches the checksum recorded when it was received")

    def _fail(self, part: PartSource, reason: str) -> NoReturn:
        self.failure = PartMismatch(part.number, reason)
        raise self.failure
