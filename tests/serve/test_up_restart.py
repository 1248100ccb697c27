"""`lensforge up` and its serving child, for real (issue 14, "done when"): on a fresh data
directory the child starts before the database exists and becomes ready once the API server has
migrated it; killed with SIGKILL, it loses none of the usage it answered (its journal is replayed)
and `up` brings it back, answering again."""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from lensforge.config import Settings
from lensforge.kit import migrate
from lensforge.kit.db import create_db_engine, create_session_factory
from lensforge.models.deployment import UsageRecord
from tests.serve.ops_support import add_key, add_member, free_port
from tests.serve.processes import (
    LENSFORGE,
    answers,
    children,
    clean_env,
    command_line,
    deploy_detector,
    infer,
    infer_status,
    running,
    wait_for,
)

pytestmark = pytest.mark.xdist_group("subprocess-server")


def _serving_child(up_pid: int) -> int | None:
    found = [pid for pid in children(up_pid) if "serve" in command_line(pid)]
    return found[0] if len(found) == 1 else None


def _metered(sessions: sessionmaker[Session], ids: set[uuid.UUID]) -> set[uuid.UUID]:
    with sessions() as session:
        query = select(UsageRecord.request_id).where(UsageRecord.request_id.in_(ids))
        return set(session.scalars(query))


def test_up_restarts_a_killed_serving_child_and_loses_no_usage(tmp_path: Path) -> None:
    data = tmp_path / "data"
    api_port, serving_port = free_port(), free_port()
    env = clean_env(
        data_dir=str(data),
        serving__port=str(serving_port),
        serving__refresh_interval_seconds="0.2",
        serving__intra_op_threads="1",
    )
    api, serving = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{serving_port}"
    argv = [LENSFORGE, "up", "--port", str(api_port), "--no-worker"]
    with running(argv, env, tmp_path / "up.log") as up:
        log = up.log
        wait_for("the API server", lambda: answers(f"{api}/api/v1/ready"), 60, log)
        # Started before the database existed, the serving process is ready once it is migrated.
        wait_for("the serving process", lambda: answers(f"{serving}/v2/health/ready"), 30, log)

        settings = Settings.model_validate({"env": "test", "data_dir": str(data)})
        engine = create_db_engine(settings.database_url)
        sessions = create_session_factory(engine)
        try:
            owner = add_member(sessions, "standard_engineer")
            deploy_detector(sessions, settings, owner, "Detector", tmp_path / "models")
            _, secret = add_key(sessions, owner)
            wait_for(
                "the deployment to answer",
                lambda: infer_status(serving, "Detector", secret) == 200,
                15,
                log,
            )
            before = {uuid.UUID(infer(serving, "Detector", secret).json()["request_id"])}
            before.add(uuid.UUID(infer(serving, "Detector", secret).json()["request_id"]))

            child = _serving_child(up.popen.pid)
            assert child is not None, log.read_text()
            os.kill(child, signal.SIGKILL)  # at once: the last answers are likely only journaled
            wait_for(
                "the usage answered before the kill",
                lambda: _metered(sessions, before) == before,
                20,
                log,
            )
            wait_for(
                "a new serving child",
                lambda: _serving_child(up.popen.pid) not in (None, child),
                15,
                log,
            )
            wait_for(
                "the new child to answer",
                lambda: infer_status(serving, "Detector", secret) == 200,
                30,
                log,
            )
            after = uuid.UUID(infer(serving, "Detector", secret).json()["request_id"])
            wait_for("the new child's usage", lambda: _metered(sessions, {after}), 10, log)
            assert _metered(sessions, before) == before
        finally:
            engine.dispose()
        up.popen.send_signal(signal.SIGINT)
        assert up.popen.wait(timeout=30) == 0, log.read_text()


def test_a_serving_process_started_before_migrations_becomes_ready_after_them(
    tmp_path: Path,
) -> None:
    """What `up` on a fresh data directory races into: `lensforge serve` up before the API
    server has created the tables. It stays live but not ready, and polls until they exist."""
    port = free_port()
    database = f"sqlite:///{tmp_path / 'fresh.db'}"
    env = clean_env(
        data_dir=str(tmp_path / "data"),
        database__url=database,
        serving__refresh_interval_seconds="0.1",
    )
    base = f"http://127.0.0.1:{port}"
    argv = [LENSFORGE, "serve", "--port", str(port)]
    with running(argv, env, tmp_path / "serve.log") as serve:
        wait_for("the serving process", lambda: answers(f"{base}/v2/health/live"), 30, serve.log)
        refused = httpx.get(f"{base}/v2/health/ready")
        assert (refused.status_code, refused.json()["code"]) == (503, "server_not_ready")
        engine = create_db_engine(database)
        try:
            migrate.upgrade(engine)
        finally:
            engine.dispose()
        wait_for("readiness", lambda: answers(f"{base}/v2/health/ready"), 10, serve.log)
