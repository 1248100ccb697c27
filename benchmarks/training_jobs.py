"""Training-job latency and metric ingest throughput, against real server and worker processes.

1. Job start latency: create → the trainer process running (the reference trainer's `started`
   report), from the server's own timestamps; median and p95 over N jobs run one after another.
2. Metric ingest: K concurrent trainers (threads posting `progress` reports in batches, as the
   SDK's sender does) against the server; points stored per second.

    .venv/bin/python benchmarks/training_jobs.py [--jobs 20] [--trainers 8] [--points 2000]
        [--database-url postgresql://postgres@127.0.0.1/bench] [--poll 1.0]
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from lensforge.kit.db import create_db_engine, create_session_factory, transaction
from lensforge.orchestration.local.claim import claim_next

PASSWORD = "benchmark password 1234"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    lensforge = Path(sys.executable).parent / "lensforge"
    return subprocess.Popen(
        [str(lensforge), *args], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )


def wait_ready(api: httpx.Client, log: Path, timeout: float = 60) -> None:
    """Until the server answers `/ready`; its log is the error when it never does."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if api.get("/ready").status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(log.read_text())
        time.sleep(0.2)


def tiny_dataset(folder: Path) -> Path:
    (folder / "images").mkdir(parents=True)
    (folder / "labels").mkdir()
    for i in range(8):
        Image.new("RGB", (32, 32), (i * 30, 40, 200 - i * 20)).save(folder / "images" / f"{i}.jpg")
        (folder / "labels" / f"{i}.txt").write_text(f"{i % 2} 0.5 0.5 0.5 0.5\n")
    (folder / "data.yaml").write_text("names: [a, b]\n")
    archive = folder.parent / "data.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in folder.rglob("*"):
            if path.is_file():
                z.write(path, path.relative_to(folder).as_posix())
    return archive


