"""Accounts, keys and a private Redis for the serving-ops tests (keys, limits, metering)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from lensforge.auth.api_keys import create_api_key
from lensforge.config import Settings
from lensforge.kit.db import create_db_engine, create_session_factory
from lensforge.models import ApiKey, Membership, Organization, User


@pytest.fixture
def sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = create_db_engine(settings.database_url)
    yield create_session_factory(engine)
    engine.dispose()


@dataclass(frozen=True)
class Member:
    user_id: uuid.UUID
    organization_id: uuid.UUID


def add_member(
    sessions: sessionmaker[Session], role: str, organization_id: uuid.UUID | None = None
) -> Member:
    """A user with `role` in a new organization (or in `organization_id`)."""
    with sessions() as session, session.begin():
        if organization_id is None:
            slug = f"org-{uuid.uuid4().hex[:10]}"
            organization = Organization(name=slug, slug=slug)
            session.add(organization)
            session.flush()
            organization_id = organization.id
        user = User(
            email=f"user-{uuid.uuid4().hex[:10]}@example.com",
            display_name="Tester",
            password_hash="not-a-password-hash",
        )
        session.add(user)
        session.flush()
        session.add(Membership(organization_id=organization_id, user_id=user.id, role=role))
        return Member(user_id=user.id, organization_id=organization_id)


def add_key(
    sessions: sessionmaker[Session],
    member: Member,
    *,
    scopes: list[str] | None = None,
    deployment_ids: list[str] | None = None,
    expires_at: datetime | None = None,
) -> tuple[uuid.UUID, str]:
    """A key of `member` (default scope `deployment:infer`): its id and its secret."""
    with sessions() as session, session.begin():
        created = create_api_key(
            session,
            organization_id=member.organization_id,
            user_id=member.user_id,
            name="serving",
            scopes=scopes if scopes is not None else ["deployment:infer"],
            expires_at=expires_at,
        )
        created.key.deployment_ids = deployment_ids
        return created.key.id, created.secret


def load_key(sessions: sessionmaker[Session], key_id: uuid.UUID) -> ApiKey:
    with sessions() as session:
        key = session.get(ApiKey, key_id)
        assert key is not None
        return key


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_redis(directory: Path, port: int) -> Iterator[str]:
    """A private `redis-server` on `port`, in `directory`, until the block ends."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("LENSFORGE_TEST_REQUIRE_REDIS"):
            pytest.fail("redis-server is required here (LENSFORGE_TEST_REQUIRE_REDIS) but missing")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=directory,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"redis-server did not start on port {port}")
            time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A private `redis-server` on a free port, in a temporary directory."""
    with running_redis(tmp_path, free_port()) as url:
        yield url


def wait_until(
    condition: Callable[[], object], timeout: float = 5.0, interval: float = 0.02
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())
