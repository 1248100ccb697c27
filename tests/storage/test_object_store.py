"""The ObjectStore contract, run unchanged against the local backend and a real S3 server."""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import BinaryIO
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from lensforge.errors import BadRequest
from lensforge.storage import InvalidObjectKey, ObjectNotFound, ObjectStore
from lensforge.storage.base import SizeMismatch
from lensforge.storage.local import LocalObjectStore
from tests.storage.streams import MiB, generated, sha256_of_generated


def _read_all(stream: BinaryIO) -> bytes:
    with stream:
        return stream.read()


def _put(store: ObjectStore, key: str, data: bytes, content_type: str | None = None) -> None:
    store.put(key, io.BytesIO(data), size=len(data), content_type=content_type)


def _error_code(response: httpx.Response) -> str | None:
    if response.headers.get("content-type", "").startswith("application/json"):
        code: str = response.json()["error"]["code"]
        return code
    return None  # S3 answers in XML


def _refused(store: ObjectStore, response: httpx.Response, code: str) -> None:
    assert response.status_code == 403, response.text
    if isinstance(store, LocalObjectStore):
        assert _error_code(response) == code


def _flip_last(value: str) -> str:
    return value[:-1] + ("0" if value[-1] != "0" else "1")


def _with_flipped_signature(url: str) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    flipped = [
        (name, _flip_last(value) if name in ("signature", "X-Amz-Signature") else value)
        for name, value in query
    ]
    return urlunsplit(parts._replace(query=urlencode(flipped)))


def test_a_multi_chunk_stream_round_trips(store: ObjectStore) -> None:
    size = 5 * MiB + 17
    info = store.put("data/big.bin", generated(size, seed=1), content_type="application/x-test")
    assert info.key == "data/big.bin"
    assert info.size == size

    digest = hashlib.sha256()
    with store.open("data/big.bin") as stream:
        while chunk := stream.read(MiB):
            digest.update(chunk)
    assert digest.hexdigest() == sha256_of_generated(size, seed=1)

    chunks = list(store.iter_chunks("data/big.bin", chunk_size=MiB))
    assert [len(chunk) for chunk in chunks] == [MiB] * 5 + [17]
    assert hashlib.sha256(b"".join(chunks)).hexdigest() == digest.hexdigest()


def test_head_reports_size_etag_type_and_time(store: ObjectStore) -> None:
    before = datetime.now(UTC) - timedelta(minutes=1)
    written = store.put("notes/hello.txt", io.BytesIO(b"hello"), content_type="text/plain")
    info = store.head("notes/hello.txt")
    assert info.size == 5
    assert info.content_type == "text/plain"
    # A single-part object's etag is its MD5 on both backends.
    assert info.etag == written.etag == hashlib.md5(b"hello").hexdigest()
    assert store.head("notes/hello.txt").etag == info.etag
    assert before < info.last_modified < datetime.now(UTC) + timedelta(minutes=1)


def test_content_type_defaults_to_octet_stream(store: ObjectStore) -> None:
    _put(store, "blob", b"\x00\x01")
    assert store.head("blob").content_type == "application/octet-stream"


def test_put_replaces_an_object(store: ObjectStore) -> None:
    _put(store, "k", b"first")
    first = store.head("k").etag
    _put(store, "k", b"second!")
    assert _read_all(store.open("k")) == b"second!"
    assert store.head("k").size == 7
    assert store.head("k").etag != first


def test_exists(store: ObjectStore) -> None:
    assert not store.exists("x/y")
    _put(store, "x/y", b"1")
    assert store.exists("x/y")
    assert not store.exists("x")


def test_list_by_prefix_in_key_order(store: ObjectStore) -> None:
    keys = ["a/2", "ab", "a/b/c", "b/1", "a/c", "a/1", "a/b/d", "a/b0"]
    for index, key in enumerate(keys):
        _put(store, key, b"x" * (index + 1))

    def listed(prefix: str) -> list[str]:
        return [info.key for info in store.list(prefix)]

    assert listed("") == ["a/1", "a/2", "a/b/c", "a/b/d", "a/b0", "a/c", "ab", "b/1"]
    assert listed("a/") == ["a/1", "a/2", "a/b/c", "a/b/d", "a/b0", "a/c"]
    assert listed("a/b") == ["a/b/c", "a/b/d", "a/b0"]
    assert listed("a") == ["a/1", "a/2", "a/b/c", "a/b/d", "a/b0", "a/c", "ab"]
    assert listed("b/1") == ["b/1"]
    assert listed("c") == []
    assert listed("../") == []

    by_key = {info.key: info for info in store.list("a/b/")}
    assert by_key["a/b/c"].size == 3
    assert by_key["a/b/c"].etag == store.head("a/b/c").etag


