"""Checkpoint uploads on a background thread, in order, so training does not wait on storage.

Ultralytics rewrites `last.pt` in place every epoch (and `best.pt` when it improves), so each
file is copied before it is queued: the upload reads a stable snapshot. The epoch's metric
point is reported before its checkpoint is queued (by the caller), which keeps the invariant a
resumed attempt relies on: no checkpoint without its epoch's point.
"""

from __future__ import annotations

import queue
import shutil
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from lensforge.sdk import Trainer

Kind = Literal["best", "last"]
_Item = tuple[Path, Kind, int, dict[str, float]]


class CheckpointUploader:
    def __init__(self, trainer: Trainer, folder: Path) -> None:
        self._trainer = trainer
        self._folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._queue: queue.Queue[_Item | None] = queue.Queue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, name="lensforge-checkpoint-upload", daemon=True
        )
        self._thread.start()

    def submit(self, source: Path, kind: Kind, epoch: int, metrics: Mapping[str, float]) -> None:
        """Snapshot `source` and queue its upload; raises the error of an earlier upload."""
        self._raise_failure()
        snapshot = self._folder / f"{kind}-{epoch}{source.suffix}"
        shutil.copyfile(source, snapshot)
        self._queue.put((snapshot, kind, epoch, dict(metrics)))

    def close(self) -> None:
        """Wait until every queued checkpoint is uploaded and reported (before `completed`)."""
        self._queue.put(None)
        self._thread.join()
        self._raise_failure()

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            snapshot, kind, epoch, metrics = item
            try:
                if self._error is None:
                    self._trainer.upload_checkpoint(snapshot, kind, epoch, metrics)
            except BaseException as exc:  # handed to the training thread at its next submit
                self._error = exc
            finally:
                snapshot.unlink(missing_ok=True)
