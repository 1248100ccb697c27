"""The role × action matrix over EVERY route of the API.

Each route must declare either `requires(action)` or `PUBLIC`. For each protected route and each
role, a request is made: roles the policy denies get 403 `permission_denied` before anything else
happens; roles it allows never do. A new route without a declaration fails this test.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from lensforge.app import API_PREFIX
from lensforge.auth.policy import POLICY, Action, Role
from lensforge.config import Settings
from lensforge.routes import ROUTERS
from tests.fixtures.app import Account, member_with_role, sign_up

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


class Route:
    def __init__(self, route: APIRoute) -> None:
        self.path = API_PREFIX + route.path
        self.dependant = route.dependant


def api_routes(client: TestClient) -> list[tuple[str, Route]]:
    """Every (method, route) of the routers' inventory, checked complete against OpenAPI."""
    routes = []
    for router in ROUTERS:
        for route in router.routes:
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
        assert action is not None or public, (
            f"{method} {route.path} declares no action and is not PUBLIC"
        )
        assert not (action and public), f"{method} {route.path} is both public and protected"
        if public:
            public_seen.add((method, route.path))
    assert public_seen == EXPECTED_PUBLIC


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
        if public:
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


def test_unauthenticated_gets_401_on_every_protected_route(client: TestClient) -> None:
    for method, route in api_routes(client):
        _, public = declared(route)
        if public:
            continue
        response = client.request(method, fill_path(route.path), json={})
        assert response.status_code == 401, f"{method} {route.path}: {response.status_code}"
