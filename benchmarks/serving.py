"""Serving: raw in-process ONNX Runtime vs a deployment answering over HTTP (issue 14).

    .venv/bin/python benchmarks/serving.py [--models DIR] [--seconds 15] [--sizes 640,320]

The same YOLOv8n ONNX file (detection, dynamic batch), the same raccoon JPEGs, the same work
end to end: decode the JPEG, letterbox, run, decode the output with NMS, build the result.

- **raw**: that pipeline in this process (`lensforge.serving` functions and one ONNX Runtime
  session), called by 1 and by 16 threads at once: the best a hand-written script could do.
- **served**: `lensforge serve` as its own process on a fresh data directory (SQLite, local
  storage), the model deployed twice (batching off: max batch 1; on: max batch 8, 4 ms delay),
  `POST /v1/infer/{deployment}` with an API key, from 1 and 16 client threads with keep-alive
  connections (each client sends the JPEG as multipart, prepared once, so the client costs
  little: on this 2-core machine the clients and the server share the cores).

Reported per case: throughput (requests/s), p50/p95/p99 latency, the ratio to raw at the same
concurrency, the overhead per request at 1 client (served p50 - raw p50), and the time from a
deployment becoming ready in the database to its first answered request on a running replica.

The models are YOLOv8n from its YAML (untrained: its class scores are tiny, so NMS has little to
do; the network's compute is the real one). When `--models` has no `yolov8n-{size}.onnx`, they
are made with the Ultralytics trainer's environment (`.cache/trainer-envs`, built by the tests).
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import io
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parent.parent
RACCOONS = REPOSITORY.parent / "shared" / "data" / "raccoon-voc" / "images"
CLIENTS = tuple(int(c) for c in os.environ.get("BENCH_CLIENTS", "1,16").split(","))
COCO_CLASSES = [f"class{i}" for i in range(80)]

_EXPORT_SCRIPT = """
import shutil, sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from lensforge.trainers.ultralytics.offline import prepare
prepare(Path(sys.argv[1]) / "config")
from ultralytics import YOLO
for size in map(int, sys.argv[3].split(",")):
    exported = YOLO("yolov8n.yaml").export(format="onnx", imgsz=size, dynamic=True)
    shutil.move(exported, Path(sys.argv[1]) / f"yolov8n-{size}.onnx")
