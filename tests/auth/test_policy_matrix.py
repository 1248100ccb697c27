"""The role × action matrix over EVERY route of the API.

Each route must declare exactly one of `requires(action)`, `PUBLIC`, or the trainer's job token
(`lensforge.jobs.trainer_auth`). For each protected route and each role, a request is made:
roles the policy denies get 403 `permission_denied` before anything else happens; roles it
allows never do. Trainer routes are outside the matrix: they must refuse every user credential
and any job token but their own job's. WebSocket routes authenticate inside (browsers cannot
send headers) and declare their action on the endpoint; they are checked by connecting. A new
route without a declaration fails this test.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from lensforge.app import API_PREFIX
from lensforge.auth.policy import INTERACTIVE_ONLY, POLICY, Action, Role
from lensforge.config import Settings
from lensforge.routes import ROUTERS
from tests.fixtures.app import Account, member_with_role, sign_up
from tests.jobs.helpers import claim, create_job, end_attempt, receive_json

# Routes reachable without a login, and why.
EXPECTED_PUBLIC = {
    ("GET", "/api/v1/health"),  # liveness probe
    ("GET", "/api/v1/ready"),  # readiness probe
    ("POST", "/api/v1/auth/signup"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/refresh"),  # authenticated by the refresh token itself
    ("POST", "/api/v1/auth/logout"),  # idem
    ("GET", "/api/v1/storage/objects/{key:path}"),  # authenticated by the link's HMAC signature
    ("PUT", "/api/v1/storage/objects/{key:path}"),  # idem
}

# Non-GET routes that change nothing (so a read-only key may call them), and why.
SIDE_EFFECT_FREE_POSTS = {
    ("POST", "/api/v1/trainers/{name}/config/validate"),  # checks a config, stores nothing
}


def _walk(dependant: Any) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _walk(sub)


def declared(route: Route) -> tuple[Action | None, bool]:
    actions = [getattr(call, "lensforge_action", None) for call in _walk(route.dependant)]
    actions = [a for a in actions if a is not None]
    public = any(getattr(call, "lensforge_public", False) for call in _walk(route.dependant))
    assert len(actions) <= 1, f"{route.path} declares several actions: {actions}"
    return (actions[0] if actions else None), public


def trainer_only(route: Route) -> bool:
    """Authenticated by a trainer's job token, not by a user."""
    return any(getattr(call, "lensforge_trainer_token", False) for call in _walk(route.dependant))


class Route:
    def __init__(self, route: APIRoute) -> None:
        self.path = API_PREFIX + route.path
        self.dependant = route.dependant


def api_routes(client: TestClient) -> list[tuple[str, Route]]:
    """Every (method, route) of the routers' inventory, checked complete against OpenAPI."""
    routes = []
    for router in ROUTERS:
        for route in router.routes:
            if isinstance(route, APIWebSocketRoute):
                continue  # see websocket_routes
            assert isinstance(route, APIRoute), route
            for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
                routes.append((method, Route(route)))
    inventory = {(method, route.path.replace(":path", "")) for method, route in routes}
    documented = {
        (method.upper(), path)
        for path, operations in client.app.openapi()["paths"].items()  # type: ignore[attr-defined]
        for method in operations
    }
    assert documented <= inventory, (
        f"routes outside lensforge.routes.ROUTERS: {documented - inventory}"
    )
    return routes


def websocket_routes() -> list[tuple[str, Action | None]]:
    return [
        (API_PREFIX + route.path, getattr(route.endpoint, "lensforge_websocket_action", None))
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIWebSocketRoute)
    ]


def fill_path(path: str) -> str:
    return re.sub(
        r"\{[^}]+\}", lambda m: "some/key" if ":path" in m.group(0) else str(uuid.uuid4()), path
    )


@pytest.fixture
def accounts(client: TestClient) -> dict[Role, Account]:
    admin = sign_up(client)
    result = {Role.ADMIN: admin}
    for role in Role:
        if role is not Role.ADMIN:
            result[role] = member_with_role(client, admin, role.value)
    return result


