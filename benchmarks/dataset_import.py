"""Dataset import throughput, peak memory and de-duplicated storage.

Generates a COCO detection dataset of N small JPEGs (default 10,000), uploads it as a zip through
the resumable upload API and imports it, twice into two datasets of one organization, on the
embedded defaults (SQLite, local storage). Reports images/s, the process's peak memory and the
storage used after each import (the second import must not double it).

    .venv/bin/python benchmarks/dataset_import.py [--images 10000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import shutil
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from PIL import Image

from lensforge.app import create_app
from lensforge.config import Settings

PART = 16 * 1024 * 1024
PASSWORD = "benchmark password 1234"


def generate_coco(root: Path, count: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    images_dir = root / "images"
    images_dir.mkdir(parents=True)
    images, annotations = [], []
    for index in range(count):
        width, height = rng.choice([(64, 48), (80, 60), (96, 72)])
        color = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        name = f"img_{index:06d}.jpg"
        Image.new("RGB", (width, height), color).save(images_dir / name, quality=80)
        images.append({"id": index + 1, "file_name": name, "width": width, "height": height})
        for _ in range(rng.randint(1, 3)):
            w, h = rng.randint(4, width // 2), rng.randint(4, height // 2)
            x, y = rng.randint(0, width - w), rng.randint(0, height - h)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": index + 1,
                    "category_id": rng.randint(1, 3),
                    "bbox": [x, y, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
    categories = [{"id": i, "name": name} for i, name in enumerate(["cat", "dog", "bird"], 1)]
    (root / "annotations.json").write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )
    archive = root.parent / "coco.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as z:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                z.write(path, path.relative_to(root).as_posix())
    return archive


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def import_once(
    client: TestClient, headers: dict[str, str], project: str, name: str, archive: Path
) -> dict[str, Any]:
    dataset = client.post(
        "/api/v1/datasets",
        json={"project_id": project, "name": name, "task": "detection"},
        headers=headers,
    ).json()["id"]
    started = time.perf_counter()
    size = archive.stat().st_size
    upload = client.post(
        "/api/v1/uploads",
        json={
            "project_id": project,
            "filename": archive.name,
            "total_size": size,
            "part_size": PART,
        },
        headers=headers,
    ).json()
    with archive.open("rb") as stream:
        number = 1
        while chunk := stream.read(PART):
            client.put(
                f"/api/v1/uploads/{upload['id']}/parts/{number}",
                content=chunk,
                headers={**headers, "Content-Type": "application/octet-stream"},
            )
            number += 1
    client.post(f"/api/v1/uploads/{upload['id']}/complete", headers=headers).raise_for_status()
    uploaded = time.perf_counter()
    job = client.post(
        f"/api/v1/datasets/{dataset}/imports",
        json={"source": {"kind": "upload", "upload_id": upload["id"]}},
        headers=headers,
    ).json()
    while True:
        status = client.get(f"/api/v1/datasets/imports/{job['id']}", headers=headers).json()
        if status["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.2)
    done = time.perf_counter()
    if status["status"] != "succeeded":
        raise SystemExit(f"import failed: {status['error']}")
    return {"upload_s": uploaded - started, "import_s": done - uploaded, "total_s": done - started}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--keep", type=Path, help="keep the working folder here")
    args = parser.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="lf-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        archive = generate_coco(work / "coco", args.images)
        print(
            f"generated {args.images} images ({archive.stat().st_size / 2**20:.1f} MiB zip) "
            f"in {time.perf_counter() - t0:.1f}s"
        )
        settings = Settings.model_validate(
            {
                "env": "production",
                "data_dir": str(work / "data"),
                "log_level": "WARNING",
                "security": {"secret_key": secrets.token_urlsafe(48)},
            }
        )
        with TestClient(create_app(settings)) as client:
            client.post(
                "/api/v1/auth/signup",
                json={"email": "perf@example.com", "password": PASSWORD, "display_name": "Bench"},
            ).raise_for_status()
            token = client.post(
                "/api/v1/auth/login", json={"email": "perf@example.com", "password": PASSWORD}
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            project = client.post(
                "/api/v1/projects", json={"name": "bench"}, headers=headers
            ).json()["id"]
            images_dir = settings.local_storage_root / "orgs"
            results = []
            for run in ("first", "second"):
                timing = import_once(client, headers, project, f"coco-{run}", archive)
                stored = folder_bytes(images_dir)
                results.append((run, timing, stored))
                print(
                    f"{run} import: upload {timing['upload_s']:.1f}s, import {timing['import_s']:.1f}s "
                    f"({args.images / timing['import_s']:.0f} images/s), "
                    f"storage {stored / 2**20:.1f} MiB"
                )
        print(f"peak memory (whole process, RSS high-water mark): {peak_rss_mib():.0f} MiB")
        first, second = results[0][2], results[1][2]
        growth = (second - first) / first * 100 if first else float("nan")
        print(
            f"storage growth from the second import of the same data: {growth:.2f}% "
            f"(images are stored once; the rest is the per-version manifest)"
        )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
