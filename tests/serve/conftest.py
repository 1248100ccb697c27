"""A real serving process on a free port, over a real database (SQLite and PostgreSQL) and the
local object store: two organizations, a tiny YOLO-shaped ONNX model deployed in the first
(two versions whose outputs differ), API keys made the way the API makes them."""

from __future__ import annotations

import hashlib
import io
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from lensforge.auth.api_keys import create_api_key
from lensforge.config import Settings
from lensforge.kit.db import create_db_engine, create_session_factory, transaction
from lensforge.kit.types import utcnow
from lensforge.models.deployment import Deployment, DeploymentVersion
from lensforge.models.membership import Membership
from lensforge.models.organization import Organization
from lensforge.models.project import Project
from lensforge.models.user import User
from lensforge.serve.app import create_serve_app
from lensforge.storage.factory import create_object_store
from tests.fixtures.live_server import ThreadedServer
from tests.serving.onnx_models import adder, yolo_detector

CLASSES = ["cat", "dog"]


def anchors(score: float) -> np.ndarray:
    """A 64 px detector's fixed output: one `dog` box scoring `score` (tells versions apart)."""
    table = np.zeros((4 + len(CLASSES), 3), np.float32)
    table[:, 0] = [32, 32, 16, 16, 0.05, score]
    table[:, 1] = [10, 10, 4, 4, 0.01, 0.02]
    table[:, 2] = [50, 50, 8, 8, 0.01, 0.01]
    return table


@dataclass
class Org:
    id: uuid.UUID
    user_id: uuid.UUID
    project_id: uuid.UUID
    key: str


@dataclass
class World:
    url: str
    host: str
    settings: Settings
    sessions: sessionmaker[Session]
    a: Org
    b: Org
    deployment_id: uuid.UUID
    tmp: Path

    def headers(self, org: Org | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {(org or self.a).key}"}

    def add_version(self, number: int, score: float, *, status: str = "ready") -> None:
        path = yolo_detector(self.tmp / f"v{number}.onnx", anchors(score), size=None)
        store_model(self, path, self.deployment_id, number, status=status)

    def set_current(self, number: int) -> None:
        with transaction(self.sessions) as session:
            session.execute(
                update(Deployment)
                .where(Deployment.id == self.deployment_id)
                .values(current_version=number, updated_at=utcnow())
            )

    def set_deployment(self, **values: object) -> None:
        with transaction(self.sessions) as session:
            session.execute(
                update(Deployment)
                .where(Deployment.id == self.deployment_id)
                .values(**values, updated_at=utcnow())
            )


def store_model(
    world: World,
    path: Path,
    deployment_id: uuid.UUID,
    number: int,
    *,
    status: str = "ready",
    session: Session | None = None,
    sha256: str | None = None,
) -> None:
    """`path` in the object store and its version row (in `session` when given, so that a
    deployment and its version appear together, as the API makes them)."""
    data = path.read_bytes()
    key = f"orgs/{world.a.id}/exports/{uuid.uuid4()}/model.onnx"
    create_object_store(world.settings).put(key, io.BytesIO(data), size=len(data))
    with nullcontext(session) if session is not None else transaction(world.sessions) as used:
        used.add(
            DeploymentVersion(
                deployment_id=deployment_id,
                number=number,
                status=status,
                format="onnx",
                artifact_key=key,
                sha256=sha256 or hashlib.sha256(data).hexdigest(),
                size_bytes=len(data),
                task="detection",
                class_names=CLASSES,
                model_info={"imgsz": [64, 64], "dynamic_batch": True},
            )
        )


def _org(session: Session, name: str, role: str) -> Org:
    org = Organization(name=name, slug=f"{name}-{uuid.uuid4().hex[:8]}")
    user = User(
        email=f"{name}-{uuid.uuid4().hex[:6]}@example.com", display_name=name, password_hash="x"
    )
    session.add_all([org, user])
    session.flush()
    project = Project(organization_id=org.id, name="P")
    session.add_all([project, Membership(organization_id=org.id, user_id=user.id, role=role)])
    session.flush()
    created = create_api_key(
        session,
        organization_id=org.id,
        user_id=user.id,
        name="k",
        scopes=["deployment:infer", "deployment:read"],
        expires_at=utcnow() + timedelta(days=1),
    )
    return Org(org.id, user.id, project.id, created.secret)


def serving_settings(settings: Settings, **serving: object) -> Settings:
    merged = {
        "refresh_interval_seconds": 0.05,
        "key_cache_seconds": 0.0,
        "max_request_bytes": 2 * 1024**2,
        "max_images_per_request": 4,
        "max_image_pixels": 1_000_000,
        **serving,
    }
    return settings.model_copy(update={"serving": settings.serving.model_copy(update=merged)})


@contextmanager
def running_world(settings: Settings, tmp: Path, **serving: object) -> Iterator[World]:
    settings = serving_settings(settings, **serving)
    engine = create_db_engine(settings.database_url)
    sessions = create_session_factory(engine)
    with transaction(sessions) as session:
        a = _org(session, "alpha", "standard_engineer")
        b = _org(session, "beta", "standard_engineer")
        deployment = Deployment(
            organization_id=a.id,
            project_id=a.project_id,
            name="Detector",
            status="ready",
            active=True,
            current_version=1,
            max_batch_size=8,
            max_queue_delay_ms=5.0,
            queue_limit=64,
            parameters={"conf": 0.25},
        )
        session.add(deployment)
        session.flush()
        deployment_id = deployment.id
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    host = f"127.0.0.1:{sock.getsockname()[1]}"
    world = World(f"http://{host}", host, settings, sessions, a, b, deployment_id, tmp)
    world.add_version(1, 0.9)
    server = ThreadedServer.start(create_serve_app(settings), sock)
    try:
        yield world
    finally:
        server.stop()
        engine.dispose()


@pytest.fixture
def world(settings: Settings, tmp_path: Path) -> Iterator[World]:
    with running_world(settings, tmp_path) as running:
        yield running


__all__ = ["CLASSES", "World", "adder", "anchors", "running_world", "store_model"]
