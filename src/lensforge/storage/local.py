"""Objects as plain files under one root directory.

`<root>/<key>` holds the bytes, so an operator can see and back up objects with ordinary tools.
`<root>/.lensforge/` is reserved: `tmp/` for uploads in progress (same filesystem as the objects,
so `os.replace` is atomic) and `meta/` for a small JSON record per object (etag, content type).

The metadata record is a cache, not a source of truth: it carries the fingerprint (inode, size,
mtime) of the file it describes, and a record that does not match the file on disk is ignored and
rebuilt by hashing the file. A file copied in by hand, restored from a backup or replaced by a
racing writer therefore still gets a correct etag; only its content type falls back to the
default. Keeping records out of the object tree means no key can collide with them and `list`
never has to filter them out.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, urlencode

from lensforge.storage.base import (
    DEFAULT_CONTENT_TYPE,
    MAX_PRESIGN_SECONDS,
    InvalidObjectKey,
    ObjectInfo,
    ObjectNotFound,
    SizeMismatch,
    StorageUnavailable,
    validate_expires_in,
    validate_key,
)
from lensforge.storage.signing import PresignSigner, get_extra, put_extra

# Where `lensforge.storage.api` is mounted; storage may not import the app, so it is spelled here.
PRESIGN_PATH = "/api/v1/storage/objects/"
CHUNK_SIZE = 1024 * 1024
_INTERNAL = ".lensforge"
_STALE_TEMP_SECONDS = 24 * 3600


class LocalObjectStore:
    def __init__(
        self,
        root: Path,
        *,
        signer: PresignSigner,
        public_url: str,
        max_expires_in: int = MAX_PRESIGN_SECONDS,
    ) -> None:
        self.signer = signer
        self.public_url = public_url.rstrip("/")
        self._max_expires_in = max_expires_in
        try:
            for folder in (root, root / _INTERNAL / "tmp", root / _INTERNAL / "meta"):
                folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageUnavailable(
                f"local storage root {root} cannot be created: {exc}", details={"root": str(root)}
            ) from exc
        # Resolved once: containment checks compare resolved paths (the root may be a symlink).
        self.root = root.resolve()
        self._tmp = self.root / _INTERNAL / "tmp"
        self._meta = self.root / _INTERNAL / "meta"
        self._sweep_stale_temp_files()

    # -- writing ---------------------------------------------------------------------------

    def put(
        self,
        key: str,
        stream: BinaryIO,
        *,
        size: int | None = None,
        content_type: str | None = None,
    ) -> ObjectInfo:
        path = self._path(key)
        content_type = content_type or DEFAULT_CONTENT_TYPE
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix="put-")
        tmp = Path(tmp_name)
        try:
            digest = hashlib.md5(usedforsecurity=False)
            written = 0
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK_SIZE):
                    written += len(chunk)
                    if size is not None and written > size:
                        raise _size_mismatch(key, size, written)
                    digest.update(chunk)
                    out.write(chunk)
                if size is not None and written != size:
                    raise _size_mismatch(key, size, written)
                out.flush()
                os.fsync(out.fileno())
                stat = os.fstat(out.fileno())
            etag = digest.hexdigest()
            # Record first, then publish the bytes: a reader never sees new bytes with an old
            # record (a record without its bytes is ignored thanks to the fingerprint).
            self._write_meta(key, etag, content_type, stat)
            self._publish(tmp, path, key)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return ObjectInfo(key, written, etag, _mtime(stat), content_type)

    def copy(self, source_key: str, destination_key: str) -> ObjectInfo:
        self._path(destination_key)
        source, info = self.open_with_info(source_key)
        with source:
            return self.put(destination_key, source, size=info.size, content_type=info.content_type)

    def delete(self, key: str) -> None:
        path = self._path(key)
        # Missing, or a "folder" of other keys: either way there is no object by this name.
        with contextlib.suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError):
            path.unlink()
        self._meta_path(key).unlink(missing_ok=True)
        self._prune_empty_parents(path.parent)

    # -- reading ---------------------------------------------------------------------------

    def open(self, key: str) -> BinaryIO:
        return self._open(key, self._path(key))

    def open_with_info(self, key: str) -> tuple[BinaryIO, ObjectInfo]:
        """An open stream and the metadata of exactly the bytes it will read.

        Stat-ing the open file (not the path) keeps the two consistent even if the key is
        replaced meanwhile; the download route relies on it for Content-Length.
        """
        handle = self._open(key, self._path(key))
        try:
            return handle, self._describe(key, handle)
        except BaseException:
            handle.close()
            raise

    def iter_chunks(self, key: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        handle = self.open(key)  # eagerly, so a missing key raises here and not at first next()
        return _read_chunks(handle, chunk_size)

    def head(self, key: str) -> ObjectInfo:
        with self._open(key, self._path(key)) as handle:
            return self._describe(key, handle)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        folder, _, name_prefix = prefix.rpartition("/")
        if folder:
            try:
                self._path(folder)
            except InvalidObjectKey:
                return  # no valid key can start with this prefix
            yield from self._walk(self.root / folder, folder + "/", name_prefix)
        else:
            yield from self._walk(self.root, "", name_prefix)

    # -- links and health ------------------------------------------------------------------

    def presign_get(self, key: str, *, expires_in: int, filename: str | None = None) -> str:
        params = {} if filename is None else {"filename": filename}
        return self._presign("GET", key, expires_in, get_extra(filename), params)

    def presign_put(self, key: str, *, expires_in: int, content_type: str | None = None) -> str:
        params = {} if content_type is None else {"content_type": content_type}
        return self._presign("PUT", key, expires_in, put_extra(content_type), params)

    def check(self) -> None:
        try:
            fd, name = tempfile.mkstemp(dir=self._tmp, prefix="check-")
            os.close(fd)
            os.unlink(name)
        except OSError as exc:
            raise StorageUnavailable(
                f"local storage root {self.root} is not a writable directory: {exc}"
            ) from exc

    # -- internals -------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        validate_key(key)
        if key.split("/", 1)[0] == _INTERNAL:
            raise InvalidObjectKey(
                f"keys under {_INTERNAL}/ are reserved by the local backend", details={"key": key}
            )
        path = self.root / key
        # validate_key rules out '..'; a symlink planted inside the root must not lead out either.
        if not path.resolve().is_relative_to(self.root):
            raise InvalidObjectKey(
                "object key leads outside the storage root", details={"key": key}
            )
        return path

    def _open(self, key: str, path: Path) -> BinaryIO:
        try:
            return path.open("rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise ObjectNotFound(f"no object {key!r}", details={"key": key}) from exc
        except OSError as exc:
            raise StorageUnavailable(f"cannot read object {key!r}: {exc}") from exc

    def _publish(self, tmp: Path, path: Path, key: str) -> None:
        for _attempt in range(3):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, path)
            except FileNotFoundError:
                continue  # a concurrent delete pruned the fresh parent folder; make it again
            except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
                raise InvalidObjectKey(
                    f"key {key!r} clashes with an existing key: on the local backend a key "
                    "cannot also be the folder of other keys",
                    details={"key": key},
                ) from exc
            _fsync_dir(path.parent)
            return
        raise StorageUnavailable(f"could not publish object {key!r}: its folder keeps vanishing")

    def _describe(self, key: str, handle: BinaryIO) -> ObjectInfo:
        stat = os.fstat(handle.fileno())
        record = self._read_meta(key, stat)
        if record is None:
            etag = _md5_of(handle)
            content_type = DEFAULT_CONTENT_TYPE
            with contextlib.suppress(OSError):  # only a cache; the next reader hashes again
                self._write_meta(key, etag, content_type, stat)
        else:
            etag, content_type = record
        return ObjectInfo(key, stat.st_size, etag, _mtime(stat), content_type)

    def _walk(self, folder: Path, key_prefix: str, name_prefix: str) -> Iterator[ObjectInfo]:
        try:
            with os.scandir(folder) as scan:
                entries = [entry for entry in scan if entry.name.startswith(name_prefix)]
        except (FileNotFoundError, NotADirectoryError):
            return
        # A folder sorts as "name/": its keys all start so, which gives global key order
        # ("a-b" < "a/c" < "a0") while holding only one folder's entries per level in memory.
        tagged = [(_sort_name(entry), entry) for entry in entries]
        tagged.sort(key=lambda pair: pair[0])
        for sort_name, entry in tagged:
            if not key_prefix and entry.name == _INTERNAL:
                continue
            key = key_prefix + entry.name
            if sort_name.endswith("/"):
                yield from self._walk(Path(entry.path), key + "/", "")
            elif entry.is_file(follow_symlinks=False):
                try:
                    with open(entry.path, "rb") as handle:
                        info = self._describe(key, handle)
                except FileNotFoundError:
                    continue  # deleted while we walked
                # Parity with S3, whose listing does not carry content types.
                yield ObjectInfo(key, info.size, info.etag, info.last_modified)

    def _meta_path(self, key: str) -> Path:
        # Hashed names: a key's record can never clash with another key's record or folder.
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self._meta / digest[:2] / f"{digest}.json"

    def _read_meta(self, key: str, stat: os.stat_result) -> tuple[str, str] | None:
        try:
            record = json.loads(self._meta_path(key).read_bytes())
            if record["key"] == key and record["fingerprint"] == _fingerprint(stat):
                return str(record["etag"]), str(record["content_type"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
        return None

    def _write_meta(self, key: str, etag: str, content_type: str, stat: os.stat_result) -> None:
        path = self._meta_path(key)
        path.parent.mkdir(exist_ok=True)
        record = {
            "key": key,
            "etag": etag,
            "content_type": content_type,
            "fingerprint": _fingerprint(stat),
        }
        fd, tmp = tempfile.mkstemp(dir=self._tmp, prefix="meta-")
        try:
            with os.fdopen(fd, "w") as out:
                json.dump(record, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _prune_empty_parents(self, folder: Path) -> None:
        while folder != self.root and folder.is_relative_to(self.root):
            try:
                folder.rmdir()
            except OSError:
                return  # not empty (or already gone): stop climbing
            folder = folder.parent

    def _presign(
        self, method: str, key: str, expires_in: int, extra: str, params: dict[str, str]
    ) -> str:
        self._path(key)
        # Rounded up so a link lives at least `expires_in` seconds.
        expires = math.ceil(time.time()) + validate_expires_in(expires_in, self._max_expires_in)
        query = {
            "method": method,
            "expires": str(expires),
            **params,
            "signature": self.signer.sign(method, key, expires, extra),
        }
        return f"{self.public_url}{PRESIGN_PATH}{quote(key, safe='/')}?{urlencode(query)}"

    def _sweep_stale_temp_files(self) -> None:
        # Leftovers of a crash mid-upload. Only old ones: another process may share this root.
        cutoff = time.time() - _STALE_TEMP_SECONDS
        try:
            with os.scandir(self._tmp) as scan:
                for entry in scan:
                    if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                        Path(entry.path).unlink(missing_ok=True)
        except OSError:
            pass  # best effort; check() reports a root that is really unusable


def _read_chunks(handle: BinaryIO, chunk_size: int) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(chunk_size):
            yield chunk


def _md5_of(handle: BinaryIO) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    handle.seek(0)
    while chunk := handle.read(CHUNK_SIZE):
        digest.update(chunk)
    handle.seek(0)
    return digest.hexdigest()


def _sort_name(entry: os.DirEntry[str]) -> str:
    return entry.name + "/" if entry.is_dir(follow_symlinks=False) else entry.name


def _fingerprint(stat: os.stat_result) -> list[int]:
    # os.replace keeps inode and mtime, so the record written for the temp file still matches.
    return [stat.st_ino, stat.st_size, stat.st_mtime_ns]


def _mtime(stat: os.stat_result) -> datetime:
    return datetime.fromtimestamp(stat.st_mtime_ns / 1e9, tz=UTC)


def _size_mismatch(key: str, expected: int, got: int) -> SizeMismatch:
    return SizeMismatch(
        f"object {key!r} was announced as {expected} bytes but the stream held "
        f"{'more' if got > expected else got}",
        details={"key": key, "expected": expected},
    )


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; not every platform can open a directory for this.
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
