"""`diff_manifests` on small hand-built manifests: matching, moves, objects, classes, limits."""

from __future__ import annotations

from typing import Any

from lensforge.datasets.diff import diff_manifests
from lensforge.formats import Annotation, DatasetManifest, Item, Task

SHA_A = "a" * 64
SHA_B = "b" * 64


def box(class_id: int, x: float = 0, **extra: Any) -> Annotation:
    return Annotation(class_id=class_id, bbox=(x, 0, 10, 10), **extra)


def item(name: str, split: str = "train", sha: str = SHA_A, **extra: Any) -> Item:
    return Item(file_name=name, width=100, height=100, split=split, sha256=sha, **extra)


def manifest(*items: Item, classes: tuple[str, ...] = ("cat", "dog")) -> DatasetManifest:
    return DatasetManifest(task=Task.DETECTION, classes=list(classes), items=list(items))


def test_identical_manifests_have_no_changes() -> None:
    m = manifest(item("a.jpg", annotations=[box(0)]), item("b.jpg", split="val"))
    diff = diff_manifests(m, m)
    assert diff.summary.items_unchanged == 2
    assert diff.summary.model_dump() == {
        **dict.fromkeys(diff.summary.model_dump(), 0),
        "items_unchanged": 2,
    }
    assert (diff.added, diff.removed, diff.moved, diff.changed) == ([], [], [], [])
    assert not diff.truncated


def test_added_removed_moved_and_changed() -> None:
    old = manifest(
        item("keep.jpg", annotations=[box(0), box(1)]),
        item("gone.jpg"),
        item("move.jpg", split="train", annotations=[box(0)]),
        item("image.jpg"),
        item("objects.jpg", annotations=[box(0), box(0), box(1, x=5)]),
    )
    new = manifest(
        # Reordered objects are no change.
        item("keep.jpg", annotations=[box(1), box(0)]),
        item("new.jpg", split="test"),
        item("move.jpg", split="val", annotations=[box(0)]),
        item("image.jpg", sha=SHA_B),
        # One of two identical boxes removed, one moved box: a multiset difference.
        item("objects.jpg", annotations=[box(0), box(1, x=6)]),
    )
    diff = diff_manifests(old, new)
    assert [(i.file_name, i.split) for i in diff.added] == [("new.jpg", "test")]
    assert [(i.file_name, i.split) for i in diff.removed] == [("gone.jpg", "train")]
    assert [(m.file_name, m.old_split, m.new_split) for m in diff.moved] == [
        ("move.jpg", "train", "val")
    ]
    changed = {c.file_name: c for c in diff.changed}
    assert set(changed) == {"image.jpg", "objects.jpg"}
    assert changed["image.jpg"].image_changed
    assert (changed["image.jpg"].old_sha256, changed["image.jpg"].new_sha256) == (SHA_A, SHA_B)
    objects = changed["objects.jpg"]
    assert not objects.image_changed
    assert objects.annotations_added == [{"class_id": 1, "bbox": [6.0, 0.0, 10.0, 10.0]}]
    assert objects.annotations_removed == [
        {"class_id": 0, "bbox": [0.0, 0.0, 10.0, 10.0]},
        {"class_id": 1, "bbox": [5.0, 0.0, 10.0, 10.0]},
    ]
    s = diff.summary
    assert (s.items_added, s.items_removed, s.items_moved, s.items_changed) == (1, 1, 1, 2)
    assert (s.images_changed, s.annotations_changed, s.items_unchanged) == (1, 1, 1)
    assert (s.annotations_added, s.annotations_removed) == (1, 2)


def test_moved_item_that_also_changed_is_listed_twice() -> None:
    old = manifest(item("m.jpg", split="train", annotations=[box(0)]))
    new = manifest(item("m.jpg", split="test", annotations=[box(1)]))
    diff = diff_manifests(old, new)
    assert len(diff.moved) == 1
    assert [c.split for c in diff.changed] == ["test"]
    assert diff.summary.items_unchanged == 0


def test_a_name_in_several_splits_is_not_a_move() -> None:
    old = manifest(item("x.jpg", split="train"))
    new = manifest(item("x.jpg", split="val"), item("x.jpg", split="test"))
    diff = diff_manifests(old, new)
    assert diff.moved == []
    assert [i.split for i in diff.added] == ["test", "val"]
    assert [i.split for i in diff.removed] == ["train"]


def test_classes_compared_by_index() -> None:
    old = manifest(classes=("cat", "dog", "bird"))
    renamed = manifest(classes=("cat", "puppy"))
    diff = diff_manifests(old, renamed)
    assert [(r.id, r.old_name, r.new_name) for r in diff.classes.renamed] == [(1, "dog", "puppy")]
    assert [(c.id, c.name) for c in diff.classes.removed] == [(2, "bird")]
    grown = diff_manifests(renamed, old)
    assert [(c.id, c.name) for c in grown.classes.added] == [(2, "bird")]
    assert grown.summary.classes_renamed == 1


def test_classification_labels() -> None:
    def cls(*items: Item) -> DatasetManifest:
        return DatasetManifest(task=Task.CLASSIFICATION, classes=["a", "b"], items=list(items))

    diff = diff_manifests(cls(item("x.jpg", labels=[0])), cls(item("x.jpg", labels=[1])))
    (changed,) = diff.changed
    assert (changed.labels_added, changed.labels_removed) == ([1], [0])
    assert changed.annotations_added == changed.annotations_removed == []


def test_limit_keeps_counts_and_returns_the_first_entries_by_name() -> None:
    old = manifest()
    new = manifest(*(item(f"{i:03}.jpg") for i in reversed(range(250))))
    diff = diff_manifests(old, new, limit=5)
    assert diff.summary.items_added == 250
    assert [i.file_name for i in diff.added] == [f"{i:03}.jpg" for i in range(5)]
    assert diff.truncated
    assert diff.limit == 5
    assert not diff_manifests(old, new, limit=250).truncated


def test_large_diff_is_linear_enough() -> None:
    # Pairwise matching would compare 400M pairs here; dict matching is instant. (Building the
    # items dominates the run time, so the size stays moderate.)
    n = 20_000
    old = [item(f"{i}.jpg", annotations=[box(0)]) for i in range(n)]
    new = [item(f"{i}.jpg", annotations=[box(0)]) for i in range(1, n + 1)]
    old_m = DatasetManifest.model_construct(task=Task.DETECTION, classes=["cat"], items=old)
    new_m = DatasetManifest.model_construct(task=Task.DETECTION, classes=["cat"], items=new)
    diff = diff_manifests(old_m, new_m, limit=10)
    assert (diff.summary.items_added, diff.summary.items_removed) == (1, 1)
    assert diff.summary.items_unchanged == n - 1
