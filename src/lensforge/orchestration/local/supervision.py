"""Watching one trainer: cancel escalation and the stale-heartbeat reaper.

Times are the worker's own monotonic clock, from the moment it noticed something, never the
database's timestamps: the worker, the server and the database may sit on machines whose clocks
disagree, and a grace period must not shrink because of that. For the same reason a heartbeat
counts as "seen" when its value changes, whatever the value says.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from lensforge.orchestration.local.claim import Claim
from lensforge.orchestration.local.logs import AttemptRef
from lensforge.orchestration.local.processes import signal_group
from lensforge.orchestration.local.slots import Allocation


@dataclass(frozen=True)
class Observed:
    """One tick's reading of an attempt and its job."""

    attempt_status: str
    last_heartbeat_at: datetime | None
    job_status: str
    cancel_requested: bool


class Preparation:
    """The environment build, on a daemon thread: it may take minutes, and the worker's loop
    must keep heart-beating and supervising meanwhile. (The trainer itself is started by the
    loop thread, not here: see `processes.die_with_parent`.)"""

    def __init__(self, target: Callable[[], Path]) -> None:
        self.python: Path | None = None
        self.error: BaseException | None = None
        self._done = threading.Event()
        self._target = target
        threading.Thread(target=self._run, name="prepare", daemon=True).start()

    def _run(self) -> None:
        try:
            self.python = self._target()
        except BaseException as exc:  # reported through the job, not lost in a thread
            self.error = exc
        finally:
            self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()


@dataclass
class Child:
    claim: Claim
    allocation: Allocation
    ref: AttemptRef
    preparation: Preparation
    process: subprocess.Popen[bytes] | None = None
    pumps: list[threading.Thread] = field(default_factory=list)
    # Why and since when the trainer is being stopped, and which signals went out.
    stopping: str | None = None
    stop_seen_at: float | None = None
    term_sent_at: float | None = None
    kill_sent_at: float | None = None
    heartbeat: datetime | None = None
    heartbeat_changed_at: float = field(default_factory=time.monotonic)
    # Set when the worker itself decides the attempt is lost (stale heartbeat).
    lost_reason: str | None = None
    # The attempt was settled elsewhere (another worker recovered it, or it was cancelled
    # while preparing): nothing more is written about it when the process ends.
    settled: bool = False

    @property
    def attempt_id(self) -> uuid.UUID:
        return self.claim.attempt_id

    def begin_stop(self, why: str, now: float) -> None:
        if self.stopping is None:
            self.stopping = why
            self.stop_seen_at = now

    def escalate(self, now: float, grace: float, kill_grace: float) -> None:
        """Cooperative first (the SDK sees `cancel_requested`), SIGTERM to the group after
        `grace`, SIGKILL `kill_grace` later."""
        if self.process is None or self.stop_seen_at is None:
            return
        if self.term_sent_at is None:
            if now - self.stop_seen_at >= grace:
                signal_group(self.process.pid, signal.SIGTERM)
                self.term_sent_at = now
        elif self.kill_sent_at is None and now - self.term_sent_at >= kill_grace:
            self.kill()
            self.kill_sent_at = now

    def kill(self) -> None:
        if self.process is not None:
            signal_group(self.process.pid, signal.SIGKILL)

    def stale_for(self, observed: Observed, now: float) -> float:
        """Seconds since the heartbeat last changed (or since the trainer started)."""
        if observed.last_heartbeat_at != self.heartbeat:
            self.heartbeat = observed.last_heartbeat_at
            self.heartbeat_changed_at = now
        return now - self.heartbeat_changed_at


def describe_exit(code: int | None) -> str:
    if code is None:
        return "exit code unknown"
    if code < 0:
        try:
            return f"exit code {code}, killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"exit code {code}"
    return f"exit code {code}"
