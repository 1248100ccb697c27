"""Dynamic batching: requests that arrive close together run as one batch (Triton's dynamic
batcher, in asyncio).

    batcher = DynamicBatcher(model.run, max_batch_size=8, max_queue_delay_ms=2, queue_limit=64)
    done = await batcher.submit({"images": tensor})   # tensor [n, 3, h, w]
    done.outputs["output0"]                             # this item's rows only

The first item waiting opens a batch; the batch runs when it holds `max_batch_size` rows or
`max_queue_delay_ms` after that item arrived, whichever is first. Only items whose inputs have
the same shapes past the batch dimension are stacked (a 320 px image never joins a 640 px batch).
A model whose batch dimension is fixed (`stackable=False`) runs its items one by one.
`queue_limit` items waiting answer `QueueFull` (503 with Retry-After) at once: never an unbounded
wait. A waiter that is cancelled (its client went away) leaves the queue and is skipped.
The model runs in a worker thread, so the event loop keeps accepting requests meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lensforge.serving.errors import InferenceFailed, QueueFull, ServingError

Array = np.ndarray[Any, Any]
RunBatch = Callable[[dict[str, Array]], Mapping[str, Array]]


@dataclass(frozen=True)
class BatchOutcome:
    outputs: dict[str, Array]
    queue_ms: float
    compute_ms: float
    batch_size: int


@dataclass(eq=False)  # identity: `deque.remove` must not compare the arrays
class _Item:
    inputs: dict[str, Array]
    shape_key: tuple[tuple[str, tuple[int, ...], str], ...]
    rows: int
    future: asyncio.Future[BatchOutcome]
    enqueued: float = field(default_factory=time.perf_counter)


def _shape_key(inputs: Mapping[str, Array]) -> tuple[tuple[str, tuple[int, ...], str], ...]:
    return tuple(
        (name, tuple(array.shape[1:]), array.dtype.str) for name, array in sorted(inputs.items())
    )


class DynamicBatcher:
    def __init__(
        self,
        run_batch: RunBatch,
        *,
        max_batch_size: int = 8,
        max_queue_delay_ms: float = 2.0,
        queue_limit: int = 64,
        stackable: bool = True,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self._run_batch = run_batch
        self._on_batch = on_batch
        self.max_batch_size = max(1, max_batch_size)
        self.max_queue_delay_ms = max(0.0, max_queue_delay_ms)
        self.queue_limit = max(1, queue_limit)
        self.stackable = stackable
        self._queue: deque[_Item] = deque()
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self._closed = False
        self.batches_run = 0

    def configure(
        self, *, max_batch_size: int, max_queue_delay_ms: float, queue_limit: int
    ) -> None:
        """New batching settings (a deployment edited in place); they apply from the next batch."""
        self.max_batch_size = max(1, max_batch_size)
        self.max_queue_delay_ms = max(0.0, max_queue_delay_ms)
        self.queue_limit = max(1, queue_limit)

    @property
    def depth(self) -> int:
        """Items waiting (not yet running)."""
        return sum(1 for item in self._queue if not item.future.done())

    async def submit(self, inputs: dict[str, Array]) -> BatchOutcome:
        """Run `inputs` (each with a leading batch dimension) in the next fitting batch."""
        if self._closed:
            raise QueueFull("this model version is being unloaded; retry", headers=_retry())
        if self.depth >= self.queue_limit:
            raise QueueFull(
                f"{self.queue_limit} requests are already waiting for this deployment; retry",
                headers=_retry(),
            )
        loop = asyncio.get_running_loop()
        rows = next(iter(inputs.values())).shape[0] if inputs else 1
        item = _Item(inputs, _shape_key(inputs), rows, loop.create_future())
        self._queue.append(item)
        self._ensure_worker()
        assert self._wakeup is not None
        self._wakeup.set()
        try:
            return await item.future
        except asyncio.CancelledError:
            # The client went away: free the slot now rather than when the item's turn comes.
            item.future.cancel()
            # ValueError: already taken into a running batch; its result is dropped.
            with contextlib.suppress(ValueError):
                self._queue.remove(item)
            raise

    def _ensure_worker(self) -> None:
        if self._worker is None or self._worker.done():
            self._wakeup = asyncio.Event()
            self._worker = asyncio.get_running_loop().create_task(self._work())

    async def _work(self) -> None:
        assert self._wakeup is not None
        while True:
            self._drop_cancelled()
            if not self._queue:
                if self._closed:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            try:
                batch = await self._gather()
                if batch:
                    await self._run(batch)
            except Exception as exc:  # a bug here must fail the waiters, never strand them
                while self._queue:
                    _fail(self._queue.popleft(), InferenceFailed(f"batching failed: {exc!r}"))

    def _drop_cancelled(self) -> None:
        while self._queue and self._queue[0].future.done():
            self._queue.popleft()

    async def _gather(self) -> list[_Item]:
        """The first waiting item and those that fit with it, waiting until the batch is full
        or the first item's queue delay is over."""
        assert self._wakeup is not None
        first = self._queue[0]
        if not self.stackable:
            self._queue.popleft()
            return [first]
        deadline = first.enqueued + self.max_queue_delay_ms / 1000
        while True:
            chosen = self._fitting(first)
            rows = sum(item.rows for item in chosen)
            remaining = deadline - time.perf_counter()
            if rows >= self.max_batch_size or remaining <= 0 or self._closed:
                break
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), remaining)
        chosen = [item for item in self._fitting(first) if not item.future.done()]
        for item in chosen:
            self._queue.remove(item)
        return chosen

    def _fitting(self, first: _Item) -> list[_Item]:
        chosen: list[_Item] = []
        rows = 0
        for item in self._queue:
            if item.future.done() or item.shape_key != first.shape_key:
                continue
            if chosen and rows + item.rows > self.max_batch_size:
                break
            chosen.append(item)
            rows += item.rows
        return chosen

    async def _run(self, batch: list[_Item]) -> None:
        started = time.perf_counter()
        if len(batch) == 1:
            inputs = batch[0].inputs
        else:
            inputs = {
                name: np.concatenate([item.inputs[name] for item in batch])
                for name in batch[0].inputs
            }
        try:
            outputs = await asyncio.to_thread(self._run_batch, inputs)
            # Each item's rows of each output, in the order the items were stacked.
            split = _split(dict(outputs), [item.rows for item in batch])
        except ServingError as exc:
            for item in batch:
                _fail(item, exc)
            return
        except Exception as exc:  # ONNX Runtime's own classes: the model failed, not the client
            for item in batch:
                _fail(item, InferenceFailed(f"the model failed on this input: {exc}"))
            return
        finally:
            self.batches_run += 1
        compute_ms = (time.perf_counter() - started) * 1000
        rows = sum(item.rows for item in batch)
        if self._on_batch is not None:
            self._on_batch(rows)
        for item, item_outputs in zip(batch, split, strict=True):
            if not item.future.done():
                item.future.set_result(
                    BatchOutcome(item_outputs, (started - item.enqueued) * 1000, compute_ms, rows)
                )

    async def close(self) -> None:
        """Finish what is queued, then stop the worker; later submits are refused."""
        self._closed = True
        if self._wakeup is not None:
            self._wakeup.set()
        if self._worker is not None:
            await asyncio.gather(self._worker, return_exceptions=True)


def _split(outputs: dict[str, Array], rows: list[int]) -> list[dict[str, Array]]:
    if len(rows) == 1:
        return [outputs]
    total = sum(rows)
    for name, array in outputs.items():
        if array.ndim == 0 or array.shape[0] != total:
            raise InferenceFailed(
                f"output {name!r} has {array.shape[0] if array.ndim else 0} rows for a batch "
                f"of {total}: the model does not batch along its first dimension"
            )
    bounds = np.cumsum([0, *rows])
    return [
        {name: array[bounds[i] : bounds[i + 1]] for name, array in outputs.items()}
        for i in range(len(rows))
    ]


def _fail(item: _Item, exc: ServingError) -> None:
    if not item.future.done():
        item.future.set_exception(exc)


def _retry(seconds: int = 1) -> dict[str, str]:
    return {"Retry-After": str(seconds)}


__all__ = ["BatchOutcome", "DynamicBatcher"]
