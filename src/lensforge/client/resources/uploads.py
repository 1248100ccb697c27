"""`client.uploads`: resumable uploads in parts, and `upload_file` which drives them."""

from __future__ import annotations

import hashlib
import mimetypes
import os
import random
import time
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from lensforge.client._http import HttpSession
from lensforge.client._upload_state import UploadStateStore
from lensforge.client.errors import (
    ConflictError,
    ConnectionFailed,
    NotFoundError,
    ServerError,
    UploadFailed,
    ValidationError,
)
from lensforge.client.models import UploadPart, UploadSession
from lensforge.client.resources import Resource, path_id

ProgressCallback = Callable[[int, int], None]
R = TypeVar("R")

MAX_ATTEMPTS = 5
BACKOFF_SECONDS = 0.5  # doubled after each failed attempt: 0.5, 1, 2, 4 s
# Assembling a large file server-side takes minutes; the usual 30 s would give up too early.
COMPLETE_TIMEOUT_SECONDS = 3600.0
POLL_SECONDS = 2.0
# Rounds of "send what is missing, then complete" when the server finds a stored part damaged.
_ROUNDS = 3
_RESUMABLE = frozenset({"open", "completing", "completed"})


class Uploads(Resource):
    def __init__(self, session: HttpSession, state: UploadStateStore) -> None:
        super().__init__(session)
        self._state = state

    def create(
        self,
        project_id: uuid.UUID | str,
        filename: str,
        total_size: int,
        *,
        part_size: int | None = None,
        content_type: str | None = None,
        sha256: str | None = None,
    ) -> UploadSession:
        """Open a session; the server fixes the part size (16 MiB unless asked) and count.
        With `sha256`, completion fails if the assembled file does not match it."""
        body: dict[str, Any] = {
            "project_id": path_id(project_id),
            "filename": filename,
            "total_size": total_size,
        }
        optional = {"part_size": part_size, "content_type": content_type, "sha256": sha256}
        body.update({k: v for k, v in optional.items() if v is not None})
        return self._session.call(UploadSession, "POST", "/uploads", json=body)

    def get(self, upload_id: uuid.UUID | str) -> UploadSession:
        """The session, with the parts received so far and those still missing."""
        return self._session.call(UploadSession, "GET", f"/uploads/{path_id(upload_id)}")

    def upload_part(
        self, upload_id: uuid.UUID | str, number: int, data: bytes, *, sha256: str | None = None
    ) -> UploadPart:
        """Send part `number` (1-based; re-sending replaces it). With `sha256` the server
        refuses bytes that do not match it (`part_checksum_mismatch`)."""
        headers = {"Content-Type": "application/octet-stream"}
        if sha256 is not None:
            headers["Content-SHA256"] = sha256
        return self._session.call(
            UploadPart,
            "PUT",
            f"/uploads/{path_id(upload_id)}/parts/{number}",
            content=data,
            headers=headers,
        )

    def complete(self, upload_id: uuid.UUID | str) -> UploadSession:
        """Assemble the parts (safe to repeat). 409 `upload_incomplete` lists missing parts;
        409 `upload_completing` means another call is assembling it: poll `get`."""
        return self._session.call(
            UploadSession,
            "POST",
            f"/uploads/{path_id(upload_id)}/complete",
            timeout=COMPLETE_TIMEOUT_SECONDS,
        )

    def abort(self, upload_id: uuid.UUID | str) -> None:
        """Cancel the session and discard the parts received."""
        self._session.send("DELETE", f"/uploads/{path_id(upload_id)}")

    def upload_file(
        self,
        project_id: uuid.UUID | str,
        path: str | os.PathLike[str],
        *,
        part_size: int | None = None,
        content_type: str | None = None,
        on_progress: ProgressCallback | None = None,
        resume: bool = True,
    ) -> UploadSession:
        """Upload a file in parts and return the completed session.

        The file is read one part at a time (never whole into memory) and hashed on the way;
        each part carries its SHA-256 and is retried with exponential backoff on connection
        errors and 5xx answers. If the upload stops (network down, Ctrl-C, an exception from
        `on_progress`), calling again with the same, unchanged file resumes it: only the parts
        the server is missing are sent. `on_progress(bytes_done, total)` is called once at the
        start (with what the server already has) and after each part.
        """
        file = Path(path).resolve()
        before = file.stat()
        key = self._state.key(
            self._session.base_url, path_id(project_id), file, before.st_size, before.st_mtime_ns
        )
        session = self._resumable(key, before.st_size, part_size) if resume else None
        if session is None:
            session = self.create(
                project_id,
                file.name,
                before.st_size,
                part_size=part_size,
                content_type=content_type or mimetypes.guess_type(file.name)[0],
            )
            self._state.put(key, str(session.id))
        for round_ in range(1, _ROUNDS + 1):
            digest = self._send_parts(session, file, on_progress)
            after = file.stat()
            if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
                raise UploadFailed(f"{file} changed while it was being uploaded; upload it again")
            try:
                session = self._complete(session.id)
            except (ValidationError, ConflictError) as exc:
                damaged = exc.code in ("part_checksum_mismatch", "upload_incomplete")
                if not damaged or round_ == _ROUNDS:
                    raise
                session = self.get(session.id)  # the damaged parts are listed as missing again
            else:
                break
        if session.sha256 is not None and session.sha256 != digest:
            raise UploadFailed(
                f"the server's SHA-256 of {file.name} ({session.sha256}) differs from the "
                f"local file's ({digest})",
                code="checksum_mismatch",
            )
        self._state.discard(key)
        return session

    def _resumable(self, key: str, size: int, part_size: int | None) -> UploadSession | None:
        upload_id = self._state.get(key)
        if upload_id is None:
            return None
        try:
            session = self.get(upload_id)
        except NotFoundError:
            session = None
        if (
            session is None
            or session.status not in _RESUMABLE
            or session.total_size != size
            or part_size not in (None, session.part_size)
        ):
            self._state.discard(key)
            return None
        return session

    def _send_parts(
        self, session: UploadSession, file: Path, on_progress: ProgressCallback | None
    ) -> str:
        """Send the missing parts; return the SHA-256 of the whole file, read once in order."""
        total, part_size = session.total_size, session.part_size
        missing = set(session.missing_parts) if session.status == "open" else set()
        done = total - sum(_part_length(n, part_size, total) for n in missing)
        if on_progress is not None:
            on_progress(done, total)
        hasher = hashlib.sha256()
        with file.open("rb") as handle:
            for number in range(1, session.part_count + 1):
                expected = _part_length(number, part_size, total)
                data = handle.read(expected)
                if len(data) != expected:
                    raise UploadFailed(f"{file} became shorter while it was being uploaded")
                hasher.update(data)
                if number not in missing:
                    continue
                checksum = hashlib.sha256(data).hexdigest()
                _retrying(partial(self.upload_part, session.id, number, data, sha256=checksum))
                done += expected
                if on_progress is not None:
                    on_progress(done, total)
        return hasher.hexdigest()

    def _complete(self, upload_id: uuid.UUID) -> UploadSession:
        """Complete, waiting out an assembly already running (after a timed-out attempt)."""
        while True:
            try:
                return _retrying(partial(self.complete, upload_id))
            except ConflictError as exc:
                if exc.code != "upload_completing":
                    raise
            session = self.get(upload_id)
            while session.status == "completing":
                time.sleep(POLL_SECONDS)
                session = self.get(upload_id)
            if session.status == "completed":
                return session


def _retrying(call: Callable[[], R]) -> R:
    """`call()`, repeated with exponential backoff while the network or the server fails.

    Only for idempotent calls: a part re-sent replaces itself, a completion repeats.
    """
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return call()
        except (ConnectionFailed, ServerError, ValidationError) as exc:
            corrupted = isinstance(exc, ValidationError) and exc.code == "part_checksum_mismatch"
            if attempt == MAX_ATTEMPTS or (isinstance(exc, ValidationError) and not corrupted):
                raise
            # Jitter spreads out clients that failed together; not security-relevant.
            time.sleep(BACKOFF_SECONDS * 2 ** (attempt - 1) * random.uniform(0.8, 1.2))  # noqa: S311
    raise AssertionError("unreachable")


def _part_length(number: int, part_size: int, total: int) -> int:
    return max(0, min(part_size, total - (number - 1) * part_size))
