"""Export and inference jobs on the trainer side (docs/inference-and-export.md): the model to
use and the images to run on come in through presigned links; predictions and exported models
go out the same way, then are reported."""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from lensforge.sdk import storage
from lensforge.sdk.errors import ErrorType, StorageError

if TYPE_CHECKING:
    from lensforge.sdk.client import Trainer

PREDICTIONS_NAME = "predictions.jsonl"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class InputImage:
    name: str
    sha256: str
    path: Path


def _fetch(trainer: Trainer, path: str, key: str, url: str, target: Path, sha: str | None) -> None:
    """Download to `target`, re-asking the server for a fresh link when one expired, and check
    the SHA-256 (one retry: a torn download is worth a second try, a wrong object is not)."""

    def fresh() -> str:
        answer = trainer.api.call("GET", path)
        if key:
            found = next(i for i in answer["images"] if i["sha256"] == key)
            return urljoin(trainer.config.api_url + "/", str(found["url"]))
        return urljoin(trainer.config.api_url + "/", str(answer["url"]))

    link = urljoin(trainer.config.api_url + "/", url)
    for _ in range(2):
        digest, _size = storage._get_to(trainer, link, target, fresh)
        if sha is None or digest == sha:
            return
        link = fresh()
    target.unlink(missing_ok=True)
    raise StorageError(f"{target.name} does not match its SHA-256 {sha}")


def download_source_model(trainer: Trainer, dest: Path | None) -> Path:
    """The checkpoint or exported model this job uses, verified; cached in the work dir."""
    info: dict[str, Any] = trainer.api.call("GET", "/source")
    name = _UNSAFE.sub("_", str(info["name"])) or "model"
    return _cached_download(
        trainer, "/source", info, dest or trainer.config.work_dir / "source" / name
    )


def download_weights(trainer: Trainer, dest: Path | None) -> Path | None:
    """The uploaded pretrained weights a training starts from (`spec.weights`), verified by
    SHA-256 and cached in the work dir; None when the job starts from none."""
    weights = trainer.spec().get("weights")
    if not weights:
        return None
    info: dict[str, Any] = trainer.api.call("GET", "/weights")
    name = _UNSAFE.sub("_", str(info["filename"]).rsplit("/", 1)[-1]) or "weights.pt"
    folder = trainer.config.work_dir / "weights" / str(info["sha256"])[:16]
    return _cached_download(trainer, "/weights", info, dest or folder / name)


def _cached_download(trainer: Trainer, path: str, info: dict[str, Any], target: Path) -> Path:
    """`info["url"]` into `target`, unless a file with the expected SHA-256 is already there."""
    target.parent.mkdir(parents=True, exist_ok=True)
    sha = info.get("sha256")
    if target.is_file() and sha and storage_sha256(target) == sha:
        return target
    _fetch(trainer, path, "", str(info["url"]), target, sha)
    return target


def download_inputs(trainer: Trainer, dest: Path | None) -> list[InputImage]:
    """The run's images, in order, each verified by SHA-256 (file names are made safe and
    numbered: two images may share a name)."""
    answer: dict[str, Any] = trainer.api.call("GET", "/inputs")
    root = dest or trainer.config.work_dir / "inputs"
    root.mkdir(parents=True, exist_ok=True)
    images = []
    for index, image in enumerate(answer["images"]):
        name, sha = str(image["name"]), str(image["sha256"])
        safe = _UNSAFE.sub("_", name.rsplit("/", 1)[-1])[-100:] or "image"
        target = root / f"{index:06d}_{safe}"
        if not (target.is_file() and storage_sha256(target) == sha):
            _fetch(trainer, "/inputs", sha, str(image["url"]), target, sha)
        images.append(InputImage(name=name, sha256=sha, path=target))
    return images


def report_predictions(trainer: Trainer, results: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Write the results (one per input image, in order) as JSON Lines, upload, report."""
    path = trainer.config.work_dir / "outputs" / PREDICTIONS_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for result in results:
            out.write(json.dumps(_finite(dict(result)), allow_nan=False) + "\n")
            count += 1
    sent = storage.upload_file(trainer, path, PREDICTIONS_NAME)
    trainer._report("predictions", {**sent, "count": count}, urgent=True)
    return {**sent, "count": count}


def report_export(
    trainer: Trainer,
    path: Path,
    *,
    format: str,
    options: Mapping[str, Any],
    verification: Mapping[str, Any],
) -> dict[str, Any]:
    """Upload the exported model (a folder, e.g. OpenVINO's, is zipped first), report it with
    its verification report, then the outcome: completed when it passed, else failed with
    error type `verification` and the numbers."""
    if path.is_dir():
        archive = shutil.make_archive(str(path), "zip", root_dir=path.parent, base_dir=path.name)
        path = Path(archive)
    if not path.is_file():
        raise StorageError(f"{path} is not a file or folder")
    report = _finite(dict(verification))
    sent = storage.upload_file(trainer, path, f"export/{path.name}")
    trainer._report(
        "export",
        {**sent, "format": format, "options": dict(options), "verification": report},
        urgent=True,
    )
    if report.get("passed") is True:
        trainer.report_completed()
    else:
        trainer.report_failed(ErrorType.VERIFICATION, verification_summary(report))
    return sent


def verification_summary(report: Mapping[str, Any]) -> str:
    """One line with the numbers that decided a verification."""
    parts = [f"{report.get('format', 'export')} verification failed"]
    if report.get("max_abs_diff") is not None:
        parts.append(
            f"max abs diff {report['max_abs_diff']:.3g} (tolerance {report.get('tolerance')})"
        )
    if report.get("detection_agreement") is not None:
        parts.append(
            f"agreement {report['detection_agreement']:.3f} (minimum {report.get('min_agreement')})"
        )
    parts += [str(f) for f in report.get("failures", [])][:3]
    return "; ".join(parts)


def storage_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _finite(value: Any) -> Any:
    """NaN and infinities become null (JSON has no such numbers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
