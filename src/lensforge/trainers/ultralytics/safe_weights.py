"""Reading `.pt` files without running the code a pickle may carry.

A `.pt` file is a pickle: `torch.load(weights_only=False)`, which Ultralytics' own loader
(`torch_safe_load`) uses, calls whatever function the file names, so an uploaded model artifact
could run any code in the trainer. Every `.pt` file the trainer did not write itself in this
attempt (uploaded weights, a checkpoint of an earlier attempt, the model of an export or
inference job) is first read with `weights_only=True`: PyTorch's restricted unpickler, which
builds only tensors, plain containers and the classes allowed here, and refuses anything else
before calling it. Only a file that passes is handed to Ultralytics.

Allowed classes: the model's layers (subclasses of `torch.nn.Module` defined in
`ultralytics.nn` or `torch.nn.modules`), torchvision's transforms (a classifier keeps its
preprocessing), the namespace Ultralytics keeps its arguments in, paths and a few numpy scalar
types (metrics). Building one of these runs no code of the file's choosing: at most the
class's own constructor, with arguments that are themselves restricted to these.
"""

from __future__ import annotations

import importlib
import pickle
from pathlib import Path
from typing import Any

import torch
from torch.serialization import get_unsafe_globals_in_checkpoint, safe_globals

from lensforge.sdk import ErrorType
from lensforge.sdk.errors import SDKError

# Modules whose layers (torch.nn.Module subclasses defined there) a checkpoint may hold. Not the
# rest of Ultralytics: `ultralytics.engine.model.Model` is a Module too, and building one
# loads another file with the unrestricted loader.
_LAYER_MODULES = ("ultralytics.nn.", "torch.nn.modules.")
# Modules any of whose classes a checkpoint may hold: a classifier keeps its preprocessing.
_CLASS_MODULES = ("torchvision.transforms.",)
# Other classes Ultralytics checkpoints hold, by their pickled name.
_PLAIN_CLASSES = frozenset(
    {
        "ultralytics.utils.IterableSimpleNamespace",
        "types.SimpleNamespace",
        "pathlib.Path",
        "pathlib.PosixPath",
        "pathlib.WindowsPath",
        "numpy.dtype",
        "numpy.core.multiarray.scalar",
        "numpy._core.multiarray.scalar",
    }
)


class UnsafeWeights(SDKError):
    """A `.pt` file that needs more than tensors and model classes to load: refused unread."""

    error_type = ErrorType.CONFIG


def load_checkpoint(path: Path) -> Any:
    """`torch.load(path)` with the restricted unpickler and the classes allowed above; raises
    UnsafeWeights naming what the file asks for when it needs anything else."""
    try:
        names = get_unsafe_globals_in_checkpoint(str(path))
    except Exception:  # not a zip checkpoint (legacy format): the load below decides
        names = []
    allowed = [_resolve(name, path) for name in names]
    try:
        with safe_globals(allowed):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights_only" in str(exc) or "GLOBAL" in str(exc):
            raise UnsafeWeights(_refusal(path, _reason(exc))) from None
        raise
    except (OSError, RuntimeError):
        raise  # unreadable, or torch's own words about a damaged archive
    except Exception as exc:  # the restricted unpickler choking on bytes that are no pickle
        raise pickle.UnpicklingError(
            f"not a PyTorch checkpoint ({type(exc).__name__}: {exc})"
        ) from None


def check(path: Path) -> None:
    """Raise UnsafeWeights unless `path` loads with the restricted unpickler (call before a
    loader that unpickles freely, such as Ultralytics' `YOLO(path)`)."""
    load_checkpoint(path)


def _resolve(name: str, path: Path) -> Any:
    """The class a checkpoint names, if it is allowed (its module is imported only then)."""
    module_name, _, attribute = name.rpartition(".")
    layer = module_name.startswith(_LAYER_MODULES)
    if not (name in _PLAIN_CLASSES or layer or module_name.startswith(_CLASS_MODULES)):
        raise UnsafeWeights(_refusal(path, f"it asks for {name}"))
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError):
        raise UnsafeWeights(_refusal(path, f"it asks for {name}, which does not exist")) from None
    if name in _PLAIN_CLASSES:
        return found
    # Defined there (not merely imported there), and a class; a layer class for layer modules.
    defined = isinstance(found, type) and found.__module__ == module_name
    if not defined or (layer and not issubclass(found, torch.nn.Module)):
        raise UnsafeWeights(_refusal(path, f"it asks for {name}, which is not a model layer"))
    return found


def _refusal(path: Path, why: str) -> str:
    return (
        f"the weights file {path.name} is refused: {why}; only tensors and model layers are loaded "
        "(a .pt file is a pickle that can run code). Save the model with Ultralytics "
        "(`model.save(...)`) or as a plain state dict"
    )


def _reason(exc: BaseException) -> str:
    """The restricted unpickler's reason, without its advice to retry with
    `weights_only=False` (exactly what must not be done with an untrusted file)."""
    for raw in str(exc).splitlines():
        line = raw.split("WeightsUnpickler error:", 1)[-1].strip()
        if line and not line.startswith(("Weights only load failed", "Check the documentation")):
            return line.rstrip(".")
    return "it is not a plain checkpoint"
