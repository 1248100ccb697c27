"""Pretrained weights named by a job (`--weights yolo11n.pt`): a model artifact of the project
with that name, or an official file of the trainer, which the server fetches.

Trainers run offline and are not trusted with the network, so the server does the fetching,
when the job is created: a file already in the weights cache, or else a download from
`<base URL>/<file>`. Either must match the file's known size and SHA-256 (the trainer
manifest's table, plus the operator's `trainers.weights_checksums` file); nothing unverified is
kept or used. The verified file stays in the weights cache (the folder the worker's trainers
look in too) for every later job, and becomes a model artifact of the job's project, which the
trainer downloads through the existing weights route, verified again. When nothing can be had,
the job is refused with `weights_unavailable` and what to do, before it starts.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lensforge.auth.principal import Principal
from lensforge.config import Settings
from lensforge.errors import WeightsUnavailable
from lensforge.model_artifacts.service import artifact_key
from lensforge.models import ModelArtifact, Project
from lensforge.orchestration.local.paths import dataset_cache_dir
from lensforge.storage.base import ObjectStore
from lensforge.trainers.manifest import PretrainedFile, TrainerManifest

_CHUNK = 1024 * 1024
# A default the job did not ask for must not hold its creation up for long.
_DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class OfficialFile:
    name: str
    sha256: str
    size: int
    url: str


def weights_cache_dir(settings: Settings) -> Path:
    """The worker's weights cache: trainers look here for `basic.pretrained` files too."""
    return dataset_cache_dir(settings) / "weights"


def official_file(manifest: TrainerManifest, settings: Settings, name: str) -> OfficialFile | None:
    """`name` as an official file of the trainer with a known checksum, or None."""
    published = manifest.capabilities.pretrained_weights
    if published is None or "/" in name or "\\" in name or name.startswith("."):
        return None
    files = dict(published.files) | _operator_checksums(settings)
    known = files.get(name)
    if known is None:
        return None
    base = settings.trainers.weights_base_url or published.base_url
    url = "" if base in ("", "off") else f"{base.rstrip('/')}/{name}"
    return OfficialFile(name=name, sha256=known.sha256, size=known.size, url=url)


def _operator_checksums(settings: Settings) -> dict[str, PretrainedFile]:
    path = settings.trainers.weights_checksums
    if not path:
        return {}
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        return {str(k): PretrainedFile.model_validate(v) for k, v in dict(raw).items()}
    except (OSError, ValueError, TypeError) as exc:
        raise WeightsUnavailable(
            f"the weights checksum file {path} (LENSFORGE_TRAINERS__WEIGHTS_CHECKSUMS) cannot "
            f"be read: {exc}"
        ) from exc


