"""A small pool for server-side background work (dataset imports), owned by the app's lifespan.

Work submitted here must be idempotent and record its own state in the database: if the server
stops, unfinished work is found there and submitted again at the next start.

Work is fair between groups (organizations): each group has its own queue, at most
`per_group` of its tasks run at once, and a free worker takes the next task of the group that
waited longest. So one organization's slow work (an import from a tarpit endpoint, a hundred
queued imports) holds at most `per_group` workers, and the others' imports start meanwhile.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import structlog

log = structlog.get_logger("lensforge.background")


@dataclass
class _Task:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    future: Future[Any]


class BackgroundRunner:
    def __init__(
        self, workers: int, name: str = "lensforge-bg", *, per_group: int | None = None
    ) -> None:
        self._workers = max(1, workers)
        self._per_group = max(1, per_group) if per_group is not None else self._workers
        self._executor = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix=name)
        self._lock = threading.Lock()
        # Groups with waiting tasks, longest-waiting group first (round robin).
        self._waiting: OrderedDict[Hashable, deque[_Task]] = OrderedDict()
        self._running: Counter[Hashable] = Counter()
        self._busy = 0
        self._closed = False

    def submit(self, fn: Callable[..., Any], *args: Any, group: Hashable = None) -> Future[Any]:
        future: Future[Any] = Future()
        future.add_done_callback(_log_crash)
        with self._lock:
            if self._closed:
                future.cancel()
                return future
            self._waiting.setdefault(group, deque()).append(_Task(fn, args, future))
            self._dispatch()
        return future

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop starting work (what waits is recorded as pending and resumed at the next start);
        with `wait`, wait for the running tasks."""
        with self._lock:
            self._closed = True
            waiting = [task for queue in self._waiting.values() for task in queue]
            self._waiting.clear()
        for task in waiting:
            task.future.cancel()
        self._executor.shutdown(wait=wait)

    def _dispatch(self) -> None:
        """Start waiting tasks while workers are free (called with the lock held)."""
        while self._busy < self._workers and not self._closed:
            group = next((g for g in self._waiting if self._running[g] < self._per_group), _NOTHING)
            if group is _NOTHING:
                return
            queue = self._waiting.pop(group)
            task = queue.popleft()
            if queue:
                self._waiting[group] = queue  # to the back: the other groups go first
            if not task.future.set_running_or_notify_cancel():
                continue
            self._running[group] += 1
            self._busy += 1
            self._executor.submit(self._run, group, task)

    def _run(self, group: Hashable, task: _Task) -> None:
        try:
            result = task.fn(*task.args)
        except BaseException as exc:
            task.future.set_exception(exc)
        else:
            task.future.set_result(result)
        finally:
            with self._lock:
                self._running[group] -= 1
                if self._running[group] <= 0:
                    del self._running[group]
                self._busy -= 1
                self._dispatch()


_NOTHING = object()


def _log_crash(future: Future[Any]) -> None:
    if future.cancelled():
        return
    error = future.exception()
    if error is not None:
        log.error("background task crashed", error=repr(error))
