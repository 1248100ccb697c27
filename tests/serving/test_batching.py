"""The dynamic batcher with a real model (ONNX Runtime in a worker thread)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lensforge.serving.batching import DynamicBatcher
from lensforge.serving.errors import InferenceFailed, QueueFull, ShapeMismatch
from lensforge.serving.runtime import load_model
from tests.serving.onnx_models import adder

Array = np.ndarray[Any, Any]


def _rows(value: float, n: int = 1, width: int = 4) -> dict[str, Array]:
    return {"x": np.full((n, width), value, np.float32)}


def test_concurrent_items_run_as_batches_and_each_gets_its_own_rows(tmp_path: Path) -> None:
    model = load_model(adder(tmp_path / "a.onnx", weights=4))
    sizes: list[int] = []

    async def main() -> None:
        batcher = DynamicBatcher(
            model.run,
            max_batch_size=8,
            max_queue_delay_ms=50,
            queue_limit=64,
            on_batch=sizes.append,
        )
        outcomes = await asyncio.gather(*(batcher.submit(_rows(i)) for i in range(16)))
        for i, outcome in enumerate(outcomes):
            assert outcome.outputs["y"].tolist() == [[i + 0.0, i + 1.0, i + 2.0, i + 3.0]]
        assert max(o.batch_size for o in outcomes) == 8
        await batcher.close()

    asyncio.run(main())
    assert sizes == [8, 8]


def test_items_of_other_shapes_are_never_stacked() -> None:
    seen: list[tuple[int, ...]] = []

    def run(inputs: dict[str, Array]) -> dict[str, Array]:
        seen.append(inputs["x"].shape)
        return {"y": inputs["x"] * 2}

    async def main() -> None:
        batcher = DynamicBatcher(run, max_batch_size=8, max_queue_delay_ms=20, queue_limit=64)
        results = await asyncio.gather(
            batcher.submit(_rows(1, width=4)),
            batcher.submit(_rows(2, width=3)),
            batcher.submit(_rows(3, width=4)),
        )
        assert [r.outputs["y"][0, 0] for r in results] == [2, 4, 6]

    asyncio.run(main())
    assert sorted(seen) == [(1, 3), (2, 4)]


def test_a_fixed_batch_model_runs_items_one_by_one(tmp_path: Path) -> None:
    model = load_model(adder(tmp_path / "a.onnx", weights=4, fixed_batch=True))

    async def main() -> None:
        batcher = DynamicBatcher(
            model.run, max_batch_size=8, max_queue_delay_ms=20, stackable=False
        )
        outcomes = await asyncio.gather(*(batcher.submit(_rows(i)) for i in range(5)))
        assert [o.batch_size for o in outcomes] == [1] * 5
        assert [o.outputs["y"][0, 0] for o in outcomes] == [0, 1, 2, 3, 4]

    asyncio.run(main())


def test_a_full_queue_answers_503_at_once_with_retry_after() -> None:
    release = threading.Event()

    def slow(inputs: dict[str, Array]) -> dict[str, Array]:
        release.wait(5)
        return {"y": inputs["x"]}

    async def main() -> None:
        batcher = DynamicBatcher(slow, max_batch_size=1, max_queue_delay_ms=0, queue_limit=2)
        running = asyncio.ensure_future(batcher.submit(_rows(0)))
        await asyncio.sleep(0.05)  # the first is running, not waiting
        waiting = [asyncio.ensure_future(batcher.submit(_rows(i))) for i in (1, 2)]
        await asyncio.sleep(0.01)
        with pytest.raises(QueueFull) as caught:
            await batcher.submit(_rows(3))
        assert caught.value.status_code == 503
        assert caught.value.headers["Retry-After"] == "1"
        release.set()
        await asyncio.gather(running, *waiting)

    asyncio.run(main())


def test_a_cancelled_waiter_frees_its_slot_and_is_skipped() -> None:
    release = threading.Event()
    ran: list[float] = []

    def slow(inputs: dict[str, Array]) -> dict[str, Array]:
        release.wait(5)
        ran.extend(inputs["x"][:, 0].tolist())
        return {"y": inputs["x"]}

    async def main() -> None:
        batcher = DynamicBatcher(slow, max_batch_size=1, max_queue_delay_ms=0, queue_limit=1)
        first = asyncio.ensure_future(batcher.submit(_rows(0)))
        await asyncio.sleep(0.05)
        gone = asyncio.ensure_future(batcher.submit(_rows(1)))
        await asyncio.sleep(0.01)
        assert batcher.depth == 1
        gone.cancel()  # the client disconnected
        await asyncio.sleep(0.01)
        assert batcher.depth == 0
        kept = asyncio.ensure_future(batcher.submit(_rows(2)))  # the slot is free again
        release.set()
        await asyncio.gather(first, kept)

    asyncio.run(main())
    assert ran == [0.0, 2.0]


def test_an_error_reaches_every_waiter_of_the_batch() -> None:
    def broken(inputs: dict[str, Array]) -> dict[str, Array]:
        raise RuntimeError("onnxruntime says no")

    def refusing(inputs: dict[str, Array]) -> dict[str, Array]:
        raise ShapeMismatch("bad shape")

    async def main() -> None:
        batcher = DynamicBatcher(broken, max_batch_size=4, max_queue_delay_ms=20)
        results = await asyncio.gather(
            *(batcher.submit(_rows(i)) for i in range(3)), return_exceptions=True
        )
        assert all(isinstance(r, InferenceFailed) for r in results)
        batcher = DynamicBatcher(refusing, max_batch_size=4, max_queue_delay_ms=20)
        results = await asyncio.gather(
            *(batcher.submit(_rows(i)) for i in range(2)), return_exceptions=True
        )
        assert all(isinstance(r, ShapeMismatch) for r in results)

    asyncio.run(main())
