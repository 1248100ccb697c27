"""Each failure reaches the caller as its own exception class, with the server's code."""

from __future__ import annotations

import socket
import uuid

import httpx
import pytest

from lensforge.client import (
    APIError,
    AuthenticationError,
    ConflictError,
    ConnectionFailed,
    FieldError,
    InvalidResponse,
    LensforgeClient,
    LensforgeError,
    NotFoundError,
    PermissionDenied,
    ServerError,
    ValidationError,
)
from tests.client.helpers import member_with_role
from tests.fixtures.live_server import LiveServer


def test_not_found(admin: LensforgeClient) -> None:
    with pytest.raises(NotFoundError) as caught:
        admin.projects.get(uuid.uuid4())
    assert (caught.value.status_code, caught.value.code) == (404, "project_not_found")
    assert caught.value.message == "project not found"


def test_conflict(admin: LensforgeClient) -> None:
    admin.projects.create("twice")
    with pytest.raises(ConflictError) as caught:
        admin.projects.create("twice")
    assert (caught.value.status_code, caught.value.code) == (409, "project_name_taken")
    assert "twice" in caught.value.message


def test_validation_error_lists_fields(admin: LensforgeClient) -> None:
    with pytest.raises(ValidationError) as caught:
        admin.projects.create("")
    error = caught.value
    assert (error.status_code, error.code) == (422, "validation_error")
    assert [f.field for f in error.fields] == ["body.name"]
    assert isinstance(error.fields[0], FieldError)
    assert "body.name" in str(error)


def test_domain_validation_error(admin: LensforgeClient) -> None:
    with pytest.raises(ValidationError) as caught:
        admin.api_keys.create("bad", scopes=["nonsense"])
    assert caught.value.code == "invalid_scope"
    assert caught.value.fields[0].field == "body.scopes"


def test_permission_denied_for_a_guest(live_server: LiveServer, admin: LensforgeClient) -> None:
    guest = member_with_role(live_server.url, admin, "guest")
    assert guest.auth.me().role == "guest"
    with pytest.raises(PermissionDenied) as caught:
        guest.projects.create("not allowed")
    error = caught.value
    assert (error.status_code, error.code) == (403, "permission_denied")
    assert error.details == {"action": "project:create", "role": "guest"}
    assert isinstance(error, APIError)


def test_authentication_errors(live_server: LiveServer) -> None:
    with LensforgeClient(live_server.url) as anonymous:
        with pytest.raises(AuthenticationError) as missing:
            anonymous.projects.list()
        with pytest.raises(AuthenticationError) as wrong:
            anonymous.auth.login("nobody@example.com", "wrong password")
    assert missing.value.code == "not_authenticated"
    assert wrong.value.code == "invalid_credentials"
    with (
        LensforgeClient(live_server.url, api_key="lfk_nonsense") as bad_key,
        pytest.raises(AuthenticationError) as invalid,
    ):
        bad_key.auth.me()
    assert invalid.value.code == "api_key_invalid"


def test_connection_failed_names_the_server() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with (
        LensforgeClient(url, api_key="lfk_x") as client,
        pytest.raises(ConnectionFailed) as caught,
    ):
        client.auth.me()
    assert caught.value.status_code is None
    assert url in caught.value.message
    assert isinstance(caught.value, LensforgeError)


# A proxy in front of the server is the edge of the world here: its pages are not the API's.
def _proxy(status: int, body: bytes, content_type: str) -> httpx.MockTransport:
    return httpx.MockTransport(
        lambda request: httpx.Response(status, content=body, headers={"content-type": content_type})
    )


def test_server_error_from_a_proxy_page() -> None:
    transport = _proxy(502, b"<html>Bad Gateway</html>", "text/html")
    with (
        LensforgeClient("http://lensforge.test", api_key="lfk_x", transport=transport) as client,
        pytest.raises(ServerError) as caught,
    ):
        client.projects.list()
    assert (caught.value.status_code, caught.value.code) == (502, "http_502")
    assert caught.value.message == "Bad Gateway"


def test_unexpected_body_is_invalid_response() -> None:
    transport = _proxy(200, b'{"hello": "world"}', "application/json")
    with (
        LensforgeClient("http://lensforge.test", api_key="lfk_x", transport=transport) as client,
        pytest.raises(InvalidResponse) as caught,
    ):
        client.auth.me()
    assert "/api/v1/auth/me" in caught.value.message


def test_malformed_id_fails_before_sending(admin: LensforgeClient) -> None:
    with pytest.raises(ValueError, match="badly formed"):
        admin.projects.get("../organizations/current")
