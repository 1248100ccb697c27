"""Bringing an import's source to a local folder the format readers can read.

Sources: an archive uploaded through /uploads (streamed from object storage to a temp file, then
checked and extracted with `lensforge.archives`), a folder on the server's disk (only inside the
configured import roots), or a prefix of an S3 bucket (downloaded object by object).
"""

from __future__ import annotations

import shutil
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from lensforge.archives import ArchiveLimits, extract_archive
from lensforge.config import Settings
from lensforge.errors import BadRequest, Forbidden
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
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = Field(
        default=None, description="Used for this import only; never stored."
    )

    def public(self) -> dict[str, Any]:
        """What is recorded with the import: everything but the secret."""
        return self.model_dump(exclude={"secret_access_key"})


ImportSource = Annotated[UploadSource | FolderSource | S3Source, Field(discriminator="kind")]


class SourceNotAllowed(Forbidden):
    code = "source_not_allowed"


class SourceUnreadable(BadRequest):
    code = "source_unreadable"


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
    """Download every object under the prefix to `work/data`, keeping relative paths."""
    client = boto3.client(
        "s3",
        endpoint_url=source.endpoint_url,
        region_name=source.region,
        aws_access_key_id=source.access_key_id,
        aws_secret_access_key=secret,
        config=BotoConfig(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            connect_timeout=5,
            read_timeout=60,
            retries={"max_attempts": 3, "mode": "standard"},
        ),
    )
    data = work / "data"
    data.mkdir(parents=True)
    prefix = source.prefix.lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    count = 0
    total = 0
    try:
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=source.bucket, Prefix=prefix
        ):
            for entry in page.get("Contents", []):
                relative = entry["Key"][len(prefix) :]
                if not relative or relative.endswith("/"):
                    continue
                target = _safe_target(data, relative)
                count += 1
                total += int(entry.get("Size", 0))
                if count > settings.datasets.max_archive_files:
                    raise SourceUnreadable(
                        f"the prefix holds more than {settings.datasets.max_archive_files} files"
                    )
                if total > settings.datasets.max_archive_bytes:
                    raise SourceUnreadable("the prefix holds more data than the import limit")
                target.parent.mkdir(parents=True, exist_ok=True)
                client.download_file(source.bucket, entry["Key"], str(target))
    except (BotoCoreError, ClientError) as exc:
        raise SourceUnreadable(f"cannot read s3://{source.bucket}/{prefix}: {exc}") from exc
    if count == 0:
        raise SourceUnreadable(f"s3://{source.bucket}/{prefix} holds no objects")
    return data


def _safe_target(root: Path, relative: str) -> Path:
    parts = PurePosixPath(relative).parts
    if relative.startswith("/") or any(part in ("..", "") for part in parts):
        raise SourceUnreadable(f"refusing object key {relative!r}: it would leave the folder")
    return root.joinpath(*parts)
