"""What a trainer may report as a job artifact (docs/trainer-contract.md §3): a plot (a PNG or
JPEG image) or a table (JSON), each checked whole before it is stored.

Artifacts are shown to every reader of the job, so nothing is stored on trust: the declared
type must be what the bytes are, an image must decode (headers and data, within a pixel limit
that keeps decompression bombs out), and a table must have the documented shape.
"""

from __future__ import annotations

import io
import json
import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from PIL import Image, UnidentifiedImageError

from lensforge.errors import Conflict, PayloadTooLarge, ValidationFailed

ArtifactKind = Literal["plot", "table"]

MAX_PLOT_BYTES = 8 * 1024 * 1024
MAX_TABLE_BYTES = 1024 * 1024
MAX_ARTIFACTS_PER_JOB = 50
MAX_PLOT_PIXELS = 40_000_000
MAX_TABLE_COLUMNS = 50
MAX_TABLE_ROWS = 5000
MAX_CELL_CHARS = 200

PLOT_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG"}
TABLE_TYPE = "application/json"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
_NAME = re.compile(NAME_PATTERN)


class InvalidArtifact(ValidationFailed):
    code = "invalid_artifact"


class ArtifactTooLarge(PayloadTooLarge):
    code = "artifact_too_large"


class TooManyArtifacts(Conflict):
    code = "too_many_artifacts"


@dataclass(frozen=True)
class CheckedArtifact:
    name: str
    kind: ArtifactKind
    content_type: str
    body: bytes


def size_limit(kind: ArtifactKind) -> int:
    return MAX_PLOT_BYTES if kind == "plot" else MAX_TABLE_BYTES


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidArtifact(
            f"artifact name {name!r}: 1..100 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit (e.g. 'confusion_matrix.png')",
            details={"name": name},
        )
    return name


def media_type(header: str | None) -> str:
    """`image/png; charset=...` -> `image/png`."""
    return (header or "").split(";", 1)[0].strip().lower()


def check_artifact(
    name: str, kind: ArtifactKind, content_type: str, body: bytes
) -> CheckedArtifact:
    """The artifact as it will be stored, or a specific 4xx error saying what is wrong."""
    check_name(name)
    if len(body) > size_limit(kind):
        raise ArtifactTooLarge(
            f"artifact {name!r}: {len(body)} bytes; a {kind} may have at most {size_limit(kind)}",
            details={"name": name, "size": len(body), "limit": size_limit(kind)},
        )
    if not body:
        raise InvalidArtifact(f"artifact {name!r} is empty", details={"name": name})
    if kind == "plot":
        _check_plot(name, content_type, body)
    else:
        _check_table(name, content_type, body)
    return CheckedArtifact(name, kind, content_type, body)


def _check_plot(name: str, content_type: str, body: bytes) -> None:
    if content_type not in PLOT_TYPES:
        raise InvalidArtifact(
            f"artifact {name!r}: a plot must be sent as image/png or image/jpeg, not "
            f"{content_type or 'no Content-Type'}",
            details={"name": name, "content_type": content_type},
        )
    try:
        with Image.open(io.BytesIO(body)) as image:
            found, (width, height) = image.format, image.size
            if width * height > MAX_PLOT_PIXELS:
                raise InvalidArtifact(
                    f"artifact {name!r}: {width}x{height} pixels; at most {MAX_PLOT_PIXELS}",
                    details={"name": name, "width": width, "height": height},
                )
            image.load()  # decodes every pixel: a truncated or corrupt file fails here
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
    ) as exc:
        raise InvalidArtifact(
            f"artifact {name!r} is not a readable {PLOT_TYPES[content_type]} image: {exc}",
            details={"name": name},
        ) from exc
    if found != PLOT_TYPES[content_type]:
        raise InvalidArtifact(
            f"artifact {name!r} was sent as {content_type} but is a {found} image",
            details={"name": name, "content_type": content_type, "format": found},
        )


def _check_table(name: str, content_type: str, body: bytes) -> None:
    if content_type != TABLE_TYPE:
        raise InvalidArtifact(
            f"artifact {name!r}: a table must be sent as application/json, not "
            f"{content_type or 'no Content-Type'}",
            details={"name": name, "content_type": content_type},
        )
    try:
        table = json.loads(body, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArtifact(
            f"artifact {name!r} is not valid JSON: {exc}", details={"name": name}
        ) from exc
    problem = table_problem(table)
    if problem is not None:
        raise InvalidArtifact(
            f"artifact {name!r}: {problem} (a table is "
            '{"columns": ["class", ...], "rows": [["cat", 0.91, ...], ...]})',
            details={"name": name},
        )


def _no_constant(value: str) -> Any:
    raise ValueError(f"{value} is not a number JSON allows")


def table_problem(table: Any) -> str | None:
    """What is wrong with a table's shape, or None: `columns` (1..50 non-empty strings) and
    `rows` (each a list of as many cells: string, finite number or null)."""
    if not isinstance(table, dict) or set(table) - {"columns", "rows"}:
        return "must be an object with exactly 'columns' and 'rows'"
    columns, rows = table.get("columns"), table.get("rows")
    if not isinstance(columns, list) or not 1 <= len(columns) <= MAX_TABLE_COLUMNS:
        return f"'columns' must be a list of 1..{MAX_TABLE_COLUMNS} names"
    if not all(isinstance(c, str) and 0 < len(c) <= MAX_CELL_CHARS for c in columns):
        return f"every column name must be a string of 1..{MAX_CELL_CHARS} characters"
    if not isinstance(rows, list) or len(rows) > MAX_TABLE_ROWS:
        return f"'rows' must be a list of at most {MAX_TABLE_ROWS} rows"
    for index, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(columns):
            return f"row {index} must be a list of {len(columns)} cells, one per column"
        for cell in row:
            if not _cell_ok(cell):
                return (
                    f"row {index}: cell {cell!r} must be a string of at most "
                    f"{MAX_CELL_CHARS} characters, a finite number or null"
                )
    return None


def _cell_ok(cell: Any) -> bool:
    if cell is None:
        return True
    if isinstance(cell, bool):
        return False
    if isinstance(cell, int | float):
        return math.isfinite(cell)
    return isinstance(cell, str) and len(cell) <= MAX_CELL_CHARS
