"""Capacity permits: CPU slots and one slot per GPU index. A job's `resources`
(`{"cpu": n, "gpu": m}`) must fit in what is free; GPU jobs get specific indices."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


def demand(resources: Mapping[str, Any]) -> tuple[int, int]:
    """(cpu slots, gpus) a job asks for; the API's defaults when a key is absent or null.
    Mirrors the claim query's `coalesce(...)`, so a claimed job always fits."""
    cpu, gpu = resources.get("cpu"), resources.get("gpu")
    return (1 if cpu is None else int(cpu)), (0 if gpu is None else int(gpu))


@dataclass(frozen=True)
class Allocation:
    cpu: int
    gpus: tuple[int, ...]

    @property
    def cuda_visible_devices(self) -> str:
        # Empty for CPU-only jobs: a framework must not grab a GPU another job was given.
        return ",".join(str(index) for index in self.gpus)


class Slots:
    """Only the worker's loop thread touches this; no locking needed."""

    def __init__(self, cpu: int, gpus: Sequence[int]) -> None:
        self.total_cpu = cpu
        self.all_gpus = tuple(gpus)
        self.free_cpu = cpu
        self._free_gpus = list(gpus)

    @property
    def free_gpus(self) -> int:
        return len(self._free_gpus)

    def fits(self, resources: Mapping[str, Any]) -> bool:
        cpu, gpu = demand(resources)
        return cpu <= self.free_cpu and gpu <= self.free_gpus

    def take(self, resources: Mapping[str, Any]) -> Allocation:
        cpu, gpu = demand(resources)
        if not self.fits(resources):
            raise ValueError(f"no capacity for {resources}")
        self.free_cpu -= cpu
        given, self._free_gpus = self._free_gpus[:gpu], self._free_gpus[gpu:]
        return Allocation(cpu, tuple(given))

    def release(self, allocation: Allocation) -> None:
        self.free_cpu += allocation.cpu
        self._free_gpus = sorted({*self._free_gpus, *allocation.gpus})

    @property
    def idle(self) -> bool:
        return self.free_cpu == self.total_cpu and self.free_gpus == len(self.all_gpus)
