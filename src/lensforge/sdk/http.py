"""The trainer API over HTTP: one httpx client, retries with backoff for transient failures."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from lensforge.sdk.config import TrainerConfig
from lensforge.sdk.errors import CheckpointNotFound, NetworkError, ServerError

logger = logging.getLogger("lensforge.sdk")

BACKOFF_START = 0.5
BACKOFF_CAP = 30.0
TIMEOUT = httpx.Timeout(30.0, connect=5.0)
TRANSIENT_ERRORS = (httpx.TransportError,)  # connection refused/reset, timeouts, protocol errors


def is_transient(status_code: int) -> bool:
    """Worth retrying: the server is overloaded, restarting or briefly broken."""
    return status_code == 429 or status_code >= 500


def backoff_delay(failures: int, retry_after: float | None = None) -> float:
    """0.5 s doubling to 30 s, with jitter (half fixed, half random) so that many trainers
    restarted together do not hammer a recovering server in step."""
    base = min(BACKOFF_CAP, BACKOFF_START * 2.0 ** max(0, failures - 1))
    delay = base / 2 + random.uniform(0, base / 2)  # noqa: S311 (jitter, not security)
    if retry_after is not None:
        delay = max(delay, min(retry_after, BACKOFF_CAP))
    return delay


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return float(value)
    except ValueError:
        return None


def describe(response: httpx.Response) -> str:
    """The server's error message (Lensforge answers `{"detail": ...}` or `{"message": ...}`)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    if isinstance(body, dict):
        for key in ("message", "detail", "error"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return response.text[:500]


class Api:
    """Calls of `/api/v1/trainer/jobs/{job_id}`, authenticated with the attempt's token.

    Presigned storage links are fetched with a separate client that never carries the token:
    they lead to the object store, which must not see it."""

    def __init__(self, config: TrainerConfig, client: httpx.Client | None = None) -> None:
        self.config = config
        self.base = f"{config.api_url}/api/v1/trainer/jobs/{config.job_id}"
        self._owns_client = client is None
        self.client = client or httpx.Client(timeout=TIMEOUT)
        self.storage = httpx.Client(timeout=TIMEOUT, follow_redirects=True)
        self._headers = {"Authorization": f"Bearer {config.token}"}
        self.closed = threading.Event()

    def post_once(self, path: str, *, content: bytes) -> httpx.Response:
        """One POST without retries (the report sender runs its own loop)."""
        return self.client.post(
            self.base + path,
            content=content,
            headers={**self._headers, "Content-Type": "application/json"},
        )

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        timeout: float | None = None,
        not_found: Callable[[httpx.Response], Exception] | None = None,
        content: bytes | None = None,
        content_type: str | None = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        """Request with retries through transient failures for up to `timeout` seconds (the
        config's `retry_timeout` by default); return the JSON answer or raise."""
        deadline = time.monotonic() + (self.config.retry_timeout if timeout is None else timeout)
        failures = 0
        while True:
            try:
                headers = self._headers
                if content_type is not None:
                    headers = {**headers, "Content-Type": content_type}
                response = self.client.request(
                    method,
                    self.base + path,
                    json=json,
                    content=content,
                    params=params,
                    headers=headers,
                )
            except TRANSIENT_ERRORS as exc:
                problem, wait_hint = f"{type(exc).__name__}: {exc}", None
            else:
                if response.is_success:
                    return response.json() if response.content else None
                if response.status_code == 404 and not_found is not None:
                    raise not_found(response)
                if not is_transient(response.status_code):
                    raise ServerError(
                        f"{method} {path} was refused ({response.status_code}): "
                        + describe(response),
                        status_code=response.status_code,
                        body=response.text,
                    )
                problem, wait_hint = f"HTTP {response.status_code}", retry_after(response)
            failures += 1
            delay = backoff_delay(failures, wait_hint)
            if time.monotonic() + delay > deadline:
                raise NetworkError(
                    f"{method} {self.base}{path} failed {failures} times; last: {problem}"
                )
            logger.info("%s %s failed (%s); retrying in %.1f s", method, path, problem, delay)
            if self.closed.wait(delay):
                raise NetworkError(f"{method} {path} abandoned: the trainer is closing")

    def checkpoint_not_found(self, response: httpx.Response) -> Exception:
        return CheckpointNotFound(
            "the job has no such checkpoint: " + describe(response),
            status_code=404,
            body=response.text,
        )

    def close(self) -> None:
        self.closed.set()
        if self._owns_client:
            self.client.close()
        self.storage.close()
