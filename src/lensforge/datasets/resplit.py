"""Changing a version's split: the only edit that needs no new data. It creates a new version."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session, sessionmaker

from lensforge.auth.principal import Principal
from lensforge.datasets.manifests import load_manifest
from lensforge.datasets.repository import VersionRepository
from lensforge.datasets.service import DatasetService
from lensforge.datasets.splits import SplitConfig
from lensforge.datasets.versions import create_version, with_splits
from lensforge.errors import NotFound
from lensforge.models import DatasetVersion
from lensforge.storage.base import ObjectStore


def resplit(
    session: Session,
    sessions: sessionmaker[Session],
    store: ObjectStore,
    principal: Principal,
    dataset_id: uuid.UUID,
    number: int,
    config: SplitConfig,
    message: str,
) -> DatasetVersion:
    service = DatasetService(session)
    dataset = service.writable(principal, dataset_id)
    _, version = service.visible_version(principal, dataset_id, number)
    manifest = load_manifest(store, version)
    # Source mode keeps every item's current split; ratio mode reassigns them all. Keys carry
    # the current split, so two items named alike in two splits stay distinct.
    resplit_manifest = with_splits(manifest, config)
    # The new version is written in its own transaction (it locks the dataset row); release
    # this request's read snapshot first so SQLite's single writer is not waiting on itself.
    session.commit()
    version_id = create_version(
        sessions,
        store,
        dataset_id=dataset.id,
        organization_id=principal.organization_id,
        manifest=resplit_manifest,
        split_config=config,
        source={"kind": "split", "from_version": number},
        warnings=list(version.warnings),
        created_by_id=principal.user_id,
        message=message,
    )
    created = VersionRepository(session).get_by_id(version_id)
    if created is None:
        raise NotFound("version vanished")
    return created
