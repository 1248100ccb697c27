"""Form fields generated from a trainer's JSON Schema (one section: basic or advanced)."""

from __future__ import annotations

from typing import Any


def _kind(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return "select"
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    return {"integer": "int", "number": "number", "boolean": "bool"}.get(str(kind), "text")


def schema_fields(
    schema: dict[str, Any], section: str, values: dict[str, Any]
) -> list[dict[str, Any]]:
    """One entry per property, in schema order: what the template needs to draw an input with
    the schema's default, bounds and help, prefilled from `values` (restarting from a job)."""
    required = set(schema.get("required") or [])
    fields = []
    for name, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, dict):
            continue
        kind = _kind(prop)
        minimum = prop.get("minimum", prop.get("exclusiveMinimum"))
        maximum = prop.get("maximum", prop.get("exclusiveMaximum"))
        fields.append(
            {
                "name": f"config.{section}.{name}",
                "id": f"field-{section}-{name}",
                "label": prop.get("title") or name.replace("_", " ").capitalize(),
                "key": name,
                "kind": kind,
                "value": values.get(name, prop.get("default")),
                "default": prop.get("default"),
                "options": prop.get("enum") or [],
                "min": minimum,
                "max": maximum,
                "step": "1" if kind == "int" else "any",
                "help": prop.get("description") or "",
                "required": name in required,
            }
        )
    return fields
