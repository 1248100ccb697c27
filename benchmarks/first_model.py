"""A first YOLO model from scratch on the raccoons: which epochs, image size and batch give
boxes on held-out images in a few minutes on a CPU (the README walk's defaults come from here).

Runs plain Ultralytics (no platform) in the Ultralytics trainer's environment, on the raccoon
VOC set split as the platform splits it by default (80/10/10, seeded): trains from the
architecture YAML (no pretrained weights), then evaluates `best` on the test split and counts
the test images with at least one box at several confidence thresholds. Prints one Markdown row
per configuration: wall time, CPU time (what a dedicated machine's cores would spend), test
mAP50 and mAP50-95, images with boxes.

    .cache/trainer-envs/<hash>/bin/python benchmarks/first_model.py yolo11n:128:30:8 [...]

Each argument is MODEL:IMGSZ:EPOCHS:BATCH (`nbs` = batch: the train split is small).
"""

from __future__ import annotations

import os
import random
import resource
import shutil
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

from tests.fixtures.shared_data import RACCOON  # noqa: E402 - after the path is set

CONFS = (0.25, 0.1, 0.05)


def yolo_dataset(out: Path) -> Path:
    names = sorted(p.stem for p in (RACCOON / "images").glob("*.jpg"))
    random.Random(0).shuffle(names)
    splits = {"train": names[:160], "val": names[160:180], "test": names[180:]}
    for split, members in splits.items():
        (out / "images" / split).mkdir(parents=True)
        (out / "labels" / split).mkdir(parents=True)
        for name in members:
            shutil.copyfile(
                RACCOON / "images" / f"{name}.jpg", out / "images" / split / f"{name}.jpg"
            )
            root = ET.parse(RACCOON / "annotations" / f"{name}.xml").getroot()
            width = float(root.findtext("size/width") or 1)
            height = float(root.findtext("size/height") or 1)
            lines = []
            for box in root.iter("bndbox"):
                x1, y1, x2, y2 = (
                    float(box.findtext(k) or 0) for k in ("xmin", "ymin", "xmax", "ymax")
                )
                lines.append(
                    f"0 {(x1 + x2) / 2 / width:.6f} {(y1 + y2) / 2 / height:.6f} "
                    f"{(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}"
                )
            (out / "labels" / split / f"{name}.txt").write_text("\n".join(lines) + "\n")
    data = out / "data.yaml"
    data.write_text(
        f"path: {out}\ntrain: images/train\nval: images/val\ntest: images/test\n"
        "names:\n  0: raccoon\n"
    )
    return data


def run(data: Path, runs: Path, model: str, imgsz: int, epochs: int, batch: int) -> dict[str, Any]:
    from ultralytics import YOLO

    name = f"{model}-{imgsz}-{epochs}-{batch}"
    cpu_before = _cpu_seconds()
    started = time.monotonic()
    YOLO(f"{model}.yaml").train(
        data=str(data), imgsz=imgsz, epochs=epochs, batch=batch, nbs=batch, device="cpu",
        workers=0, plots=False, project=str(runs), name=name, exist_ok=True, amp=False,
        verbose=False,
    )  # fmt: skip
    wall, cpu = time.monotonic() - started, _cpu_seconds() - cpu_before
    best = YOLO(str(runs / name / "weights" / "best.pt"))
    metrics = best.val(data=str(data), split="test", imgsz=imgsz, plots=False, verbose=False)
    test_images = data.parent / "images" / "test"
    with_boxes = {
        conf: sum(1 for r in best.predict(str(test_images), imgsz=imgsz, conf=conf, verbose=False)
                  if len(r.boxes))
        for conf in CONFS
    }  # fmt: skip
    return {
        "config": name,
        "wall": wall,
        "cpu": cpu,
        "map50": float(metrics.box.map50),
        "map": float(metrics.box.map),
        "boxes": with_boxes,
        "images": len(list(test_images.iterdir())),
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(configs: list[str]) -> None:
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    with tempfile.TemporaryDirectory(prefix="first-model-") as folder:
        data = yolo_dataset(Path(folder) / "raccoons")
        print("| model:imgsz:epochs:batch | wall | CPU time | test mAP50 | mAP50-95 | "
              + " | ".join(f"boxes @{c}" for c in CONFS) + " |")  # fmt: skip
        for config in configs:
            model, imgsz, epochs, batch = config.split(":")
            r = run(data, Path(folder) / "runs", model, int(imgsz), int(epochs), int(batch))
            boxes = " | ".join(f"{r['boxes'][c]}/{r['images']}" for c in CONFS)
            print(
                f"| {r['config']} | {r['wall']:.0f} s | {r['cpu']:.0f} s | {r['map50']:.3f} | "
                f"{r['map']:.3f} | {boxes} |",
                flush=True,
            )


if __name__ == "__main__":
    main(sys.argv[1:] or ["yolo11n:128:30:8"])
