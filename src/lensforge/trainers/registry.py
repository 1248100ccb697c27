"""Where trainers come from: the built-in ones shipped in this package, Python packages that
declare a `lensforge.trainers` entry point (pointing at their manifest file), and manifest files
in `LENSFORGE_TRAINERS__PLUGIN_DIRS`. Only manifests are read: no trainer code is imported."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

import structlog
from pydantic import ValidationError

from lensforge.errors import NotFound
from lensforge.trainers.manifest import TrainerManifest

log = structlog.get_logger("lensforge.trainers")

BUILTIN = ("reference", "ultralytics")


class TrainerNotFound(NotFound):
    code = "trainer_not_found"


@dataclass(frozen=True)
class RegisteredTrainer:
    manifest: TrainerManifest
    source: str  # "builtin", "entry-point:<dist>", or the manifest's path


class TrainerRegistry:
    def __init__(self, trainers: Iterable[RegisteredTrainer]) -> None:
        self._trainers = {t.manifest.name: t for t in trainers}

    def list(self) -> list[RegisteredTrainer]:
        return [self._trainers[name] for name in sorted(self._trainers)]

    def get(self, name: str) -> RegisteredTrainer:
        trainer = self._trainers.get(name)
        if trainer is None:
            raise TrainerNotFound(
                f"no trainer named {name!r}", details={"available": sorted(self._trainers)}
            )
        return trainer


def load_registry(plugin_dirs: Iterable[str] = ()) -> TrainerRegistry:
    found: list[RegisteredTrainer] = []
    for name in BUILTIN:
        text = resources.files(f"lensforge.trainers.{name}").joinpath("manifest.json").read_text()
        found.append(RegisteredTrainer(TrainerManifest.model_validate_json(text), "builtin"))
    for entry in metadata.entry_points(group="lensforge.trainers"):
        # The entry point names the trainer's package; its manifest.json is found on disk
        # without executing the package (find_spec locates a top-level package unimported).
        spec = importlib.util.find_spec(entry.module)
        locations = list(spec.submodule_search_locations or []) if spec else []
        if not locations:
            log.warning("trainer entry point names no package", entry=entry.value)
            continue
        manifest = _read(Path(locations[0]) / "manifest.json")
        if manifest is not None:
            found.append(RegisteredTrainer(manifest, f"entry-point:{entry.value}"))
    for folder in plugin_dirs:
        for path in sorted(Path(folder).glob("*/manifest.json")):
            manifest = _read(path)
            if manifest is not None:
                found.append(RegisteredTrainer(manifest, str(path)))
    return TrainerRegistry(found)


def _read(path: Path) -> TrainerManifest | None:
    """A broken third-party manifest is logged and skipped, never fatal to the server."""
    try:
        return TrainerManifest.model_validate(json.loads(path.read_text()))
    except (OSError, ValueError, ValidationError) as exc:
        log.warning("skipping trainer manifest", path=str(path), error=str(exc))
        return None
