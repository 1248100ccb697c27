"""Serving's errors: each carries a stable `code` and the HTTP status the API answers with.

Kept apart from `lensforge.errors` so this package stays importable by the edge runtime without
the server; the HTTP layer maps `ServingError` onto its own error bodies (`{"error": ...}` for
the inference protocol).
"""

from __future__ import annotations


class ServingError(Exception):
    status_code = 400
    code = "invalid_inference_request"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        # Extra response headers (Retry-After on 503 and 429).
        self.headers: dict[str, str] = dict(headers or {})


class InvalidInferenceRequest(ServingError):
    """The request is not an inference request (bad JSON, wrong field types)."""

    code = "invalid_inference_request"


class InvalidTensor(ServingError):
    """A tensor's shape, data or parameters are malformed or disagree with each other."""

    code = "invalid_tensor"


class UnsupportedDatatype(ServingError):
    code = "unsupported_datatype"


class BinarySizeMismatch(ServingError):
    """The binary part of a body disagrees with the sizes the JSON header declares."""

    code = "binary_size_mismatch"


class UnknownInput(ServingError):
    code = "unknown_input"


class MissingInput(ServingError):
    code = "missing_input"


class UnknownOutput(ServingError):
    code = "unknown_output"


class DatatypeMismatch(ServingError):
    """A tensor's datatype is valid but not the one the model takes."""

    code = "datatype_mismatch"


class ShapeMismatch(ServingError):
    """A tensor's shape does not fit the model's signature."""

    code = "shape_mismatch"


class InvalidImage(ServingError):
    """Not an image Pillow can decode."""

    code = "invalid_image"


class TruncatedImage(ServingError):
    code = "truncated_image"


class ImageTooLarge(ServingError):
    """More pixels than allowed: a decompression bomb, or simply too large to serve."""

    status_code = 413
    code = "image_too_large"


class ModelLoadFailed(ServingError):
    """ONNX Runtime could not load the file (not ONNX, corrupt, unsupported operators)."""

    status_code = 500
    code = "model_load_failed"


class ModelTooLarge(ServingError):
    """The model alone needs more memory than the pool's whole budget."""

    status_code = 507
    code = "model_too_large"


class InferenceFailed(ServingError):
    """ONNX Runtime failed on inputs that passed every check: the model's fault, not the
    client's."""

    status_code = 500
    code = "inference_failed"


class QueueFull(ServingError):
    """The deployment's batching queue already holds `queue_limit` requests."""

    status_code = 503
    code = "queue_full"


class TaskNotServed(ServingError):
    """The image API has no pre/post-processing for this model's task (e.g. obb); the raw
    tensors of the inference protocol still work."""

    status_code = 409
    code = "task_not_served"


class InvalidParameter(ServingError):
    """An image API parameter (conf, iou, max_det, imgsz, render) out of range or malformed."""

    code = "invalid_parameter"


class DeploymentNotFound(ServingError):
    """No such deployment in the caller's organization (another organization's is not found)."""

    status_code = 404
    code = "deployment_not_found"


class ModelVersionNotFound(ServingError):
    status_code = 404
    code = "model_version_not_found"


class DeploymentInactive(ServingError):
    status_code = 409
    code = "deployment_inactive"


class DeploymentNotReady(ServingError):
    """Still being exported and verified (creating), or its export failed."""

    status_code = 409
    code = "deployment_not_ready"


class ModelUnavailable(ServingError):
    """The model file could not be fetched or verified (object store down, checksum wrong)."""

    status_code = 503
    code = "model_unavailable"


class RequestTooLarge(ServingError):
    status_code = 413
    code = "request_too_large"


class TooManyImages(ServingError):
    status_code = 413
    code = "too_many_images"


class UrlImagesDisabled(ServingError):
    status_code = 403
    code = "url_images_disabled"


class AddressNotAllowed(ServingError):
    status_code = 403
    code = "address_not_allowed"


class UrlImageTooLarge(ServingError):
    status_code = 413
    code = "url_image_too_large"


class UrlFetchFailed(ServingError):
    """The URL could not be fetched (bad URL, connection refused, non-2xx): 422; a timeout
    answers 504 with the same code."""

    status_code = 422
    code = "url_fetch_failed"


class ServiceUnavailable(ServingError):
    """The serving process is still starting (its deployments not read yet)."""

    status_code = 503
    code = "server_not_ready"


class ApiKeyMissing(ServingError):
    """No `Authorization: Bearer ...` nor `X-API-Key` header."""

    status_code = 401
    code = "api_key_missing"


class ApiKeyInvalid(ServingError):
    """Malformed, unknown or wrongly signed credentials (an API key or an access token)."""

    status_code = 401
    code = "api_key_invalid"


class ApiKeyRevoked(ServingError):
    status_code = 401
    code = "api_key_revoked"


class ApiKeyExpired(ServingError):
    status_code = 401
    code = "api_key_expired"


class DeploymentNotAllowed(ServingError):
    """The key is restricted to other deployments."""

    status_code = 403
    code = "deployment_not_allowed"


class ScopeDenied(ServingError):
    """The key's scopes do not include the action."""

    status_code = 403
    code = "scope_denied"


class PermissionDenied(ServingError):
    """The key owner's role in the key's organization does not allow the action."""

    status_code = 403
    code = "permission_denied"


class RateLimited(ServingError):
    """A token bucket (the key's or the organization's) is empty. `headers` carries
    `Retry-After` (whole seconds, at least 1) and the `RateLimit`/`RateLimit-Policy` fields."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, headers: dict[str, str]) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)
        self.headers = {**headers, "Retry-After": str(self.retry_after)}
