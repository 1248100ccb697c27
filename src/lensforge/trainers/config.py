"""Validating a job's trainer config against the manifest's schemas, with field-level errors,
and filling in the schema's defaults so a job records exactly what it ran with."""

from __future__ import annotations

import copy
from typing import Any

from jsonschema import Draft202012Validator

from lensforge.trainers.manifest import TrainerManifest


def field_errors(manifest: TrainerManifest, config: dict[str, Any]) -> list[dict[str, str]]:
    """Every problem, as {"field": "basic.epochs", "message": ...}; empty when valid."""
    errors: list[dict[str, str]] = []
    unknown = sorted(set(config) - {"basic", "advanced"})
    for key in unknown:
        errors.append({"field": key, "message": "unknown section; use 'basic' and 'advanced'"})
    for section in ("basic", "advanced"):
        value = config.get(section, {})
        if not isinstance(value, dict):
            errors.append({"field": section, "message": "must be an object"})
            continue
        schema = getattr(manifest.config_schema, section)
        validator = Draft202012Validator(schema)
        for error in sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path)):
            path = ".".join(str(part) for part in error.absolute_path)
            if error.validator == "required":
                missing = error.message.split("'")[1] if "'" in error.message else ""
                path = ".".join(p for p in (path, missing) if p)
            elif error.validator == "additionalProperties":
                extra = error.message.split("'")[1] if "'" in error.message else ""
                path = ".".join(p for p in (path, extra) if p)
            errors.append(
                {"field": f"{section}.{path}" if path else section, "message": error.message}
            )
    return errors


def with_defaults(manifest: TrainerManifest, config: dict[str, Any]) -> dict[str, Any]:
    """The config with every top-level property default of both schemas filled in."""
    result: dict[str, Any] = {}
    for section in ("basic", "advanced"):
        schema = getattr(manifest.config_schema, section)
        values = copy.deepcopy(config.get(section, {}))
        for name, prop in schema.get("properties", {}).items():
            if name not in values and isinstance(prop, dict) and "default" in prop:
                values[name] = copy.deepcopy(prop["default"])
        result[section] = values
    return result
