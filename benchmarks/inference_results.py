"""The server's cost of a model's results: checking them (`lensforge.inference.results`) when an
inference job reports them, and drawing them (`lensforge.inference.render`) for the rendered
image route.

- validation: a JSON Lines file of detection results (100 detections per image, segmentation
  polygons of 32 points) read with `iter_results`, in results per second and MB per second;
- rendering: `render_png` of a JPEG at 640, 1920 and 4032 pixels wide with 50 boxes, polygons
  and labels: median milliseconds and the peak of Python-allocated memory.

    .venv/bin/python benchmarks/inference_results.py [--images 2000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import io
import json
import math
import random
import statistics
import time
import tracemalloc
from typing import Any

from PIL import Image

from lensforge.inference.render import render_png
from lensforge.inference.results import iter_results, validate_result

CLASSES = [f"class-{i}" for i in range(80)]
SIZES = ((640, 480), (1920, 1080), (4032, 3024))


def detection_result(rng: random.Random, width: int, height: int, count: int) -> dict[str, Any]:
    detections = []
    for _ in range(count):
        x1, y1 = rng.uniform(0, width * 0.8), rng.uniform(0, height * 0.8)
        x2, y2 = x1 + rng.uniform(5, width * 0.2), y1 + rng.uniform(5, height * 0.2)
        cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2
        polygon = [
            [cx + rx * math.cos(a), cy + ry * math.sin(a)]
            for a in (2 * math.pi * k / 32 for k in range(32))
        ]
        class_id = rng.randrange(len(CLASSES))
        detections.append(
            {
                "class_id": class_id,
                "class_name": CLASSES[class_id],
                "score": round(rng.random(), 4),
                "box": [x1, y1, x2, y2],
                "polygon": polygon,
            }
        )
    return {
        "image": "frame.jpg",
        "width": width,
        "height": height,
        "task": "segmentation",
        "inference_ms": 10.0,
        "detections": detections,
    }


def bench_validation(images: int) -> None:
    rng = random.Random(0)
    lines = [
        json.dumps(detection_result(rng, 1920, 1080, 100)).encode() + b"\n" for _ in range(images)
    ]
    size = sum(len(line) for line in lines)
    started = time.perf_counter()
    count = sum(1 for _ in iter_results(lines, task="segmentation", classes=CLASSES))
    elapsed = time.perf_counter() - started
    print(
        f"validation: {count} results ({size / 1e6:.1f} MB, 100 detections each): "
        f"{count / elapsed:,.0f} results/s, {size / 1e6 / elapsed:.1f} MB/s"
    )


def bench_render(repeat: int) -> None:
    rng = random.Random(1)
    for width, height in SIZES:
        source = io.BytesIO()
        Image.new("RGB", (width, height), (90, 120, 150)).save(source, format="JPEG")
        result = validate_result(
            detection_result(rng, width, height, 50), task="segmentation", classes=CLASSES
        )
        timings = []
        for _ in range(repeat):
            source.seek(0)
            started = time.perf_counter()
            render_png(source, result)
            timings.append((time.perf_counter() - started) * 1000)
        source.seek(0)
        tracemalloc.start()
        render_png(source, result)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(
            f"render_png {width}×{height}, 50 detections: median {statistics.median(timings):.0f} "
            f"ms, peak Python memory {peak / 1e6:.1f} MB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    bench_validation(args.images)
    bench_render(args.repeat)


if __name__ == "__main__":
    main()
