"""The dataset cache shared by every job on a machine (`LENSFORGE_CACHE_DIR`).

    images/<aa>/<sha256>        each image once, content-addressed: versions share files
    datasets/<version>_<hash8>/ materialised versions: manifest.json + verified copies of blobs
    index.sqlite3               blob sizes and last-access times; dataset folders and their users
    .lock                       flock held while the index or the folders change

Blobs are written to `tmp/` while their SHA-256 is computed, and renamed into place only when
it matches. What a job receives is a copy (a copy-on-write clone where the file system can),
checked against its SHA-256 as it is made: a blob changed since (by another job sharing the
cache) is dropped and fetched again, and a job changing its own files changes nothing else.
The worker gives each organization a cache of its own (`LENSFORGE_DATASET_CACHE_DIR`) and each
attempt its own dataset folder (`LENSFORGE_DATASET_DIR`).

Eviction, when the blobs exceed `max_bytes`, in least-recently-used order over two kinds of
things: blobs that deleting would free (not of the dataset being downloaded, not linked from a
dataset folder: deleting a linked one frees nothing), and dataset folders no running job uses
(its recorded process has ended; a folder recorded by another host counts as used for a day).
Removing a folder frees the blobs only it held. Folders materialised at an explicit `dest`
are the caller's: their links keep blobs alive, and they are never removed here.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from lensforge.sdk.errors import DatasetError

try:
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS blobs ("
    " sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL, last_access REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS blobs_last_access ON blobs (last_access)",
    "CREATE TABLE IF NOT EXISTS datasets ("
    " key TEXT PRIMARY KEY, last_access REAL NOT NULL, host TEXT, pid INTEGER)",
)
_OTHER_HOST_IN_USE_SECONDS = 24 * 3600


class ChecksumMismatch(DatasetError):
    """The bytes received do not hash to the name they were asked for."""


class ImageCache:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.images = root / "images"
        self.datasets = root / "datasets"
        self._tmp = root / "tmp"
        for folder in (self.images, self.datasets, self._tmp):
            folder.mkdir(parents=True, exist_ok=True)
        self._index = root / "index.sqlite3"
        self._thread_lock = threading.Lock()
        with self.locked() as db:
            for statement in _SCHEMA:
                db.execute(statement)

    def blob_path(self, sha256: str) -> Path:
        return self.images / sha256[:2] / sha256

    def dataset_path(self, key: str) -> Path:
        return self.datasets / key

    @contextmanager
    def locked(self) -> Iterator[sqlite3.Connection]:
        """Exclusive use of the index and folders, across threads and processes."""
        with self._thread_lock, open(self.root / ".lock", "a+b") as lock:
            if fcntl is not None:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            with closing(sqlite3.connect(self._index, timeout=60)) as db, db:
                yield db

    # --- blobs ----------------------------------------------------------------------------------

    def store(self, sha256: str, chunks: Iterable[bytes]) -> int:
        """Write a blob from `chunks`, verifying its SHA-256; return its size. Raises
        ChecksumMismatch (and keeps nothing) when the bytes are not those of `sha256`.
        Not recorded in the index: call `record` (any thread may call this)."""
        final = self.blob_path(sha256)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._tmp / f"{sha256}.{uuid.uuid4().hex}.part"
        digest = hashlib.sha256()
        size = 0
        try:
            with tmp.open("wb") as out:
                for chunk in chunks:
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            if digest.hexdigest() != sha256:
                raise ChecksumMismatch(
                    f"image {sha256} arrived with SHA-256 {digest.hexdigest()} ({size} bytes)"
                )
            os.replace(tmp, final)  # atomic; a concurrent job storing it too wrote the same bytes
        finally:
            tmp.unlink(missing_ok=True)
        return size

    def record(self, db: sqlite3.Connection, blobs: Iterable[tuple[str, int]]) -> None:
        now = time.time()
        db.executemany(
            "INSERT INTO blobs (sha256, size, last_access) VALUES (?, ?, ?) "
            "ON CONFLICT (sha256) DO UPDATE SET size = excluded.size, last_access = ?",
            [(sha, size, now, now) for sha, size in blobs],
        )

    def present(self, db: sqlite3.Connection, hashes: Iterable[str]) -> set[str]:
        """The blobs of `hashes` already cached (intact), marked as just used."""
        wanted = list(hashes)
        sizes: dict[str, int] = {}
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            marks = ",".join("?" * len(part))
            query = f"SELECT sha256, size FROM blobs WHERE sha256 IN ({marks})"  # noqa: S608
            sizes.update(db.execute(query, part).fetchall())
        found: list[tuple[str, int]] = []
        for sha in wanted:
            try:
                size = self.blob_path(sha).stat().st_size
            except FileNotFoundError:
                continue
            if sha in sizes and sizes[sha] != size:
                self.blob_path(sha).unlink(missing_ok=True)  # torn by a crash: fetch again
                continue
            found.append((sha, size))
        self.record(db, found)
        return {sha for sha, _ in found}

    def total_bytes(self, db: sqlite3.Connection) -> int:
        return int(db.execute("SELECT COALESCE(SUM(size), 0) FROM blobs").fetchone()[0])

    # --- dataset folders ------------------------------------------------------------------------

    def use_dataset(self, db: sqlite3.Connection, key: str) -> None:
        """Mark the folder `key` as used now, by this process (so no other job removes it)."""
        db.execute(
            "INSERT INTO datasets (key, last_access, host, pid) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET last_access = excluded.last_access, "
            "host = excluded.host, pid = excluded.pid",
            (key, time.time(), socket.gethostname(), os.getpid()),
        )

    def evict(self, db: sqlite3.Connection, *, pinned: set[str], current: str | None) -> int:
        """Bring the blobs under `max_bytes` (see the module doc); return the bytes freed."""
        start = total = self.total_bytes(db)
        if total <= self.max_bytes:
            return 0
        folders = sorted(
            (last_access, key)
            for key, host, pid, last_access in db.execute(
                "SELECT key, host, pid, last_access FROM datasets"
            ).fetchall()
            if key != current and not _in_use(host, pid, last_access)
        )
        blobs = self._evictable(db, pinned)
        candidate = next(blobs, None)
        while total > self.max_bytes:
            if folders and (candidate is None or folders[0][0] <= candidate[2]):
                # A folder unused for longer than the oldest free blob: it goes first, and the
                # blobs only it held become free (the scan restarts to see them).
                _, key = folders.pop(0)
                shutil.rmtree(self.dataset_path(key), ignore_errors=True)
                db.execute("DELETE FROM datasets WHERE key = ?", (key,))
                blobs = self._evictable(db, pinned)
                candidate = next(blobs, None)
                continue
            if candidate is None:
                break  # everything left is pinned or in use
            sha, size, _ = candidate
            self.blob_path(sha).unlink(missing_ok=True)
            db.execute("DELETE FROM blobs WHERE sha256 = ?", (sha,))
            total -= size
            candidate = next(blobs, None)
        return start - total

    def _evictable(
        self, db: sqlite3.Connection, pinned: set[str]
    ) -> Iterator[tuple[str, int, float]]:
        """Blobs that deleting would free, least recently used first: not pinned, and not
        linked from a dataset folder (a second link keeps the data on disk)."""
        rows = db.execute(
            "SELECT sha256, size, last_access FROM blobs ORDER BY last_access, sha256"
        )
        for sha, size, last_access in rows.fetchall():
            if sha in pinned:
                continue
            try:
                if self.blob_path(sha).stat().st_nlink > 1:
                    continue
            except FileNotFoundError:
                pass  # already gone: only the row is left to drop
            yield sha, size, last_access

    def materialise(self, sha256: str, target: Path) -> bool:
        """`target` becomes a private copy of the blob, checked against its SHA-256; False
        (and nothing written) when the blob's bytes are not those of `sha256`.

        Never a hard link: a job's dataset files are its own, so one job changing them cannot
        change the cache or what another job receives. A copy-on-write clone when the file
        system can make one (no disk used), else a byte copy. An existing `target` with the
        right content is kept."""
        if _sha256_of(target) == sha256:
            return True
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        try:
            _clone_or_copy(self.blob_path(sha256), tmp)
            if _sha256_of(tmp) != sha256:
                return False
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return True

    def materialise_all(
        self, db: sqlite3.Connection, pairs: Iterable[tuple[str, Path]]
    ) -> list[str]:
        """Materialise each (sha256, target); return the blobs that failed their check, after
        dropping them from the cache (the caller fetches them again)."""
        altered: list[str] = []
        for sha, target in pairs:
            if not self.materialise(sha, target):
                altered.append(sha)
                self.blob_path(sha).unlink(missing_ok=True)
        db.executemany("DELETE FROM blobs WHERE sha256 = ?", [(sha,) for sha in altered])
        return altered


_FICLONE = 0x40049409  # Linux: share the source's extents (btrfs, XFS, bcachefs)
_HASH_CHUNK = 1024 * 1024


def _clone_or_copy(source: Path, target: Path) -> None:
    with source.open("rb") as src, target.open("wb") as dst:
        if fcntl is not None:
            try:
                fcntl.ioctl(dst.fileno(), _FICLONE, src.fileno())
                return
            except OSError:
                pass  # not supported here: copy the bytes
        shutil.copyfileobj(src, dst, _HASH_CHUNK)


def _sha256_of(path: Path) -> str | None:
    try:
        with path.open("rb") as stream:
            return hashlib.file_digest(stream, "sha256").hexdigest()
    except FileNotFoundError:
        return None


def _in_use(host: str | None, pid: int | None, last_access: float) -> bool:
    if host != socket.gethostname():
        return time.time() - last_access < _OTHER_HOST_IN_USE_SECONDS
    if pid is None or pid == os.getpid():
        return pid is not None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
