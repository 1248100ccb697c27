"""`lensforge worker` and `lensforge up` as real processes: a worker killed with SIGKILL takes its
trainer with it (PDEATHSIG) and the next worker of the same name resumes the job; `up` keeps
its worker alive in a child process and stops it with itself."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.live_server import LiveServer
from tests.orchestration.helpers import (
    LENSFORGE,
    Jobs,
    alive,
    attempt_dir,
    process,
    wait_until,
    worker_env,
    write_trainer,
)

pytestmark = pytest.mark.xdist_group("subprocess-server")


def test_killed_worker_takes_its_trainer_along_and_the_next_one_resumes_the_job(
    live_server: LiveServer, tmp_path: Path, sessions: sessionmaker[Session], jobs: Jobs
) -> None:
    settings = live_server.settings
    env = worker_env(settings, write_trainer(tmp_path / "plugins"))
    log = tmp_path / "worker.log"
    argv = [LENSFORGE, "worker", "--name", "crashy"]
    job_id = jobs.create(
        sleep=120, complete_when_resumed=True, max_attempts=3, last_checkpoint_epoch=2
    )

    with process(argv, env, log) as first:
        pid_file = attempt_dir(settings, job_id, 1) / "pid"
        wait_until(pid_file.exists, what=f"the trainer to start; worker log:\n{log}")
        trainer = int(wait_until(pid_file.read_text, what="the trainer's pid"))
        assert alive(trainer)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        wait_until(lambda: not alive(trainer), timeout=10, what="the orphaned trainer to die")
        assert jobs.get(job_id).status == "preparing"  # nobody has noticed yet

    with process(argv, env, log):
        wait_until(
            lambda: jobs.get(job_id).status == "completed",
            timeout=60,
            what=f"the resumed job to complete; worker log:\n{log.read_text()}",
        )
    first_attempt, second = jobs.attempts(job_id)
    assert first_attempt.status == "lost"
    assert "worker restart" in (first_attempt.error_message or "")
    assert second.status == "completed"
    assert second.resumed_from == f"jobs/{job_id}/outputs/checkpoints/last.json"
    job = jobs.get(job_id)
    assert job.retries_left == 1  # a crash spends a retry (it might be the job's doing)


def test_stopped_worker_hands_its_job_back_without_spending_a_retry(
    live_server: LiveServer, tmp_path: Path, sessions: sessionmaker[Session], jobs: Jobs
) -> None:
    settings = live_server.settings
    env = worker_env(settings, write_trainer(tmp_path / "plugins"))
    log = tmp_path / "worker.log"
    job_id = jobs.create(sleep=120, max_attempts=2, last_checkpoint_epoch=7)
    with process([LENSFORGE, "worker", "--name", "polite"], env, log) as worker:
        pid_file = attempt_dir(settings, job_id, 1) / "pid"
        wait_until(pid_file.exists, what="the trainer to start")
        trainer = int(wait_until(pid_file.read_text, what="the trainer's pid"))
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=20) == 0, log.read_text()
    assert not alive(trainer)
    job = jobs.get(job_id)
    assert (job.status, job.retries_left, job.resume_requested) == ("queued", 1, True)
    assert job.status_reason == "attempt 1 lost (worker polite stopped); resuming from epoch 7"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            continue
    return {c for c in found if alive(c)}


def test_up_runs_a_worker_child_restarts_it_and_stops_it_on_ctrl_c(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LENSFORGE_")}
    env["LENSFORGE_DATA_DIR"] = str(tmp_path / "data")
    log = tmp_path / "up.log"
    base = f"http://127.0.0.1:{port}/api/v1"

    def ready() -> bool:
        try:
            return httpx.get(f"{base}/ready", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    # --no-serve: the worker is then `up`'s only child (tests/serve/test_up_restart.py has
    # the serving child restarted).
    with process([LENSFORGE, "up", "--port", str(port), "--no-serve"], env, log) as up:
        wait_until(ready, timeout=60, what="the server")
        worker = wait_until(lambda: _children(up.pid), what="the worker child").pop()
        os.kill(worker, signal.SIGKILL)
        wait_until(lambda: not alive(worker), what="the worker to die")
        assert ready()  # the API does not care
        replacement = wait_until(lambda: _children(up.pid), timeout=15, what="a new worker")
        assert worker not in replacement
        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=30) == 0, log.read_text()
    wait_until(lambda: not any(alive(p) for p in replacement), what="the worker to stop")
    assert "worker" in log.read_text()


def test_up_without_worker_starts_no_child(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LENSFORGE_")}
    env["LENSFORGE_DATA_DIR"] = str(tmp_path / "data")
    with process(
        # --no-serve too: the serving process is the other child `up` runs.
        [LENSFORGE, "up", "--port", str(port), "--no-worker", "--no-serve"],
        env,
        tmp_path / "up.log",
    ) as up:
        wait_until(lambda: _port_open(port), timeout=60, what="the server to listen on its port")
        time.sleep(0.5)
        assert _children(up.pid) == set()


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
