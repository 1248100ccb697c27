"""Which upload session belongs to which local file, so an interrupted upload can resume.

A small JSON file (`uploads.json` next to the CLI config). An entry is keyed by server, project,
absolute path, size and modification time: a file edited since is a different file and starts a
new session. The file is only a cache: when it is missing or damaged, uploads start afresh.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from lensforge.client._files import write_private


class UploadStateStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    @staticmethod
    def key(server: str, project_id: str, file: Path, size: int, mtime_ns: int) -> str:
        return json.dumps([server, project_id, str(file), size, mtime_ns])

    def get(self, key: str) -> str | None:
        entry = self._read().get(key)
        upload_id = entry.get("upload_id") if isinstance(entry, dict) else None
        return upload_id if isinstance(upload_id, str) else None

    def put(self, key: str, upload_id: str) -> None:
        """Remember `upload_id` for `key`, forgetting sessions of earlier versions of the file
        (they can never resume; the server expires them)."""
        with self._lock:
            entries = {k: v for k, v in self._read().items() if not _same_file(k, key)}
            entries[key] = {"upload_id": upload_id}
            self._write(entries)

    def discard(self, key: str) -> None:
        with self._lock:
            entries = self._read()
            if entries.pop(key, None) is not None:
                self._write(entries)

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        uploads = data.get("uploads") if isinstance(data, dict) else None
        return uploads if isinstance(uploads, dict) else {}

    def _write(self, entries: dict[str, Any]) -> None:
        write_private(self.path, json.dumps({"version": 1, "uploads": entries}, indent=1) + "\n")


def _same_file(a: str, b: str) -> bool:
    try:
        return bool(json.loads(a)[:3] == json.loads(b)[:3])
    except (ValueError, TypeError):
        return False
