"""Plots and tables about a job (docs/trainer-contract.md §3, `PUT /artifacts/{name}`): a PR
curve, a confusion matrix, sample predictions, per-class metrics, shown on the job page.

Sent at once (not through the spool), so the trainer learns right away when the server refuses
one (wrong type, too large, not decodable: `ServerError` with the server's reason); a server
that is away is retried like every other call. Send them before `report_completed`: the
attempt's token stops working once the job is over.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

if TYPE_CHECKING:
    from lensforge.sdk.client import Trainer

ArtifactKind = Literal["plot", "table"]
_PLOT_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


def report_artifact(
    trainer: Trainer,
    name: str,
    file: str | Path | bytes,
    *,
    kind: ArtifactKind = "plot",
    title: str | None = None,
    content_type: str | None = None,
) -> dict[str, Any]:
    """Store `file` (a path or the bytes) as the job's artifact `name`; the answer is
    `{"name", "kind", "size", "sha256"}`. A plot is a PNG or JPEG image (its type from the
    file's suffix unless `content_type` says it), a table the JSON of `report_table`."""
    if kind not in ("plot", "table"):
        raise ValueError(f"artifact kind must be plot or table, not {kind!r}")
    if isinstance(file, bytes):
        body, suffix = file, Path(name).suffix.lower()
    else:
        path = Path(file)
        body, suffix = path.read_bytes(), path.suffix.lower()
    if content_type is None:
        content_type = "application/json" if kind == "table" else _PLOT_TYPES.get(suffix)
    if content_type is None:
        raise ValueError(f"artifact {name!r}: say its content_type (image/png or image/jpeg)")
    params: dict[str, str] = {"kind": kind}
    if title:
        params["title"] = title
    answer: dict[str, Any] = trainer.api.call(
        "PUT",
        f"/artifacts/{quote(name, safe='')}",
        content=body,
        content_type=content_type,
        params=params,
    )
    return answer


def report_table(
    trainer: Trainer,
    name: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[str | float | int | None]],
    *,
    title: str | None = None,
) -> dict[str, Any]:
    """A table (e.g. per-class precision, recall and AP) as structured data, so the page can
    show, sort and compare it. Non-finite numbers are sent as null."""
    table = {"columns": list(columns), "rows": [[_cell(cell) for cell in row] for row in rows]}
    body = json.dumps(table, allow_nan=False).encode()
    return report_artifact(trainer, name, body, kind="table", title=title)


def _cell(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        raise ValueError("a table cell is a string, a number or None")
    return value
