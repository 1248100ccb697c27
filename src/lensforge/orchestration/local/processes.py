"""Process facts and signals the worker relies on (Linux; elsewhere they degrade safely).

A pid alone cannot identify a process across a worker restart: pids are reused. The worker
writes `(pid, start time in clock ticks, boot id)` next to each attempt when it starts the
trainer; a later worker compares them with /proc to tell "still that trainer" from "gone" or
"someone else now"."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

_PR_SET_PDEATHSIG = 1
# Beside the attempt's folder, not in it: the folder is the trainer's (its own user's, under a
# root worker), and a record it could rewrite would make a later worker signal any process.
_RECORD_SUFFIX = ".process.json"

_prctl: Callable[..., int] | None = None
if sys.platform == "linux":
    # Resolved now, not in the forked child: a child of a threaded parent should do as little
    # as possible before exec (no imports, no dynamic loading).
    _prctl = ctypes.CDLL(None, use_errno=True).prctl


def die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` that makes the child receive SIGKILL when the thread that started it
    dies (None where the OS has no such thing).

    Why: a trainer orphaned by a crashed (or `kill -9`ed) worker would keep its GPUs busy, and
    once its attempt is recovered the job would run twice at once. Linux ties the signal to the
    starting *thread*, so the worker must start trainers from its long-lived loop thread.
    """
    if _prctl is None:
        return None
    prctl = _prctl
    parent = os.getpid()

    def _preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        # The parent may have died between fork and prctl; then nobody would send the signal.
        if os.getppid() != parent:
            os._exit(1)

    return _preexec


def start_ticks(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat (start time since boot); None if no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[19])


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


@dataclass(frozen=True)
class ProcessRecord:
    pid: int
    start_ticks: int | None
    boot_id: str
    hostname: str

    @classmethod
    def of(cls, pid: int) -> ProcessRecord:
        return cls(pid, start_ticks(pid), boot_id(), socket.gethostname())

    def write(self, folder: Path) -> None:
        path = _record_path(folder)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self)))
        tmp.replace(path)

    @classmethod
    def read(cls, folder: Path) -> ProcessRecord | None:
        try:
            return cls(**json.loads(_record_path(folder).read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def still_running(self) -> bool:
        """True only when the very same process is alive on this machine, since this boot."""
        if self.hostname != socket.gethostname() or self.boot_id != boot_id():
            return False
        if self.start_ticks is None:
            return False  # recorded where /proc was missing: cannot be proven, assume gone
        return start_ticks(self.pid) == self.start_ticks


def _record_path(folder: Path) -> Path:
    return folder.parent / f".{folder.name}{_RECORD_SUFFIX}"


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """Signal a trainer's whole process group (its data loaders and helpers too)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def exited_unreaped(pid: int) -> bool:
    """Whether child `pid` has exited, without reaping it: while it is a zombie its pid (and so
    its process group id) cannot be reused, so the group can still be killed safely."""
    try:
        result = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return result is not None
