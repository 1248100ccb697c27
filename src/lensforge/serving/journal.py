"""An append-only journal of JSON lines in segment files, so usage records survive a kill.

Each record is one `os.write` to a file opened with `O_APPEND`: once `append` returns, the line
is in the kernel's page cache and a killed process loses nothing it wrote. There is no fsync per
record (it would cost a disk flush per request); a power loss may lose about the last second.
A segment is fsynced when it is sealed (`rotate`), before anything reads it.

Layout: `<dir>/<time ns>-<pid>-<n>.jsonl`. The open segment is only this `Journal`'s; every
other segment in the directory is sealed (rotated here, or left by a process that was killed)
and waits to be drained and deleted. One directory per replica.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

SUFFIX = ".jsonl"


class Journal:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._current: Path | None = None
        self._count = 0

    def append(self, record: dict[str, Any]) -> None:
        """Writes `record` as one line. The file is opened lazily, so an idle replica leaves
        no empty segments behind."""
        line = (json.dumps(record, separators=(",", ":"), default=str) + "\n").encode()
        with self._lock:
            if self._fd is None:
                self._count += 1
                name = f"{time.time_ns():020d}-{os.getpid()}-{self._count}{SUFFIX}"
                self._current = self.directory / name
                self._fd = os.open(
                    self._current, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600
                )
            written = os.write(self._fd, line)
        if written != len(line):  # a full disk; the tail of the line is a torn record
            raise OSError(f"journal write was short ({written} of {len(line)} bytes)")

    def rotate(self) -> list[Path]:
        """Seals the open segment (fsynced) and returns every sealed segment, oldest first."""
        with self._lock:
            fd, self._fd, self._current = self._fd, None, None
        if fd is not None:
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        return self.sealed()

    def sealed(self) -> list[Path]:
        with self._lock:
            current = self._current
        return sorted(p for p in self.directory.glob(f"*{SUFFIX}") if p != current)

    def close(self) -> None:
        with self._lock:
            fd, self._fd, self._current = self._fd, None, None
        if fd is not None:
            os.fsync(fd)
            os.close(fd)


def read_segment(path: Path) -> list[dict[str, Any]]:
    """The records of a sealed segment. A line that is not a JSON object (a torn write after a
    power loss, a full disk) is skipped with a warning rather than blocking the rest."""
    records = []
    with path.open("rb") as file:
        for number, raw in enumerate(file, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except ValueError:
                logger.warning("skipping a torn usage record at %s:%d", path, number)
                continue
            if isinstance(record, dict):
                records.append(record)
            else:
                logger.warning(
                    "skipping a usage record that is not an object at %s:%d", path, number
                )
    return records
