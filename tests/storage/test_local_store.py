"""What only the local backend promises: its layout, its metadata cache, bounded memory."""

from __future__ import annotations

import hashlib
import io
import os
import tracemalloc
from pathlib import Path

import pytest

from lensforge.storage import InvalidObjectKey, ObjectNotFound, StorageUnavailable
from lensforge.storage.local import LocalObjectStore
from lensforge.storage.signing import PresignSigner
from tests.storage.streams import MiB, generated


def _store(root: Path) -> LocalObjectStore:
    return LocalObjectStore(root, signer=PresignSigner("s" * 48), public_url="http://x/")


def _files(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


def test_objects_are_plain_files_and_list_skips_internal_files(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.put("images/cat.jpg", io.BytesIO(b"meow"), content_type="image/jpeg")
    assert (tmp_path / "images" / "cat.jpg").read_bytes() == b"meow"
    assert [info.key for info in store.list()] == ["images/cat.jpg"]
    # No temp file left behind; the one other file is the object's metadata record.
    internal = [name for name in _files(tmp_path) if name.startswith(".lensforge/")]
    assert len(internal) == 1
    assert internal[0].startswith(".lensforge/meta/")


def test_list_is_in_byte_order_across_folders(tmp_path: Path) -> None:
    store = _store(tmp_path)
    keys = ["a/1", "a-x", "a.txt", "a/b/c", "a/b-c", "a/b.d", "a0", "ab", "é", "z"]
    for key in keys:
        store.put(key, io.BytesIO(b"k"))
    assert [info.key for info in store.list()] == sorted(keys, key=lambda k: k.encode())
    assert [info.key for info in store.list("a/b")] == ["a/b-c", "a/b.d", "a/b/c"]


def test_the_internal_folder_is_reserved(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with pytest.raises(InvalidObjectKey):
        store.put(".lensforge/meta/x", io.BytesIO(b"x"))
    assert list(store.list(".lensforge")) == []


def test_a_key_cannot_also_be_a_folder(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.put("a/b", io.BytesIO(b"1"))
    with pytest.raises(InvalidObjectKey, match="clashes"):
        store.put("a", io.BytesIO(b"2"))
    store.put("c", io.BytesIO(b"3"))
    with pytest.raises(InvalidObjectKey, match="clashes"):
        store.put("c/d", io.BytesIO(b"4"))
    with pytest.raises(ObjectNotFound):
        store.head("a")
    store.delete("a")  # a folder, not an object: nothing happens
    assert store.exists("a/b")
    assert [name for name in _files(tmp_path) if name.startswith(".lensforge/tmp")] == []


def test_symlinks_cannot_lead_out_of_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    store = _store(tmp_path / "root")
    (tmp_path / "root" / "link").symlink_to(outside)
    with pytest.raises(InvalidObjectKey, match="outside"):
        store.open("link/secret")
    with pytest.raises(InvalidObjectKey, match="outside"):
        store.put("link/new", io.BytesIO(b"x"))
    assert not (outside / "new").exists()


def test_delete_prunes_empty_folders(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.put("x/y/z/file", io.BytesIO(b"1"))
    store.put("x/keep", io.BytesIO(b"2"))
    store.delete("x/y/z/file")
    assert not (tmp_path / "x" / "y").exists()
    assert (tmp_path / "x" / "keep").exists()


def test_a_file_changed_behind_the_stores_back_gets_a_fresh_etag(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.put("doc", io.BytesIO(b"version 1"), content_type="text/plain")
    assert store.head("doc").etag == hashlib.md5(b"version 1").hexdigest()
    replacement = tmp_path / "replacement"
    replacement.write_bytes(b"version 2, longer")
    os.replace(replacement, tmp_path / "doc")
    info = store.head("doc")
    assert info.etag == hashlib.md5(b"version 2, longer").hexdigest()
    assert info.size == 17
    # The recorded content type described the old bytes; it is not carried over.
    assert info.content_type == "application/octet-stream"


def test_a_file_placed_by_hand_is_an_object(tmp_path: Path) -> None:
    store = _store(tmp_path)
    (tmp_path / "imported").mkdir()
    (tmp_path / "imported" / "a.bin").write_bytes(b"abc")
    assert [info.key for info in store.list()] == ["imported/a.bin"]
    assert store.head("imported/a.bin").etag == hashlib.md5(b"abc").hexdigest()


def test_put_holds_a_large_stream_in_bounded_memory(tmp_path: Path) -> None:
    store = _store(tmp_path)
    size = 64 * MiB
    tracemalloc.start()
    try:
        info = store.put("big/blob", generated(size, seed=3))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.size == size
    assert (tmp_path / "big" / "blob").stat().st_size == size
    assert peak < 8 * MiB, f"peak {peak / MiB:.1f} MiB while storing {size / MiB:.0f} MiB"


def test_check_reports_an_unusable_root(tmp_path: Path) -> None:
    store = _store(tmp_path / "root")
    store.check()
    for path in sorted((tmp_path / "root").rglob("*"), reverse=True):
        path.rmdir()
    (tmp_path / "root").rmdir()
    (tmp_path / "root").write_text("now a file")
    with pytest.raises(StorageUnavailable):
        store.check()


def test_a_root_that_cannot_be_created_is_reported(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StorageUnavailable, match="cannot be created"):
        _store(tmp_path / "file" / "root")


def test_stale_temp_files_are_swept_at_start(tmp_path: Path) -> None:
    _store(tmp_path)
    stale = tmp_path / ".lensforge" / "tmp" / "put-crashed"
    fresh = tmp_path / ".lensforge" / "tmp" / "put-in-progress"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    old = stale.stat().st_mtime - 2 * 24 * 3600
    os.utime(stale, (old, old))
    _store(tmp_path)
    assert not stale.exists()
    assert fresh.exists()
