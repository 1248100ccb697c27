"""The WebSocket at /api/v1/ws/training: authentication, subscriptions, and events arriving as
a trainer reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from tests.fixtures.app import Account, sign_up
from tests.jobs.helpers import claim, create_job, receive_json

WS = "/api/v1/ws/training"


def _connect(client: TestClient, account: Account) -> Any:
    return client.websocket_connect(f"{WS}?token={account.access_token}")


def _ready(websocket: WebSocketTestSession) -> dict[str, Any]:
    message = receive_json(websocket)
    assert message["type"] == "ready", message
    return message


def _until(websocket: WebSocketTestSession, predicate: Any) -> list[dict[str, Any]]:
    """Every message up to and including the first one `predicate` accepts."""
    seen = []
    while True:
        message = receive_json(websocket)
        seen.append(message)
        if predicate(message):
            return seen


def test_a_subscriber_sees_status_progress_and_logs_in_order(
    client: TestClient, tmp_path: Path
) -> None:
    user = sign_up(client)
    setup = create_job(client, user, tmp_path / "data")
    trainer = claim(client, setup.job_id)
    with _connect(client, user) as websocket:
        ready = _ready(websocket)
        assert ready["organization_id"] == user.organization_id
        websocket.send_json({"action": "subscribe", "job_id": setup.job_id})
        assert receive_json(websocket) == {"type": "subscribed", "job_id": setup.job_id}
        trainer.report("started")
        trainer.report("progress", {"epoch": 1, "total_epochs": 2, "metrics": {"loss": 0.5}})
        trainer.report("log", {"level": "WARNING", "message": "slow disk"})
        trainer.report("progress", {"epoch": 2, "total_epochs": 2, "metrics": {"loss": 0.25}})
        trainer.report("completed", {"best_epoch": 2})
        messages = _until(websocket, lambda m: m.get("status") == "completed")
    assert all(m["job_id"] == setup.job_id for m in messages)
    # Events of the creation and the claim, committed just before subscribing, may come first
    # (the hub polls); then, in order:
    relevant = [m for m in messages if m.get("status") not in ("queued", "preparing")]
    summary = [(m["type"], m.get("status") or m.get("epoch") or m.get("message")) for m in relevant]
    assert summary == [
        ("job_status", "running"),
        ("training_progress", 1),
        ("log", "slow disk"),
        ("training_progress", 2),
        ("job_status", "completed"),
    ]
    progress = relevant[1]
    assert progress == {
        "type": "training_progress",
        "job_id": setup.job_id,
        "attempt": 1,
        "epoch": 1,
        "total_epochs": 2,
        "step": 1,
        "metrics": {"loss": 0.5},
    }
    assert relevant[2]["level"] == "WARNING"
    assert relevant[2]["source"] == "trainer"
    assert relevant[4]["previous"] == "running"


def test_project_subscriptions_and_unsubscribing(client: TestClient, tmp_path: Path) -> None:
    user = sign_up(client)
    setup = create_job(client, user, tmp_path / "data")
    trainer = claim(client, setup.job_id)
    # Authenticating with a first message keeps the token out of URLs (and server logs).
    with client.websocket_connect(WS) as websocket:
        websocket.send_json({"type": "auth", "token": user.access_token})
        _ready(websocket)
        websocket.send_json({"action": "subscribe", "project_id": setup.project_id})
        assert receive_json(websocket)["type"] == "subscribed"
        trainer.report("started")
        _until(websocket, lambda m: m.get("status") == "running")
        websocket.send_json({"action": "unsubscribe", "project_id": setup.project_id})
        websocket.send_json({"action": "ping"})
        # Only control messages from here: the event of this report is not for us any more.
        trainer.report("log", {"message": "unheard"})
        messages = _until(websocket, lambda m: m["type"] == "pong")
        assert [m["type"] for m in messages if m["type"] != "job_status"] == [
            "unsubscribed",
            "pong",
        ]
        websocket.send_json({"action": "dance"})
        assert receive_json(websocket)["code"] == "bad_request"


def test_bad_credentials_close_with_4401(client: TestClient) -> None:
    with client.websocket_connect(f"{WS}?token=not-a-token") as websocket:
        assert receive_json(websocket)["type"] == "error"
        with pytest.raises(WebSocketDisconnect) as closed:
            receive_json(websocket)
    assert closed.value.code == 4401
    with client.websocket_connect(WS) as websocket:
        websocket.send_json({"action": "subscribe", "job_id": "x"})
        assert receive_json(websocket)["code"] == "not_authenticated"
        with pytest.raises(WebSocketDisconnect) as closed:
            receive_json(websocket)
    assert closed.value.code == 4401


def test_jobs_of_another_organization_are_not_found(client: TestClient, tmp_path: Path) -> None:
    owner = sign_up(client)
    setup = create_job(client, owner, tmp_path / "data")
    stranger = sign_up(client)
    with _connect(client, stranger) as websocket:
        _ready(websocket)
        for field, value in (("job_id", setup.job_id), ("project_id", setup.project_id)):
            websocket.send_json({"action": "subscribe", field: value})
            error = receive_json(websocket)
            assert (error["type"], error["code"], error[field]) == ("error", "not_found", value)
        websocket.send_json({"action": "subscribe", "job_id": "not-a-uuid"})
        assert receive_json(websocket)["code"] == "bad_request"
