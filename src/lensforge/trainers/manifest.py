"""The trainer manifest: what a trainer is, offers, needs, and accepts as configuration."""

from __future__ import annotations

import re
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import BaseModel, ConfigDict, Field, field_validator

TASKS = ("detection", "segmentation", "classification", "pose")
_NAME = re.compile(r"^[a-z][a-z0-9_-]{1,62}$")


class TrainerModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    tasks: list[str]
    description: str = ""


class PretrainedFile(BaseModel):
    """An official weights file the trainer can start from, by its published checksum."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(gt=0)


class PretrainedWeights(BaseModel):
    """Where the official weights files of a trainer are published (`<base_url>/<file>`) and
    the checksums they are verified against. The server downloads them, never the trainer;
    operators add or override checksums with `trainers.weights_checksums`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = ""
    files: dict[str, PretrainedFile] = Field(default_factory=dict)


class Capabilities(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    resume: bool = False
    predict: bool = False
    export_formats: list[str] = Field(default_factory=list)
    # Formats users may ask for that this trainer cannot produce here, with the reason shown.
    export_unavailable: dict[str, str] = Field(default_factory=dict)
    # JSON Schema (draft 2020-12) of each format's options, e.g. ONNX's opset or dynamic axes.
    export_options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # Official pretrained weights (`lensforge train --weights yolo11n.pt`); None: the trainer
    # starts only from uploaded model artifacts.
    pretrained_weights: PretrainedWeights | None = None

    @field_validator("export_options")
    @classmethod
    def _option_schemas(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for name, schema in value.items():
            try:
                Draft202012Validator.check_schema(schema)
            except SchemaError as exc:
                raise ValueError(f"{name}: not a valid JSON Schema: {exc.message}") from exc
        return value


class ConfigSchema(BaseModel):
    """JSON Schemas (draft 2020-12) of the two config sections."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    basic: dict[str, Any]
    advanced: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})

    @field_validator("basic", "advanced")
    @classmethod
    def _valid_schema(cls, schema: dict[str, Any]) -> dict[str, Any]:
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            raise ValueError(f"not a valid JSON Schema: {exc.message}") from exc
        return schema


class TrainerManifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: str
    description: str = ""
    tasks: list[str]
    models: list[TrainerModel]
    # argv after the Python interpreter, per entry point: e.g. ["-m", "pkg.trainer", "train"].
    entrypoints: dict[str, list[str]]
    capabilities: Capabilities = Field(default_factory=Capabilities)
    # pip requirement strings for the trainer's own environment (the SDK is added for it).
    requirements: list[str] = Field(default_factory=list)
    config_schema: ConfigSchema

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("trainer names are lower-case letters, digits, '-' and '_'")
        return value

    @field_validator("tasks")
    @classmethod
    def _tasks(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(TASKS))
        if unknown or not value:
            raise ValueError(f"tasks must be a non-empty subset of {TASKS}; unknown: {unknown}")
        return value

    @field_validator("entrypoints")
    @classmethod
    def _entrypoints(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        if "train" not in value:
            raise ValueError("a trainer needs at least the 'train' entry point")
        unknown = sorted(set(value) - {"train", "predict", "export"})
        if unknown:
            raise ValueError(f"unknown entry points: {unknown}")
        return value

    def model_named(self, name: str) -> TrainerModel | None:
        return next((m for m in self.models if m.name == name), None)
