"""What each trainer can do with a trained model, so the UI and CLI never offer what would fail."""

from __future__ import annotations

from lensforge.model_work.schemas import (
    Capabilities,
    ExportFormatRead,
    ModelRead,
    TrainerCapabilities,
)
from lensforge.trainers.manifest import TrainerManifest
from lensforge.trainers.registry import TrainerRegistry

# Formats users of vision platforms ask for; a trainer that offers none of these may still
# declare its own (the reference trainer's `json`).
KNOWN_EXPORT_FORMATS = ("onnx", "torchscript", "openvino", "tflite", "coreml", "engine")


def export_formats(manifest: TrainerManifest) -> list[ExportFormatRead]:
    capabilities = manifest.capabilities
    offered = [
        ExportFormatRead(
            format=name,
            available="export" in manifest.entrypoints,
            reason=None
            if "export" in manifest.entrypoints
            else "the trainer has no export entry point",
            options_schema=capabilities.export_options.get(name),
        )
        for name in capabilities.export_formats
    ]
    names = set(capabilities.export_formats)
    missing = [name for name in KNOWN_EXPORT_FORMATS if name not in names]
    missing += [name for name in capabilities.export_unavailable if name not in missing]
    unavailable = [
        ExportFormatRead(
            format=name,
            available=False,
            reason=capabilities.export_unavailable.get(
                name, f"trainer {manifest.name} does not export to {name}"
            ),
        )
        for name in missing
        if name not in names
    ]
    return offered + unavailable


def capabilities(registry: TrainerRegistry) -> Capabilities:
    return Capabilities(
        trainers=[
            TrainerCapabilities(
                name=t.manifest.name,
                version=t.manifest.version,
                tasks=list(t.manifest.tasks),
                models=[
                    ModelRead(name=m.name, tasks=list(m.tasks), description=m.description)
                    for m in t.manifest.models
                ],
                resume=t.manifest.capabilities.resume,
                predict=t.manifest.capabilities.predict and "predict" in t.manifest.entrypoints,
                export_formats=export_formats(t.manifest),
            )
            for t in registry.list()
        ]
    )
