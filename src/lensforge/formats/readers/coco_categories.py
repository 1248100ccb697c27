"""COCO categories -> Lensforge classes (0..n-1 in COCO id order) and the keypoint schema."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeGuard

from lensforge.formats.model import Task
from lensforge.formats.readers._common import ReadContext


@dataclass
class Categories:
    classes: list[str] = field(default_factory=list)
    class_of: dict[Any, int] = field(default_factory=dict)
    """COCO category id -> class id."""
    keypoints_of: dict[Any, int] = field(default_factory=dict)
    """COCO category id -> number of keypoints that category defines."""
    num_keypoints: int = 0
    keypoint_names: list[str] | None = None
    skeleton: list[tuple[int, int]] | None = None
    flip_idx: list[int] | None = None


def _collect(ctx: ReadContext, docs: list[tuple[str, dict[str, Any]]]) -> dict[Any, dict[str, Any]]:
    merged: dict[Any, dict[str, Any]] = {}
    for rel, data in docs:
        cats = data.get("categories", [])
        if not isinstance(cats, list):
            ctx.issue("invalid_structure", "'categories' must be a list", rel)
            continue
        for i, cat in enumerate(cats):
            if (
                not isinstance(cat, dict)
                or not isinstance(cat.get("id"), int | str)
                or not isinstance(cat.get("name"), str)
                or not cat["name"].strip()
            ):
                ctx.issue(
                    "invalid_structure", "a category needs 'id' and a 'name'", rel, object_index=i
                )
                continue
            known = merged.get(cat["id"])
            if known is not None and known["name"] != cat["name"]:
                ctx.issue(
                    "inconsistent_categories",
                    f"category id {cat['id']} is {cat['name']!r} here and {known['name']!r} "
                    "in another file",
                    rel,
                    object_index=i,
                )
                continue
            merged.setdefault(cat["id"], cat)
    return merged


def _used_ids(docs: list[tuple[str, dict[str, Any]]]) -> set[Any]:
    used: set[Any] = set()
    for _, data in docs:
        anns = data.get("annotations")
        if isinstance(anns, list):
            used.update(
                a["category_id"]
                for a in anns
                if isinstance(a, dict) and isinstance(a.get("category_id"), int | str)
            )
    return used


def _sort_key(cat_id: Any) -> tuple[int, Any]:
    return (0, cat_id) if isinstance(cat_id, int) else (1, str(cat_id))


def read_categories(
    ctx: ReadContext, docs: list[tuple[str, dict[str, Any]]], task: Task
) -> Categories:
    merged = _collect(ctx, docs)
    used = _used_ids(docs)
    supers: dict[str, set[Any]] = {}
    for cid, cat in merged.items():
        sup = cat.get("supercategory")
        if isinstance(sup, str) and sup:
            supers.setdefault(sup, set()).add(cid)
    out = Categories()
    first_rel = docs[0][0] if docs else None
    for cid in sorted(merged, key=_sort_key):
        cat = merged[cid]
        parents_of = supers.get(cat["name"], set()) - {cid}
        if parents_of and cid not in used:
            continue  # Roboflow's synthetic parent category
        name = cat["name"]
        if name in out.classes:
            ctx.issue(
                "duplicate_class_name",
                f"categories {cid!r} and another share the name {name!r}; merged",
                first_rel,
            )
            out.class_of[cid] = out.classes.index(name)
        else:
            out.class_of[cid] = len(out.classes)
            out.classes.append(name)
        kps = cat.get("keypoints")
        out.keypoints_of[cid] = len(kps) if isinstance(kps, list) else 0
    if task is Task.POSE:
        _keypoint_schema(ctx, out, [merged[c] for c in out.class_of], first_rel)
    return out


def _keypoint_schema(
    ctx: ReadContext, out: Categories, cats: list[dict[str, Any]], rel: str | None
) -> None:
    with_kps = [c for c in cats if isinstance(c.get("keypoints"), list) and c["keypoints"]]
    if not with_kps:
        ctx.issue("invalid_structure", "no category defines 'keypoints' for a pose dataset", rel)
        return
    lists = [[str(n) for n in c["keypoints"]] for c in with_kps]
    out.num_keypoints = max(len(names) for names in lists)
    if any(names != lists[0] for names in lists):
        ctx.issue(
            "keypoint_schemas_differ",
            f"categories define different keypoints; {out.num_keypoints} are used, shorter "
            "lists are padded with unlabelled points",
            rel,
        )
        return
    k = out.num_keypoints
    if len(set(lists[0])) == k:
        out.keypoint_names = lists[0]
    skeleton = with_kps[0].get("skeleton")
    if isinstance(skeleton, list) and all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(i, int) and 1 <= i <= k for i in p)
        for p in skeleton
    ):
        out.skeleton = [(p[0] - 1, p[1] - 1) for p in skeleton]
    flip = with_kps[0].get("flip_idx")
    if _int_list(flip) and sorted(flip) == list(range(k)):
        out.flip_idx = [int(i) for i in flip]


def _int_list(value: object) -> TypeGuard[list[int]]:
    """A list of integers only: `sorted` of mixed types would raise instead of comparing."""
    return isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    )
