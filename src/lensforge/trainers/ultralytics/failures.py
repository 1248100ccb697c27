"""Which error type a failure is reported as, with the real message (the trainer contract's
`failed` report). Decided by exception type and message, so it runs without torch."""

from __future__ import annotations

from lensforge.sdk import ErrorType, error_type_of
from lensforge.sdk.errors import SDKError


class Diverged(Exception):
    """The losses became NaN or infinite and Ultralytics could not recover."""


_OUT_OF_MEMORY = ("out of memory", "cuda error: out of memory", "cublas_status_alloc_failed")
_DATASET_HINTS = ("dataset", "images not found", "no labels found", "labels found in")
_CONFIG_TYPES = ("SyntaxError",)


def classify(exc: BaseException) -> ErrorType:
    if isinstance(exc, SDKError):
        return exc.error_type
    name = type(exc).__name__
    text = str(exc).lower()
    if (
        isinstance(exc, MemoryError)
        or name == "OutOfMemoryError"
        or any(hint in text for hint in _OUT_OF_MEMORY)
    ):
        return ErrorType.RESOURCE
    if isinstance(exc, ImportError):
        return ErrorType.DEPENDENCY
    if isinstance(exc, Diverged) or "nan" in text.split():
        return ErrorType.TRAINING
    if isinstance(exc, OSError) and getattr(exc, "errno", None) == 28:  # ENOSPC
        return ErrorType.RESOURCE
    if isinstance(exc, FileNotFoundError) or any(hint in text for hint in _DATASET_HINTS):
        return ErrorType.DATASET
    if name in _CONFIG_TYPES or "is not a valid yolo argument" in text:
        return ErrorType.CONFIG
    return error_type_of(exc)


def message(exc: BaseException) -> str:
    text = str(exc).strip() or repr(exc)
    return f"{type(exc).__name__}: {text}"
