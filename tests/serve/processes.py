"""Real `lensforge serve` / `lensforge up` processes for the serving tests: their environment,
a deployment of the tiny detector put where they read it, and waiting for them to answer."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlalchemy.orm import Session, sessionmaker

from lensforge.config import Settings
from lensforge.kit.db import transaction
from lensforge.models.deployment import Deployment, DeploymentVersion
from lensforge.models.project import Project
from lensforge.storage.factory import create_object_store
from tests.serve.conftest import CLASSES, anchors
from tests.serve.ops_support import Member
from tests.serving.onnx_models import yolo_detector

LENSFORGE = str(Path(sys.executable).parent / "lensforge")


def clean_env(**lensforge: str) -> dict[str, str]:
    """This process's environment without any `LENSFORGE_*` of the developer's, plus these."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LENSFORGE_")}
    return env | {f"LENSFORGE_{name.upper()}": value for name, value in lensforge.items()}


def png(width: int = 64, height: int = 48) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 10, 10)).save(buffer, format="PNG")
    return buffer.getvalue()


def deploy_detector(
    sessions: sessionmaker[Session],
    settings: Settings,
    owner: Member,
    name: str,
    model_dir: Path,
    **limits: object,
) -> uuid.UUID:
    """A ready, active deployment `name` of the tiny 64 px detector in `owner`'s organization,
    its model file in `settings`' object store, the way the API leaves one."""
    model_dir.mkdir(parents=True, exist_ok=True)
    data = yolo_detector(model_dir / f"{name}.onnx", anchors(0.9), size=None).read_bytes()
    key = f"orgs/{owner.organization_id}/exports/{uuid.uuid4()}/model.onnx"
    create_object_store(settings).put(key, io.BytesIO(data), size=len(data))
    with transaction(sessions) as session:
        project = Project(organization_id=owner.organization_id, name=f"P-{name}")
        session.add(project)
        session.flush()
        deployment = Deployment(
            organization_id=owner.organization_id,
            project_id=project.id,
            name=name,
            status="ready",
            active=True,
            current_version=1,
            max_batch_size=4,
            max_queue_delay_ms=1.0,
            queue_limit=64,
            parameters={"conf": 0.25},
            **limits,
        )
        session.add(deployment)
        session.flush()
        session.add(
            DeploymentVersion(
                deployment_id=deployment.id,
                number=1,
                status="ready",
                format="onnx",
                artifact_key=key,
                sha256=hashlib.sha256(data).hexdigest(),
                size_bytes=len(data),
                task="detection",
                class_names=CLASSES,
                model_info={"imgsz": [64, 64], "dynamic_batch": True},
            )
        )
        return deployment.id


def infer(base: str, deployment: str, secret: str) -> httpx.Response:
    return httpx.post(
        f"{base}/v1/infer/{deployment}",
        files=[("images", ("a.png", png(), "image/png"))],
        headers={"Authorization": f"Bearer {secret}"},
        timeout=10,
    )


def infer_status(base: str, deployment: str, secret: str) -> int:
    """`infer`'s status, 0 when nothing answers (a process starting or restarting)."""
    try:
        return infer(base, deployment, secret).status_code
    except httpx.TransportError:
        return 0


def wait_for(
    what: str, condition: Callable[[], object], timeout: float, log: Path | None = None
) -> None:
    """Polls `condition()` (a callable) every 0.05 s; fails with `what` (and the log)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            detail = f"\n{log.read_text(errors='replace')}" if log and log.exists() else ""
            pytest.fail(f"timed out waiting for {what}{detail}")
        time.sleep(0.05)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@dataclass
class Process:
    popen: subprocess.Popen[bytes]
    log: Path


@contextmanager
def running(argv: list[str], env: dict[str, str], log: Path) -> Iterator[Process]:
    """`argv` in a subprocess (output in `log`), terminated (then killed) when the block ends."""
    with log.open("wb") as out:
        popen = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield Process(popen, log)
        finally:
            popen.terminate()
            try:
                popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait()


def children(pid: int) -> set[int]:
    """The live child processes of `pid` (from /proc)."""
    found: set[int] = set()
    tasks = Path(f"/proc/{pid}/task")
    for task in tasks.iterdir() if tasks.is_dir() else []:
        try:
            found |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            continue
    return {c for c in found if Path(f"/proc/{c}").exists()}


def command_line(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []
