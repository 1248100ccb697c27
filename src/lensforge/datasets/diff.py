"""What changed between two manifests: items added, removed, moved between splits, changed.

Items are matched by `(split, file_name)` first, then, among the rest, by `file_name` alone when
exactly one old and one new item carry that name: that pair is a *move*. (A version's file names
are unique across splits, so there every renamed split is a move.) A moved item whose image or
objects changed also appears under `changed`.

Objects are compared as a multiset of their canonical JSON, so reordering them is no change and
two identical boxes count twice. Classes are compared by index, because class ids are indices:
the same index under another name is a rename, and does not change the objects that use it.

Everything is one pass over dicts (O(items + objects)); only the entries returned are sorted
and built in full, so large diffs stay cheap.
"""

from __future__ import annotations

import heapq
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from lensforge.formats import Annotation, DatasetManifest, Item

_Key = tuple[str, str]  # (file_name, split or ""): sorts like the canonical manifest


class ItemRef(BaseModel):
    file_name: str
    split: str | None


class MovedItem(BaseModel):
    file_name: str
    old_split: str | None
    new_split: str | None


class ChangedItem(BaseModel):
    file_name: str
    split: str | None
    """The item's split in the newer version."""
    image_changed: bool
    old_sha256: str | None
    new_sha256: str | None
    annotations_added: list[dict[str, Any]]
    annotations_removed: list[dict[str, Any]]
    labels_added: list[int]
    labels_removed: list[int]


class ClassRef(BaseModel):
    id: int
    name: str


class ClassRename(BaseModel):
    id: int
    old_name: str
    new_name: str


class ClassChanges(BaseModel):
    added: list[ClassRef]
    removed: list[ClassRef]
    renamed: list[ClassRename]


class DiffSummary(BaseModel):
    items_added: int
    items_removed: int
    items_moved: int
    items_changed: int
    """Items (matched or moved) whose image or objects/labels differ."""
    images_changed: int
    annotations_changed: int
    """Items whose objects or labels differ."""
    items_unchanged: int
    """Items in the same split with the same image and objects."""
    annotations_added: int
    annotations_removed: int
    classes_added: int
    classes_removed: int
    classes_renamed: int


class VersionDiff(BaseModel):
    old_task: str
    new_task: str
    summary: DiffSummary
    classes: ClassChanges
    added: list[ItemRef]
    removed: list[ItemRef]
    moved: list[MovedItem]
    changed: list[ChangedItem]
    limit: int | None
    """At most this many entries per list (sorted by file name); the summary counts them all."""
    truncated: bool


def diff_manifests(
    old: DatasetManifest, new: DatasetManifest, *, limit: int | None = None
) -> VersionDiff:
    """The changes that turn `old` into `new`; lists hold at most `limit` entries each."""
    matching = _match(old.items, new.items)
    tally = _Tally()
    for before, after in matching.in_place:
        tally.compare(before, after, in_place=True)
    for before, after in matching.moved:
        tally.compare(before, after, in_place=False)
    classes = _class_changes(old.classes, new.classes)
    added, removed, moved = matching.added, matching.removed, matching.moved
    summary = DiffSummary(
        items_added=len(added),
        items_removed=len(removed),
        items_moved=len(moved),
        items_changed=len(tally.changed),
        images_changed=tally.images_changed,
        annotations_changed=tally.annotations_changed,
        items_unchanged=tally.unchanged,
        annotations_added=tally.annotations_added,
        annotations_removed=tally.annotations_removed,
        classes_added=len(classes.added),
        classes_removed=len(classes.removed),
        classes_renamed=len(classes.renamed),
    )
    longest = max(len(added), len(removed), len(moved), len(tally.changed))
    return VersionDiff(
        old_task=old.task.value,
        new_task=new.task.value,
        summary=summary,
        classes=classes,
        added=[ItemRef(file_name=i.file_name, split=i.split) for i in _first(added, limit)],
        removed=[ItemRef(file_name=i.file_name, split=i.split) for i in _first(removed, limit)],
        moved=[
            MovedItem(file_name=a.file_name, old_split=b.split, new_split=a.split)
            for b, a in _first_pairs(moved, limit)
        ],
        changed=[_changed_item(b, a) for b, a in _first_pairs(tally.changed, limit)],
        limit=limit,
        truncated=limit is not None and longest > limit,
    )


def _key(item: Item) -> _Key:
    return (item.file_name, item.split or "")


@dataclass
class _Matching:
    in_place: list[tuple[Item, Item]] = field(default_factory=list)
    moved: list[tuple[Item, Item]] = field(default_factory=list)
    added: list[Item] = field(default_factory=list)
    removed: list[Item] = field(default_factory=list)


