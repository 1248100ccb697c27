"""`download_dataset`: the job's pinned dataset version onto local disk, through presigned
links for exactly its images (the trainer holds no storage credentials), into the shared cache
(`cache.py`)."""

from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from lensforge.sdk.cache import ChecksumMismatch, ImageCache
from lensforge.sdk.dataset import MANIFEST_NAME, LocalDataset, relative_image_path
from lensforge.sdk.errors import DatasetError, NetworkError
from lensforge.sdk.http import TRANSIENT_ERRORS, backoff_delay, is_transient

if TYPE_CHECKING:
    from lensforge.sdk.client import Trainer

DOWNLOAD_WORKERS = 8
URL_BATCH = 1000
_CHUNK = 1024 * 1024
_MATERIALISE_ROUNDS = 3


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
    cache = ImageCache(trainer.config.image_cache_path, trainer.config.cache_max_bytes)
    dest = dest or trainer.config.dataset_dir
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
            # Each file is a copy checked against its SHA-256 (see ImageCache.materialise): a
            # blob changed in the cache (by another job) is dropped and fetched again.
            altered = cache.materialise_all(
                db, [(item["sha256"], root / relative_image_path(item)) for item in items]
            )
            if altered:
                trainer.warning(
                    f"{len(altered)} cached images did not match their SHA-256; fetching them "
                    "again",
                    example=altered[0],
                )
                continue
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