def test_every_route_declares_its_access(client: TestClient) -> None:
    public_seen = set()
    for method, route in api_routes(client):
        action, public = declared(route)
        trainer = trainer_only(route)
        kinds = [action is not None, public, trainer]
        assert kinds.count(True) == 1, (
            f"{method} {route.path} must declare exactly one of an action, PUBLIC or the "
            f"trainer token (action={action}, public={public}, trainer={trainer})"
        )
        if public:
            public_seen.add((method, route.path))
    assert public_seen == EXPECTED_PUBLIC
    for path, action in websocket_routes():
        assert action is not None, f"WebSocket {path} declares no lensforge_websocket_action"


def test_every_action_in_the_policy_has_roles() -> None:
    assert set(POLICY) == set(Action)
    for action, roles in POLICY.items():
        assert Role.ADMIN in roles, f"admin must be allowed {action}"


def test_role_matrix_over_every_route(
    client: TestClient, accounts: dict[Role, Account], settings: Settings
) -> None:
    checked = 0
    for method, route in api_routes(client):
        action, public = declared(route)
        if public or trainer_only(route):
            continue
        assert action is not None
        path = fill_path(route.path)
        for role, account in accounts.items():
            response = client.request(method, path, json={}, headers=account.headers)
            denied = (
                response.status_code == 403
                and response.json()["error"]["code"] == "permission_denied"
            )
            expected_denied = role not in POLICY[action]
            assert denied == expected_denied, (
                f"{role.value} {method} {route.path} ({action.value}): "
                f"got {response.status_code} {response.text[:200]}"
            )
            checked += 1
    assert checked >= 5 * 15


def _api_key(client: TestClient, owner: Account, scopes: list[str]) -> dict[str, str]:
    created = client.post(
        "/api/v1/api-keys", json={"name": "matrix", "scopes": scopes}, headers=owner.headers
    )
    assert created.status_code == 201, created.text
    return {"Authorization": f"Bearer {created.json()['secret']}"}


def _refused_to_key(response: Any) -> bool:
    return response.status_code == 403 and response.json()["error"]["code"] in (
        "scope_denied",
        "api_key_not_allowed",
    )


def test_scoped_api_keys_over_every_route(
    client: TestClient, accounts: dict[Role, Account]
) -> None:
    """An admin's key is held to its scopes on every route: a key scoped to exactly the route's
    action passes the policy, a read-only key is refused on every write route, a key scoped to
    some other action everywhere else. Minting actions are refused to every key."""
    admin = accounts[Role.ADMIN]
    read_only = _api_key(client, admin, ["*:read"])
    everything = _api_key(client, admin, ["*"])
    by_action = {
        action: _api_key(client, admin, [action.value])
        for action in Action
        if action not in INTERACTIVE_ONLY
    }
    checked = 0
    for method, route in api_routes(client):
        action, public = declared(route)
        if public or trainer_only(route):
            continue
        assert action is not None
        path = fill_path(route.path)
        where = f"{method} {route.path} ({action.value})"
        if action in INTERACTIVE_ONLY:
            for key in (read_only, everything):
                response = client.request(method, path, json={}, headers=key)
                assert _refused_to_key(response), f"{where}: {response.text[:200]}"
            continue
        response = client.request(method, path, json={}, headers=by_action[action])
        assert response.status_code != 403 or response.json()["error"]["code"] not in (
            "scope_denied",
            "permission_denied",
        ), f"key scoped to its own action refused: {where}: {response.text[:200]}"
        other_action = next(a for a in by_action if a is not action)
        response = client.request(method, path, json={}, headers=by_action[other_action])
        assert _refused_to_key(response), f"{where} with {other_action}: {response.text[:200]}"
        response = client.request(method, path, json={}, headers=read_only)
        if method == "GET" or (method, route.path) in SIDE_EFFECT_FREE_POSTS:
            assert action.value.endswith(":read"), f"{where}: a GET route must be a read"
            assert not _refused_to_key(response), f"read key refused: {where}"
        else:
            assert _refused_to_key(response), (
                f"read-only key not refused on a write route: {where}: {response.text[:200]}"
            )
        checked += 1
    assert checked >= 60


