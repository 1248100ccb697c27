"""Small datasets on disk, and versions made from them through the public import API."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image

from tests.datasets.importing import (
    create_dataset,
    create_project,
    import_archive,
    zip_folder,
)
from tests.fixtures.app import Account

_ORIENTATION = 0x0112


@dataclass
class Version:
    project_id: str
    dataset_id: str
    number: int
    folder: Path
    """The source files, to compare served images with."""

    def url(self, rest: str = "") -> str:
        return f"/api/v1/datasets/{self.dataset_id}/versions/{self.number}{rest}"


def _color(name: str) -> tuple[int, int, int]:
    """A colour per image name (all channels dim), so the same name gives the same bytes
    whichever split or dataset it is written into."""
    digest = hashlib.sha256(name.encode()).digest()
    return (30 + digest[0] % 150, 30 + digest[1] % 150, 30 + digest[2] % 150)


def write_image(
    path: Path, size: tuple[int, int], color: tuple[int, int, int], *, orientation: int = 1
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", size, color)
    # A bright corner, so a wrongly rotated thumbnail would show it in the wrong place.
    image.paste((255, 255, 255), (0, 0, size[0] // 4, size[1] // 4))
    if path.suffix == ".png":
        image.save(path, "PNG")
        return
    exif = Image.Exif()
    if orientation != 1:
        exif[_ORIENTATION] = orientation
    image.save(path, "JPEG", exif=exif)


# Per split: image name -> (stored size, label rows, EXIF orientation).
DETECTION: dict[str, dict[str, tuple[tuple[int, int], list[str], int]]] = {
    "train": {
        "a.jpg": ((640, 480), ["0 0.5 0.5 0.25 0.5", "1 0.25 0.25 0.1 0.1"], 1),
        # Stored 120x60, shown upright as 60x120 (orientation 6: rotate 90° clockwise).
        "b.jpg": ((120, 60), ["1 0.5 0.5 0.5 0.5", "1 0.2 0.2 0.2 0.2"], 6),
        "c.png": ((200, 100), [], 1),
    },
    "val": {"d.jpg": ((300, 300), ["0 0.5 0.5 0.2 0.2"], 1)},
}


def yolo_dataset(
    folder: Path,
    layout: dict[str, dict[str, tuple[tuple[int, int], list[str], int]]] = DETECTION,
) -> Path:
    """A YOLO detection dataset with its own train/val splits and classes cat, dog."""
    for split, images in layout.items():
        for name, (size, rows, orientation) in images.items():
            path = folder / "images" / split / name
            write_image(path, size, _color(name), orientation=orientation)
            label = folder / "labels" / split / (Path(name).stem + ".txt")
            label.parent.mkdir(parents=True, exist_ok=True)
            label.write_text("".join(row + "\n" for row in rows))
    splits = "".join(f"{split}: images/{split}\n" for split in layout)
    (folder / "data.yaml").write_text(f"{splits}names:\n  0: cat\n  1: dog\n")
    return folder


def imagefolder_dataset(folder: Path) -> Path:
    """ImageFolder classification: `<split>/<class>/<image>`."""
    for index, rel in enumerate(
        ["train/cat/1.jpg", "train/cat/2.jpg", "train/dog/3.jpg", "val/dog/4.jpg"]
    ):
        write_image(folder / rel, (50 + index, 40), (30 * index, 60, 90))
    return folder


def make_version(
    client: TestClient,
    account: Account,
    folder: Path,
    *,
    task: str = "detection",
    format: str = "yolo",
    name: str = "data",
    into: Version | None = None,
) -> Version:
    """Import `folder` as a new dataset (or as the next version of `into`'s dataset)."""
    if into is None:
        project = create_project(client, account, name=f"project-{name}")
        dataset = create_dataset(client, account, project, task=task, name=name)
    else:
        project, dataset = into.project_id, into.dataset_id
    archive = zip_folder(folder, folder.parent / f"{folder.name}.zip")
    result = import_archive(client, account, dataset, project, archive, format=format)
    assert result["status"] == "succeeded", result
    return Version(project, dataset, int(result["version_number"]), folder)
