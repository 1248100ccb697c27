"""Datasets in, checkpoints and files out, through presigned links: the trainer holds no
storage credentials, and its token only obtains links for its own dataset's images and for
keys under its own job's outputs."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlparse

from lensforge.sdk.cache import ChecksumMismatch, ImageCache
from lensforge.sdk.dataset import MANIFEST_NAME, LocalDataset, relative_image_path
from lensforge.sdk.errors import DatasetError, NetworkError, StorageError
from lensforge.sdk.http import TRANSIENT_ERRORS, backoff_delay, is_transient

if TYPE_CHECKING:
    from lensforge.sdk.client import Trainer

logger = logging.getLogger("lensforge.sdk")

DOWNLOAD_WORKERS = 8
URL_BATCH = 1000
_CHUNK = 1024 * 1024
_MATERIALISE_ROUNDS = 3


@dataclass(frozen=True)
class DownloadedCheckpoint:
    path: Path
    kind: str
    epoch: int | None
    sha256: str
    size: int


# --- datasets -------------------------------------------------------------------------------------


def download_dataset(trainer: Trainer, dest: Path | None) -> LocalDataset:
    """The job's pinned dataset version on local disk (see `LocalDataset`): its manifest, then
    only the images the cache lacks, 8 at a time, each verified by SHA-256."""
    dataset = trainer.spec()["dataset"]
    version_id, content_hash = str(dataset["version_id"]), str(dataset["content_hash"])
    key = f"{version_id}_{content_hash[:8]}"
    manifest: dict[str, Any] = trainer.api.call("GET", "/dataset/manifest")
    items = manifest.get("items", [])
    hashes: list[str] = []
    seen: set[str] = set()
    for item in items:
        sha = item.get("sha256")
        if not sha:
            raise DatasetError(f"manifest item {item.get('file_name')!r} has no sha256")
        relative_image_path(item)  # refuse unsafe names before writing anything
        if sha not in seen:
            seen.add(sha)
            hashes.append(sha)
    cache = ImageCache(trainer.config.cache_path, trainer.config.cache_max_bytes)
    root = dest or cache.dataset_path(key)
    pinned = set(hashes)
    for _ in range(_MATERIALISE_ROUNDS):
        with cache.locked() as db:
            if dest is None:
                cache.use_dataset(db, key)
            have = cache.present(db, hashes)
            missing = [sha for sha in hashes if sha not in have]
        if missing:
            _download(trainer, cache, missing)
        with cache.locked() as db:
            gone = [sha for sha in hashes if not cache.blob_path(sha).exists()]
            if gone:  # another job evicted some between the two locks: fetch them again
                continue
            for item in items:
                cache.materialise(item["sha256"], root / relative_image_path(item))
            cache.evict(db, pinned=pinned, current=None if dest is not None else key)
        break
    else:
        raise DatasetError("the dataset cache keeps losing images: is it too small?")
    meta = {"version_id": version_id, "content_hash": content_hash}
    tmp = root / f".{MANIFEST_NAME}.tmp"
    tmp.write_text(json.dumps({**manifest, "lensforge": meta}), encoding="utf-8")
    os.replace(tmp, root / MANIFEST_NAME)
    trainer.info(
        f"dataset ready: {len(items)} images ({len(missing)} downloaded) in {root}",
        version_id=version_id,
    )
    return LocalDataset(root, manifest, version_id, content_hash)


class _Links:
    """Presigned GET links for the images, fetched 1000 at a time as the workers reach them,
    and again when storage refuses one (expired) or it is about to expire."""

    def __init__(self, trainer: Trainer, hashes: list[str]) -> None:
        self._trainer = trainer
        self._chunks = [hashes[i : i + URL_BATCH] for i in range(0, len(hashes), URL_BATCH)]
        self._chunk_of = {sha: i // URL_BATCH for i, sha in enumerate(hashes)}
        self._urls: dict[str, str] = {}
        self._valid_until: dict[int, float] = {}
        self._done: set[str] = set()
        self._lock = threading.Lock()

    def get(self, sha: str) -> str:
        with self._lock:
            chunk = self._chunk_of[sha]
            if time.monotonic() >= self._valid_until.get(chunk, 0):
                self._fetch(chunk)
            return self._urls[sha]

    def refresh(self, sha: str, stale: str) -> str:
        with self._lock:
            if self._urls.get(sha) == stale:
                self._fetch(self._chunk_of[sha])
            return self._urls[sha]

    def done(self, sha: str) -> None:
        with self._lock:
            self._done.add(sha)

    def _fetch(self, chunk: int) -> None:
        wanted = [sha for sha in self._chunks[chunk] if sha not in self._done]
        answer = self._trainer.api.call("POST", "/dataset/urls", json={"sha256": wanted})
        urls = answer.get("urls", {})
        lacking = [sha for sha in wanted if sha not in urls]
        if lacking:
            raise DatasetError(
                f"the server gave no link for {len(lacking)} images, e.g. {lacking[0]}"
            )
        base = self._trainer.config.api_url + "/"
        self._urls.update({sha: urljoin(base, url) for sha, url in urls.items()})
        lifetime = float(answer.get("expires_in") or 300)
        # Renew a little early: a link must not expire between being handed out and used.
        self._valid_until[chunk] = time.monotonic() + max(1.0, lifetime * 0.8)


def _download(trainer: Trainer, cache: ImageCache, missing: list[str]) -> None:
    links = _Links(trainer, missing)
    total = len(missing)
    done_count = 0
    done_bytes = 0
    last_report = time.monotonic()
    pool = ThreadPoolExecutor(DOWNLOAD_WORKERS, thread_name_prefix="lensforge-download")
    try:
        futures: dict[Future[int], str] = {
            pool.submit(_fetch_image, trainer, cache, links, sha): sha for sha in missing
        }
        pending = set(futures)
        stored: list[tuple[str, int]] = []
        while pending:
            finished, pending = wait(pending, timeout=5, return_when=FIRST_EXCEPTION)
            for future in finished:
                size = future.result()  # the first failure cancels the rest (finally below)
                stored.append((futures[future], size))
                done_count += 1
                done_bytes += size
            if time.monotonic() - last_report >= 5 or not pending:
                last_report = time.monotonic()
                trainer.info(
                    f"dataset download: {done_count}/{total} images, {done_bytes / 1e6:.1f} MB",
                    done=done_count,
                    total=total,
                )
            if len(stored) >= 1000 or not pending:
                with cache.locked() as db:
                    cache.record(db, stored)
                stored = []
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _fetch_image(trainer: Trainer, cache: ImageCache, links: _Links, sha: str) -> int:
    url = links.get(sha)
    refreshes = mismatches = failures = 0
    deadline = time.monotonic() + trainer.config.retry_timeout
    while True:
        problem = ""
        try:
            with trainer.api.storage.stream("GET", url) as response:
                status = response.status_code
                if response.is_success:
                    size = cache.store(sha, response.iter_bytes(_CHUNK))
                    links.done(sha)
                    return size
                if status == 403 and refreshes < 3:  # the link expired: ask for a new one
                    refreshes += 1
                    url = links.refresh(sha, url)
                    continue
                if not is_transient(status):
                    raise DatasetError(f"image {sha} could not be downloaded: HTTP {status}")
                problem = f"HTTP {status}"
        except ChecksumMismatch as exc:
            mismatches += 1
            if mismatches > 1:
                raise DatasetError(f"{exc} twice: the stored image is corrupt") from exc
            continue
        except TRANSIENT_ERRORS as exc:
            problem = f"{type(exc).__name__}: {exc}"
        failures += 1
        delay = backoff_delay(failures)
        if time.monotonic() + delay > deadline:
            raise NetworkError(f"image {sha} could not be downloaded: {problem}")
        time.sleep(delay)


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
