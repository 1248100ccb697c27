"""The pages' view of the JSON API: in-process calls to `/api/v1` on behalf of the browser.

Rendering through the API rather than beside it keeps one rule book: every page sees exactly
what the same user would see through the API (role policy, organization isolation, 404 for
another organization's ids), and the UI cannot drift from it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import Request

from lensforge.auth.browser_sessions import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE, read_cookie

API_BASE = "http://lensforge.internal/api/v1"

# Each in-process call is already logged by the API's request log (with the page's request id);
# httpx's own line per call would only double it.
logging.getLogger("httpx").setLevel(logging.WARNING)


@dataclass
class ApiError(Exception):
    status: int
    code: str
    message: str
    details: Any = None
    fields: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


def _error(response: httpx.Response) -> ApiError:
    try:
        body = response.json().get("error", {})
    except ValueError:
        body = {}
    details = body.get("details")
    fields: dict[str, str] = {}
    if isinstance(details, dict):
        for entry in details.get("fields") or []:
            if isinstance(entry, dict) and "field" in entry:
                fields[str(entry["field"]).removeprefix("body.")] = str(entry.get("message"))
    return ApiError(
        status=response.status_code,
        code=str(body.get("code", "http_error")),
        message=str(body.get("message", response.reason_phrase)),
        details=details,
        fields=fields,
    )


class Api:
    """One browser request's API access. `session_token` overrides the request's cookie (just
    after login). Only handlers that verified the CSRF token may pass `may_change=True`."""

    def __init__(
        self, request: Request, *, session_token: str | None = None, may_change: bool = False
    ) -> None:
        cookies = {}
        # The in-process API is reached over plain http, so the cookies go under their plain
        # names whatever the browser's (`__Host-` over HTTPS).
        token = session_token or read_cookie(request, SESSION_COOKIE)
        if token:
            cookies[SESSION_COOKIE] = token
        csrf = read_cookie(request, CSRF_COOKIE)
        headers = {"Accept": "application/json"}
        if may_change and csrf:
            cookies[CSRF_COOKIE] = csrf
            headers[CSRF_HEADER] = csrf
        request_id = getattr(request.state, "request_id", None)
        if request_id:
            headers["X-Request-ID"] = str(request_id)
        self._client = httpx.AsyncClient(
            # The browser's address, not ours: sign-in throttling counts per client address.
            transport=httpx.ASGITransport(
                app=request.app,
                client=(request.client.host, request.client.port)
                if request.client
                else ("unknown", 0),
            ),
            base_url=API_BASE,
            headers=headers,
            cookies=cookies,
            timeout=60.0,
        )

    async def get(self, path: str, **params: Any) -> Any:
        query = {k: v for k, v in params.items() if v is not None}
        return await self.call("GET", path, params=query)

    async def call(
        self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None
    ) -> Any:
        response = await self._client.request(method, path, json=json, params=params)
        if response.status_code >= 400:
            raise _error(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    async def optional(self, path: str, **params: Any) -> Any:
        """Like `get`, but None for a 404 (a part of a page that may not exist yet)."""
        try:
            return await self.get(path, **params)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def close(self) -> None:
        await self._client.aclose()
