"""The thread that drains the spool to `POST /reports`.

It wakes when the trainer asks (an urgent report, 50 buffered ones, `flush`) and at least
every `flush_interval`; sends the oldest unacknowledged reports in batches of at most 200;
advances the ack only after a 2xx. Connection errors, timeouts, 429 and 5xx are retried with
backoff (0.5 s doubling to 30 s, jittered) for as long as the trainer runs, and during
`close()` until the drain timeout. Any other 4xx is not retried: a refused batch of several
reports is halved until the offending report is alone (400/413/422: one bad report must not
take good ones with it), then kept in `reports.rejected` and logged; 401/403/404/409/410 mean
the attempt itself is refused, so the whole batch goes there at once.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from lensforge.sdk.http import TRANSIENT_ERRORS, Api, backoff_delay, is_transient, retry_after
from lensforge.sdk.spool import MAX_BATCH_REPORTS, Batch, Spool

logger = logging.getLogger("lensforge.sdk")

_SPLITTABLE = frozenset({400, 413, 422})


class Sender:
    def __init__(
        self,
        spool: Spool,
        api: Api,
        *,
        flush_interval: float,
        on_answer: Callable[[dict[str, Any]], None],
    ) -> None:
        self.spool = spool
        self.api = api
        self.flush_interval = flush_interval
        self.on_answer = on_answer
        self._wake = threading.Event()
        self._abort = threading.Event()
        self._closing = False
        self._progress = threading.Condition()
        self._limit = MAX_BATCH_REPORTS
        self.failures = 0
        self.sent_batches = 0
        self.rejected_reports = 0
        self._thread = threading.Thread(target=self._run, name="lensforge-sdk-sender", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def flush(self, timeout: float | None, target: int | None = None) -> bool:
        """Wait until everything appended before this call (or before the spool offset
        `target`) is acknowledged or rejected; False if `timeout` passed first."""
        target = self.spool.end if target is None else target
        deadline = None if timeout is None else time.monotonic() + timeout
        self._wake.set()
        with self._progress:
            while self.spool.acked < target:
                if not self._thread.is_alive():
                    return False
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._progress.wait(0.1 if remaining is None else min(0.1, remaining))
        return True

    def close(self, timeout: float) -> bool:
        """Drain for up to `timeout` seconds, then stop the thread. True when all was sent."""
        self._closing = True
        drained = self.flush(timeout) if self._thread.is_alive() else False
        self._abort.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=35)
        return drained

    # --- the thread -----------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._abort.is_set():
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            try:
                self._drain()
            except Exception:  # keep the reports on disk; never kill the trainer from here
                logger.exception("sending reports failed unexpectedly; retrying")
                self._sleep(backoff_delay(max(1, self.failures)))

    def _drain(self) -> None:
        while not self._abort.is_set():
            batch = self.spool.pending(self._limit)
            if batch is None:
                return
            self.spool.sync()
            if not self._send(batch):
                self.failures += 1
                delay = backoff_delay(self.failures, self._retry_after)
                logger.info(
                    "could not deliver %d reports (%s); retrying in %.1f s",
                    len(batch.lines),
                    self._problem,
                    delay,
                )
                self._sleep(delay)

    def _send(self, batch: Batch) -> bool:
        """Deliver `batch`: True once it is settled (acked or rejected), False to retry."""
        self._retry_after = None
        try:
            response = self.api.post_once("/reports", content=batch.body())
        except TRANSIENT_ERRORS as exc:
            self._problem = f"{type(exc).__name__}: {exc}"
            return False
        status = response.status_code
        if response.is_success:
            self._settle(batch)
            self._answer(response)
            return True
        if is_transient(status):
            self._problem, self._retry_after = f"HTTP {status}", retry_after(response)
            return False
        if status in _SPLITTABLE and len(batch.lines) > 1:
            self._limit = max(1, len(batch.lines) // 2)  # isolate the report the server refuses
            return True
        logger.error(
            "the server refused %d reports (HTTP %d: %s); kept in %s",
            len(batch.lines),
            status,
            response.text[:300],
            self.spool.rejected_path,
        )
        self.spool.reject(batch, status, response.text)
        self.rejected_reports += len(batch.lines)
        self._settled()
        return True

    def _settle(self, batch: Batch) -> None:
        self.spool.ack(batch)
        self.sent_batches += 1
        self.failures = 0
        if len(batch.lines) >= self._limit:
            self._limit = MAX_BATCH_REPORTS  # a bisection step passed: back to full batches
        self._settled()

    def _settled(self) -> None:
        with self._progress:
            self._progress.notify_all()

    def _answer(self, response: httpx.Response) -> None:
        try:
            answer = response.json()
        except (json.JSONDecodeError, ValueError):
            return
        if isinstance(answer, dict):
            self.on_answer(answer)

    def _sleep(self, seconds: float) -> None:
        # Interrupted only by the final abort: a wake-up must not shorten a backoff.
        self._abort.wait(seconds)

    _problem = ""
    _retry_after: float | None = None
