"""Exceptions of the format layer. Problems *inside* a dataset are not exceptions: readers
report them in a `ValidationReport`. These are raised when a request cannot be served at all
(no known format found, an unknown format name, a dataset a format cannot express)."""

from __future__ import annotations

from lensforge.errors import BadRequest


class DatasetFormatError(BadRequest):
    code = "dataset_format_error"


class FormatNotDetected(DatasetFormatError):
    code = "format_not_detected"


class UnsupportedFormat(DatasetFormatError):
    """A known format or variant that Lensforge does not import, or an unknown format name."""

    code = "unsupported_format"


class DatasetWriteError(DatasetFormatError):
    """The manifest cannot be written in the requested format, or the destination is unusable."""

    code = "dataset_write_error"


class ImageError(DatasetFormatError):
    """An image cannot be used; `reason_code` is the validation code that describes why."""

    code = "image_error"

    def __init__(self, message: str, *, reason_code: str) -> None:
        super().__init__(message, details={"reason": reason_code})
        self.reason_code = reason_code
