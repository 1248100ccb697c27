"""A small pool for server-side background work (dataset imports), owned by the app's lifespan.

Work submitted here must be idempotent and record its own state in the database: if the server
stops, unfinished work is found there and submitted again at the next start.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import structlog

log = structlog.get_logger("lensforge.background")


class BackgroundRunner:
    def __init__(self, workers: int, name: str = "lensforge-bg") -> None:
        self._executor = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix=name)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        future = self._executor.submit(fn, *args)
        future.add_done_callback(_log_crash)
        return future

    def shutdown(self, *, wait: bool = True) -> None:
        self._executor.shutdown(wait=wait, cancel_futures=not wait)


def _log_crash(future: Future[Any]) -> None:
    error = future.exception()
    if error is not None:
        log.error("background task crashed", error=repr(error))
