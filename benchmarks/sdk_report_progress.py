"""The trainer-side cost of `report_progress`: what a training loop pays per call.

Starts a real Lensforge server (a `lensforge server` subprocess on SQLite and local storage),
creates a job on a tiny dataset and claims an attempt the way the worker does, then times
10,000 calls of `Trainer.report_progress` (4 metrics each) one by one:

- server up: the sender thread delivers while the loop runs (and `flush` then reports how
  long delivery took);
- server down: the API address refuses connections; reports pile up in the spool and the
  sender backs off;
- for comparison, the spool append alone, and an append with an fsync per report (the policy
  the SDK does not use: see `lensforge.sdk.spool`).

    .venv/bin/python benchmarks/sdk_report_progress.py [--calls 10000]
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import httpx
from PIL import Image

from lensforge.config import Settings
from lensforge.kit.db import create_db_engine, create_session_factory, transaction
from lensforge.orchestration.local.claim import claim_next
from lensforge.sdk import Trainer, TrainerConfig
from lensforge.sdk.spool import Spool

PASSWORD = "benchmark password 1234"
METRICS = {"train/loss": 0.5, "val/loss": 0.6, "val/accuracy": 0.9, "lr": 0.01}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from lensforge.cli.main import app; app()",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "LENSFORGE_LOG_LEVEL": "WARNING"},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health").status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not start")


def tiny_dataset_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index, name in enumerate(["a", "b"]):
            image = io.BytesIO()
            Image.new("RGB", (16, 16), (index * 200, 0, 0)).save(image, "PNG")
            archive.writestr(f"{name}/{index}.png", image.getvalue())
    return buffer.getvalue()


def queued_job(url: str) -> None:
    with httpx.Client(base_url=url, timeout=60) as http:
        http.post(
            "/api/v1/auth/signup",
            json={"email": "sdk@example.com", "password": PASSWORD, "display_name": "Bench"},
        ).raise_for_status()
        token = http.post(
            "/api/v1/auth/login", json={"email": "sdk@example.com", "password": PASSWORD}
        ).json()["access_token"]
        h = {"Authorization": f"Bearer {token}"}
        project = http.post("/api/v1/projects", json={"name": "bench"}, headers=h).json()["id"]
        dataset = http.post(
            "/api/v1/datasets",
            json={"project_id": project, "name": "d", "task": "classification"},
            headers=h,
        ).json()["id"]
        data = tiny_dataset_zip()
        upload = http.post(
            "/api/v1/uploads",
            json={
                "project_id": project,
                "filename": "d.zip",
                "total_size": len(data),
                "part_size": 1024 * 1024,
            },
            headers=h,
        ).json()["id"]
        http.put(
            f"/api/v1/uploads/{upload}/parts/1",
            content=data,
            headers={**h, "Content-Type": "application/octet-stream"},
        ).raise_for_status()
        http.post(f"/api/v1/uploads/{upload}/complete", headers=h).raise_for_status()
        started = http.post(
            f"/api/v1/datasets/{dataset}/imports",
            json={"source": {"kind": "upload", "upload_id": upload}},
            headers=h,
        ).json()
        while http.get(f"/api/v1/datasets/imports/{started['id']}", headers=h).json()[
            "status"
        ] not in ("succeeded", "failed"):
            time.sleep(0.1)
        http.post(
            "/api/v1/training/jobs",
            json={
                "project_id": project,
                "dataset_id": dataset,
                "trainer": "reference",
                "model": "linear",
            },
            headers=h,
        ).raise_for_status()


def claim(data_dir: Path, url: str, spool: Path) -> TrainerConfig:
    """An attempt and its token, as the local worker claims one."""
    settings = Settings.model_validate({"data_dir": str(data_dir)})
    engine = create_db_engine(settings.database_url)
    with transaction(create_session_factory(engine)) as session:
        found = claim_next(session, worker="bench", queues=["default"], free_cpu=8, free_gpus=0)
    engine.dispose()
    assert found is not None
    return TrainerConfig(
        api_url=url,
        job_id=str(found.job_id),
        token=found.token,
        attempt=found.attempt_number,
        work_dir=spool,
        spool_dir=spool,
    )


def timed(calls: int, call: Callable[[int], object]) -> list[float]:
    samples = []
    clock = time.perf_counter_ns
    for index in range(calls):
        start = clock()
        call(index)
        samples.append((clock() - start) / 1000)
    return samples


def row(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"| {name} | {len(samples)} | {statistics.median(samples):.1f} | {p99:.1f} | "
        f"{statistics.fmean(samples):.1f} | {ordered[-1]:.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=10_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lf-sdk-bench-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(work / "data", port)
    rows = []
    try:
        queued_job(url)
        config = claim(work / "data", url, work / "spool-up")
        trainer = Trainer(config)
        trainer.report_started()
        up = timed(args.calls, lambda i: trainer.report_progress(i, args.calls, METRICS, step=i))
        started = time.perf_counter()
        delivered = trainer.flush(timeout=300)
        delivery = time.perf_counter() - started
        trainer.close(timeout=60)
        rows.append(row("server up", up))

        down_config = TrainerConfig(
            api_url=f"http://127.0.0.1:{free_port()}",
            job_id="down",
            token="lfj_x",
            spool_dir=work / "spool-down",
            work_dir=work,
        )
        offline = Trainer(down_config)
        down = timed(args.calls, lambda i: offline.report_progress(i, args.calls, METRICS, step=i))
        logging.getLogger("lensforge.sdk").setLevel(logging.CRITICAL)  # "could not deliver": yes
        offline.close(timeout=0)
        rows.append(row("server down (connection refused)", down))

        spool = Spool(work / "spool-raw", 1)
        data = {"epoch": 1, "total_epochs": 1, "metrics": METRICS}
        rows.append(
            row("spool append alone", timed(args.calls, lambda i: spool.append("progress", data)))
        )

        def append_and_fsync(_: int) -> None:
            spool.append("progress", data)
            os.fsync(spool._fd)  # what the SDK avoids on the caller's thread, for comparison

        rows.append(
            row(
                "append + fsync per report (not used)",
                timed(min(args.calls, 1000), append_and_fsync),
            )
        )
        spool.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)

    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; times in microseconds per call")
    print("| scenario | calls | median | p99 | mean | max |")
    print("| --- | --- | --- | --- | --- | --- |")
    for line in rows:
        print(line)
    print(
        f"server up: all {args.calls + 1} reports delivered: {delivered}, "
        f"{delivery:.2f} s after the loop ended"
    )


if __name__ == "__main__":
    main()
