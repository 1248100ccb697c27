"""Ultralytics `data.yaml` (and the class lists of other YOLO exports) as Lensforge reads them.

Paths in `data.yaml` were written on another machine: `path` is used only when it names a
folder inside the dataset, otherwise the YAML's folder is the root. Each split entry (a folder,
a `.txt` list of images, or a list of either) is tried as written, then with a leading `../`
removed (Roboflow's `../train/images`, as Ultralytics retries), then by its tails, longest first
(`/home/me/ds/images/train` -> `images/train`; Roboflow SDK's `project/train/images`).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from lensforge.formats.files import (
    FileIndex,
    is_inside,
    normalize_relative,
    suffixes,
)
from lensforge.formats.layout import CLASS_FILES
from lensforge.formats.model import MAX_CLASSES, MAX_KEYPOINTS, Split
from lensforge.formats.readers._common import ReadContext

CONFIG_NAMES = ("data.yaml", "data.yml", "dataset.yaml", "dataset.yml")
_SPLIT_KEYS: dict[str, Split] = {
    "train": "train",
    "val": "val",
    "validation": "val",
    "test": "test",
}


@dataclass
class SplitSource:
    split: Split
    key: str
    folder: str | None = None
    list_file: str | None = None


@dataclass
class YoloConfig:
    file: str | None = None
    classes: list[str] | None = None
    kpt_shape: tuple[int, int] | None = None
    flip_idx: list[int] | None = None
    keypoint_names: list[str] | None = None
    skeleton: list[tuple[int, int]] | None = None
    sources: list[SplitSource] = field(default_factory=list)
    has_split_keys: bool = False
    names_error: bool = False
    """data.yaml was unreadable or its class names malformed (already reported)."""
    list_files: set[str] = field(default_factory=set)


def find_config(index: FileIndex) -> str | None:
    for name in CONFIG_NAMES:
        found = index.find(name)
        if found:
            return found
    for rel in index.files_in(""):
        if rel.lower().endswith((".yaml", ".yml")):
            return rel
    return None


def read_config(ctx: ReadContext) -> YoloConfig:
    rel = find_config(ctx.index)
    cfg = YoloConfig(file=rel)
    if rel is not None:
        errors_before = ctx.report.error_count
        data = ctx.load_yaml(rel)
        if data is not None and not isinstance(data, dict):
            ctx.issue("invalid_structure", "data.yaml must be a mapping of keys", rel)
        elif isinstance(data, dict):
            _parse(ctx, rel, data, cfg)
        cfg.names_error = cfg.classes is None and ctx.report.error_count > errors_before
    if cfg.classes is None:
        cfg.classes = _class_file(ctx)
    return cfg


def _class_file(ctx: ReadContext) -> list[str] | None:
    for name in CLASS_FILES:
        found = ctx.index.find(name)
        if found is None:
            continue
        text = ctx.read_text(found)
        if text is None:
            return None
        names = [line.strip() for line in text.splitlines()]
        while names and not names[-1]:
            names.pop()
        if len(set(names)) != len(names) or any(not n for n in names):
            ctx.issue("invalid_class_names", "class names must be non-empty and unique", found)
            return None
        return names
    return None


def _parse(ctx: ReadContext, rel: str, data: dict[Any, Any], cfg: YoloConfig) -> None:
    cfg.classes = _names(ctx, rel, data)
    _keypoints(ctx, rel, data, cfg)
    base = posixpath.dirname(rel)
    root = _root(ctx, base, data.get("path"))
    for key, split in _SPLIT_KEYS.items():
        value = data.get(key)
        if value in (None, "", []):
            continue
        cfg.has_split_keys = True
        entries = value if isinstance(value, list) else [value]
        for entry in entries:
            if not isinstance(entry, str):
                ctx.issue("invalid_structure", f"{key}: {entry!r} is not a path", rel)
                continue
            resolved = _resolve_entry(ctx, root, base, entry)
            if resolved is None:
                ctx.issue(
                    "split_path_missing",
                    f"{key}: {entry!r} does not exist in the dataset; split skipped",
                    rel,
                )
                continue
            found, is_list = resolved
            if is_list:
                cfg.list_files.add(found)
                cfg.sources.append(SplitSource(split, key, list_file=found))
            else:
                cfg.sources.append(SplitSource(split, key, folder=found))


def _names(ctx: ReadContext, rel: str, data: dict[Any, Any]) -> list[str] | None:
    names = data.get("names")
    nc = data.get("nc")
    classes: list[str] | None
    if isinstance(names, list):
        classes = [str(n) for n in names]
    elif isinstance(names, dict):
        try:
            keyed = {int(k): str(v) for k, v in names.items()}
        except (TypeError, ValueError):
            keyed = {}
        if sorted(keyed) != list(range(len(names))):
            ctx.issue(
                "invalid_class_names",
                f"names keys must be exactly 0..{len(names) - 1}, got {list(names)}",
                rel,
            )
            return None
        classes = [keyed[i] for i in range(len(keyed))]
    elif names is None and isinstance(nc, int) and 0 < nc <= MAX_CLASSES:
        ctx.issue("class_names_missing", f"no names: classes are named 0..{nc - 1}", rel)
        return [str(i) for i in range(nc)]
    elif names is None:
        if nc is not None:
            ctx.issue("invalid_class_names", f"nc must be 1..{MAX_CLASSES}, got {nc!r}", rel)
        return None
    else:
        ctx.issue("invalid_class_names", "names must be a list or a mapping {id: name}", rel)
        return None
    if nc is not None and nc != len(classes):
        ctx.issue("invalid_class_names", f"nc is {nc} but names has {len(classes)} entries", rel)
        return None
    if len(set(classes)) != len(classes) or any(not c.strip() for c in classes):
        ctx.issue("invalid_class_names", "class names must be non-empty and unique", rel)
        return None
    return classes


def _keypoints(ctx: ReadContext, rel: str, data: dict[Any, Any], cfg: YoloConfig) -> None:
    shape = data.get("kpt_shape")
    if shape is None:
        return
    if (
        not isinstance(shape, list)
        or len(shape) != 2
        or not all(isinstance(v, int) for v in shape)
        or not 1 <= shape[0] <= MAX_KEYPOINTS
        or shape[1] not in (2, 3)
    ):
        ctx.issue("invalid_structure", f"kpt_shape must be [keypoints, 2 or 3], got {shape}", rel)
        return
    k = shape[0]
    cfg.kpt_shape = (k, shape[1])
    flip = data.get("flip_idx")
    if flip is not None:
        if _int_list(flip) and sorted(flip) == list(range(k)):
            cfg.flip_idx = [int(v) for v in flip]
        else:
            ctx.issue("invalid_structure", f"flip_idx must be a permutation of 0..{k - 1}", rel)
    cfg.keypoint_names = _keypoint_names(data.get("kpt_names"), k)
    skeleton = data.get("skeleton")
    if isinstance(skeleton, list) and all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(i, int) and 0 <= i < k for i in p)
        for p in skeleton
    ):
        cfg.skeleton = [(p[0], p[1]) for p in skeleton]


def _keypoint_names(value: Any, k: int) -> list[str] | None:
    """Ultralytics writes `kpt_names: {class: [names]}`; one shared list is kept."""
    lists = list(value.values()) if isinstance(value, dict) else value
    if isinstance(lists, list) and lists and all(isinstance(v, str) for v in lists):
        lists = [lists]
    if not isinstance(lists, list) or not lists:
        return None
    first = lists[0]
    if not isinstance(first, list) or len(first) != k or any(v != first for v in lists):
        return None
    names = [str(v) for v in first]
    return names if len(set(names)) == k else None


def _root(ctx: ReadContext, base: str, path: Any) -> str:
    if not isinstance(path, str) or not path.strip():
        return base
    joined = posixpath.normpath(posixpath.join(base, normalize_relative(path)))
    joined = "" if joined == "." else joined
    if is_inside(joined) or joined == "":
        found = ctx.index.find_dir(joined)
        if found is not None:
            return found
    for tail in suffixes(path):
        found = ctx.index.find_dir(tail)
        if found:
            return found
    return base


def _resolve_entry(ctx: ReadContext, root: str, base: str, entry: str) -> tuple[str, bool] | None:
    """(path, is a list file) of a split entry, or None."""
    raw = normalize_relative(entry)
    candidates: list[str] = []
    for start in (root, base):
        joined = posixpath.normpath(posixpath.join(start, raw)) if raw else start
        candidates.append("" if joined == "." else joined)
    if raw.startswith("../"):
        candidates.append(posixpath.join(root, raw[3:]))
    candidates += [posixpath.join(root, t) for t in suffixes(entry)] + list(suffixes(entry))
    for cand in candidates:
        if cand and not is_inside(cand):
            continue
        if cand.lower().endswith(".txt"):
            found = ctx.index.find(cand)
            if found:
                return found, True
            continue
        folder = ctx.index.find_dir(cand)
        if folder is not None:
            return folder, False
    return None


def resolve_listed_image(ctx: ReadContext, list_file: str, line: str) -> str | None:
    """An image named in a `train.txt`-style list: `./x` is relative to the list's folder
    (Ultralytics); other lines are tried from the dataset root, without the Darknet `data/`
    prefix, relative to the list, and finally by their tails."""
    raw = normalize_relative(line)
    folder = posixpath.dirname(list_file)
    candidates = []
    if line.strip().startswith("./"):
        candidates.append(posixpath.join(folder, raw))
    candidates += [raw, posixpath.join(folder, raw)]
    if raw.startswith("data/"):
        candidates.append(raw[5:])
    candidates += list(suffixes(line))
    for cand in candidates:
        if is_inside(cand):
            found = ctx.index.find(cand)
            if found:
                return found
    return None


def _int_list(value: object) -> TypeGuard[list[int]]:
    """A list of integers only: `sorted` of mixed types would raise instead of comparing."""
    return isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    )
