"""Waiting for server-side work (imports, jobs) by polling, the same way everywhere."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from lensforge.client.errors import ConnectionFailed, LensforgeError, ServerError

T = TypeVar("T")

# Consecutive failed polls tolerated (a restarting server, a flaky link) before giving up.
POLL_FAILURES = 5


def poll_until(
    fetch: Callable[[], T],
    finished: Callable[[T], bool],
    *,
    poll_interval: float,
    timeout: float | None,
    on_poll: Callable[[T], None] | None,
    timed_out: Callable[[], LensforgeError],
) -> T:
    """Call `fetch` until `finished` says so and return that value; `on_poll` sees every value.
    After `timeout` seconds raise `timed_out()`; the work itself goes on on the server."""
    deadline = None if timeout is None else time.monotonic() + timeout
    failures = 0
    while True:
        try:
            value = fetch()
        except (ConnectionFailed, ServerError):
            failures += 1
            if failures >= POLL_FAILURES:
                raise
        else:
            failures = 0
            if on_poll is not None:
                on_poll(value)
            if finished(value):
                return value
        if deadline is not None and time.monotonic() >= deadline:
            raise timed_out()
        time.sleep(poll_interval)
