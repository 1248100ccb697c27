"""Checkpoints and files out (and checkpoints back in), through presigned links: the trainer
holds no storage credentials, and its token only obtains links for keys under its own job's
outputs. Datasets come in through `dataset_download.py`."""

from __future__ import annotations

import hashlib
import logging
import math
import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlparse

from lensforge.sdk.errors import NetworkError, StorageError
from lensforge.sdk.http import TRANSIENT_ERRORS, backoff_delay, is_transient

if TYPE_CHECKING:
    from lensforge.sdk.client import Trainer

logger = logging.getLogger("lensforge.sdk")

_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class DownloadedCheckpoint:
    path: Path
    kind: str
    epoch: int | None
    sha256: str
    size: int


# --- outputs --------------------------------------------------------------------------------------


def upload_file(trainer: Trainer, path: Path, name: str) -> dict[str, Any]:
    """PUT `path` to the job's output `name` (e.g. `plots/confusion.png`), streamed from disk;
    return `{"name", "size", "sha256"}` of what was sent."""
    _check_name(name)
    if not path.is_file():
        raise StorageError(f"{path} is not a file")

    def link() -> str:
        answer = trainer.api.call("POST", "/outputs/urls", json={"files": [{"name": name}]})
        return urljoin(trainer.config.api_url + "/", str(answer["urls"][name]))

    sha, size = _put(trainer, path, link)
    return {"name": name, "size": size, "sha256": sha}


def upload_checkpoint(
    trainer: Trainer,
    path: Path,
    kind: str,
    epoch: int | None,
    metrics: Mapping[str, float] | None,
) -> dict[str, Any]:
    """Upload to `checkpoints/<kind>[-<epoch>]<suffix>`, then report the `checkpoint`. `epoch`
    defaults to that of the last `report_progress`."""
    if kind not in ("best", "last", "epoch"):
        raise ValueError(f"checkpoint kind must be best, last or epoch, not {kind!r}")
    if epoch is None:
        epoch = trainer.epoch  # the epoch of the last progress report
    if epoch is None:
        raise ValueError("upload_checkpoint needs the epoch the checkpoint was taken after")
    name = f"checkpoints/{kind}{f'-{epoch}' if kind == 'epoch' else ''}{path.suffix}"
    previous = trainer._checkpoint_reports.get(name)
    if previous is not None:
        # The server checks a checkpoint report against the stored object: do not replace the
        # object before the report of the previous upload under this name was applied.
        trainer.sender.flush(trainer.config.retry_timeout, target=previous)
    sent = upload_file(trainer, path, name)
    clean = {str(k): (float(v) if _finite(v) else None) for k, v in (metrics or {}).items()}
    trainer._report(
        "checkpoint", {"kind": kind, "epoch": epoch, **sent, "metrics": clean}, urgent=True
    )
    trainer._checkpoint_reports[name] = trainer.spool.end
    return sent


def download_checkpoint(trainer: Trainer, kind: str, dest: Path | None) -> DownloadedCheckpoint:
    """The job's `best` or `last` checkpoint (CheckpointNotFound when there is none), verified
    by SHA-256; `dest` defaults to `<work_dir>/checkpoints/<kind>-previous<suffix>`."""
    info: dict[str, Any] = {}

    def fresh() -> str:
        info.update(
            trainer.api.call(
                "GET", f"/checkpoints/{kind}", not_found=trainer.api.checkpoint_not_found
            )
        )
        return urljoin(trainer.config.api_url + "/", str(info["url"]))

    url = fresh()
    suffix = PurePosixPath(urlparse(url).path).suffix
    target = dest or trainer.config.work_dir / "checkpoints" / f"{kind}-previous{suffix}"
    target.parent.mkdir(parents=True, exist_ok=True)
    expected = info.get("sha256")
    for attempt in range(2):
        digest, size = _get_to(trainer, url, target, fresh)
        if expected is None or digest == expected:
            epoch = info.get("epoch")
            return DownloadedCheckpoint(
                target, kind, None if epoch is None else int(epoch), digest, size
            )
        logger.warning("checkpoint %s: SHA-256 mismatch (try %d)", kind, attempt + 1)
        url = fresh()
    target.unlink(missing_ok=True)
    raise StorageError(f"the {kind} checkpoint does not match its SHA-256 {expected}")


def _get_to(trainer: Trainer, url: str, target: Path, fresh: Callable[[], str]) -> tuple[str, int]:
    failures = refreshes = 0
    deadline = time.monotonic() + trainer.config.retry_timeout
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
    try:
        while True:
            problem = ""
            try:
                with trainer.api.storage.stream("GET", url) as response:
                    if response.is_success:
                        digest, size = hashlib.sha256(), 0
                        with tmp.open("wb") as out:
                            for chunk in response.iter_bytes(_CHUNK):
                                digest.update(chunk)
                                out.write(chunk)
                                size += len(chunk)
                        os.replace(tmp, target)
                        return digest.hexdigest(), size
                    if response.status_code == 403 and refreshes < 2:
                        refreshes += 1
                        url = fresh()
                        continue
                    if not is_transient(response.status_code):
                        raise StorageError(f"download failed: HTTP {response.status_code}")
                    problem = f"HTTP {response.status_code}"
            except TRANSIENT_ERRORS as exc:
                problem = f"{type(exc).__name__}: {exc}"
            failures += 1
            delay = backoff_delay(failures)
            if time.monotonic() + delay > deadline:
                raise NetworkError(f"download of {target.name} failed: {problem}")
            time.sleep(delay)
    finally:
        tmp.unlink(missing_ok=True)


class _HashingReader:
    """A file read by httpx for the PUT body, hashed on the way: the SHA-256 reported is that
    of exactly the bytes sent. `fileno` lets httpx send a Content-Length (S3 requires one)."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("rb")
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._file.read(size)
        self.digest.update(chunk)
        self.size += len(chunk)
        return chunk

    def fileno(self) -> int:
        return self._file.fileno()

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(_CHUNK):
            yield chunk

    def close(self) -> None:
        self._file.close()


def _put(trainer: Trainer, path: Path, link: Callable[[], str]) -> tuple[str, int]:
    url = link()
    failures = refreshes = 0
    deadline = time.monotonic() + trainer.config.retry_timeout
    while True:
        body = _HashingReader(path)
        problem = ""
        try:
            response = trainer.api.storage.put(
                url, content=body, headers={"Content-Type": "application/octet-stream"}
            )
        except TRANSIENT_ERRORS as exc:
            problem = f"{type(exc).__name__}: {exc}"
        else:
            if response.is_success:
                return body.digest.hexdigest(), body.size
            if response.status_code == 403 and refreshes < 2:
                refreshes += 1
                url = link()
                continue
            if not is_transient(response.status_code):
                raise StorageError(
                    f"uploading {path} failed: HTTP {response.status_code}: {response.text[:300]}"
                )
            problem = f"HTTP {response.status_code}"
        finally:
            body.close()
        failures += 1
        delay = backoff_delay(failures)
        if time.monotonic() + delay > deadline:
            raise NetworkError(f"uploading {path} failed: {problem}")
        time.sleep(delay)


def _check_name(name: str) -> None:
    parts = name.split("/")
    if not name or name.startswith("/") or "\\" in name or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"output name {name!r} must be a relative POSIX path")


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
