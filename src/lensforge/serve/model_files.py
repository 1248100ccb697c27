"""Model files on this replica's disk: fetched once from the object store, checked against the
version's sha256, kept content-addressed (`<cache>/<sha256[:2]>/<sha256>/model.onnx`), so that
every version of every deployment that serves the same file shares one copy, and a half-written
file is never seen (written beside, then renamed).

Each file has a folder of its own: a model comes from a trainer, which may be hostile, and ONNX
Runtime reads a graph's "external data" from files beside it (it refuses absolute paths and
`..`). Alone in its folder, a model can name no other organization's model as its weights."""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from pathlib import Path

from lensforge.serving.errors import ModelUnavailable
from lensforge.storage.base import ObjectStore


class ModelFiles:
    def __init__(self, store: ObjectStore, cache_dir: Path) -> None:
        self.store = store
        self.cache_dir = cache_dir
        self._lock = threading.Lock()
        self._fetching: dict[str, threading.Lock] = {}

    def path(self, artifact_key: str, sha256: str | None) -> Path:
        """The local file for `artifact_key`, fetched and verified if it is not here yet."""
        if sha256:
            target = self._target(sha256)
            if target.is_file():
                return target
        with self._lock:
            fetching = self._fetching.setdefault(sha256 or artifact_key, threading.Lock())
        with fetching:  # one download per file however many versions warm at once
            if sha256 and self._target(sha256).is_file():
                return self._target(sha256)
            return self._fetch(artifact_key, sha256)

    def _target(self, sha256: str) -> Path:
        return self.cache_dir / sha256[:2] / sha256 / "model.onnx"

    def _fetch(self, artifact_key: str, sha256: str | None) -> Path:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        handle, temporary = tempfile.mkstemp(dir=self.cache_dir, suffix=".part")
        try:
            with os.fdopen(handle, "wb") as out:
                for chunk in self.store.iter_chunks(artifact_key):
                    digest.update(chunk)
                    out.write(chunk)
            actual = digest.hexdigest()
            if sha256 and actual != sha256:
                raise ModelUnavailable(
                    f"the model file {artifact_key} does not match its checksum "
                    f"(expected {sha256}, got {actual})"
                )
            target = self._target(actual)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temporary, target)
            return target
        except ModelUnavailable:
            raise
        except Exception as exc:  # the store's own errors: missing object, unreachable S3
            raise ModelUnavailable(f"cannot fetch the model file {artifact_key}: {exc}") from exc
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
