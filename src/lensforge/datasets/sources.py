"""Bringing an import's source to a local folder the format readers can read.

Sources: an archive uploaded through /uploads (streamed from object storage to a temp file, then
checked and extracted with `lensforge.archives`), a folder on the server's disk (only inside the
configured import roots), or a prefix of an S3 bucket (downloaded object by object).
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from lensforge.archives import ArchiveLimits, extract_archive
from lensforge.config import Settings
from lensforge.datasets.s3_reader import S3Limits, S3PrefixReader, S3ReadError
from lensforge.errors import BadRequest, ConfigurationError, Forbidden, ValidationFailed
from lensforge.kit.egress import (
    AddressRefused,
    EgressPolicy,
    PinnedEndpoint,
    endpoint_addresses,
    parse_allow_list,
    pin,
)
from lensforge.storage.base import ObjectStore

_CHUNK = 1024 * 1024


class UploadSource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["upload"]
    upload_id: str


class FolderSource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["folder"]
    path: str = Field(
        description="A folder on the server, inside LENSFORGE_DATASETS__IMPORT_ROOTS."
    )


class S3Source(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["s3"]
    bucket: str = Field(min_length=3, max_length=63)
    prefix: str = ""
    endpoint_url: str | None = Field(
        default=None,
        description="An http(s) URL of an S3-compatible server; empty means AWS. Only addresses "
        "the server's egress policy allows (public ones by default).",
    )
    region: str = Field(default="us-east-1", pattern=r"^[a-z0-9-]{1,40}$")
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = Field(
        default=None,
        description="Used for this import only; never stored. Without keys the bucket is read "
        "anonymously (unsigned requests); the server's own credentials are never used.",
    )

    def public(self) -> dict[str, Any]:
        """What is recorded with the import: everything but the secret."""
        return self.model_dump(exclude={"secret_access_key"})


ImportSource = Annotated[UploadSource | FolderSource | S3Source, Field(discriminator="kind")]


class SourceNotAllowed(Forbidden):
    code = "source_not_allowed"


class SourceUnreadable(BadRequest):
    code = "source_unreadable"


class SourceTooLarge(BadRequest):
    code = "source_too_large"


def resolve_folder(settings: Settings, path: str) -> Path:
    """The real folder, refused unless it lies inside a configured import root."""
    roots = [Path(root).resolve() for root in settings.datasets.import_roots]
    if not roots:
        raise SourceNotAllowed(
            "folder imports are disabled on this server; an admin can allow folders with "
            "LENSFORGE_DATASETS__IMPORT_ROOTS"
        )
    folder = Path(path).resolve()
    if not any(folder == root or root in folder.parents for root in roots):
        raise SourceNotAllowed(
            f"{path} is outside the allowed import folders",
            details={"allowed": [str(root) for root in roots]},
        )
    if not folder.is_dir():
        raise SourceUnreadable(f"{path} is not a folder on the server")
    return folder


def check_folder(settings: Settings, path: str) -> Path:
    """The folder, once everything the import would read in it is known to be safe to read:
    regular files only (a FIFO or device would hang or flood the reader), no link that leads out
    of the import roots (it would let the caller read any file of the server: its secret key,
    database, another organization's data), and the archive limits on files and bytes."""
    folder = resolve_folder(settings, path)
    roots = [Path(root).resolve() for root in settings.datasets.import_roots]
    limits = archive_limits(settings)
    count = total = 0
    for directory, subdirectories, files in os.walk(folder):
        for name in [*subdirectories, *files]:
            entry = Path(directory) / name
            shown = entry.relative_to(folder).as_posix()
            if entry.is_symlink():
                real = entry.resolve()
                if not any(real == root or root in real.parents for root in roots):
                    raise SourceNotAllowed(f"{shown} links outside the allowed import folders")
                if real.is_dir():
                    raise SourceUnreadable(f"{shown} links to a folder: copy it in instead")
            if name in subdirectories:
                continue
            info = entry.stat()
            if not stat.S_ISREG(info.st_mode):
                raise SourceUnreadable(f"{shown} is not a regular file")
            count += 1
            total += info.st_size
            if count > limits.max_files:
                raise SourceTooLarge(f"the folder holds more than {limits.max_files} files")
            if total > limits.max_total_size:
                raise SourceTooLarge(f"the folder holds more than {limits.max_total_size} bytes")
    return folder


def archive_limits(settings: Settings) -> ArchiveLimits:
    return ArchiveLimits(
        max_total_size=settings.datasets.max_archive_bytes,
        max_files=settings.datasets.max_archive_files,
        max_ratio=settings.datasets.max_compression_ratio,
    )


def fetch_uploaded_archive(
    store: ObjectStore, object_key: str, work: Path, settings: Settings
) -> Path:
    """Stream the archive to `work/archive`, then check and extract it to `work/data`."""
    archive = work / "archive"
    with store.open(object_key) as source, archive.open("wb") as target:
        shutil.copyfileobj(source, target, _CHUNK)
    data = work / "data"
    extract_archive(archive, data, archive_limits(settings))
    archive.unlink()
    return data


def fetch_s3_prefix(source: S3Source, secret: str | None, work: Path, settings: Settings) -> Path:
    """Download every object under the prefix to `work/data`, keeping relative paths.

    The endpoint is checked again here (not only when the import was requested: the host name
    may resolve elsewhere now) and the connection goes to the checked address."""
    endpoint = check_s3_source(settings, source)
    credentials: tuple[str, str] | None = None
    if source.access_key_id is not None:
        if secret is None:  # held in memory only: the server restarted since the request
            raise SourceUnreadable(
                "the secret key of this import is gone (the server restarted): start it again"
            )
        credentials = (source.access_key_id, secret)
    limits = S3Limits(
        connect_timeout=settings.datasets.s3_import_connect_timeout_seconds,
        read_timeout=settings.datasets.s3_import_read_timeout_seconds,
        deadline_seconds=settings.datasets.s3_import_deadline_seconds,
    )
    data = work / "data"
    data.mkdir(parents=True)
    prefix = source.prefix.lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    max_files, max_bytes = settings.datasets.max_archive_files, settings.datasets.max_archive_bytes
    count = 0
    total = 0
    try:
        with S3PrefixReader(
            endpoint,
            bucket=source.bucket,
            region=source.region,
            credentials=credentials,
            limits=limits,
        ) as reader:
            for obj in reader.objects(prefix):
                relative = obj.key[len(prefix) :] if obj.key.startswith(prefix) else ""
                if not relative or relative.endswith("/"):
                    continue
                target = _safe_target(data, relative)
                count += 1
                if count > max_files:
                    raise SourceTooLarge(f"the prefix holds more than {max_files} files")
                if total + obj.size > max_bytes:
                    raise SourceTooLarge(f"the prefix holds more than {max_bytes} bytes")
                target.parent.mkdir(parents=True, exist_ok=True)
                # What was really received counts, not what the listing claimed.
                total += reader.download(obj, target)
    except S3ReadError as exc:
        raise SourceUnreadable(
            f"cannot read s3://{source.bucket}/{prefix}: {exc.message}", code=exc.code
        ) from exc
    if count == 0:
        raise SourceUnreadable(f"s3://{source.bucket}/{prefix} holds no objects")
    return data


def check_s3_request(settings: Settings, source: S3Source) -> None:
    """What can be refused when the import is requested, before any connection."""
    if (source.access_key_id is None) != (source.secret_access_key is None):
        raise ValidationFailed("give both access_key_id and secret_access_key, or neither")
    check_s3_source(settings, source)


def check_s3_source(settings: Settings, source: S3Source) -> PinnedEndpoint:
    """Refuse the platform's own bucket and endpoints the egress policy does not allow; return
    the endpoint pinned to its checked address."""
    endpoint_url = source.endpoint_url or f"https://s3.{source.region}.amazonaws.com"
    if _names_platform_bucket(settings, endpoint_url, source.bucket):
        raise _platform_bucket(source)
    try:
        pinned = pin(endpoint_url, s3_egress_policy(settings))
    except AddressRefused as exc:
        raise SourceNotAllowed(
            f"{exc.message}; an admin can allow it with "
            "LENSFORGE_DATASETS__S3_IMPORT_ALLOWED_NETWORKS",
            details=exc.details,
        ) from exc
    # By the address the connection will really go to (a name may lead there too).
    if _is_platform_storage(settings, source.bucket) and (
        (pinned.address, pinned.port) in endpoint_addresses(settings.storage.s3.endpoint_url)
    ):
        raise _platform_bucket(source)
    return pinned


def s3_egress_policy(settings: Settings) -> EgressPolicy:
    own = endpoint_addresses(settings.public_url)
    if settings.storage.backend == "s3":
        own |= endpoint_addresses(settings.storage.s3.endpoint_url)
    try:
        allow = parse_allow_list(settings.datasets.s3_import_allowed_networks)
    except ValueError as exc:
        raise ConfigurationError(f"LENSFORGE_DATASETS__S3_IMPORT_ALLOWED_NETWORKS: {exc}") from exc
    return EgressPolicy(
        allow=allow,
        allow_public=settings.datasets.s3_import_allow_public,
        own_endpoints=frozenset(own),
    )


def _is_platform_storage(settings: Settings, bucket: str) -> bool:
    return settings.storage.backend == "s3" and bucket.lower() == settings.storage.s3.bucket.lower()


def _names_platform_bucket(settings: Settings, endpoint_url: str, bucket: str) -> bool:
    """Whether the endpoint's name (before any resolving) leads to the bucket where the platform
    stores every organization's data, whatever the allow-list says and the request's keys."""
    if settings.storage.backend != "s3":
        return False
    ours = settings.storage.s3.endpoint_url
    host = (urlsplit(endpoint_url).hostname or "").lower()
    if host.startswith(f"{settings.storage.s3.bucket.lower()}."):
        return True  # a virtual-hosted name: the platform's bucket whatever `bucket` says
    if not _is_platform_storage(settings, bucket):
        return False
    if ours is None:  # the platform is on AWS
        return host == "amazonaws.com" or host.endswith(".amazonaws.com")
    return (urlsplit(ours).hostname or "").lower() == host


def _platform_bucket(source: S3Source) -> SourceNotAllowed:
    return SourceNotAllowed(
        "this is the platform's own storage bucket: it cannot be imported from",
        details={"bucket": source.bucket},
    )


def _safe_target(root: Path, relative: str) -> Path:
    parts = PurePosixPath(relative).parts
    if relative.startswith("/") or any(part in ("..", "") for part in parts):
        raise SourceUnreadable(f"refusing object key {relative!r}: it would leave the folder")
    return root.joinpath(*parts)
