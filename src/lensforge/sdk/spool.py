"""The on-disk, append-only spool of one attempt's reports.

Layout (`<spool_dir>/attempt-<n>/`):

- `reports.jsonl`: one JSON report per line, `{"sequence", "kind", "at", "data"}`, sequences
  increasing by one from 1. Never rewritten, only appended to (and a torn last line cut off
  when the spool is opened again).
- `ack.json`: `{"offset", "sequence"}`: everything before `offset` was accepted by the server
  (2xx) or rejected for good; the sender resumes from there.
- `reports.rejected`: batches the server refused with a 4xx other than 429, with its answer:
  kept for a person to read, never retried.
- `.lock`: held (flock) while a process has the spool open, so two processes of one attempt
  cannot interleave sequence numbers.

Durability policy (explicit): `append` is one `write(2)` on an `O_APPEND` descriptor and no
`fsync`; the line is then in the kernel's page cache, so it survives the trainer being killed
(`kill -9`, OOM killer) but not a crash of the machine. The sender calls `sync()` (`fsync`)
before every POST, so a report the server has seen is always on disk: after a power loss at
most the lines appended since the last send are lost, and the numbering never reuses a
sequence the server already applied. The ack is written by atomic rename without fsync: losing
it only makes the sender resend reports the server then recognises as duplicates.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lensforge.sdk.errors import SpoolError

try:  # POSIX; elsewhere the spool works without the cross-process guard
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

_READ_CHUNK = 256 * 1024
MAX_BATCH_REPORTS = 200
MAX_BATCH_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Batch:
    """Consecutive unacknowledged reports: the raw JSON lines and the byte range they span."""

    lines: list[bytes]
    start: int
    end: int

    def body(self) -> bytes:
        """The POST /reports body, built without re-parsing the lines."""
        return b'{"reports":[' + b",".join(self.lines) + b"]}"

    def split(self, count: int) -> Batch:
        """The first `count` reports of this batch."""
        head = self.lines[:count]
        return Batch(head, self.start, self.start + sum(len(line) + 1 for line in head))


class Spool:
    def __init__(self, root: Path, attempt: int) -> None:
        self.dir = root / f"attempt-{attempt}"
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(self.dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise SpoolError(f"cannot use the report spool {self.dir}: {exc}") from exc
        if fcntl is not None:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(self._lock_fd)
                raise SpoolError(f"another process is using the report spool {self.dir}") from None
        self.path = self.dir / "reports.jsonl"
        self.ack_path = self.dir / "ack.json"
        self.rejected_path = self.dir / "reports.rejected"
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        self._lock = threading.Lock()
        self._ack_offset, acked_sequence = self._read_ack()
        self._end, last = self._recover(self._ack_offset)
        self._next_sequence = max(last, acked_sequence) + 1
        self._synced = self._end
        self._closed = False

    # --- producer side (any thread) ------------------------------------------------------------

    def append(self, kind: str, data: dict[str, Any]) -> int:
        """Add a report; return its sequence number. No network, no fsync."""
        with self._lock:
            if self._closed:
                raise SpoolError("the report spool is closed")
            sequence = self._next_sequence
            record = {
                "sequence": sequence,
                "kind": kind,
                "at": datetime.now(UTC).isoformat(),
                "data": data,
            }
            line = (_dumps(record) + "\n").encode()
            try:
                written = os.write(self._fd, line)
                while written < len(line):  # regular files write all at once, but be exact
                    written += os.write(self._fd, line[written:])
            except OSError as exc:
                os.ftruncate(self._fd, self._end)  # leave no torn line behind
                raise SpoolError(f"cannot append to the report spool {self.path}: {exc}") from exc
            self._next_sequence = sequence + 1
            self._end += len(line)
            return sequence

    @property
    def next_sequence(self) -> int:
        return self._next_sequence

    @property
    def end(self) -> int:
        """Byte offset after the last appended report."""
        return self._end

    # --- consumer side (one sender thread) ------------------------------------------------------

    @property
    def acked(self) -> int:
        return self._ack_offset

    def unsent_bytes(self) -> int:
        return self._end - self._ack_offset

    def pending(self, limit: int = MAX_BATCH_REPORTS) -> Batch | None:
        """The oldest unacknowledged reports: at most `limit`, at most ~4 MiB (at least one)."""
        end = self._end
        start = self._ack_offset
        if start >= end:
            return None
        lines: list[bytes] = []
        size = 0
        carry = b""
        read_at = start
        while len(lines) < limit and size < MAX_BATCH_BYTES and read_at < end:
            data = os.pread(self._fd, min(_READ_CHUNK, end - read_at), read_at)
            if not data:
                break
            read_at += len(data)
            parts = (carry + data).split(b"\n")
            carry = parts.pop()
            for part in parts:
                lines.append(part)
                size += len(part) + 1
                if len(lines) >= limit or size >= MAX_BATCH_BYTES:
                    break
        return Batch(lines, start, start + size) if lines else None

    def sync(self) -> None:
        """fsync what was appended so far (called before sending it)."""
        end = self._end
        if self._synced < end:
            os.fsync(self._fd)
            self._synced = end

    def ack(self, batch: Batch) -> None:
        """Mark `batch` (the oldest pending reports) as done."""
        if batch.start != self._ack_offset:
            raise SpoolError("batches must be acknowledged in order")
        self._ack_offset = batch.end
        last = json.loads(batch.lines[-1])["sequence"]
        tmp = self.ack_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"offset": batch.end, "sequence": last}))
        os.replace(tmp, self.ack_path)

    def reject(self, batch: Batch, status_code: int, answer: str) -> None:
        """Keep `batch` in `reports.rejected` with the server's answer, then move past it."""
        entry = {
            "rejected_at": datetime.now(UTC).isoformat(),
            "status_code": status_code,
            "answer": answer[:10_000],
            "reports": [json.loads(line) for line in batch.lines],
        }
        with self.rejected_path.open("a", encoding="utf-8") as out:
            out.write(_dumps(entry) + "\n")
            out.flush()
            os.fsync(out.fileno())
        self.ack(batch)

    # --- lifecycle ------------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                os.fsync(self._fd)
            finally:
                os.close(self._fd)
                os.close(self._lock_fd)  # releases the flock

    def _read_ack(self) -> tuple[int, int]:
        try:
            data = json.loads(self.ack_path.read_text())
            return int(data["offset"]), int(data["sequence"])
        except FileNotFoundError:
            return 0, 0
        except (ValueError, KeyError, TypeError):
            # A torn ack after a power loss: resend everything; the server drops duplicates.
            return 0, 0

    def _recover(self, ack_offset: int) -> tuple[int, int]:
        """Validate the unacknowledged tail; cut it at the first torn line. Return
        (end offset, last sequence seen in the tail or 0)."""
        size = os.fstat(self._fd).st_size
        if ack_offset > size:  # the file lost data the ack counted: resend what is there
            self._ack_offset = ack_offset = 0
        offset = ack_offset
        last = 0
        with self.path.open("rb") as stream:
            stream.seek(offset)
            for line in stream:
                try:
                    if not line.endswith(b"\n"):
                        raise ValueError("torn line")
                    last = int(json.loads(line)["sequence"])
                except (ValueError, KeyError, TypeError):
                    os.ftruncate(self._fd, offset)
                    break
                offset += len(line)
        return offset, last


def _dumps(value: Any) -> str:
    # Metadata may hold paths, numbers from numpy, ...: stringify what JSON cannot carry.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