def test_list_finds_keys_whose_names_sort_before_the_slash(store: ObjectStore) -> None:
    # Byte order puts "a-x" and "a.txt" before "a/1"; folder-walking S3 servers (SeaweedFS)
    # list "a/" first. Either way every key is listed exactly once (see storage/README.md).
    keys = ["a/1", "a-x", "a.txt", "a/b/c", "a/b-c", "a0"]
    for key in keys:
        _put(store, key, b"k")
    listed = [info.key for info in store.list("a")]
    assert sorted(listed) == sorted(keys)
    assert len(listed) == len(keys)


def test_delete_is_idempotent(store: ObjectStore) -> None:
    _put(store, "d/one", b"1")
    _put(store, "d/two", b"2")
    store.delete("d/one")
    store.delete("d/one")
    store.delete("never/there")
    assert not store.exists("d/one")
    assert [info.key for info in store.list("d/")] == ["d/two"]
    with pytest.raises(ObjectNotFound):
        store.head("d/one")


def test_copy(store: ObjectStore) -> None:
    size = 2 * MiB + 3
    store.put("src/a.bin", generated(size, seed=7), content_type="image/png")
    info = store.copy("src/a.bin", "dst/b.bin")
    assert info.key == "dst/b.bin"
    assert info.size == size
    assert store.head("dst/b.bin").content_type == "image/png"
    digest = hashlib.sha256(b"".join(store.iter_chunks("dst/b.bin"))).hexdigest()
    assert digest == sha256_of_generated(size, seed=7)
    assert store.exists("src/a.bin")


def test_a_missing_key_raises_object_not_found(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound):
        store.head("missing/key")
    with pytest.raises(ObjectNotFound):
        store.open("missing/key")
    with pytest.raises(ObjectNotFound):
        store.iter_chunks("missing/key")
    with pytest.raises(ObjectNotFound):
        store.copy("missing/key", "somewhere")


@pytest.mark.parametrize("key", ["../x", "/abs", "a//b", "a\\b", "", "a/./b", "a/", "a/../b"])
def test_invalid_keys_are_refused(store: ObjectStore, key: str) -> None:
    _put(store, "valid", b"v")
    operations: list[Callable[[], object]] = [
        lambda: store.put(key, io.BytesIO(b"x")),
        lambda: store.open(key),
        lambda: store.head(key),
        lambda: store.exists(key),
        lambda: store.delete(key),
        lambda: store.copy("valid", key),
        lambda: store.copy(key, "valid2"),
        lambda: store.presign_get(key, expires_in=60),
        lambda: store.presign_put(key, expires_in=60),
    ]
    for operation in operations:
        with pytest.raises(InvalidObjectKey):
            operation()


def test_a_wrong_size_stores_nothing(store: ObjectStore) -> None:
    _put(store, "sized", b"old")
    with pytest.raises(SizeMismatch):
        store.put("sized", io.BytesIO(b"12345"), size=10)
    with pytest.raises(SizeMismatch):
        store.put("sized", io.BytesIO(b"12345"), size=3)
    with pytest.raises(SizeMismatch):
        store.put("other", io.BytesIO(b"12345"), size=4)
    assert _read_all(store.open("sized")) == b"old"
    assert not store.exists("other")


def test_a_failing_stream_stores_nothing(store: ObjectStore) -> None:
    class Broken(io.RawIOBase):
        sent = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            if self.sent >= 3 * MiB:
                raise OSError("connection reset by peer")
            self.sent += len(buffer)
            buffer[:] = b"\x07" * len(buffer)
            return len(buffer)

    _put(store, "victim", b"intact")
    with pytest.raises(OSError, match="connection reset"):
        store.put("victim", io.BufferedReader(Broken()))
    assert _read_all(store.open("victim")) == b"intact"


