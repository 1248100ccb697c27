"""The Ultralytics trainer through Lensforge vs the plain `yolo train` command line, on the
same data and config, and the exported ONNX model's CPU latency vs PyTorch's.

Real `lensforge server` and `lensforge worker` processes (SQLite, local storage); the trainer
runs in its isolated environment (built once, like the tests', under `.cache/` of the
repository). The raccoon VOC set (200 images) is imported through the API; the job's own
dataset folder (the split the platform chose, hard links to the cached images) is then given
to `yolo train` with the same arguments. Rounds alternate (plain, Lensforge) so a busy machine
slows both alike.

    .venv/bin/python benchmarks/ultralytics_overhead.py [--epochs 5] [--imgsz 128]
        [--batch 16] [--rounds 2]

Reported: wall time of each run; the Lensforge figure is create → completed as the user sees
it (queueing, interpreter start, dataset download into the cache, layout, training, reports,
checkpoint uploads); the ratio to `yolo train`. Then ONNX exports at the training size and at
640 px, verified by the trainer: PyTorch vs onnxruntime latency on the CPU (median, p95).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

import httpx

from benchmarks.training_jobs import free_port, start, wait_ready
from lensforge.config import Settings, TrainerSettings
from lensforge.trainers.environments import EnvironmentManager
from lensforge.trainers.manifest import TrainerManifest

REPOSITORY = Path(__file__).resolve().parents[1]
CACHE = REPOSITORY / ".cache"
MANIFEST = REPOSITORY / "src/lensforge/trainers/ultralytics/manifest.json"
PASSWORD = "benchmark password 1234"


def raccoon() -> Path:
    for root in (REPOSITORY.parent / "shared", Path("/work/shared")):
        if (root / "data/raccoon-voc").is_dir():
            return root / "data/raccoon-voc"
    raise SystemExit("shared/data/raccoon-voc not found")


def trainer_python() -> Path:
    settings = Settings(
        trainers=TrainerSettings(
            envs_dir=str(CACHE / "trainer-envs"), uv_cache_dir=str(CACHE / "uv-cache")
        )
    )
    manifest = TrainerManifest.model_validate(json.loads(MANIFEST.read_text()))
    return EnvironmentManager(settings).python_for(manifest, lambda line: None)


def import_raccoon(api: httpx.Client, work: Path) -> tuple[dict[str, str], str, str]:
    api.post(
        "/auth/signup",
        json={"email": "perf@example.com", "password": PASSWORD, "display_name": "Perf"},
    ).raise_for_status()
    token = api.post("/auth/login", json={"email": "perf@example.com", "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    project = api.post("/projects", json={"name": "bench"}, headers=headers).json()["id"]
    dataset = api.post(
        "/datasets",
        json={"project_id": project, "name": "raccoon", "task": "detection"},
        headers=headers,
    ).json()["id"]
    archive = work / "raccoon.zip"
    source = raccoon()
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted(source.rglob("*")):
            if path.is_file():
                z.write(path, path.relative_to(source).as_posix())
    size = archive.stat().st_size
    part = 8 << 20
    upload = api.post(
        "/uploads",
        json={
            "project_id": project,
            "filename": "raccoon.zip",
            "total_size": size,
            "part_size": part,
        },
        headers=headers,
    ).json()
    with archive.open("rb") as handle:
        for number in range(1, -(-size // part) + 1):
            api.put(
                f"/uploads/{upload['id']}/parts/{number}",
                content=handle.read(part),
                headers={**headers, "Content-Type": "application/octet-stream"},
            ).raise_for_status()
    api.post(f"/uploads/{upload['id']}/complete", headers=headers).raise_for_status()
    started = api.post(
        f"/datasets/{dataset}/imports",
        json={"source": {"kind": "upload", "upload_id": upload["id"]}},
        headers=headers,
    ).json()
    while True:
        state = api.get(f"/datasets/imports/{started['id']}", headers=headers).json()
        if state["status"] == "succeeded":
            return headers, project, dataset
        if state["status"] == "failed":
            raise SystemExit(f"import failed: {state}")
        time.sleep(0.2)


def wait(api: httpx.Client, path: str, headers: dict[str, str]) -> dict[str, Any]:
    while True:
        body: dict[str, Any] = api.get(path, headers=headers).json()
        if body["status"] in ("completed", "failed", "cancelled"):
            return body
        time.sleep(0.1)


def lensforge_run(
    api: httpx.Client, headers: dict[str, str], project: str, dataset: str, config: dict[str, Any]
) -> tuple[float, dict[str, Any]]:
    began = time.perf_counter()
    job = api.post(
        "/training/jobs",
        json={
            "project_id": project,
            "dataset_id": dataset,
            "trainer": "ultralytics",
            "model": "yolov8n",
            "config": config,
        },
        headers=headers,
    ).json()
    done = wait(api, f"/training/jobs/{job['id']}", headers)
    elapsed = time.perf_counter() - began
    if done["status"] != "completed":
        raise SystemExit(f"job {done['status']}: {done['status_reason']}")
    return elapsed, done


def yolo_env(work: Path) -> dict[str, str]:
    """The same offline variables the trainer sets, and a config dir with the font."""
    config = work / "yolo-config"
    (config / "Ultralytics").mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LENSFORGE_")}
    return env | {
        "YOLO_OFFLINE": "1",
        "YOLO_AUTOINSTALL": "false",
        "CI": "true",
        "YOLO_CONFIG_DIR": str(config),
        "MPLCONFIGDIR": str(config / "matplotlib"),
    }


def plain_run(python: Path, work: Path, data: Path, args: dict[str, Any], index: int) -> float:
    yolo = python.parent / "yolo"
    argv = [str(yolo), "train", f"data={data}", "model=yolov8n.yaml", "pretrained=False"]
    argv += [f"{k}={v}" for k, v in args.items()]
    argv += [f"project={work / 'plain-runs'}", f"name=run{index}", "exist_ok=True", "plots=False"]
    began = time.perf_counter()
    log = work / f"plain-{index}.log"
    code = subprocess.call(
        argv, env=yolo_env(work), stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    if code:
        raise SystemExit(f"yolo train failed ({code}): see {log}")
    return time.perf_counter() - began


def export_latency(
    api: httpx.Client, headers: dict[str, str], job_id: str, imgsz: int
) -> dict[str, Any]:
    export = api.post(
        "/exports",
        json={
            "job_id": job_id,
            "checkpoint": "best",
            "format": "onnx",
            "options": {"imgsz": imgsz},
        },
        headers=headers,
    ).json()
    done = wait(api, f"/exports/{export['id']}", headers)
    if done["status"] != "completed":
        raise SystemExit(f"export {done['status']}: {done['status_reason']}")
    report: dict[str, Any] = done["verification"]
    return report | {"export_id": export["id"]}


def download(api: httpx.Client, path: str, headers: dict[str, str]) -> bytes:
    """A checkpoint (`best` from the job's list) or an export, through its presigned link."""
    answer = api.get(path, headers=headers).json()
    if isinstance(answer, list):
        answer = next(c for c in answer if c["kind"] == "best")
    url = answer["url"]
    if url.startswith("/"):
        url = str(api.base_url).split("/api/v1")[0] + url
    response = httpx.get(url, timeout=120)
    response.raise_for_status()
    return response.content


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--imgsz", type=int, default=128)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    options = parser.parse_args()
    python = trainer_python()
    work = Path(tempfile.mkdtemp(prefix="lf-yolo-bench-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}/api/v1"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LENSFORGE_")} | {
        "LENSFORGE_DATA_DIR": str(work / "data"),
        "LENSFORGE_DATABASE__URL": f"sqlite:///{work / 'data' / 'lensforge.db'}",
        "LENSFORGE_SECURITY__SECRET_KEY": secrets.token_urlsafe(48),
        "LENSFORGE_LOG_LEVEL": "WARNING",
        "LENSFORGE_SERVER__PORT": str(port),
        "LENSFORGE_TRAINERS__ENVIRONMENT": "isolated",
        "LENSFORGE_TRAINERS__ENVS_DIR": str(CACHE / "trainer-envs"),
        "LENSFORGE_TRAINERS__UV_CACHE_DIR": str(CACHE / "uv-cache"),
        "LENSFORGE_WORKER__POLL_INTERVAL_SECONDS": "0.2",
        "LENSFORGE_WORKER__NAME": f"bench-{uuid.uuid4().hex[:6]}",
    }
    (work / "data").mkdir()
    server: subprocess.Popen[bytes] | None = start(
        ["server", "--port", str(port)], env, work / "server.log"
    )
    worker: subprocess.Popen[bytes] | None = None
    try:
        api = httpx.Client(base_url=base, timeout=120)
        wait_ready(api, work / "server.log")
        worker = start(["worker"], env, work / "worker.log")
        headers, project, dataset = import_raccoon(api, work)
        train = {"epochs": options.epochs, "batch": options.batch, "imgsz": options.imgsz}
        config = {
            "basic": {
                "epochs": options.epochs,
                "batch_size": options.batch,
                "imgsz": options.imgsz,
                "device": "cpu",
            },
            "advanced": {"workers": 0},
        }
        # Warm-up job (not timed): the dataset cache is filled once, as on any worker that ran a
        # job on this version before; and it gives the split for `yolo train`.
        _, first = lensforge_run(api, headers, project, dataset, config)
        attempt = work / "data/jobs" / first["id"] / "attempt-1/data"
        data_dir = work / "plain-data"
        shutil.copytree(attempt, data_dir, copy_function=os.link)
        for cache in data_dir.rglob("*.cache"):
            cache.unlink()
        data_yaml = data_dir / "data.yaml"
        data_yaml.write_text(data_yaml.read_text().replace(str(attempt), str(data_dir)))
        plain_args = {**train, "device": "cpu", "workers": 0, "amp": False, "val": True}
        plain_times, lensforge_times = [], []
        job = first
        for index in range(options.rounds):
            plain_times.append(plain_run(python, work, data_yaml, plain_args, index))
            elapsed, job = lensforge_run(api, headers, project, dataset, config)
            lensforge_times.append(elapsed)
            print(
                f"round {index + 1}: yolo train {plain_times[-1]:.1f}s, "
                f"Lensforge job {lensforge_times[-1]:.1f}s",
                flush=True,
            )
        print(
            f"yolov8n, raccoon (200 images), {options.epochs} epochs, imgsz {options.imgsz}, "
            f"batch {options.batch}, CPU, {options.rounds} rounds:"
        )
        # On a shared machine the minimum is the least disturbed run of each; both are shown.
        for name, pick in (("min", min), ("median", statistics.median)):
            plain, ours = pick(plain_times), pick(lensforge_times)
            print(
                f"  {name}: yolo train {plain:.1f}s, Lensforge {ours:.1f}s, ratio "
                f"{ours / plain:.3f} (overhead {100 * (ours / plain - 1):+.1f}%)"
            )
        best = work / "best.pt"
        exports: list[Path] = []
        best.write_bytes(download(api, f"/training/jobs/{job['id']}/checkpoints", headers))
        for imgsz in (options.imgsz, 640):
            report = export_latency(api, headers, job["id"], imgsz)
            latency = report["latency_ms"]
            print(
                f"ONNX export at imgsz {imgsz}: verified {report['passed']}, max abs diff "
                f"{report['max_abs_diff']:.2e}; the verification's CPU latency PyTorch median "
                f"{latency['pytorch']['median']:.1f} ms (p95 {latency['pytorch']['p95']:.1f}), "
                f"{report['runtime']} median {latency['exported']['median']:.1f} ms "
                f"(p95 {latency['exported']['p95']:.1f}) over {report['samples']} images"
            )
            onnx = work / f"model-{imgsz}.onnx"
            onnx.write_bytes(download(api, f"/exports/{report['export_id']}/download", headers))
            exports.append(onnx)
        # Forward-only latency with the server and worker stopped (nothing else of ours runs).
        for process in (worker, server):
            process.terminate()
            process.wait(timeout=30)
        worker = server = None
        image = sorted((raccoon() / "images").iterdir())[-1]
        for onnx in exports:
            for _ in range(3):
                measured = subprocess.run(
                    [str(python), str(REPOSITORY / "benchmarks/yolo_cpu_latency.py"), str(best),
                     str(onnx), str(image)],
                    env=yolo_env(work), capture_output=True, text=True, check=True,
                ).stdout.strip().splitlines()[-1]  # fmt: skip
                print(f"  forward only, 50 runs each in alternating blocks: {measured}")
    finally:
        for process in (worker, server):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