def setup_account(api: httpx.Client, work: Path) -> tuple[dict[str, str], str, str]:
    api.post(
        "/auth/signup",
        json={"email": "perf@example.com", "password": PASSWORD, "display_name": "Perf"},
    ).raise_for_status()
    token = api.post("/auth/login", json={"email": "perf@example.com", "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    project = api.post("/projects", json={"name": "bench"}, headers=headers).json()["id"]
    dataset = api.post(
        "/datasets", json={"project_id": project, "name": "d", "task": "detection"}, headers=headers
    ).json()["id"]
    archive = tiny_dataset(work / "dataset")
    size = archive.stat().st_size
    upload = api.post(
        "/uploads",
        json={"project_id": project, "filename": "d.zip", "total_size": size, "part_size": 1 << 20},
        headers=headers,
    ).json()
    api.put(
        f"/uploads/{upload['id']}/parts/1",
        content=archive.read_bytes(),
        headers={**headers, "Content-Type": "application/octet-stream"},
    ).raise_for_status()
    api.post(f"/uploads/{upload['id']}/complete", headers=headers).raise_for_status()
    started = api.post(
        f"/datasets/{dataset}/imports",
        json={"source": {"kind": "upload", "upload_id": upload["id"]}},
        headers=headers,
    ).json()
    while (
        api.get(f"/datasets/imports/{started['id']}", headers=headers).json()["status"]
        != "succeeded"
    ):
        time.sleep(0.2)
    return headers, project, dataset


def job_body(project: str, dataset: str, epochs: int) -> dict[str, Any]:
    return {
        "project_id": project,
        "dataset_id": dataset,
        "trainer": "reference",
        "model": "centroid",
        "config": {"basic": {"epochs": epochs, "imgsz": 8}},
    }


def start_latency(
    api: httpx.Client, headers: dict[str, str], project: str, dataset: str, count: int
) -> list[float]:
    latencies = []
    for _ in range(count):
        job = api.post("/training/jobs", json=job_body(project, dataset, 1), headers=headers).json()
        while True:
            current = api.get(f"/training/jobs/{job['id']}", headers=headers).json()
            if current["status"] in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.05)
        if current["status"] != "completed" or current["started_at"] is None:
            raise SystemExit(f"job did not complete: {current['status_reason']}")
        created = datetime.fromisoformat(current["created_at"])
        running = datetime.fromisoformat(current["started_at"])
        latencies.append((running - created).total_seconds())
    return latencies


def ingest(
    base: str,
    database_url: str,
    headers: dict[str, str],
    project: str,
    dataset: str,
    trainers: int,
    points: int,
    batch: int,
) -> float:
    jobs = [
        httpx.post(
            f"{base}/training/jobs",
            json=job_body(project, dataset, 1) | {"queue": "bench"},
            headers=headers,
        ).json()["id"]
        for _ in range(trainers)
    ]
    engine = create_db_engine(database_url)
    sessions = create_session_factory(engine)
    claims = []
    for _ in jobs:
        with transaction(sessions) as session:
            claim = claim_next(session, worker="bench", queues=["bench"], free_cpu=99, free_gpus=0)
            assert claim is not None
            claims.append(claim)
    engine.dispose()
    barrier = threading.Barrier(trainers + 1)
    errors: list[str] = []

    def trainer(claim: Any) -> None:
        url = f"{base}/trainer/jobs/{claim.job_id}/reports"
        auth = {"Authorization": f"Bearer {claim.token}"}
        with httpx.Client(timeout=60) as http:
            http.post(
                url,
                json={"reports": [{"sequence": 1, "kind": "started", "at": now(), "data": {}}]},
                headers=auth,
            ).raise_for_status()
            barrier.wait()
            sequence = 1
            for start_step in range(0, points, batch):
                reports = []
                for step in range(start_step, min(points, start_step + batch)):
                    sequence += 1
                    reports.append(
                        {
                            "sequence": sequence,
                            "kind": "progress",
                            "at": now(),
                            "data": {
                                "epoch": step + 1,
                                "total_epochs": points,
                                "step": step + 1,
                                "metrics": {"loss": 1.0 / (step + 1), "acc": 0.5},
                            },
                        }
                    )
                response = http.post(url, json={"reports": reports}, headers=auth)
                if response.status_code != 200:
                    errors.append(response.text[:200])
                    return

    threads = [threading.Thread(target=trainer, args=(c,)) for c in claims]
    for thread in threads:
        thread.start()
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise SystemExit(f"ingest failed: {errors[0]}")
    stored = sum(
        len(
            httpx.get(
                f"{base}/training/jobs/{c.job_id}/metrics?limit=10000", headers=headers
            ).json()["points"]
        )
        for c in claims
    )
    assert stored == trainers * points, f"stored {stored} of {trainers * points}"
    return stored / elapsed


def now() -> str:
    return datetime.now().astimezone().isoformat()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--trainers", type=int, default=8)
    parser.add_argument("--points", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--poll", type=float, default=1.0, help="the worker's poll interval (s)")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lf-jobs-bench-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}/api/v1"
    database_url = args.database_url or f"sqlite:///{work / 'data' / 'lensforge.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LENSFORGE_")} | {
        "LENSFORGE_DATA_DIR": str(work / "data"),
        "LENSFORGE_DATABASE__URL": database_url,
        "LENSFORGE_SECURITY__SECRET_KEY": secrets.token_urlsafe(48),
        "LENSFORGE_LOG_LEVEL": "WARNING",
        "LENSFORGE_SERVER__PORT": str(port),
        "LENSFORGE_TRAINERS__ENVIRONMENT": "current",
        "LENSFORGE_WORKER__POLL_INTERVAL_SECONDS": str(args.poll),
        "LENSFORGE_WORKER__NAME": f"bench-{uuid.uuid4().hex[:6]}",
    }
    server = start(["server", "--port", str(port)], env, work / "server.log")
    worker = None
    try:
        api = httpx.Client(base_url=base, timeout=60)
        wait_ready(api, work / "server.log")
        worker = start(["worker"], env, work / "worker.log")
        headers, project, dataset = setup_account(api, work)
        print(f"database: {database_url.split('://')[0]}, worker poll interval {args.poll}s")
        latencies = start_latency(api, headers, project, dataset, args.jobs)
        p95 = statistics.quantiles(latencies, n=20)[-1] if len(latencies) >= 2 else latencies[0]
        print(
            f"job start latency over {len(latencies)} jobs: median {statistics.median(latencies):.2f}s, "
            f"p95 {p95:.2f}s, min {min(latencies):.2f}s"
        )
        # The ingest phase plays the trainers itself; a live worker would (rightly) recover
        # attempts held by a worker it does not know.
        worker.terminate()
        worker.wait(timeout=30)
        worker = None
        rate = ingest(
            base, database_url, headers, project, dataset, args.trainers, args.points, args.batch
        )
        print(
            f"metric ingest: {args.trainers} concurrent trainers x {args.points} points "
            f"(batches of {args.batch}): {rate:,.0f} points/s stored"
        )
    finally:
        for process in (worker, server):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