def test_check_passes(store: ObjectStore) -> None:
    store.check()


# -- presigned links ---------------------------------------------------------------------------


def test_presigned_get(store: ObjectStore) -> None:
    _put(store, "shared/photo.jpg", b"\xff\xd8jpeg bytes", content_type="image/jpeg")
    response = httpx.get(store.presign_get("shared/photo.jpg", expires_in=60))
    assert response.status_code == 200, response.text
    assert response.content == b"\xff\xd8jpeg bytes"
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["content-length"] == "12"


def test_presigned_get_with_a_download_name(store: ObjectStore) -> None:
    _put(store, "exports/7f3a", b"weights")
    url = store.presign_get("exports/7f3a", expires_in=60, filename='best "model" é.pt')
    response = httpx.get(url)
    assert response.status_code == 200, response.text
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''best%20%22model%22%20%C3%A9.pt" in disposition
    # The name is part of the signature: it cannot be swapped for another.
    forged = url.replace("best", "evil")
    assert forged != url
    assert httpx.get(forged).status_code == 403


def test_presigned_put(store: ObjectStore) -> None:
    url = store.presign_put("uploads/one.bin", expires_in=60)
    data = b"".join([b"abc" * 1000, b"\x00" * 5000])
    response = httpx.put(url, content=data)
    assert response.status_code == 200, response.text
    assert response.headers["etag"].strip('"') == hashlib.md5(data).hexdigest()
    assert _read_all(store.open("uploads/one.bin")) == data


def test_presigned_put_binds_the_content_type(store: ObjectStore) -> None:
    url = store.presign_put("uploads/img.png", expires_in=60, content_type="image/png")
    wrong = httpx.put(url, content=b"<script>", headers={"Content-Type": "text/html"})
    assert wrong.status_code == 403
    assert not store.exists("uploads/img.png")
    right = httpx.put(url, content=b"\x89PNG", headers={"Content-Type": "image/png"})
    assert right.status_code == 200, right.text
    assert store.head("uploads/img.png").content_type == "image/png"


def test_an_expired_link_is_refused(store: ObjectStore) -> None:
    _put(store, "old/news", b"yesterday")
    get_url = store.presign_get("old/news", expires_in=1)
    put_url = store.presign_put("old/news", expires_in=1)
    time.sleep(2.5)
    _refused(store, httpx.get(get_url), "presign_expired")
    _refused(store, httpx.put(put_url, content=b"overwritten"), "presign_expired")
    assert _read_all(store.open("old/news")) == b"yesterday"


def test_a_tampered_link_is_refused(store: ObjectStore) -> None:
    _put(store, "t/mine", b"mine")
    _put(store, "t/yours", b"yours")
    url = store.presign_get("t/mine", expires_in=60)
    assert httpx.get(url).status_code == 200
    _refused(store, httpx.get(url.replace("/t/mine", "/t/yours")), "presign_invalid")
    _refused(store, httpx.get(_with_flipped_signature(url)), "presign_invalid")


def test_a_put_link_writes_only_its_own_key(store: ObjectStore) -> None:
    url = store.presign_put("in/allowed", expires_in=60)
    _refused(
        store, httpx.put(url.replace("/in/allowed", "/in/other"), content=b"x"), "presign_invalid"
    )
    assert not store.exists("in/other")
    assert httpx.put(url, content=b"x").status_code == 200
    assert store.exists("in/allowed")


def test_links_grant_only_their_method(store: ObjectStore) -> None:
    _put(store, "m/k", b"keep")
    get_url = store.presign_get("m/k", expires_in=60)
    put_url = store.presign_put("m/k", expires_in=60)
    assert httpx.put(get_url, content=b"changed").status_code == 403
    assert httpx.get(put_url).status_code == 403
    assert _read_all(store.open("m/k")) == b"keep"


@pytest.mark.parametrize("expires_in", [0, -5, 8 * 24 * 3600])
def test_link_lifetimes_are_bounded(store: ObjectStore, expires_in: int) -> None:
    with pytest.raises(BadRequest, match="expire within") as raised:
        store.presign_get("k", expires_in=expires_in)
    assert getattr(raised.value, "code", None) == "invalid_expiry"
