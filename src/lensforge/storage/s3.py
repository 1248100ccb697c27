"""Objects in one bucket of an S3-compatible server (AWS S3, MinIO, SeaweedFS, Ceph RGW, ...).

The bucket is checked (and created, when `create_bucket` is on) lazily at the first operation and
by every `check()`, not in the constructor: a server whose object store is briefly unreachable
still starts, and its readiness probe says why it is not ready.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, BinaryIO

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from lensforge.config import S3StorageSettings
from lensforge.storage.base import (
    DEFAULT_CONTENT_TYPE,
    MAX_PRESIGN_SECONDS,
    ObjectInfo,
    ObjectNotFound,
    SizeMismatch,
    StorageUnavailable,
    validate_expires_in,
    validate_key,
)
from lensforge.storage.signing import content_disposition

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client

CHUNK_SIZE = 1024 * 1024
_MiB = 1024 * 1024
# Streams go up in 8 MiB parts, four in flight: about 50 MiB of memory whatever the object's
# size (a bound tests/storage/test_s3_store.py checks).
_UPLOAD = TransferConfig(
    multipart_threshold=8 * _MiB,
    multipart_chunksize=8 * _MiB,
    max_concurrency=4,
)
_UPLOAD.max_in_memory_upload_chunks = 4  # not a constructor argument of boto3's subclass
# One server-side CopyObject up to its 5 GiB limit (atomic, one request); multipart beyond.
_COPY = TransferConfig(multipart_threshold=5 * 1024 * _MiB, multipart_chunksize=512 * _MiB)
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})
_NO_BUCKET = frozenset({"404", "NoSuchBucket", "NotFound"})
# A HEAD answer has no body, hence the bare "403".
_REFUSED_CREDENTIALS = frozenset(
    {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"}
)
_UNREACHABLE = (
    BotoConnectionError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    PartialCredentialsError,
)


class S3ObjectStore:
    def __init__(
        self, settings: S3StorageSettings, *, max_expires_in: int = MAX_PRESIGN_SECONDS
    ) -> None:
        self.bucket = settings.bucket
        self._create_bucket = settings.create_bucket
        self._region = settings.region
        self._max_expires_in = min(max_expires_in, MAX_PRESIGN_SECONDS)
        secret = settings.secret_access_key
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": settings.addressing_style},
            connect_timeout=5,
            read_timeout=60,
            retries={"max_attempts": 3, "mode": "standard"},
            # Only when the API demands it: many S3-compatible servers reject the newer default
            # CRC trailers on streamed uploads; SigV4 still covers every request.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        # A session of our own: boto3's default session is shared, mutable global state.
        self._client: S3Client = boto3.session.Session().client(
            "s3",
            endpoint_url=settings.endpoint_url,
            region_name=settings.region,
            aws_access_key_id=settings.access_key_id,
            aws_secret_access_key=secret.get_secret_value() if secret is not None else None,
            config=config,
        )
        self._bucket_ready = False
        self._bucket_lock = threading.Lock()

    # -- writing ---------------------------------------------------------------------------

    def put(
        self,
        key: str,
        stream: BinaryIO,
        *,
        size: int | None = None,
        content_type: str | None = None,
    ) -> ObjectInfo:
        validate_key(key)
        self._ensure_bucket()
        # Buffered over a counting raw stream: s3transfer expects read(n) to return n bytes
        # until EOF (else it would cut undersized parts), and a wrong `size` aborts the upload.
        body = io.BufferedReader(_CountingRaw(stream, key, size), buffer_size=CHUNK_SIZE)
        extra = {"ContentType": content_type or DEFAULT_CONTENT_TYPE}
        with _translated(key):
            self._client.upload_fileobj(body, self.bucket, key, ExtraArgs=extra, Config=_UPLOAD)
        return self.head(key)

    def copy(self, source_key: str, destination_key: str) -> ObjectInfo:
        validate_key(source_key)
        validate_key(destination_key)
        self._ensure_bucket()
        with _translated(source_key):
            self._client.copy(
                {"Bucket": self.bucket, "Key": source_key},
                self.bucket,
                destination_key,
                Config=_COPY,
            )
        return self.head(destination_key)

    def delete(self, key: str) -> None:
        validate_key(key)
        self._ensure_bucket()
        with _translated(key):
            self._client.delete_object(Bucket=self.bucket, Key=key)

    # -- reading ---------------------------------------------------------------------------

    def open(self, key: str) -> BinaryIO:
        validate_key(key)
        self._ensure_bucket()
        with _translated(key):
            body = self._client.get_object(Bucket=self.bucket, Key=key)["Body"]
        return io.BufferedReader(_BodyRaw(body, key), buffer_size=CHUNK_SIZE)

    def iter_chunks(self, key: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        handle = self.open(key)  # eagerly, so a missing key raises here and not at first next()
        return _read_chunks(handle, chunk_size)

    def head(self, key: str) -> ObjectInfo:
        validate_key(key)
        self._ensure_bucket()
        with _translated(key):
            response = self._client.head_object(Bucket=self.bucket, Key=key)
        return ObjectInfo(
            key=key,
            size=response["ContentLength"],
            etag=response["ETag"].strip('"'),
            last_modified=response["LastModified"],
            content_type=response.get("ContentType"),
        )

    def exists(self, key: str) -> bool:
        try:
            self.head(key)
        except ObjectNotFound:
            return False
        return True

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        self._ensure_bucket()
        paginator = self._client.get_paginator("list_objects_v2")
        with _translated():
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield ObjectInfo(
                        key=item["Key"],
                        size=item["Size"],
                        etag=item["ETag"].strip('"'),
                        last_modified=item["LastModified"],
                    )

    # -- links and health ------------------------------------------------------------------

    def presign_get(self, key: str, *, expires_in: int, filename: str | None = None) -> str:
        validate_key(key)
        self._ensure_bucket()
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if filename is not None:
            params["ResponseContentDisposition"] = content_disposition(filename)
        return self._client.generate_presigned_url(
            "get_object",
            Params=params,
            ExpiresIn=validate_expires_in(expires_in, self._max_expires_in),
        )

    def presign_put(self, key: str, *, expires_in: int, content_type: str | None = None) -> str:
        validate_key(key)
        self._ensure_bucket()
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if content_type is not None:
            params["ContentType"] = content_type  # signed: the uploader must send this header
        return self._client.generate_presigned_url(
            "put_object",
            Params=params,
            ExpiresIn=validate_expires_in(expires_in, self._max_expires_in),
        )

    def check(self) -> None:
        with self._bucket_lock:
            self._prepare_bucket()
            self._bucket_ready = True

    # -- internals -------------------------------------------------------------------------

    def _ensure_bucket(self) -> None:
        if self._bucket_ready:
            return
        with self._bucket_lock:
            if not self._bucket_ready:
                self._prepare_bucket()
                self._bucket_ready = True

    def _prepare_bucket(self) -> None:
        with _translated():
            if self._bucket_exists():
                return
            if not self._create_bucket:
                raise StorageUnavailable(
                    f"bucket {self.bucket!r} does not exist and storage.s3.create_bucket is off"
                )
            kwargs: dict[str, Any] = {"Bucket": self.bucket}
            if self._region != "us-east-1":  # the one region that refuses an explicit constraint
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self._region}
            try:
                self._client.create_bucket(**kwargs)
            except ClientError:
                if not self._bucket_exists():  # else: another process created it meanwhile
                    raise

    def _bucket_exists(self) -> bool:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if _code(exc) in _NO_BUCKET:
                return False
            raise
        return True


class _CountingRaw(io.RawIOBase):
    """The caller's stream, refusing to end anywhere but at the announced size."""

    def __init__(self, stream: BinaryIO, key: str, size: int | None) -> None:
        self._stream = stream
        self._key = key
        self._size = size
        self._seen = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self._stream.read(len(view))
        count = len(data)
        view[:count] = data
        self._seen += count
        if self._size is not None and (
            self._seen > self._size or (count == 0 and self._seen != self._size)
        ):
            raise SizeMismatch(
                f"object {self._key!r} was announced as {self._size} bytes but the stream "
                f"held {'more' if self._seen > self._size else self._seen}",
                details={"key": self._key, "expected": self._size},
            )
        return count


