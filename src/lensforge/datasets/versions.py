"""Making a dataset version: the split assignment, the canonical manifest and its content hash,
and the version with its items, in one short transaction. Used by imports and by re-splits."""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from lensforge.datasets import keys
from lensforge.datasets.naming import natural_key
from lensforge.datasets.repository import DatasetRepository, ItemRepository, VersionRepository
from lensforge.datasets.splits import SplitCandidate, SplitConfig, assign_splits
from lensforge.datasets.stats import compute_stats
from lensforge.errors import NotFound
from lensforge.formats import Annotation, DatasetManifest, Item, canonical_json
from lensforge.kit.db import transaction
from lensforge.models import DatasetVersion
from lensforge.storage.base import ObjectStore


def with_splits(manifest: DatasetManifest, config: SplitConfig) -> DatasetManifest:
    def key(item: Item) -> str:
        return f"{item.split or ''}/{item.file_name}"

    candidates = [
        SplitCandidate(
            key=key(item),
            source_split=item.split,
            class_ids=tuple(sorted({a.class_id for a in item.annotations} | set(item.labels))),
        )
        for item in manifest.items
    ]
    assignment = assign_splits(candidates, config)
    items = [item.model_copy(update={"split": assignment[key(item)]}) for item in manifest.items]
    # Re-validate: two source splits may have held the same file name.
    return DatasetManifest.model_validate(manifest.model_copy(update={"items": items}).model_dump())


def create_version(
    sessions: sessionmaker[Session],
    store: ObjectStore,
    *,
    dataset_id: uuid.UUID,
    organization_id: uuid.UUID,
    manifest: DatasetManifest,
    split_config: SplitConfig,
    source: dict[str, Any],
    warnings: list[dict[str, Any]],
    created_by_id: uuid.UUID | None,
    message: str,
    on_progress: Callable[[], None] | None = None,
) -> uuid.UUID:
    """Store the manifest and create the next version, unless the latest version already has
    exactly this content (then that version is returned: re-importing identical data is a no-op).
    """
    if on_progress is not None:
        on_progress()
    canonical = canonical_json(manifest)
    content = hashlib.sha256(canonical).hexdigest()
    key = keys.manifest_key(organization_id, content)
    if not store.exists(key):
        store.put(key, io.BytesIO(canonical), size=len(canonical), content_type="application/json")
    with transaction(sessions) as session:
        dataset = DatasetRepository(session).lock(dataset_id)
        if dataset is None:
            raise NotFound("the dataset was deleted meanwhile", code="dataset_not_found")
        versions = VersionRepository(session)
        latest = versions.latest(dataset_id)
        if latest is not None and latest.content_hash == content:
            return latest.id
        number = dataset.latest_version_number + 1
        version = versions.add(
            DatasetVersion(
                dataset_id=dataset_id,
                number=number,
                parent_id=latest.id if latest is not None else None,
                content_hash=content,
                task=manifest.task.value,
                classes=list(manifest.classes),
                keypoint_names=manifest.keypoint_names,
                skeleton=[list(pair) for pair in manifest.skeleton] if manifest.skeleton else None,
                split_config=split_config.model_dump(),
                source=source,
                stats=compute_stats(manifest),
                warnings=warnings,
                item_count=len(manifest.items),
                annotation_count=sum(len(i.annotations) for i in manifest.items),
                manifest_key=key,
                message=message,
                created_by_id=created_by_id,
            )
        )
        ItemRepository(session).bulk_insert(
            [_item_row(version.id, item) for item in manifest.items]
        )
        dataset.latest_version_number = number
        return version.id


def _annotation_row(annotation: Annotation) -> dict[str, Any]:
    row: dict[str, Any] = {"class_id": annotation.class_id, "bbox": list(annotation.bbox)}
    if annotation.polygons:
        row["polygons"] = annotation.polygons
    if annotation.keypoints:
        row["keypoints"] = [list(point) for point in annotation.keypoints]
    if annotation.iscrowd:
        row["iscrowd"] = True
    return row


def _item_row(version_id: uuid.UUID, item: Item) -> dict[str, Any]:
    annotations = [_annotation_row(annotation) for annotation in item.annotations]
    class_ids = sorted({a.class_id for a in item.annotations} | set(item.labels))
    return {
        "id": uuid.uuid4(),
        "version_id": version_id,
        "file_name": item.file_name,
        "sort_key": natural_key(item.file_name),
        "image_sha256": item.sha256,
        "width": item.width,
        "height": item.height,
        "split": item.split,
        "annotations": annotations,
        "labels": list(item.labels),
        "class_ids": " " + "".join(f"{c} " for c in class_ids),
    }