class PretrainedWeights:
    """Resolves a job's `weights` name to a model artifact of its project."""

    def __init__(self, session: Session, store: ObjectStore, settings: Settings) -> None:
        self.session = session
        self.store = store
        self.settings = settings

    def artifact(
        self,
        principal: Principal,
        project: Project,
        manifest: TrainerManifest,
        name: str,
        *,
        timeout: float | None = None,
    ) -> ModelArtifact:
        uploaded = self._named(project.id, name)
        if uploaded is not None:
            return uploaded
        official = official_file(manifest, self.settings, name)
        if official is None:
            raise WeightsUnavailable(
                f"{name!r} is neither a model artifact of project {project.name!r} nor an "
                f"official weights file trainer {manifest.name} knows the checksum of. Upload "
                f"the file (`lensforge models upload FILE --project {project.name} --name "
                f"{name}`) and train with `--weights {name}`" + _checksum_hint(manifest),
                details={"weights": name},
            )
        path = self._verified_file(official, project, timeout)
        key = artifact_key(principal.organization_id, official.sha256)
        if not self.store.exists(key):
            with path.open("rb") as stream:
                self.store.put(key, stream, size=official.size)
        artifact = ModelArtifact(
            organization_id=principal.organization_id,
            project_id=project.id,
            name=name,
            filename=name,
            size_bytes=official.size,
            sha256=official.sha256,
            object_key=key,
            created_by_id=principal.user_id,
        )
        try:
            with self.session.begin_nested():
                self.session.add(artifact)
        except IntegrityError:  # a concurrent job recorded it first
            recorded = self._named(project.id, name)
            if recorded is None:
                raise
            return recorded
        return artifact

    def default_artifact(
        self, principal: Principal, project: Project, manifest: TrainerManifest, model: str
    ) -> ModelArtifact | None:
        """The official `<model>.pt` when it can be had (cached, or downloaded and verified
        within a short timeout), else None: a job that names no weights starts from the
        official ones where the server can verify them, and from scratch otherwise."""
        name = f"{model}.pt"
        if official_file(manifest, self.settings, name) is None:
            return None
        try:
            return self.artifact(principal, project, manifest, name, timeout=_DEFAULT_TIMEOUT)
        except WeightsUnavailable:
            return None

    def _named(self, project_id: uuid.UUID, name: str) -> ModelArtifact | None:
        return self.session.scalar(
            select(ModelArtifact).where(
                ModelArtifact.project_id == project_id, ModelArtifact.name == name
            )
        )

    def _verified_file(
        self, official: OfficialFile, project: Project, timeout: float | None
    ) -> Path:
        cache = weights_cache_dir(self.settings)
        cached = cache / official.name
        remedy = (
            f"Provide it yourself: upload it (`lensforge models upload {official.name} "
            f"--project {project.name}`), or place it in the weights cache {cache} of this "
            f"server (size {official.size} bytes, SHA-256 {official.sha256})"
        )
        if cached.is_file():
            problem = _mismatch(cached, official)
            if problem is None:
                return cached
            raise WeightsUnavailable(
                f"{cached} in the weights cache is not the official {official.name}: {problem}. "
                "Remove it; " + remedy[0].lower() + remedy[1:],
                details={"weights": official.name, "path": str(cached)},
            )
        if not official.url:
            raise WeightsUnavailable(
                f"{official.name} is not in the weights cache and downloads are off "
                f"(LENSFORGE_TRAINERS__WEIGHTS_BASE_URL). {remedy}",
                details={"weights": official.name},
            )
        cache.mkdir(parents=True, exist_ok=True)
        partial = cache / f".{official.name}.{uuid.uuid4().hex}.partial"
        try:
            problem = self._download(official, partial, timeout)
            if problem is None:
                problem = _mismatch(partial, official)
            if problem is not None:
                raise WeightsUnavailable(
                    f"{official.name} could not be had from {official.url}: {problem}. {remedy}",
                    details={"weights": official.name, "url": official.url},
                )
            os.replace(partial, cached)
        finally:
            partial.unlink(missing_ok=True)
        return cached

    def _download(self, official: OfficialFile, dest: Path, timeout: float | None) -> str | None:
        """Write the download to `dest`; the problem as a sentence, or None."""
        configured = self.settings.trainers.weights_download_timeout_seconds
        timeout = configured if timeout is None else min(timeout, configured)
        try:
            with (
                httpx.stream(
                    "GET", official.url, follow_redirects=True, timeout=timeout
                ) as response,
                dest.open("wb") as out,
            ):
                if response.status_code != 200:
                    return f"HTTP {response.status_code}"
                written = 0
                for chunk in response.iter_bytes(_CHUNK):
                    written += len(chunk)
                    if written > official.size:
                        return f"the download is larger than the official {official.size} bytes"
                    out.write(chunk)
        except (httpx.HTTPError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return None


def _mismatch(path: Path, official: OfficialFile) -> str | None:
    size = path.stat().st_size
    if size != official.size:
        return f"{size} bytes, not the official {official.size}; refused"
    with path.open("rb") as stream:
        digest = hashlib.file_digest(stream, "sha256").hexdigest()
    if digest != official.sha256:
        return f"its SHA-256 is {digest}, not the official {official.sha256}; refused"
    return None


def _checksum_hint(manifest: TrainerManifest) -> str:
    if manifest.capabilities.pretrained_weights is None:
        return ""
    return (
        ". An official file whose checksum is not known yet can be allowed by recording its "
        "size and SHA-256 in the file LENSFORGE_TRAINERS__WEIGHTS_CHECKSUMS names"
    )
