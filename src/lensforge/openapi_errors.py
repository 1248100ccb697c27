"""The error answers each operation really gives, written into the OpenAPI document.

Most follow from an operation's shape, so they are added here for every operation at once:
- a security requirement: 401 (no or bad credentials) and 403 (role, scope or CSRF refusal);
- path parameters, or an `..._id` query parameter or body field: 404 (no such resource, or one
  of another organization);
- parameters or a body: 422 (validation);
- a body: 400 (not parseable as its media type) and 413 (over the route's body limit, see
  `lensforge.body_limits`).
The domain errors beyond these (409 conflicts, 410 gone, 400 bad input, ...) come from each
domain's services; `DOMAIN_ERRORS` lists them per tag (conflicts and gone only for changes), and
a route may add its own with `responses=error_responses(Conflict, ...)`. Both go by the error
classes, so a status is written in one place: the class.
Every one of them has the same body: `{"error": {"code", "message", "details"}}`.
"""

from __future__ import annotations

from typing import Any

from lensforge.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    LensforgeError,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    Unauthorized,
    ValidationFailed,
)

# What each domain's services raise (by OpenAPI tag). Keep in step when a service learns a new
# refusal; tests/test_api_fuzz.py fails on any status an operation answers but does not list.
DOMAIN_ERRORS: dict[str, tuple[type[LensforgeError], ...]] = {
    "auth": (Unauthorized, Forbidden, NotFound, Conflict, ValidationFailed),
    "api-keys": (Forbidden, NotFound, Conflict, ValidationFailed),
    "organizations": (Forbidden, NotFound, Conflict),
    "projects": (NotFound, Conflict),
    "datasets": (BadRequest, Forbidden, NotFound, Conflict, ValidationFailed),
    "uploads": (BadRequest, NotFound, Conflict, Gone, PayloadTooLarge, ValidationFailed),
    "training": (BadRequest, NotFound, Conflict, ValidationFailed),
    "trainer": (Unauthorized, Forbidden, NotFound, Conflict, ValidationFailed),
    "trainers": (NotFound, ValidationFailed),
    "models": (NotFound, Conflict, PayloadTooLarge, ValidationFailed),
    "storage": (BadRequest, Forbidden, NotFound, ServiceUnavailable),
    "deployments": (Forbidden, NotFound, Conflict, ValidationFailed),
    "health": (),
}
# Only requests that change something can conflict with the state or find it gone.
_CHANGE_ONLY = frozenset({409, 410})

ERROR_SCHEMA_NAME = "Error"
_ERROR_REF = {"$ref": f"#/components/schemas/{ERROR_SCHEMA_NAME}"}
_ERROR_SCHEMA: dict[str, Any] = {
    "title": ERROR_SCHEMA_NAME,
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "Stable, machine-readable reason."},
                "message": {"type": "string"},
                "details": {"description": "Reason-specific data, e.g. the invalid fields."},
            },
        }
    },
}
_DESCRIPTIONS = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    410: "Gone",
    413: "Request body too large",
    422: "Validation error",
    503: "Service unavailable",
}
_BODY_METHODS = ("post", "put", "patch")


def _response(status: int) -> dict[str, Any]:
    return {
        "description": _DESCRIPTIONS.get(status, "Error"),
        "content": {"application/json": {"schema": _ERROR_REF}},
    }


def error_responses(*errors: type[LensforgeError] | int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: the statuses of these error classes (or plain status codes)."""
    statuses = {error if isinstance(error, int) else error.status_code for error in errors}
    return {status: _response(status) for status in sorted(statuses)}


def document_error_responses(document: dict[str, Any]) -> dict[str, Any]:
    """Add the shape-derived error answers and the shared error schema to an OpenAPI document."""
    document.setdefault("components", {}).setdefault("schemas", {})[ERROR_SCHEMA_NAME] = (
        _ERROR_SCHEMA
    )
    global_security = bool(document.get("security"))
    for item in document.get("paths", {}).values():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            parameters = operation.get("parameters", [])
            statuses: set[int] = set()
            if operation.get("security", global_security):
                statuses |= {401, 403}
            if any(parameter.get("in") == "path" for parameter in parameters) or any(
                name.endswith("_id") for name in _referenced_names(document, operation)
            ):
                statuses.add(404)
            if parameters or "requestBody" in operation:
                statuses.add(422)
            if "requestBody" in operation:
                statuses.add(400)
            if method in _BODY_METHODS:
                statuses.add(413)
            for tag in operation.get("tags", []):
                statuses |= {
                    error.status_code
                    for error in DOMAIN_ERRORS.get(tag, ())
                    if method != "get" or error.status_code not in _CHANGE_ONLY
                }
            responses = operation["responses"]
            for status in sorted(statuses):
                key = str(status)
                if key == "422" or key not in responses:
                    # FastAPI's own 422 names its `HTTPValidationError`; ours is the error body.
                    responses[key] = _response(status)
    return document


def _referenced_names(document: dict[str, Any], operation: dict[str, Any]) -> list[str]:
    """Query parameter names and top-level body field names of an operation."""
    names = [p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"]
    for media in operation.get("requestBody", {}).get("content", {}).values():
        schema = _resolve(document, media.get("schema", {}))
        names.extend(schema.get("properties", {}))
    return names


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    reference = schema.get("$ref")
    if not isinstance(reference, str) or not reference.startswith("#/"):
        return schema
    target: Any = document
    for part in reference[2:].split("/"):
        target = target.get(part, {}) if isinstance(target, dict) else {}
    return target if isinstance(target, dict) else {}
