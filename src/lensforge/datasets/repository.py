"""SQL for datasets, versions, items, image blobs and imports."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.orm import Session

from lensforge.kit.names import name_key
from lensforge.models import (
    Dataset,
    DatasetImport,
    DatasetItem,
    DatasetVersion,
    ImageBlob,
    ProjectMember,
    TrainingJob,
)

_IN_BATCH = 500


class DatasetRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get_in_organization(
        self, organization_id: uuid.UUID, dataset_id: uuid.UUID
    ) -> Dataset | None:
        return self.session.scalar(
            select(Dataset).where(
                Dataset.id == dataset_id, Dataset.organization_id == organization_id
            )
        )

    def lock(self, dataset_id: uuid.UUID) -> Dataset | None:
        """The dataset row, locked until the transaction ends (PostgreSQL FOR UPDATE; SQLite's
        BEGIN IMMEDIATE already serialises writers), to hand out version numbers safely."""
        return self.session.scalar(
            select(Dataset).where(Dataset.id == dataset_id).with_for_update()
        )

    def name_taken(
        self, project_id: uuid.UUID, name: str, *, exclude: uuid.UUID | None = None
    ) -> bool:
        query = select(Dataset.id).where(
            Dataset.project_id == project_id, Dataset.name_key == name_key(name)
        )
        if exclude is not None:
            query = query.where(Dataset.id != exclude)
        return self.session.scalar(query) is not None

    def list_visible(
        self,
        organization_id: uuid.UUID,
        *,
        member_user_id: uuid.UUID | None,
        project_id: uuid.UUID | None,
        limit: int,
        offset: int,
    ) -> tuple[Sequence[Dataset], int]:
        """Datasets of the organization: all of them, or (when `member_user_id` is given) those
        of projects the user is a member of plus those shared with the organization."""
        query = select(Dataset).where(Dataset.organization_id == organization_id)
        if project_id is not None:
            query = query.where(Dataset.project_id == project_id)
        if member_user_id is not None:
            member_projects = select(ProjectMember.project_id).where(
                ProjectMember.user_id == member_user_id
            )
            query = query.where(
                or_(Dataset.project_id.in_(member_projects), Dataset.shared_with_organization)
            )
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self.session.scalars(
            query.order_by(Dataset.name, Dataset.id).limit(limit).offset(offset)
        ).all()
        return rows, total

    def add(self, dataset: Dataset) -> Dataset:
        self.session.add(dataset)
        self.session.flush()
        return dataset

    def delete(self, dataset: Dataset) -> None:
        self.session.delete(dataset)
        self.session.flush()

    def jobs_using(self, dataset_id: uuid.UUID, *, limit: int) -> tuple[list[TrainingJob], int]:
        """Training jobs that trained (or will train) on this dataset: they keep it alive."""
        query = select(TrainingJob).where(TrainingJob.dataset_id == dataset_id)
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        jobs = self.session.scalars(query.order_by(TrainingJob.created_at).limit(limit))
        return list(jobs), total


class VersionRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, dataset_id: uuid.UUID, number: int) -> DatasetVersion | None:
        return self.session.scalar(
            select(DatasetVersion).where(
                DatasetVersion.dataset_id == dataset_id, DatasetVersion.number == number
            )
        )

    def get_by_id(self, version_id: uuid.UUID) -> DatasetVersion | None:
        return self.session.get(DatasetVersion, version_id)

    def latest(self, dataset_id: uuid.UUID) -> DatasetVersion | None:
        return self.session.scalar(
            select(DatasetVersion)
            .where(DatasetVersion.dataset_id == dataset_id)
            .order_by(DatasetVersion.number.desc())
            .limit(1)
        )

    def list(self, dataset_id: uuid.UUID) -> Sequence[DatasetVersion]:
        return self.session.scalars(
            select(DatasetVersion)
            .where(DatasetVersion.dataset_id == dataset_id)
            .order_by(DatasetVersion.number.desc())
        ).all()

    def add(self, version: DatasetVersion) -> DatasetVersion:
        self.session.add(version)
        self.session.flush()
        return version


class ItemRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def bulk_insert(self, rows: Sequence[dict[str, Any]]) -> None:
        for start in range(0, len(rows), 1000):
            self.session.execute(insert(DatasetItem), list(rows[start : start + 1000]))

    def all_for_version(self, version_id: uuid.UUID) -> Sequence[DatasetItem]:
        return self.session.scalars(
            select(DatasetItem)
            .where(DatasetItem.version_id == version_id)
            .order_by(DatasetItem.file_name, DatasetItem.split)
        ).all()

    def page(
        self,
        version_id: uuid.UUID,
        *,
        split: str | None,
        class_id: int | None,
        limit: int,
        offset: int,
    ) -> tuple[Sequence[DatasetItem], int]:
        query = select(DatasetItem).where(DatasetItem.version_id == version_id)
        if split is not None:
            query = query.where(DatasetItem.split == split)
        if class_id is not None:
            query = query.where(DatasetItem.class_ids.like(f"% {int(class_id)} %"))
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self.session.scalars(
            query.order_by(DatasetItem.sort_key, DatasetItem.file_name, DatasetItem.id)
            .limit(limit)
            .offset(offset)
        ).all()
        return rows, total

    def get(self, version_id: uuid.UUID, item_id: uuid.UUID) -> DatasetItem | None:
        return self.session.scalar(
            select(DatasetItem).where(
                DatasetItem.id == item_id, DatasetItem.version_id == version_id
            )
        )


class BlobRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def existing(self, organization_id: uuid.UUID, hashes: Iterable[str]) -> set[str]:
        wanted = list(dict.fromkeys(hashes))
        found: set[str] = set()
        for start in range(0, len(wanted), _IN_BATCH):
            batch = wanted[start : start + _IN_BATCH]
            found.update(
                self.session.scalars(
                    select(ImageBlob.sha256).where(
                        ImageBlob.organization_id == organization_id, ImageBlob.sha256.in_(batch)
                    )
                )
            )
        return found

    def get(self, organization_id: uuid.UUID, sha256: str) -> ImageBlob | None:
        return self.session.get(ImageBlob, (organization_id, sha256))

    def add_many(self, blobs: Sequence[dict[str, Any]]) -> None:
        if blobs:
            self.session.execute(insert(ImageBlob), list(blobs))

    def total_bytes(self, organization_id: uuid.UUID) -> int:
        return int(
            self.session.scalar(
                select(func.coalesce(func.sum(ImageBlob.size_bytes), 0)).where(
                    ImageBlob.organization_id == organization_id
                )
            )
            or 0
        )


class ImportRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, import_id: uuid.UUID) -> DatasetImport | None:
        return self.session.get(DatasetImport, import_id)

    def get_in_organization(
        self, organization_id: uuid.UUID, import_id: uuid.UUID
    ) -> DatasetImport | None:
        return self.session.scalar(
            select(DatasetImport).where(
                DatasetImport.id == import_id, DatasetImport.organization_id == organization_id
            )
        )

    def list(self, dataset_id: uuid.UUID) -> Sequence[DatasetImport]:
        return self.session.scalars(
            select(DatasetImport)
            .where(DatasetImport.dataset_id == dataset_id)
            .order_by(DatasetImport.created_at.desc())
        ).all()

    def unfinished_by_organization(self) -> Sequence[tuple[uuid.UUID, uuid.UUID]]:
        """(import id, organization id) of every pending or running import, oldest first."""
        rows = self.session.execute(
            select(DatasetImport.id, DatasetImport.organization_id)
            .where(DatasetImport.status.in_(("pending", "running")))
            .order_by(DatasetImport.created_at)
        )
        return [(row[0], row[1]) for row in rows]

    def add(self, record: DatasetImport) -> DatasetImport:
        self.session.add(record)
        self.session.flush()
        return record

    def set_progress(self, import_id: uuid.UUID, *, phase: str, done: int, total: int) -> None:
        self.session.execute(
            update(DatasetImport)
            .where(DatasetImport.id == import_id)
            .values(phase=phase, progress_done=done, progress_total=total)
        )
