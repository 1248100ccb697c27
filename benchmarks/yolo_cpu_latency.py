"""CPU latency of a YOLO model: PyTorch (`.pt`) vs an exported ONNX file on onnxruntime.

Run with the Ultralytics trainer's interpreter (it needs torch, ultralytics and onnxruntime);
`ultralytics_overhead.py` calls it with the job's `best` checkpoint and its verified export:

    <trainer env>/bin/python benchmarks/yolo_cpu_latency.py MODEL.pt MODEL.onnx IMAGE [--runs 50]

Both models get the same letterboxed input tensor; blocks of runs alternate (PyTorch, ONNX,
PyTorch, ONNX; 5 warm-up calls each), so a busy machine slows both alike. Model forward only (no image decoding,
pre- or post-processing). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")

import cv2
import numpy as np
import torch
from ultralytics.data.augment import LetterBox
from ultralytics.nn.autobackend import AutoBackend


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("pt", type=Path)
    parser.add_argument("onnx", type=Path)
    parser.add_argument("image", type=Path)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    cpu = torch.device("cpu")
    pytorch = AutoBackend(str(args.pt), device=cpu, fuse=True, verbose=False)
    exported = AutoBackend(str(args.onnx), device=cpu, verbose=False)
    imgsz = int(exported.imgsz[0]) if hasattr(exported, "imgsz") else 640
    boxed = LetterBox((imgsz, imgsz), auto=False)(image=cv2.imread(str(args.image)))
    tensor = torch.from_numpy(
        np.ascontiguousarray(boxed[..., ::-1].transpose(2, 0, 1)[None]).astype("float32") / 255.0
    )
    times: dict[str, list[float]] = {"pytorch": [], "onnxruntime": []}
    half = max(1, args.runs // 2)
    with torch.inference_mode():
        # Blocks, not single calls, alternate: onnxruntime's threads spin for a while after a
        # run (and OpenMP's after torch's), which would slow the other runtime's next call.
        for _ in range(2):
            for name, model in (("pytorch", pytorch), ("onnxruntime", exported)):
                for index in range(half + 5):
                    began = time.perf_counter()
                    model(tensor)
                    if index >= 5:
                        times[name].append((time.perf_counter() - began) * 1000.0)

    def summary(values: list[float]) -> dict[str, float]:
        ordered = sorted(values)
        return {
            "median": round(statistics.median(ordered), 2),
            "p95": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
        }

    print(
        json.dumps(
            {"imgsz": imgsz, "runs": args.runs, "threads": torch.get_num_threads()}
            | {name: summary(values) for name, values in times.items()}
        )
    )


if __name__ == "__main__":
    main()