"""


def ensure_models(folder: Path, sizes: list[int]) -> dict[int, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    missing = [s for s in sizes if not (folder / f"yolov8n-{s}.onnx").is_file()]
    if missing:
        envs = sorted((REPOSITORY / ".cache" / "trainer-envs").glob("*/bin/python"))
        if not envs:
            sys.exit("no Ultralytics environment in .cache/trainer-envs: run its tests first")
        script = folder / "export.py"
        script.write_text(_EXPORT_SCRIPT)
        subprocess.run(
            [str(envs[0]), str(script), str(folder), str(REPOSITORY / "src"),
             ",".join(map(str, missing))],
            check=True, cwd=folder, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    return {s: folder / f"yolov8n-{s}.onnx" for s in sizes}


def images() -> list[tuple[str, bytes]]:
    chosen = sorted(RACCOONS.iterdir())[:16]
    return [(path.name, path.read_bytes()) for path in chosen]


# --- measuring -------------------------------------------------------------------------------


def run_clients(count: int, seconds: float, call: Callable[[int, int], None]) -> dict[str, float]:
    """`count` threads call `call(client, i)` in a loop for `seconds` (after a short warm-up);
    throughput and latency percentiles over the measured calls."""
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    start = threading.Barrier(count + 1)
    measuring = threading.Event()
    stop = threading.Event()

    def worker(client: int) -> None:
        mine: list[float] = []
        start.wait()
        index = client
        while not stop.is_set():
            began = time.perf_counter()
            try:
                call(client, index)
            except Exception:  # counted, reported: a benchmark must not hide failures
                with lock:
                    failures[0] += 1
                continue
            if measuring.is_set():
                mine.append(time.perf_counter() - began)
            index += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(c,), daemon=True) for c in range(count)]
    for thread in threads:
        thread.start()
    start.wait()
    time.sleep(min(3.0, seconds / 4))  # warm-up: pools, connections, ONNX Runtime's arena
    measuring.set()
    began = time.perf_counter()
    time.sleep(seconds)
    measuring.clear()
    elapsed = time.perf_counter() - began
    stop.set()
    for thread in threads:
        thread.join()
    ms = sorted(value * 1000 for value in latencies)
    if not ms:
        return {"requests_per_s": 0.0, "failures": failures[0]}

    def pct(p: float) -> float:
        return round(ms[min(len(ms) - 1, int(p / 100 * len(ms)))], 1)

    return {
        "requests_per_s": round(len(ms) / elapsed, 2),
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "mean_ms": round(statistics.fmean(ms), 1),
        "requests": len(ms),
        "failures": failures[0],
    }


def raw_pipeline(model_path: Path, size: int) -> Callable[[bytes], Any]:
    from lensforge.serving.images import decode_image
    from lensforge.serving.runtime import load_model
    from lensforge.serving.vision import (
        decode_detections,
        detection_result,
        letterbox,
        to_tensor,
    )

    model = load_model(model_path)
    name = model.signature.inputs[0].name

    def predict(data: bytes) -> Any:
        image = decode_image(data)
        boxed = letterbox(image, (size, size))
        output = next(iter(model.run({name: to_tensor([boxed.image])}).values()))
        found = decode_detections(output[0], conf=0.25, iou=0.7)
        return detection_result(found, boxed, COCO_CLASSES, image="image.jpg")

    return predict


# --- the served side -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Replica:
    """`lensforge serve` on a fresh data directory, with an account, a key and deployments."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.env = {
            **os.environ,
            "LENSFORGE_DATA_DIR": str(data_dir),
            # The benchmark measures the runtime, not the limiter: generous limits.
            "LENSFORGE_SERVING__RATE_LIMITS__ORGANIZATION_PER_SECOND": "1000000",
            "LENSFORGE_SERVING__RATE_LIMITS__ORGANIZATION_BURST": "1000000",
            "LENSFORGE_SERVING__RATE_LIMITS__KEY_PER_SECOND": "1000000",
            "LENSFORGE_SERVING__RATE_LIMITS__KEY_BURST": "1000000",
            "LENSFORGE_SERVING__REFRESH_INTERVAL_SECONDS": "0.5",
            "LENSFORGE_LOG_LEVEL": "WARNING",
        }
        os.environ.update({k: v for k, v in self.env.items() if k.startswith("LENSFORGE_")})
        from lensforge.config import Settings
        from lensforge.kit.db import create_db_engine, create_session_factory
        from lensforge.kit.migrate import upgrade

        self.settings = Settings()
        engine = create_db_engine(self.settings.database_url)
        upgrade(engine)
        self.sessions = create_session_factory(engine)
        self.organization_id, self.user_id, self.project_id, self.key = self._account()
        self.process: subprocess.Popen[bytes] | None = None

    def _account(self) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID, str]:
        from lensforge.auth.api_keys import create_api_key
        from lensforge.kit.db import transaction
        from lensforge.models import Membership, Organization, Project, User

        with transaction(self.sessions) as session:
            org = Organization(name="bench", slug="bench")
            user = User(email="bench@example.com", display_name="bench", password_hash="x")
            session.add_all([org, user])
            session.flush()
            project = Project(organization_id=org.id, name="bench")
            session.add_all([project, Membership(organization_id=org.id, user_id=user.id,
                                                 role="admin")])  # fmt: skip
            session.flush()
            created = create_api_key(
                session, organization_id=org.id, user_id=user.id, name="bench",
                scopes=["deployment:infer", "deployment:read"], expires_at=None,
            )  # fmt: skip
            return org.id, user.id, project.id, created.secret

    def deploy(self, name: str, model: Path, size: int, max_batch_size: int) -> None:
        from lensforge.kit.db import transaction
        from lensforge.kit.types import utcnow
        from lensforge.models import Deployment, DeploymentVersion
        from lensforge.storage.factory import create_object_store

        data = model.read_bytes()
        key = f"orgs/{self.organization_id}/exports/{uuid.uuid4()}/model.onnx"
        create_object_store(self.settings).put(key, io.BytesIO(data), size=len(data))
        with transaction(self.sessions) as session:
            deployment = Deployment(
                organization_id=self.organization_id, project_id=self.project_id, name=name,
                status="ready", active=True, current_version=1, max_batch_size=max_batch_size,
                max_queue_delay_ms=4.0, queue_limit=256, rate_limit_per_second=1e6,
                rate_limit_burst=1_000_000, parameters={"conf": 0.25, "iou": 0.7},
                updated_at=utcnow(),
            )  # fmt: skip
            session.add(deployment)
            session.flush()
            session.add(
                DeploymentVersion(
                    deployment_id=deployment.id, number=1, status="ready", format="onnx",
                    artifact_key=key, sha256=hashlib.sha256(data).hexdigest(),
                    size_bytes=len(data), task="detection", class_names=COCO_CLASSES,
                    model_info={"imgsz": [size, size], "dynamic_batch": True},
                    activated_at=utcnow(),
                )
            )  # fmt: skip

    def start(self) -> None:
        lensforge = REPOSITORY / ".venv" / "bin" / "lensforge"
        self.process = subprocess.Popen(
            [str(lensforge), "serve", "--port", str(self.port)],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", "/v2/health/ready")
                if connection.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("lensforge serve did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)


def multipart(name: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="images"; filename="{name}"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def served_call(
    port: int, key: str, deployment: str, bodies: list[tuple[bytes, str]], clients: int
) -> Callable[[int, int], None]:
    connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                   for _ in range(clients)]  # fmt: skip

    def call(client: int, index: int) -> None:
        body, content_type = bodies[index % len(bodies)]
        connection = connections[client]
        connection.request(
            "POST", f"/v1/infer/{deployment}", body=body,
            headers={"Authorization": f"Bearer {key}", "Content-Type": content_type},
        )  # fmt: skip
        response = connection.getresponse()
        payload = response.read()
        if response.status != 200:
            raise RuntimeError(f"{response.status}: {payload[:200]!r}")

    return call


def time_to_first_answer(
    replica: Replica, model: Path, size: int, body: tuple[bytes, str]
) -> float:
    name = f"fresh-{uuid.uuid4().hex[:6]}"
    began = time.perf_counter()
    replica.deploy(name, model, size, max_batch_size=8)
    call = served_call(replica.port, replica.key, name, [body], 1)
    while True:
        try:
            call(0, 0)
            return time.perf_counter() - began
        except (RuntimeError, OSError):
            time.sleep(0.02)
        if time.perf_counter() - began > 120:
            raise RuntimeError("the new deployment never answered")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=Path, default=REPOSITORY / ".cache" / "bench-models")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--sizes", default="640,320")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    models = ensure_models(args.models, sizes)
    pictures = images()
    bodies = [multipart(name, data) for name, data in pictures]
    results: dict[str, Any] = {"cpu_count": os.cpu_count(), "seconds": args.seconds}
    data_dir = Path(tempfile.mkdtemp(prefix="lensforge-serving-bench-"))
    replica = Replica(data_dir)
    try:
        for size in sizes:
            replica.deploy(f"off-{size}", models[size], size, max_batch_size=1)
            replica.deploy(f"on-{size}", models[size], size, max_batch_size=8)
        replica.start()
        for size in sizes:
            predict = raw_pipeline(models[size], size)
            row: dict[str, Any] = {}
            for clients in CLIENTS:
                row[f"raw@{clients}"] = run_clients(
                    clients, args.seconds,
                    lambda _c, i: predict(pictures[i % len(pictures)][1]),  # noqa: B023
                )  # fmt: skip
                for mode in ("off", "on"):
                    call = served_call(replica.port, replica.key, f"{mode}-{size}", bodies, clients)
                    row[f"batching_{mode}@{clients}"] = run_clients(clients, args.seconds, call)
            for clients in CLIENTS:
                raw = row[f"raw@{clients}"]["requests_per_s"]
                for mode in ("off", "on"):
                    served = row[f"batching_{mode}@{clients}"]
                    served["vs_raw"] = round(served["requests_per_s"] / raw, 3) if raw else None
            if "batching_off@16" in row and row["batching_off@16"]["requests_per_s"]:
                row["batching_gain@16"] = round(
                    row["batching_on@16"]["requests_per_s"]
                    / row["batching_off@16"]["requests_per_s"],
                    3,
                )
            if "raw@1" in row:
                row["overhead_ms@1"] = round(
                    row["batching_off@1"]["p50_ms"] - row["raw@1"]["p50_ms"], 1
                )
            results[f"yolov8n@{size}"] = row
            print(json.dumps({f"yolov8n@{size}": row}), flush=True)
        results["deploy_to_first_answer_s"] = round(
            time_to_first_answer(replica, models[sizes[-1]], sizes[-1], bodies[0]), 2
        )
    finally:
        replica.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