def test_unauthenticated_gets_401_on_every_protected_route(client: TestClient) -> None:
    for method, route in api_routes(client):
        _, public = declared(route)
        if public:
            continue
        response = client.request(method, fill_path(route.path), json={})
        assert response.status_code == 401, f"{method} {route.path}: {response.status_code}"


def test_trainer_routes_refuse_everyone_but_their_own_live_attempt(
    client: TestClient, accounts: dict[Role, Account], tmp_path: Path
) -> None:
    admin = accounts[Role.ADMIN]
    created = client.post(
        "/api/v1/api-keys", json={"name": "ci", "scopes": ["*"]}, headers=admin.headers
    )
    assert created.status_code == 201, created.text
    api_key = {"Authorization": f"Bearer {created.json()['secret']}"}
    job = create_job(client, admin, tmp_path / "data")
    trainer = claim(client, job.job_id)
    sibling = create_job(
        client, admin, tmp_path, project_id=job.project_id, dataset_id=job.dataset_id
    )
    sibling_trainer = claim(client, sibling.job_id)
    routes = [(m, r) for m, r in api_routes(client) if trainer_only(r)]
    assert len(routes) >= 7
    own_paths = []
    for method, route in routes:
        # The path names a job other than the token's: refused like an unknown token.
        other_job = fill_path(route.path)
        for headers in (admin.headers, api_key, trainer.headers):
            response = client.request(method, other_job, json={}, headers=headers)
            assert response.status_code == 401, f"{method} {route.path}: {response.text[:200]}"
        own_paths.append((method, _fill_job(route.path, job.job_id)))
    for method, path in own_paths:
        for headers in (admin.headers, api_key, sibling_trainer.headers):
            response = client.request(method, path, json={}, headers=headers)
            assert response.status_code == 401, f"{method} {path}: {response.text[:200]}"
    end_attempt(client, trainer.attempt_id, "lost")
    for method, path in own_paths:
        response = client.request(method, path, json={}, headers=trainer.headers)
        assert response.status_code == 403, f"{method} {path}: {response.text[:200]}"
        assert response.json()["error"]["code"] == "attempt_finished"


def _fill_job(path: str, job_id: str) -> str:
    return fill_path(path.replace("{job_id}", job_id).replace("{kind}", "last"))


def test_websocket_routes_admit_exactly_the_roles_of_their_action(
    client: TestClient, accounts: dict[Role, Account]
) -> None:
    routes = websocket_routes()
    assert routes
    for path, action in routes:
        assert action is not None
        with client.websocket_connect(path) as websocket:
            websocket.send_json({"action": "subscribe"})
            assert receive_json(websocket)["type"] == "error"
            with pytest.raises(WebSocketDisconnect) as closed:
                receive_json(websocket)
            assert closed.value.code == 4401
        for role, account in accounts.items():
            with client.websocket_connect(f"{path}?token={account.access_token}") as ws:
                first = receive_json(ws)
                if role in POLICY[action]:
                    assert first["type"] == "ready", (role, first)
                else:
                    assert first["code"] == "permission_denied", (role, first)
        # An API key is held to its scopes here too.
        admin = accounts[Role.ADMIN]
        for scopes, allowed in (([action.value], True), (["project:*"], False)):
            secret = _api_key(client, admin, scopes)["Authorization"].removeprefix("Bearer ")
            with client.websocket_connect(f"{path}?token={secret}") as ws:
                first = receive_json(ws)
                if allowed:
                    assert first["type"] == "ready", (scopes, first)
                else:
                    assert first["code"] == "scope_denied", (scopes, first)
                    with pytest.raises(WebSocketDisconnect) as closed:
                        receive_json(ws)
                    assert closed.value.code == 4403
