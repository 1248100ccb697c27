"""The README's command-line walk, end to end, non-interactively (run it with `scripts/walk`).

Every command is the README's, run as a user would (`.venv/bin/lensforge ...`) against a
`lensforge up` started here on a free port with a clean data directory; every one of them must
exit 0. LENSFORGE_DATA_DIR is set for every command, so server-side commands (`users
create-admin`, `trainers install`) act on the running server's data. A few images are kept out
of the import and used as held-out images for `predict`, which must find a raccoon (a box) in
at least one of them. The ONNX file must be on disk, verified by the server before download.

Exit status 0 when the whole walk succeeded; a summary (each step's time, the total, the YOLO
model's mAP50) is printed and written to `<work dir>/walk.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPOSITORY = Path(__file__).resolve().parent.parent
LENSFORGE = REPOSITORY / ".venv" / "bin" / "lensforge"
# The README's `../shared/data/raccoon-voc`, from a clone or from a worktree one level deeper.
DEFAULT_DATA = next(
    (
        folder / "shared" / "data" / "raccoon-voc"
        for folder in (REPOSITORY.parent, REPOSITORY.parent.parent)
        if (folder / "shared" / "data" / "raccoon-voc").is_dir()
    ),
    REPOSITORY.parent / "shared" / "data" / "raccoon-voc",
)
EMAIL = "walker@example.com"
PASSWORD = "a walk through the raccoon woods"  # noqa: S105 - a throw-away local account

# The README's YOLO walk (keep both in step): what gives boxes on the raccoons in a few minutes
# on a 2-core CPU without pretrained weights (measured: docs/performance.md).
YOLO_MODEL = "yolo11n"
YOLO_EPOCHS = 30
YOLO_IMGSZ = 128
YOLO_BATCH = 8
PREDICT_CONF = 0.1


@dataclass
class Walk:
    work: Path
    env: dict[str, str]
    steps: list[dict[str, Any]] = field(default_factory=list)

    def run(self, *args: str, title: str | None = None, timeout: float = 3600) -> str:
        """Run `lensforge ARGS`; its stdout. Any non-zero exit ends the walk."""
        shown = "lensforge " + " ".join(args)
        print(f"$ {title or shown}", flush=True)
        started = time.monotonic()
        done = subprocess.run(  # noqa: S603 - our own CLI with our own arguments
            [str(LENSFORGE), *args],
            env=self.env,
            cwd=self.work,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        seconds = time.monotonic() - started
        self.steps.append({"command": title or shown, "seconds": round(seconds, 1)})
        if done.returncode != 0:
            print(done.stdout, done.stderr, sep="\n", file=sys.stderr)
            raise SystemExit(f"walk failed: `{shown}` exited with {done.returncode}")
        tail = (done.stdout.strip().splitlines() or [""])[-1][:160]
        print(f"  ok in {seconds:.1f} s  {tail}", flush=True)
        return done.stdout

    def json(self, *args: str, title: str | None = None) -> Any:
        out = self.run(*args, "--json", title=title)
        try:
            return json.loads(out)
        except json.JSONDecodeError:  # progress shown before the JSON document
            return json.loads(out[out.rindex("\n{") + 1 :])


def main() -> int:
    options = _options()
    work = Path(options.work_dir or tempfile.mkdtemp(prefix="lensforge-walk-")).resolve()
    if work.exists() and any(work.iterdir()):
        raise SystemExit(f"{work} is not empty: the walk starts from a clean data directory")
    work.mkdir(parents=True, exist_ok=True)
    data, held_out = _dataset_without_held_out(options.dataset, work, options.held_out)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = _environment(work, url, options)
    walk = Walk(work, env)
    started = time.monotonic()
    server = _start_server(work, env, port)
    try:
        walk.steps.append({"command": "lensforge up (ready)", "seconds": _wait_ready(url, server)})
        summary = _the_walk(walk, data, held_out, options)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    summary["total_seconds"] = round(time.monotonic() - started, 1)
    summary["steps"] = walk.steps
    (work / "walk.json").write_text(json.dumps(summary, indent=2))
    print(
        f"\nwalk succeeded in {summary['total_seconds']:.0f} s; {options.model} mAP50 "
        f"{summary['map50']:.3f} (val), boxes on {summary['images_with_boxes']}/"
        f"{len(held_out)} held-out images at conf {options.conf}; summary in {work}/walk.json"
    )
    if not options.keep:
        shutil.rmtree(work / "data", ignore_errors=True)
    return 0


def _the_walk(
    walk: Walk, data: Path, held_out: list[Path], options: argparse.Namespace
) -> dict[str, Any]:
    walk.run(
        "users", "create-admin", "--email", EMAIL, "--display-name", "Walker",
        "--password", PASSWORD, title=f"lensforge users create-admin --email {EMAIL}",
    )  # fmt: skip
    walk.run("login", "--url", walk.env["LENSFORGE_URL"], "--email", EMAIL)
    walk.run("projects", "create", "demo")
    walk.run(
        "datasets", "import", str(data), "--project", "demo", "--dataset", "raccoons",
        "--create", "--task", "detection",
    )  # fmt: skip
    walk.run("datasets", "stats", "raccoons")
    walk.run("datasets", "export", "raccoons", "--format", "yolo", "-o", "raccoons-yolo.zip")
    reference = walk.json(
        "train", "--project", "demo", "--dataset", "raccoons", "--trainer", "reference",
        "--model", "linear", "--epochs", "5", "--follow",
    )  # fmt: skip
    walk.run("jobs", "logs", reference["id"])
    walk.run("trainers", "install", "ultralytics")
    yolo = walk.json(
        "train", "--project", "demo", "--dataset", "raccoons", "--trainer", "ultralytics",
        "--model", options.model, "--epochs", str(options.epochs), "--imgsz", str(options.imgsz),
        "--batch-size", str(options.batch), "--follow",
    )  # fmt: skip
    map50 = _map50(walk.json("jobs", "metrics", yolo["id"]), yolo.get("best_epoch"))
    predictions = walk.json(
        "predict", yolo["id"], *map(str, held_out), "--conf", str(options.conf),
        "--save-dir", "predictions",
    )  # fmt: skip
    boxes = _boxes_per_image(predictions)
    print(f"  boxes per held-out image: {boxes}")
    if not any(boxes.values()):
        raise SystemExit(
            f"walk failed: predict found no raccoon in {len(held_out)} held-out images "
            f"at conf {options.conf}"
        )
    exported = walk.json("export", yolo["id"], "--format", "onnx", "--opset", "17", "-o",
                         "model.onnx")  # fmt: skip
    onnx = walk.work / "model.onnx"
    if not onnx.is_file() or onnx.stat().st_size == 0:
        raise SystemExit(f"walk failed: no ONNX file at {onnx}")
    print(f"  {onnx}: {onnx.stat().st_size} bytes; export {json.dumps(_verification(exported))}")
    walk.run("models", "capabilities")
    walk.run("deploy", yolo["id"], "--name", "raccoons")
    served = walk.json(
        "infer", "raccoons", *map(str, held_out), "--conf", str(options.conf),
        "--save-dir", "served",
    )  # fmt: skip
    served_boxes = _boxes_per_image(served)
    print(f"  boxes per held-out image, served: {served_boxes}")
    if not any(served_boxes.values()):
        raise SystemExit(f"walk failed: the deployment found no raccoon ({served_boxes})")
    walk.run("api-keys", "create", "--name", "ci")
    return {
        "model": options.model,
        "epochs": options.epochs,
        "imgsz": options.imgsz,
        "batch": options.batch,
        "conf": options.conf,
        "map50": map50,
        "images_with_boxes": sum(1 for n in boxes.values() if n),
        "boxes": boxes,
        "onnx_bytes": onnx.stat().st_size,
    }


def _map50(metrics: Any, best_epoch: int | None) -> float:
    """val/mAP50 at the best epoch (else the highest) from `jobs metrics --json`."""
    points = metrics.get("points", metrics) if isinstance(metrics, dict) else metrics
    values = {int(p["step"]): p["values"].get("val/mAP50") for p in points}
    if best_epoch in values and values[best_epoch] is not None:
        return float(values[best_epoch])
    return max(float(v) for v in values.values() if v is not None)


def _boxes_per_image(predictions: Any) -> dict[str, int]:
    results = predictions.get("results") if isinstance(predictions, dict) else None
    if results is None and isinstance(predictions, dict):
        results = (predictions.get("run") or {}).get("results")
    return {str(r["image"]): len(r.get("detections") or []) for r in results or []}


def _verification(exported: Any) -> Any:
    if isinstance(exported, dict):
        return exported.get("verification") or (exported.get("export") or {}).get("verification")
    return None


def _dataset_without_held_out(source: Path, work: Path, count: int) -> tuple[Path, list[Path]]:
    """A copy of the VOC dataset (hard links) without its last `count` images by name, which
    are returned as held-out images that no training sees."""
    images = sorted((source / "images").iterdir(), key=lambda p: p.name)
    held = images[-count:] if count else []
    copy = work / source.name
    for folder in ("images", "annotations"):
        (copy / folder).mkdir(parents=True)
    for image in images:
        if image in held:
            continue
        _link(image, copy / "images" / image.name)
        annotation = source / "annotations" / f"{image.stem}.xml"
        if annotation.exists():
            _link(annotation, copy / "annotations" / annotation.name)
    out = work / "held-out"
    out.mkdir()
    for image in held:
        _link(image, out / image.name)
    return copy, [out / image.name for image in held]


def _link(source: Path, dest: Path) -> None:
    try:
        os.link(source, dest)
    except OSError:  # another file system
        shutil.copyfile(source, dest)


def _environment(work: Path, url: str, options: argparse.Namespace) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LENSFORGE_")}
    env |= {
        "LENSFORGE_DATA_DIR": str(work / "data"),
        # `up`'s serving child on a free port: the walk must not depend on 8001 being free.
        "LENSFORGE_SERVING__PORT": str(_free_port()),
        "LENSFORGE_CONFIG_DIR": str(work / "config"),
        "LENSFORGE_URL": url,
        "LENSFORGE_PASSWORD": PASSWORD,
        "NO_COLOR": "1",
        "COLUMNS": "160",
    }
    # Where trainer environments are built: one place for `trainers install` and the worker.
    for name in ("LENSFORGE_TRAINERS__ENVS_DIR", "LENSFORGE_TRAINERS__UV_CACHE_DIR"):
        if name in os.environ:
            env[name] = os.environ[name]
    if options.envs_dir:
        env["LENSFORGE_TRAINERS__ENVS_DIR"] = str(Path(options.envs_dir).resolve())
    if options.uv_cache_dir:
        env["LENSFORGE_TRAINERS__UV_CACHE_DIR"] = str(Path(options.uv_cache_dir).resolve())
    return env


def _start_server(work: Path, env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    log = (work / "up.log").open("wb")
    return subprocess.Popen(  # noqa: S603 - our own CLI
        [str(LENSFORGE), "up", "--port", str(port), "--data-dir", env["LENSFORGE_DATA_DIR"]],
        env=env,
        cwd=work,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _wait_ready(url: str, server: subprocess.Popen[bytes]) -> float:
    started = time.monotonic()
    print(f"$ lensforge up --port {url.rsplit(':', 1)[1]}", flush=True)
    while time.monotonic() - started < 120:
        if server.poll() is not None:
            raise SystemExit(f"walk failed: lensforge up exited with {server.returncode}")
        try:
            if httpx.get(f"{url}/api/v1/ready", timeout=2).status_code == 200:
                seconds = time.monotonic() - started
                print(f"  ready in {seconds:.1f} s", flush=True)
                return round(seconds, 1)
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise SystemExit("walk failed: lensforge up was not ready within 120 s")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATA, help="VOC raccoon folder")
    parser.add_argument("--work-dir", help="An empty folder (default: a new temporary one)")
    parser.add_argument("--held-out", type=int, default=4, help="Images kept out of the import")
    parser.add_argument("--model", default=YOLO_MODEL)
    parser.add_argument("--epochs", type=int, default=YOLO_EPOCHS)
    parser.add_argument("--imgsz", type=int, default=YOLO_IMGSZ)
    parser.add_argument("--batch", type=int, default=YOLO_BATCH)
    parser.add_argument("--conf", type=float, default=PREDICT_CONF)
    parser.add_argument("--envs-dir", help="Trainer environments (LENSFORGE_TRAINERS__ENVS_DIR)")
    parser.add_argument("--uv-cache-dir", help="uv's cache (LENSFORGE_TRAINERS__UV_CACHE_DIR)")
    parser.add_argument("--keep", action="store_true", help="Keep the data directory")
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(main())
