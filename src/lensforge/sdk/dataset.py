"""`LocalDataset`: a downloaded dataset version, as files on disk plus its manifest."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MANIFEST_NAME = "manifest.json"
UNSPLIT = "unassigned"
"""The folder of items without a split (the server always sends one; a local manifest may not)."""


@dataclass(frozen=True)
class LocalDataset:
    """`root/manifest.json` (the version's canonical manifest: `task`, `classes`, `items` with
    `file_name`, `split`, `sha256`, `width`, `height`, `annotations` [{`class_id`, `bbox`
    [x, y, w, h] in pixels, `polygons`?, `keypoints`?}], `labels`) and one file per item at
    `root/images/<split>/<file_name>`."""

    root: Path
    manifest: dict[str, Any]
    version_id: str | None = None
    content_hash: str | None = None

    @classmethod
    def open(cls, root: str | Path) -> LocalDataset:
        """A dataset folder written by `download_dataset` (or laid out the same way by hand)."""
        folder = Path(root)
        data = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
        meta = data.pop("lensforge", {}) if isinstance(data.get("lensforge"), dict) else {}
        return cls(folder, data, meta.get("version_id"), meta.get("content_hash"))

    @property
    def task(self) -> str:
        return str(self.manifest["task"])

    @property
    def classes(self) -> list[str]:
        return [str(name) for name in self.manifest.get("classes", [])]

    def items(self, split: str | None = None) -> list[dict[str, Any]]:
        """The items of `split` (`train`, `val`, `test`), or all of them."""
        items: list[dict[str, Any]] = self.manifest.get("items", [])
        if split is None:
            return list(items)
        return [item for item in items if item.get("split") == split]

    def image_path(self, item: Mapping[str, Any]) -> Path:
        return self.root / relative_image_path(item)


def relative_image_path(item: Mapping[str, Any]) -> Path:
    name = str(item["file_name"])
    if name.startswith("/") or "\\" in name or any(p in ("", ".", "..") for p in name.split("/")):
        raise ValueError(f"{name!r} is not a relative POSIX path")
    return Path("images", str(item.get("split") or UNSPLIT), *name.split("/"))
