"""An open WebSocket stops delivering a project's events once its caller may no longer see it:
removed from the project or the organization, role lowered, API key revoked, account disabled.

Real sockets against a real server (uvicorn on a local port), while the changes are made through
another app instance on the same database, as another server process would make them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from lensforge.config import Settings
from lensforge.jobs.events import emit_for
from lensforge.kit.db import transaction
from lensforge.models import User
from tests.fixtures.app import Account, member_with_role, sign_up
from tests.fixtures.live_server import LiveServer, serve
from tests.jobs.helpers import JobSetup, Trainer, claim, create_job, sessions

CLOSE_POLICY_VIOLATION = 1008


def _server(settings: Settings, recheck_seconds: float) -> Iterator[LiveServer]:
    security = settings.security.model_copy(
        update={"websocket_access_recheck_seconds": recheck_seconds}
    )
    with serve(settings.model_copy(update={"security": security})) as server:
        yield server


@pytest.fixture
def server(settings: Settings) -> Iterator[LiveServer]:
    """Periodic re-checks effectively off: only announced changes can be acted on."""
    yield from _server(settings, 3600)


@pytest.fixture
def eager_server(settings: Settings) -> Iterator[LiveServer]:
    """Re-checks before every delivery: catches changes nobody announced."""
    yield from _server(settings, 0)


class Socket:
    def __init__(self, server: LiveServer, token: str) -> None:
        self.url = server.url.replace("http://", "ws://") + f"/api/v1/ws/training?token={token}"

    def __enter__(self) -> Socket:
        self._opened = connect(self.url, open_timeout=10)
        self.connection: ClientConnection = self._opened.__enter__()
        assert self.receive()["type"] == "ready"
        return self

    def __exit__(self, *exc: object) -> None:
        self._opened.__exit__(None, None, None)

    def receive(self) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(self.connection.recv(timeout=15))
        return message

    def subscribe(self, **target: str) -> None:
        self.connection.send(json.dumps({"action": "subscribe", **target}))
        assert self.receive() == {"type": "subscribed", **target}

    def until_heard(self, text: str) -> list[dict[str, Any]]:
        """Every message up to and including the log line `text`."""
        seen = [self.receive()]
        while not _heard(seen[-1:], text):
            seen.append(self.receive())
        return seen

    def until_closed(self) -> tuple[list[dict[str, Any]], int, str]:
        seen: list[dict[str, Any]] = []
        while True:
            try:
                seen.append(self.receive())
            except ConnectionClosed as closed:
                frame = closed.rcvd
                break
        assert frame is not None, "closed without a close frame"
        return seen, frame.code, frame.reason


def _job(client: TestClient, admin: Account, tmp_path: Path) -> tuple[JobSetup, Trainer]:
    setup = create_job(client, admin, tmp_path / "data")
    return setup, claim(client, setup.job_id)


def _heard(messages: list[dict[str, Any]], text: str) -> bool:
    return any(m.get("message") == text for m in messages)


def _own_project(client: TestClient, account: Account) -> str:
    """A project `account` created, so is a member of, whatever their role becomes."""
    created = client.post(
        "/api/v1/projects", json={"name": f"own {uuid.uuid4().hex[:6]}"}, headers=account.headers
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _sentinel(client: TestClient, account: Account, project_id: str, text: str) -> None:
    """An event in a project the caller still sees, committed after everything before it:
    once it arrives, every earlier event has been through the socket's filter."""
    with transaction(sessions(client)) as session:
        emit_for(
            session,
            organization_id=uuid.UUID(account.organization_id),
            project_id=uuid.UUID(project_id),
            job_id=None,
            type_="log",
            payload={"message": text},
        )


