"""The one place requests are sent: credentials, automatic token refresh and error mapping."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO, Protocol, TypeVar

import httpx
import pydantic

from lensforge import __version__
from lensforge.client.errors import ConnectionFailed, InvalidResponse, error_from_response
from lensforge.client.models import TokenPair

API_PREFIX = "/api/v1"
DEFAULT_TIMEOUT = 30.0

M = TypeVar("M")

TokensCallback = Callable[[TokenPair], None]
EventHooks = Mapping[str, list[Callable[..., Any]]]
# Rounds of refreshing per request: adopting a pair another process saved may need a second.
_REFRESH_ROUNDS = 2


class TokenStore(Protocol):
    """Tokens shared with other processes (the CLI's config file).

    Refresh tokens rotate and reusing a rotated one ends the whole login session, so processes
    sharing one login must refresh one at a time and pick up each other's new pair.
    """

    def lock(self) -> contextlib.AbstractContextManager[None]: ...

    def load(self) -> tuple[str, str] | None:
        """The (access, refresh) pair saved now, if any."""

    def save(self, pair: TokenPair) -> None: ...


def server_root(base_url: str) -> str:
    """`https://host/` and `https://host/api/v1` both name the server `https://host`."""
    root = base_url.strip().rstrip("/")
    return root.removesuffix(API_PREFIX)


class HttpSession:
    """An `httpx.Client` bound to one server and one identity.

    With an access token *and* a refresh token, a request refused as `token_expired` is retried
    once after exchanging the refresh token; `on_tokens_refreshed` hears of the new pair so it can
    be saved (the old refresh token stops working at once).
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None,
        refresh_token: str | None,
        api_key: str | None,
        timeout: float | httpx.Timeout,
        transport: httpx.BaseTransport | None,
        event_hooks: EventHooks | None,
        on_tokens_refreshed: TokensCallback | None,
    ) -> None:
        if api_key is not None and token is not None:
            raise ValueError("pass either token or api_key, not both")
        self.base_url = server_root(base_url)
        self.access_token = token
        self.refresh_token = refresh_token
        self.api_key = api_key
        self.on_tokens_refreshed = on_tokens_refreshed
        self.token_store: TokenStore | None = None
        self._refresh_lock = threading.Lock()
        self.http = httpx.Client(
            base_url=self.base_url + API_PREFIX,
            timeout=timeout,
            transport=transport,
            event_hooks=dict(event_hooks) if event_hooks else None,
            headers={"User-Agent": f"lensforge-client/{__version__}"},
        )

    def close(self) -> None:
        self.http.close()

    def set_tokens(self, pair: TokenPair) -> None:
        """Act with `pair` from now on (a login replaces an API key too)."""
        self.api_key = None
        self.access_token, self.refresh_token = pair.access_token, pair.refresh_token

    def clear_tokens(self) -> None:
        self.access_token = self.refresh_token = None

    def _credential(self) -> str | None:
        return self.api_key or self.access_token

    def send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        authenticated: bool = True,
        timeout: float | httpx.Timeout | None = None,
        files: list[tuple[str, tuple[str, BinaryIO, str]]] | None = None,
        data: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send a request and return the 2xx response, or raise the matching `LensforgeError`.

        `timeout` overrides the client's for this request (a long server-side operation).
        `files` and `data` make a multipart form (httpx rewinds the files for each send, so a
        request repeated after a token refresh sends them whole again).
        """
        request: dict[str, Any] = {"json": json, "params": params, "content": content}
        if files is not None:
            request |= {"files": files, "data": data, "json": None}
        if timeout is not None:
            request["timeout"] = timeout
        used = self._credential() if authenticated else None
        response = self._send_once(method, path, headers, used, request)
        for _ in range(_REFRESH_ROUNDS):
            if response.status_code != 401 or used is None or not self._can_refresh(response):
                break
            used = self._refresh(used)
            response = self._send_once(method, path, headers, used, request)
        if response.is_error:
            response.read()
            raise error_from_response(response)
        return response

    def _send_once(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str] | None,
        credential: str | None,
        request: dict[str, Any],
    ) -> httpx.Response:
        merged = dict(headers or {})
        if credential is not None:
            merged["Authorization"] = f"Bearer {credential}"
        try:
            return self.http.request(method, path, headers=merged, **request)
        except httpx.TimeoutException as exc:
            raise ConnectionFailed(
                f"no answer from {self.base_url} in time ({type(exc).__name__})", code="timeout"
            ) from exc
        except httpx.TransportError as exc:
            raise ConnectionFailed(
                f"cannot reach the Lensforge server at {self.base_url}: {exc}",
                code="connection_failed",
            ) from exc

    def _can_refresh(self, response: httpx.Response) -> bool:
        if self.api_key is not None or self.refresh_token is None:
            return False
        response.read()
        error = error_from_response(response)
        return error.code == "token_expired"

    def _refresh(self, expired: str) -> str:
        store = self.token_store
        with self._refresh_lock, store.lock() if store else contextlib.nullcontext():
            # Another thread may have refreshed while this one waited: use its token.
            if self.access_token is not None and self.access_token != expired:
                return self.access_token
            saved = store.load() if store else None
            if saved is not None and saved[0] != expired and saved[1] != self.refresh_token:
                # Another process refreshed: its pair is the live one, ours is already rotated.
                self.access_token, self.refresh_token = saved
                return saved[0]
            if self.refresh_token is None:
                raise AssertionError("refresh attempted without a refresh token")
            pair = self.parse(
                TokenPair,
                self.send(
                    "POST",
                    "/auth/refresh",
                    json={"refresh_token": self.refresh_token},
                    authenticated=False,
                ),
            )
            self.set_tokens(pair)
            if store is not None:
                store.save(pair)
        if self.on_tokens_refreshed is not None:
            self.on_tokens_refreshed(pair)
        return pair.access_token

    @staticmethod
    def parse(model: type[M], response: httpx.Response) -> M:
        try:
            return pydantic.TypeAdapter(model).validate_json(response.content)
        except pydantic.ValidationError as exc:
            raise InvalidResponse(
                f"unexpected response from {response.request.method} {response.request.url.path}: "
                f"{exc.error_count()} field(s) did not match; is the client older than the server?",
                status_code=response.status_code,
                code="invalid_response",
                details={"errors": exc.errors(include_url=False)},
                response=response,
            ) from exc

    def call(self, model: type[M], method: str, path: str, **kwargs: Any) -> M:
        return self.parse(model, self.send(method, path, **kwargs))