def _match(old: Sequence[Item], new: Sequence[Item]) -> _Matching:
    old_items = {_key(item): item for item in old}
    new_items = {_key(item): item for item in new}
    result = _Matching()
    unmatched_new: dict[str, list[Item]] = {}
    for key, item in new_items.items():
        previous = old_items.get(key)
        if previous is not None:
            result.in_place.append((previous, item))
        else:
            unmatched_new.setdefault(item.file_name, []).append(item)
    unmatched_old: dict[str, list[Item]] = {}
    for key, item in old_items.items():
        if key not in new_items:
            unmatched_old.setdefault(item.file_name, []).append(item)
    for name, candidates in unmatched_new.items():
        gone = unmatched_old.get(name)
        # Only an unambiguous pair is a move; a name in several splits is added/removed as is.
        if gone is not None and len(gone) == 1 and len(candidates) == 1:
            result.moved.append((gone[0], candidates[0]))
            del unmatched_old[name]
        else:
            result.added.extend(candidates)
    result.removed = [item for items in unmatched_old.values() for item in items]
    return result


@dataclass
class _Tally:
    changed: list[tuple[Item, Item]] = field(default_factory=list)
    images_changed: int = 0
    annotations_changed: int = 0
    annotations_added: int = 0
    annotations_removed: int = 0
    unchanged: int = 0

    def compare(self, before: Item, after: Item, *, in_place: bool) -> None:
        image = _image_changed(before, after)
        plus, minus = _object_delta(before, after)
        if image or plus or minus:
            self.changed.append((before, after))
            self.images_changed += image
            self.annotations_changed += bool(plus or minus)
            self.annotations_added += len(plus)
            self.annotations_removed += len(minus)
        elif in_place:
            self.unchanged += 1


def _first(items: Sequence[Item], limit: int | None) -> list[Item]:
    if limit is None:
        return sorted(items, key=_key)
    # nsmallest: O(n log limit), not a full sort of a 100k-entry list to return 100 of them.
    return heapq.nsmallest(limit, items, key=_key)


def _first_pairs(pairs: Sequence[tuple[Item, Item]], limit: int | None) -> list[tuple[Item, Item]]:
    if limit is None:
        return sorted(pairs, key=lambda pair: _key(pair[1]))
    return heapq.nsmallest(limit, pairs, key=lambda pair: _key(pair[1]))


def _image_changed(before: Item, after: Item) -> bool:
    if before.sha256 is not None and after.sha256 is not None:
        return before.sha256 != after.sha256
    # Without hashes (manifests straight from a reader), the size is the best evidence left.
    return (before.width, before.height) != (after.width, after.height)


def _canonical(annotation: Annotation) -> str:
    # exclude_defaults drops empty polygons/keypoints and iscrowd=False, as the stored form does.
    data = annotation.model_dump(mode="json", exclude_defaults=True)
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def _object_delta(before: Item, after: Item) -> tuple[list[str], list[str]]:
    """Objects and labels only in `after` and only in `before`, as canonical JSON strings."""
    if before.annotations == after.annotations and before.labels == after.labels:
        return [], []  # the common case, and canonical manifests keep a stable object order
    old = Counter(_canonical(a) for a in before.annotations)
    new = Counter(_canonical(a) for a in after.annotations)
    old_labels, new_labels = set(before.labels), set(after.labels)
    plus = list((new - old).elements()) + [f"label:{i}" for i in sorted(new_labels - old_labels)]
    minus = list((old - new).elements()) + [f"label:{i}" for i in sorted(old_labels - new_labels)]
    return plus, minus


def _changed_item(before: Item, after: Item) -> ChangedItem:
    plus, minus = _object_delta(before, after)
    return ChangedItem(
        file_name=after.file_name,
        split=after.split,
        image_changed=_image_changed(before, after),
        old_sha256=before.sha256,
        new_sha256=after.sha256,
        annotations_added=_objects(plus),
        annotations_removed=_objects(minus),
        labels_added=_labels(plus),
        labels_removed=_labels(minus),
    )


def _objects(entries: Iterable[str]) -> list[dict[str, Any]]:
    return [json.loads(e) for e in sorted(entries) if not e.startswith("label:")]


def _labels(entries: Iterable[str]) -> list[int]:
    return sorted(int(e[6:]) for e in entries if e.startswith("label:"))


def _class_changes(old: list[str], new: list[str]) -> ClassChanges:
    renamed = [
        ClassRename(id=i, old_name=o, new_name=n)
        for i, (o, n) in enumerate(zip(old, new, strict=False))
        if o != n
    ]
    return ClassChanges(
        added=[ClassRef(id=i, name=new[i]) for i in range(len(old), len(new))],
        removed=[ClassRef(id=i, name=old[i]) for i in range(len(new), len(old))],
        renamed=renamed,
    )