def test_removed_from_the_project_stops_its_events(
    client: TestClient, server: LiveServer, tmp_path: Path
) -> None:
    admin = sign_up(client)
    setup, trainer = _job(client, admin, tmp_path)
    engineer = member_with_role(client, admin, "standard_engineer")
    own = _own_project(client, engineer)
    added = client.post(
        f"/api/v1/projects/{setup.project_id}/members",
        json={"user_id": engineer.user_id},
        headers=admin.headers,
    )
    assert added.status_code == 201, added.text
    with Socket(server, engineer.access_token) as socket:
        socket.subscribe(project_id=setup.project_id)
        socket.subscribe(project_id=own)
        trainer.report("log", {"message": "while a member"})
        socket.until_heard("while a member")
        removed = client.delete(
            f"/api/v1/projects/{setup.project_id}/members/{engineer.user_id}",
            headers=admin.headers,
        )
        assert removed.status_code == 204
        trainer.report("log", {"message": "after removal"})
        _sentinel(client, engineer, own, "sentinel")
        messages = socket.until_heard("sentinel")
        assert {
            "type": "unsubscribed",
            "project_id": setup.project_id,
            "reason": "access_revoked",
        } in messages
        assert not _heard(messages, "after removal")
        # Nor can it subscribe again.
        socket.connection.send(json.dumps({"action": "subscribe", "project_id": setup.project_id}))
        assert socket.receive()["code"] == "not_found"


def test_lowered_role_loses_what_only_the_old_role_could_see(
    client: TestClient, server: LiveServer, tmp_path: Path
) -> None:
    admin = sign_up(client)
    setup, trainer = _job(client, admin, tmp_path)
    manager = member_with_role(client, admin, "manager")  # sees every project of the org
    own = _own_project(client, manager)
    with Socket(server, manager.access_token) as socket:
        socket.subscribe(job_id=setup.job_id)
        socket.subscribe(project_id=own)
        lowered = client.patch(
            f"/api/v1/organizations/current/members/{manager.user_id}",
            json={"role": "guest"},
            headers=admin.headers,
        )
        assert lowered.status_code == 200, lowered.text
        trainer.report("log", {"message": "for managers only"})
        _sentinel(client, manager, own, "sentinel")
        messages = socket.until_heard("sentinel")
        assert {"type": "unsubscribed", "job_id": setup.job_id, "reason": "access_revoked"} in (
            messages
        )
        assert not _heard(messages, "for managers only")


def test_removed_from_the_organization_closes_the_socket(
    client: TestClient, server: LiveServer, tmp_path: Path
) -> None:
    admin = sign_up(client)
    setup, trainer = _job(client, admin, tmp_path)
    colleague = member_with_role(client, admin, "admin")
    with Socket(server, colleague.access_token) as socket:
        socket.subscribe(project_id=setup.project_id)
        removed = client.delete(
            f"/api/v1/organizations/current/members/{colleague.user_id}", headers=admin.headers
        )
        assert removed.status_code == 204, removed.text
        trainer.report("log", {"message": "after leaving"})
        messages, code, reason = socket.until_closed()
    assert code == CLOSE_POLICY_VIOLATION
    assert reason == "not_a_member"
    assert messages[-1]["code"] == "not_a_member"
    assert not _heard(messages, "after leaving")


def test_a_revoked_api_key_closes_the_socket(
    client: TestClient, server: LiveServer, tmp_path: Path
) -> None:
    admin = sign_up(client)
    setup, trainer = _job(client, admin, tmp_path)
    created = client.post(
        "/api/v1/api-keys",
        json={"name": "dashboard", "scopes": ["job:read"]},
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    with Socket(server, created.json()["secret"]) as socket:
        socket.subscribe(job_id=setup.job_id)
        revoked = client.delete(f"/api/v1/api-keys/{created.json()['id']}", headers=admin.headers)
        assert revoked.status_code == 200
        trainer.report("log", {"message": "after revocation"})
        messages, code, reason = socket.until_closed()
    assert (code, reason) == (CLOSE_POLICY_VIOLATION, "api_key_revoked")
    assert not _heard(messages, "after revocation")


def test_unannounced_changes_are_caught_by_the_periodic_recheck(
    client: TestClient, eager_server: LiveServer, tmp_path: Path
) -> None:
    """An account disabled straight in the database announces nothing."""
    admin = sign_up(client)
    setup, trainer = _job(client, admin, tmp_path)
    colleague = member_with_role(client, admin, "manager")
    with Socket(eager_server, colleague.access_token) as socket:
        socket.subscribe(job_id=setup.job_id)
        trainer.report("log", {"message": "still fine"})
        socket.until_heard("still fine")
        with transaction(sessions(client)) as session:
            user = session.get(User, uuid.UUID(colleague.user_id))
            assert user is not None
            user.is_active = False
        trainer.report("log", {"message": "after disabling"})
        messages, code, reason = socket.until_closed()
    assert (code, reason) == (CLOSE_POLICY_VIOLATION, "account_disabled")
    assert not _heard(messages, "after disabling")
