from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, validates

from lensforge.kit.names import name_key
from lensforge.kit.types import utcnow
from lensforge.models.base import Base, CreatedAtMixin, IdMixin

TASK_NAMES = ("detection", "segmentation", "classification", "pose")


class Dataset(IdMixin, CreatedAtMixin, Base):
    """A named, versioned collection of labeled images inside a project."""

    __tablename__ = "datasets"
    __table_args__ = (
        UniqueConstraint("project_id", "name", name="uq_datasets_project_name"),
        UniqueConstraint("project_id", "name_key", name="uq_datasets_project_name_key"),
        CheckConstraint(
            "task IN ('detection', 'segmentation', 'classification', 'pose')", name="task_known"
        ),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    # Unique per project, ignoring case in every script (see kit/names.py); set with name.
    name_key: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    task: Mapped[str] = mapped_column(String(32))
    # Visible (read-only) to every member of the organization, not only the project's.
    shared_with_organization: Mapped[bool] = mapped_column(default=False)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    latest_version_number: Mapped[int] = mapped_column(Integer, default=0)

    @validates("name")
    def _keep_name_key(self, _key: str, name: str) -> str:
        self.name_key = name_key(name)
        return name


class DatasetVersion(IdMixin, CreatedAtMixin, Base):
    """An immutable snapshot: images, annotations, classes and split assignment.

    Nothing updates a row of this table or its items after creation; an edit creates a new
    version. `content_hash` covers all of it, so equal data gives an equal hash.
    """

    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("dataset_id", "number", name="uq_dataset_versions_number"),)

    dataset_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="SET NULL"), default=None
    )
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    task: Mapped[str] = mapped_column(String(32))
    classes: Mapped[list[str]] = mapped_column(JSON)
    keypoint_names: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    skeleton: Mapped[list[list[int]] | None] = mapped_column(JSON, default=None)
    split_config: Mapped[dict[str, Any]] = mapped_column(JSON)
    # How this version came to be: {"kind": "import"|"split"|"merge", "format": ..., ...}.
    source: Mapped[dict[str, Any]] = mapped_column(JSON)
    stats: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Warnings of the import that produced it (errors never produce a version).
    warnings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    item_count: Mapped[int] = mapped_column(Integer)
    annotation_count: Mapped[int] = mapped_column(Integer)
    # The canonical manifest (what the content hash is computed over), for trainers and export.
    manifest_key: Mapped[str] = mapped_column(String(1024))
    message: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )


class DatasetItem(IdMixin, Base):
    """One image of one version, with its annotations."""

    __tablename__ = "dataset_items"
    __table_args__ = (
        # File names are unique per split (two splits may each hold an `a.jpg`).
        UniqueConstraint(
            "version_id", "split", "file_name", name="uq_dataset_items_version_split_file"
        ),
        Index("ix_dataset_items_version_sort_key", "version_id", "sort_key"),
    )

    version_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="CASCADE"), index=True
    )
    file_name: Mapped[str] = mapped_column(String(1024))
    # `datasets.naming.natural_key(file_name)`: browsing lists raccoon-2 before raccoon-10.
    sort_key: Mapped[str] = mapped_column(String(2048), default="")
    image_sha256: Mapped[str] = mapped_column(String(64), index=True)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    split: Mapped[str] = mapped_column(String(8))
    annotations: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    labels: Mapped[list[int]] = mapped_column(JSON, default=list)
    # Class ids present, as " 0 3 7 " so "has class 3" is a portable LIKE '% 3 %' on both DBs.
    class_ids: Mapped[str] = mapped_column(String(2048), default=" ")


class ImageBlob(CreatedAtMixin, Base):
    """An image stored once per organization, addressed by its SHA-256."""

    __tablename__ = "image_blobs"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(16))
    object_key: Mapped[str] = mapped_column(String(1024))


class DatasetImport(IdMixin, CreatedAtMixin, Base):
    """One import attempt and its validation report, kept whether it succeeded or not."""

    __tablename__ = "dataset_imports"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'running', 'succeeded', 'failed')", name="status_known"
        ),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    dataset_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), index=True
    )
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # {"kind": "upload", "upload_id": ...} | {"kind": "folder", "path": ...} | {"kind": "s3", ...}
    source: Mapped[dict[str, Any]] = mapped_column(JSON)
    requested_format: Mapped[str | None] = mapped_column(String(32), default=None)
    detected_format: Mapped[str | None] = mapped_column(String(32), default=None)
    mode: Mapped[str] = mapped_column(String(16), default="replace")
    split_config: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    phase: Mapped[str] = mapped_column(String(32), default="queued")
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    version_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="SET NULL"), default=None
    )
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
