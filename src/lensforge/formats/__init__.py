"""Dataset formats: read YOLO, COCO, Pascal VOC, ImageFolder and the native format into one
model, validate them precisely, and write YOLO, COCO, ImageFolder and native layouts.

Pure: no database, server or object storage (an import-linter contract keeps it so).
Formats and decisions are documented in docs/dataset-formats.md.
"""

from lensforge.formats.api import TASKS_OF, read_dataset, write_dataset
from lensforge.formats.detect import FORMATS, DetectedFormat, detect_format
from lensforge.formats.errors import (
    DatasetFormatError,
    DatasetWriteError,
    FormatNotDetected,
    ImageError,
    UnsupportedFormat,
)
from lensforge.formats.images import (
    DEFAULT_MAX_IMAGE_PIXELS,
    SUPPORTED_EXTENSIONS,
    ImageInfo,
    ImagePolicy,
    describe_image,
)
from lensforge.formats.model import (
    PRECISION,
    SPLITS,
    Annotation,
    DatasetManifest,
    Item,
    Split,
    Task,
    canonical_dict,
    canonical_json,
    content_hash,
)
from lensforge.formats.validation import CODES, Issue, Severity, ValidationReport
from lensforge.formats.writers import ImageSource, WriteResult

__all__ = [
    "CODES",
    "DEFAULT_MAX_IMAGE_PIXELS",
    "FORMATS",
    "PRECISION",
    "SPLITS",
    "SUPPORTED_EXTENSIONS",
    "TASKS_OF",
    "Annotation",
    "DatasetFormatError",
    "DatasetManifest",
    "DatasetWriteError",
    "DetectedFormat",
    "FormatNotDetected",
    "ImageError",
    "ImageInfo",
    "ImagePolicy",
    "ImageSource",
    "Issue",
    "Item",
    "Severity",
    "Split",
    "Task",
    "UnsupportedFormat",
    "ValidationReport",
    "WriteResult",
    "canonical_dict",
    "canonical_json",
    "content_hash",
    "describe_image",
    "detect_format",
    "read_dataset",
    "write_dataset",
]
