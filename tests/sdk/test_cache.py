"""The shared dataset cache: verified writes, LRU eviction, what must never be evicted."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lensforge.sdk.cache import ChecksumMismatch, ImageCache


def chunks_of(path: Path, size: int = 7) -> Iterator[bytes]:
    with path.open("rb") as stream:
        while chunk := stream.read(size):
            yield chunk


@pytest.fixture
def source(tmp_path: Path) -> dict[str, Path]:
    """A local folder standing in for storage: five 100-byte files, by SHA-256."""
    folder = tmp_path / "source"
    folder.mkdir()
    files: dict[str, Path] = {}
    for index in range(5):
        data = bytes([index]) * 100
        path = folder / f"{index}.bin"
        path.write_bytes(data)
        files[hashlib.sha256(data).hexdigest()] = path
    return files


def put(cache: ImageCache, shas: list[str], source: dict[str, Path], times: list[float]) -> None:
    stored = [(sha, cache.store(sha, chunks_of(source[sha]))) for sha in shas]
    with cache.locked() as db:
        cache.record(db, stored)
        db.executemany(
            "UPDATE blobs SET last_access = ? WHERE sha256 = ?", list(zip(times, shas, strict=True))
        )


def cached(cache: ImageCache) -> set[str]:
    return {p.name for p in cache.images.rglob("*") if p.is_file()}


def test_store_verifies_the_sha256_while_streaming(tmp_path: Path, source: dict[str, Path]) -> None:
    cache = ImageCache(tmp_path / "cache", max_bytes=10_000)
    sha = next(iter(source))
    assert cache.store(sha, chunks_of(source[sha])) == 100
    assert cache.blob_path(sha) == tmp_path / "cache" / "images" / sha[:2] / sha
    assert cache.blob_path(sha).read_bytes() == source[sha].read_bytes()

    wrong = "0" * 64
    with pytest.raises(ChecksumMismatch, match=wrong):
        cache.store(wrong, chunks_of(source[sha]))
    assert not cache.blob_path(wrong).exists()
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []  # no half-written leftovers


def test_least_recently_used_blobs_go_first(tmp_path: Path, source: dict[str, Path]) -> None:
    cache = ImageCache(tmp_path / "cache", max_bytes=300)
    a, b, c, d, e = source
    put(cache, [a, b, c, d], source, [1.0, 2.0, 3.0, 4.0])
    with cache.locked() as db:
        assert cache.present(db, [a]) == {a}  # using `a` makes it the most recent
        freed = cache.evict(db, pinned=set(), current=None)
        assert freed == 100
        assert cache.total_bytes(db) == 300
    assert cached(cache) == {a, c, d}

    put(cache, [e], source, [5.0])
    with cache.locked() as db:
        cache.evict(db, pinned={c}, current=None)  # c is oldest now, but pinned
    assert cached(cache) == {a, c, e}


def test_pinned_blobs_are_kept_even_over_the_limit(tmp_path: Path, source: dict[str, Path]) -> None:
    cache = ImageCache(tmp_path / "cache", max_bytes=100)
    shas = list(source)
    put(cache, shas, source, [1.0, 2.0, 3.0, 4.0, 5.0])
    with cache.locked() as db:
        cache.evict(db, pinned=set(shas[:3]), current=None)
        assert cache.total_bytes(db) == 300
    assert cached(cache) == set(shas[:3])


def test_present_notices_missing_and_torn_blobs(tmp_path: Path, source: dict[str, Path]) -> None:
    cache = ImageCache(tmp_path / "cache", max_bytes=10_000)
    a, b, c, *_ = source
    put(cache, [a, b], source, [1.0, 1.0])
    cache.blob_path(b).write_bytes(b"short")  # what a power loss can leave
    with cache.locked() as db:
        assert cache.present(db, [a, b, c]) == {a}
    assert not cache.blob_path(b).exists()


def test_an_unindexed_blob_is_adopted(tmp_path: Path, source: dict[str, Path]) -> None:
    """A job killed after storing but before recording: the file is still good."""
    cache = ImageCache(tmp_path / "cache", max_bytes=10_000)
    sha = next(iter(source))
    cache.store(sha, chunks_of(source[sha]))
    with cache.locked() as db:
        assert cache.total_bytes(db) == 0
        assert cache.present(db, [sha]) == {sha}
        assert cache.total_bytes(db) == 100


def test_materialise_hands_out_verified_private_copies(
    tmp_path: Path, source: dict[str, Path]
) -> None:
    """Never a hard link into the cache: a job changing its files changes no other job's, and
    a blob changed in the cache is refused (and dropped) instead of handed out."""
    cache = ImageCache(tmp_path / "cache", max_bytes=10_000)
    sha = next(iter(source))
    put(cache, [sha], source, [1.0])
    first = tmp_path / "job-1" / "images" / "train" / "cat" / "1.jpg"
    assert cache.materialise(sha, first)
    assert cache.materialise(sha, first)  # idempotent
    assert not os.path.samefile(first, cache.blob_path(sha))
    assert cache.blob_path(sha).stat().st_nlink == 1
    first.write_bytes(b"changed by its job")
    second = tmp_path / "job-2" / "1.jpg"
    assert cache.materialise(sha, second)
    assert second.read_bytes() == source[sha].read_bytes()
    assert cache.materialise(sha, first)  # the changed copy is replaced on the next hand-out
    assert first.read_bytes() == source[sha].read_bytes()

    cache.blob_path(sha).write_bytes(b"x" * 100)  # same size, other bytes
    third = tmp_path / "job-3" / "1.jpg"
    with cache.locked() as db:
        assert cache.materialise_all(db, [(sha, third)]) == [sha]
        assert cache.present(db, [sha]) == set()
    assert not third.exists()
    assert not cache.blob_path(sha).exists()


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_folders_of_finished_jobs_are_evicted_to_free_their_blobs(
    tmp_path: Path, source: dict[str, Path]
) -> None:
    cache = ImageCache(tmp_path / "cache", max_bytes=200)
    a, b, c, d, _ = source
    put(cache, [a, b, c, d], source, [1.0, 2.0, 3.0, 4.0])
    for key, shas in {"old_aaaaaaaa": [a, b], "live_bbbbbbbb": [c]}.items():
        for sha in shas:
            cache.materialise(sha, cache.dataset_path(key) / "images" / "train" / sha)
    with cache.locked() as db:
        cache.use_dataset(db, "old_aaaaaaaa")
        cache.use_dataset(db, "live_bbbbbbbb")
        db.execute(
            "UPDATE datasets SET pid = ?, last_access = 1 WHERE key = 'old_aaaaaaaa'", (dead_pid(),)
        )
        # Linked blobs cannot be freed by deleting the cache's name alone: the old, unused
        # dataset folder goes, then its blobs.
        cache.evict(db, pinned=set(), current=None)
        assert cache.total_bytes(db) == 200
        keys = {row[0] for row in db.execute("SELECT key FROM datasets")}
    assert keys == {"live_bbbbbbbb"}  # this process still uses it
    assert not cache.dataset_path("old_aaaaaaaa").exists()
    assert cached(cache) == {c, d}


def test_the_index_is_plain_sqlite(tmp_path: Path, source: dict[str, Path]) -> None:
    cache = ImageCache(tmp_path / "cache", max_bytes=10_000)
    put(cache, list(source)[:2], source, [1.0, 2.0])
    with sqlite3.connect(tmp_path / "cache" / "index.sqlite3") as db:
        assert db.execute("SELECT COUNT(*), SUM(size) FROM blobs").fetchone() == (2, 200)
