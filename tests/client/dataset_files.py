"""Tiny real datasets on disk for the client and CLI tests: Pillow images, YOLO labels."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from PIL import Image

# Image name -> YOLO label rows (class cx cy w h, normalised); classes cat (0) and dog (1).
PETS: dict[str, list[str]] = {
    "a": ["0 0.5 0.5 0.25 0.5", "1 0.25 0.25 0.1 0.1"],
    "b": ["1 0.5 0.5 0.5 0.5"],
    "c": ["0 0.3 0.3 0.2 0.2"],
    "d": ["1 0.6 0.6 0.2 0.3", "1 0.2 0.2 0.1 0.1"],
}
PETS_OBJECTS = sum(len(rows) for rows in PETS.values())


def yolo_folder(
    root: Path, boxes: dict[str, list[str]] = PETS, *, noise_side: int | None = None
) -> Path:
    """`images/*.jpg` (or random-noise `*.png` of `noise_side` pixels, which do not compress:
    a few of them make an archive of several MiB), `labels/*.txt` and `data.yaml`."""
    for index, (name, rows) in enumerate(boxes.items()):
        if noise_side is None:
            image = Image.new("RGB", (64 + index, 48), (40 * index % 256, 90, 160))
            path = root / "images" / f"{name}.jpg"
        else:
            data = os.urandom(noise_side * noise_side * 3)
            image = Image.frombytes("RGB", (noise_side, noise_side), data)
            path = root / "images" / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path)
        label = root / "labels" / f"{name}.txt"
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text("".join(row + "\n" for row in rows))
    (root / "data.yaml").write_text("names:\n  - cat\n  - dog\n")
    return root


def broken_folder(root: Path) -> Path:
    """Class id 7 on the first line of `labels/a.txt`: only cat and dog exist."""
    return yolo_folder(root, {"a": ["7 0.5 0.5 0.2 0.2"], "b": ["0 0.5 0.5 0.2 0.2"]})


def zip_folder(folder: Path, destination: Path) -> Path:
    with zipfile.ZipFile(destination, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return destination
