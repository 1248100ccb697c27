"""ONNX Runtime sessions, and a pool that keeps models warm under a memory budget.

    pool = ModelPool(budget_bytes=2 * 1024**3)
    model = pool.get("deployment-7@3", Path("model.onnx"))   # loaded once, then warm
    outputs = model.run({"images": batch})                    # {"output0": array}

The pool unloads the least recently used models when a new one would exceed the budget. A
model's memory is estimated before loading, from its file size times `memory_factor` (default
2.5: the weights once in ONNX Runtime's initializers, plus its arena for activations, which for
the small vision models we export is of the order of the weights again, plus slack). It is an
estimate chosen to err large so that the budget holds, not a measurement; `benchmarks/serving.py`
is where it gets measured (issue 14).

Thread-safe: lookups take one lock; a model is loaded outside it, once, however many threads
ask for it at the same time (each key has its own loading lock). An unloaded model's session
lives on until the last request using it finishes (it is only dropped from the pool).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime

from lensforge.serving.errors import ModelLoadFailed, ModelTooLarge
from lensforge.serving.protocol import TensorSpec

DEFAULT_MEMORY_FACTOR = 2.5
# ONNX element types as ONNX Runtime names them -> protocol datatypes.
ORT_DATATYPES = {
    "tensor(bool)": "BOOL",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(string)": "BYTES",
    "tensor(bfloat16)": "BF16",
}


@dataclass(frozen=True)
class Signature:
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]


def _spec(node: Any) -> TensorSpec:
    # A symbolic dimension ("batch", "anchors") or an unknown one (None) is dynamic: -1.
    shape = tuple(size if isinstance(size, int) and size >= 0 else -1 for size in node.shape)
    return TensorSpec(node.name, ORT_DATATYPES.get(node.type, node.type), shape)


def available_providers(*, prefer_gpu: bool = True) -> list[str]:
    """CUDA first where this onnxruntime build has it and `prefer_gpu`; CPU always."""
    present = onnxruntime.get_available_providers()
    wanted = ["CUDAExecutionProvider"] if prefer_gpu else []
    return [name for name in wanted if name in present] + ["CPUExecutionProvider"]


class LoadedModel:
    """One ONNX Runtime session and its signature. `run` is safe from several threads at once
    (ONNX Runtime's `InferenceSession.run` is)."""

    def __init__(self, path: Path, session: Any, memory_bytes: int) -> None:
        self.path = path
        self.session = session
        self.memory_bytes = memory_bytes
        self.signature = Signature(
            inputs=tuple(_spec(node) for node in session.get_inputs()),
            outputs=tuple(_spec(node) for node in session.get_outputs()),
        )
        self.providers: list[str] = list(session.get_providers())

    def run(
        self,
        inputs: Mapping[str, np.ndarray[Any, Any]],
        outputs: Sequence[str] | None = None,
    ) -> dict[str, np.ndarray[Any, Any]]:
        names = list(outputs) if outputs is not None else [s.name for s in self.signature.outputs]
        values = self.session.run(names, dict(inputs))
        return {name: np.asarray(value) for name, value in zip(names, values, strict=True)}


def estimate_memory(path: Path, factor: float = DEFAULT_MEMORY_FACTOR) -> int:
    return int(path.stat().st_size * factor)


def load_model(
    path: Path,
    *,
    providers: Sequence[str] | None = None,
    threads: int | None = None,
    memory_factor: float = DEFAULT_MEMORY_FACTOR,
    spin: bool = True,
) -> LoadedModel:
    """An ONNX model file as a warm session; `ModelLoadFailed` when ONNX Runtime refuses it."""
    options = onnxruntime.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    if not spin:
        # ONNX Runtime's worker threads busy-wait after each run by default; in a server they
        # would take the cores the next requests' decoding and NMS need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        memory = estimate_memory(path, memory_factor)
        session = onnxruntime.InferenceSession(
            str(path),
            sess_options=options,
            providers=list(providers) if providers is not None else available_providers(),
        )
    except Exception as exc:  # ONNX Runtime raises its own (unexported) classes or OSError
        raise ModelLoadFailed(f"ONNX Runtime cannot load {path.name}: {exc}") from None
    return LoadedModel(path, session, memory)


Loader = Callable[[Path], LoadedModel]


class ModelPool:
    """Warm models by key (a deployment and its model version), least recently used unloaded
    first when the estimated memory would exceed `budget_bytes`."""

    def __init__(
        self,
        budget_bytes: int,
        *,
        memory_factor: float = DEFAULT_MEMORY_FACTOR,
        loader: Loader | None = None,
    ) -> None:
        self.budget_bytes = budget_bytes
        self.memory_factor = memory_factor
        self._loader: Loader = loader or (lambda p: load_model(p, memory_factor=memory_factor))
        self._models: OrderedDict[str, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}
        self.loads = 0
        self.unloads = 0

    @property
    def used_bytes(self) -> int:
        with self._lock:
            return sum(model.memory_bytes for model in self._models.values())

    def keys(self) -> list[str]:
        """Loaded keys, least recently used first."""
        with self._lock:
            return list(self._models)

    def get(self, key: str, path: Path) -> LoadedModel:
        """The model under `key`, loaded from `path` if it is not warm (or was another file)."""
        model = self._lookup(key, path)
        if model is not None:
            return model
        with self._lock:
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            # Another thread may have loaded it while this one waited.
            model = self._lookup(key, path)
            if model is not None:
                return model
            need = estimate_memory(path, self.memory_factor)
            if need > self.budget_bytes:
                raise ModelTooLarge(
                    f"{path.name} needs about {need} bytes, more than the pool's budget of "
                    f"{self.budget_bytes}"
                )
            with self._lock:
                self._make_room(need, keep=key)
            model = self._loader(path)
            with self._lock:
                self._models.pop(key, None)
                self._make_room(model.memory_bytes, keep=key)
                self._models[key] = model
                self.loads += 1
            return model

    def _lookup(self, key: str, path: Path) -> LoadedModel | None:
        with self._lock:
            model = self._models.get(key)
            if model is None:
                return None
            if model.path != path:
                # The key now names another file (a deployment updated in place): reload.
                del self._models[key]
                self.unloads += 1
                return None
            self._models.move_to_end(key)
            return model

    def _make_room(self, need: int, *, keep: str) -> None:
        used = sum(model.memory_bytes for name, model in self._models.items() if name != keep)
        while used + need > self.budget_bytes:
            victim = next((name for name in self._models if name != keep), None)
            if victim is None:
                return
            used -= self._models.pop(victim).memory_bytes
            self.unloads += 1

    def unload(self, key: str) -> bool:
        with self._lock:
            removed = self._models.pop(key, None) is not None
            if removed:
                self.unloads += 1
            return removed


__all__ = [
    "DEFAULT_MEMORY_FACTOR",
    "LoadedModel",
    "ModelPool",
    "Signature",
    "available_providers",
    "estimate_memory",
    "load_model",
]
