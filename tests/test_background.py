"""The background runner is fair between groups (organizations): one group's stuck work holds at
most its own share of the workers, and the others' work starts meanwhile."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from lensforge.kit.background import BackgroundRunner

TIMEOUT = 10


@pytest.fixture
def runner() -> Iterator[BackgroundRunner]:
    runner = BackgroundRunner(2, per_group=1)
    yield runner
    runner.shutdown(wait=True)


def test_a_stuck_group_does_not_hold_the_others(runner: BackgroundRunner) -> None:
    release = threading.Event()
    started: list[str] = []

    def stuck(name: str) -> str:
        started.append(name)
        assert release.wait(TIMEOUT)
        return name

    a_tasks = [runner.submit(stuck, f"a{i}", group="a") for i in range(3)]
    # Group b's work runs to the end while group a's first task hangs.
    assert runner.submit(lambda: "b", group="b").result(TIMEOUT) == "b"
    assert runner.submit(lambda: "c", group="c").result(TIMEOUT) == "c"
    assert started == ["a0"]  # a's others wait behind a's first, not in front of b's
    release.set()
    assert [task.result(TIMEOUT) for task in a_tasks] == ["a0", "a1", "a2"]


def test_groups_take_turns() -> None:
    runner = BackgroundRunner(1)  # one worker: the order of the work is the order of the turns
    gate = threading.Event()
    order: list[str] = []

    def work(name: str) -> None:
        assert gate.wait(TIMEOUT)
        order.append(name)

    tasks = [runner.submit(work, "x", group="x")]
    tasks += [runner.submit(work, f"a{i}", group="a") for i in range(3)]
    tasks.append(runner.submit(work, "b0", group="b"))
    gate.set()
    for task in tasks:
        task.result(TIMEOUT)
    runner.shutdown(wait=True)
    # b's one task, submitted after a's three, runs right after a's first.
    assert order == ["x", "a0", "b0", "a1", "a2"]


def test_errors_reach_the_future_and_free_the_worker(runner: BackgroundRunner) -> None:
    def boom() -> None:
        raise RuntimeError("boom")

    failed = runner.submit(boom, group="a")
    with pytest.raises(RuntimeError):
        failed.result(TIMEOUT)
    assert runner.submit(lambda: 1, group="a").result(TIMEOUT) == 1


def test_shutdown_cancels_what_waits_and_waits_for_what_runs() -> None:
    runner = BackgroundRunner(1)
    release = threading.Event()
    running = runner.submit(release.wait, TIMEOUT)
    waiting = runner.submit(lambda: None)
    threading.Timer(0.2, release.set).start()
    runner.shutdown(wait=True)
    assert running.result(0) is True
    assert waiting.cancelled()
    assert runner.submit(lambda: None).cancelled()
