"""Dataset rules: who sees which dataset, and the operations that do not need an import."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.orm import Session

from lensforge.auth.policy import Action
from lensforge.auth.principal import Principal
from lensforge.datasets.repository import DatasetRepository, VersionRepository
from lensforge.errors import Conflict, NotFound
from lensforge.models import Dataset, DatasetVersion
from lensforge.projects.repository import ProjectRepository
from lensforge.projects.service import ProjectService

# How many of the jobs that keep a dataset alive a refused delete names.
_JOBS_NAMED = 20


class DatasetService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.datasets = DatasetRepository(session)
        self.versions = VersionRepository(session)

    # --- the access gates every dataset route goes through ---------------------------------

    def visible(self, principal: Principal, dataset_id: uuid.UUID) -> Dataset:
        """Readable: in the caller's organization, and its project visible to the caller or the
        dataset shared with the whole organization. Anything else is 'not found'."""
        dataset = self.datasets.get_in_organization(principal.organization_id, dataset_id)
        if dataset is None:
            raise NotFound("dataset not found", code="dataset_not_found")
        if dataset.shared_with_organization or self._project_visible(principal, dataset):
            return dataset
        raise NotFound("dataset not found", code="dataset_not_found")

    def writable(self, principal: Principal, dataset_id: uuid.UUID) -> Dataset:
        """Changeable: visible through its project (sharing grants reading only)."""
        dataset = self.visible(principal, dataset_id)
        if not self._project_visible(principal, dataset):
            raise NotFound("dataset not found", code="dataset_not_found")
        return dataset

    def visible_version(
        self, principal: Principal, dataset_id: uuid.UUID, number: int
    ) -> tuple[Dataset, DatasetVersion]:
        dataset = self.visible(principal, dataset_id)
        version = self.versions.get(dataset.id, number)
        if version is None:
            raise NotFound(
                f"dataset has no version {number}",
                code="version_not_found",
                details={"latest": dataset.latest_version_number},
            )
        return dataset, version

    def _project_visible(self, principal: Principal, dataset: Dataset) -> bool:
        if principal.can(Action.PROJECT_VIEW_ALL):
            return True
        return ProjectRepository(self.session).is_member(dataset.project_id, principal.user_id)

    # --- datasets ---------------------------------------------------------------------------

    def create(
        self, principal: Principal, *, project_id: uuid.UUID, name: str, description: str, task: str
    ) -> Dataset:
        project = ProjectService(self.session).visible(principal, project_id)
        name = name.strip()
        if self.datasets.name_taken(project.id, name):
            raise Conflict(
                f"project already has a dataset named {name!r}", code="dataset_name_taken"
            )
        return self.datasets.add(
            Dataset(
                organization_id=principal.organization_id,
                project_id=project.id,
                name=name,
                description=description,
                task=task,
                created_by_id=principal.user_id,
            )
        )

    def list(
        self, principal: Principal, *, project_id: uuid.UUID | None, limit: int, offset: int
    ) -> tuple[Sequence[Dataset], int]:
        if project_id is not None:
            ProjectService(self.session).visible(principal, project_id)
        member = None if principal.can(Action.PROJECT_VIEW_ALL) else principal.user_id
        return self.datasets.list_visible(
            principal.organization_id,
            member_user_id=member,
            project_id=project_id,
            limit=limit,
            offset=offset,
        )

    def update(
        self,
        principal: Principal,
        dataset_id: uuid.UUID,
        *,
        name: str | None,
        description: str | None,
    ) -> Dataset:
        dataset = self.writable(principal, dataset_id)
        if name is not None and name.strip() != dataset.name:
            if self.datasets.name_taken(dataset.project_id, name.strip(), exclude=dataset.id):
                raise Conflict(
                    f"project already has a dataset named {name!r}", code="dataset_name_taken"
                )
            dataset.name = name.strip()
        if description is not None:
            dataset.description = description
        self.session.flush()
        return dataset

    def share(self, principal: Principal, dataset_id: uuid.UUID, shared: bool) -> Dataset:
        dataset = self.writable(principal, dataset_id)
        dataset.shared_with_organization = shared
        self.session.flush()
        return dataset

    def delete(self, principal: Principal, dataset_id: uuid.UUID) -> None:
        """Removes the dataset and its versions; image blobs stay (other versions or datasets may
        share them) until a storage garbage collection reclaims unreferenced ones.

        A dataset that training jobs used stays (their record of what they trained on must hold):
        409 `dataset_in_use` names the jobs; delete those first."""
        dataset = self.writable(principal, dataset_id)
        jobs, total = self.datasets.jobs_using(dataset.id, limit=_JOBS_NAMED)
        if total:
            names = ", ".join(repr(job.name) for job in jobs)
            more = f" and {total - len(jobs)} more" if total > len(jobs) else ""
            raise Conflict(
                f"the dataset is used by {total} training job(s): {names}{more}; "
                "delete those jobs first",
                code="dataset_in_use",
                details={
                    "jobs": [{"id": str(job.id), "name": job.name} for job in jobs],
                    "total": total,
                },
            )
        self.datasets.delete(dataset)

    def versions_of(self, principal: Principal, dataset_id: uuid.UUID) -> Sequence[DatasetVersion]:
        return self.versions.list(self.visible(principal, dataset_id).id)
