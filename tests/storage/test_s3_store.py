"""What only the S3 backend has to prove: real SigV4, multipart streams, failure mapping."""

from __future__ import annotations

import hashlib
import io
import socket
import tracemalloc

import httpx
import pytest
from pydantic import SecretStr

from lensforge.config import S3StorageSettings
from lensforge.storage import ObjectNotFound, StorageUnavailable
from lensforge.storage.base import SizeMismatch
from lensforge.storage.s3 import S3ObjectStore
from tests.fixtures.s3_server import S3Server
from tests.storage.streams import MiB, generated, sha256_of_generated

pytestmark = pytest.mark.s3


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_wrong_credentials_are_refused(s3_server: S3Server, s3_settings: S3StorageSettings) -> None:
    S3ObjectStore(s3_settings).put("private", io.BytesIO(b"secret"))

    wrong_secret = s3_settings.model_copy(update={"secret_access_key": SecretStr("not-it")})
    impostor = S3ObjectStore(wrong_secret)
    with pytest.raises(StorageUnavailable, match="secret_access_key"):
        impostor.check()
    with pytest.raises(StorageUnavailable):
        impostor.put("private", io.BytesIO(b"overwritten"))
    forged = s3_server.client(secret_key="not-it").generate_presigned_url(
        "get_object", Params={"Bucket": s3_settings.bucket, "Key": "private"}, ExpiresIn=60
    )
    assert httpx.get(forged).status_code == 403

    unknown_key = s3_settings.model_copy(update={"access_key_id": "nobody"})
    with pytest.raises(StorageUnavailable):
        S3ObjectStore(unknown_key).check()

    bucket_url = f"{s3_server.endpoint_url}/{s3_settings.bucket}"
    assert httpx.get(f"{bucket_url}/private").status_code == 403  # unsigned
    assert httpx.put(f"{bucket_url}/other", content=b"x").status_code == 403
    assert S3ObjectStore(s3_settings).open("private").read() == b"secret"


def test_a_large_stream_goes_up_in_parts(s3_settings: S3StorageSettings) -> None:
    store = S3ObjectStore(s3_settings)
    size = 20 * MiB + 5  # above the 8 MiB multipart threshold: three parts
    info = store.put("big/parts.bin", generated(size, seed=11), size=size)
    assert info.size == size
    assert info.etag.endswith("-3")  # S3's multipart etag: md5 of the part md5s, dash, count
    digest = hashlib.sha256()
    for chunk in store.iter_chunks("big/parts.bin"):
        digest.update(chunk)
    assert digest.hexdigest() == sha256_of_generated(size, seed=11)


def test_put_holds_a_large_stream_in_bounded_memory(s3_settings: S3StorageSettings) -> None:
    store = S3ObjectStore(s3_settings)
    store.check()
    size = 128 * MiB
    tracemalloc.start()
    try:
        info = store.put("big/bounded.bin", generated(size, seed=2))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.size == size
    # Parts in flight, not the object: about 50 MiB whatever the size.
    assert peak < 72 * MiB, f"peak {peak / MiB:.1f} MiB while storing {size / MiB:.0f} MiB"


def test_a_short_multipart_stream_stores_nothing(s3_settings: S3StorageSettings) -> None:
    store = S3ObjectStore(s3_settings)
    with pytest.raises(SizeMismatch):
        store.put("big/short.bin", generated(17 * MiB, seed=1), size=17 * MiB + 1)
    assert not store.exists("big/short.bin")
    uploads = store._client.list_multipart_uploads(Bucket=store.bucket)
    assert uploads.get("Uploads", []) == []  # the aborted upload left no parts behind


def test_an_unreachable_server_is_storage_unavailable() -> None:
    settings = S3StorageSettings(
        endpoint_url=f"http://127.0.0.1:{_unused_port()}",
        access_key_id="a",
        secret_access_key=SecretStr("b"),
    )
    store = S3ObjectStore(settings)
    with pytest.raises(StorageUnavailable, match="cannot be reached"):
        store.check()
    with pytest.raises(StorageUnavailable):
        store.head("anything")


def test_a_missing_bucket_is_created_only_when_allowed(s3_settings: S3StorageSettings) -> None:
    strict = s3_settings.model_copy(update={"create_bucket": False})
    with pytest.raises(StorageUnavailable, match="does not exist"):
        S3ObjectStore(strict).check()
    S3ObjectStore(s3_settings).check()  # creates it
    S3ObjectStore(s3_settings).check()  # already there: fine
    S3ObjectStore(strict).check()


def test_open_streams_and_closes(s3_settings: S3StorageSettings) -> None:
    store = S3ObjectStore(s3_settings)
    store.put("s/k", generated(3 * MiB, seed=5))
    with store.open("s/k") as stream:
        assert stream.readable()
        first = stream.read(10)
        assert len(first) == 10
    assert stream.closed
    with pytest.raises(ObjectNotFound):
        store.open("s/missing")