class _BodyRaw(io.RawIOBase):
    """A botocore StreamingBody as a raw stream, with its network errors translated."""

    def __init__(self, body: StreamingBody, key: str) -> None:
        self._body = body
        self._key = key

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        with _translated(self._key):
            data = self._body.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


@contextmanager
def _translated(key: str | None = None) -> Iterator[None]:
    """S3 and transport errors as the storage contract's errors."""
    try:
        yield
    except ClientError as exc:
        code = _code(exc)
        if key is not None and code in _NOT_FOUND:
            raise ObjectNotFound(f"no object {key!r}", details={"key": key}) from exc
        message = exc.response.get("Error", {}).get("Message", "")
        if code in _REFUSED_CREDENTIALS:
            message += " (check storage.s3 access_key_id, secret_access_key and bucket policy)"
        raise StorageUnavailable(
            f"the S3 server refused the request: {code} {message}".strip(),
            details={"code": code, "key": key},
        ) from exc
    except S3UploadFailedError as exc:
        raise StorageUnavailable(f"upload failed: {exc}", details={"key": key}) from exc
    except _UNREACHABLE as exc:
        raise StorageUnavailable(f"the S3 server cannot be reached: {exc}") from exc


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _read_chunks(handle: BinaryIO, chunk_size: int) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(chunk_size):
            yield chunk
