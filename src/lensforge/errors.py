"""The one error tree of the server. Every domain error carries its HTTP status and a stable code.

Services raise these; a single handler (see `lensforge.app`) renders them as
`{"error": {"code": ..., "message": ..., "details": ...}}`.
"""

from __future__ import annotations

from typing import Any


class LensforgeError(Exception):
    status_code: int = 500
    code: str = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        details: Any = None,
        code: str | None = None,
        keep_writes: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code
        # Normally an error rolls the request's transaction back. A few refusals must leave a
        # trace that survives them (e.g. revoking a stolen refresh token's session).
        self.keep_writes = keep_writes


class ConfigurationError(LensforgeError):
    code = "configuration_error"


class BadRequest(LensforgeError):
    status_code = 400
    code = "bad_request"


class ValidationFailed(LensforgeError):
    status_code = 422
    code = "validation_error"


class Unauthorized(LensforgeError):
    status_code = 401
    code = "unauthorized"


class Forbidden(LensforgeError):
    status_code = 403
    code = "forbidden"


class NotFound(LensforgeError):
    status_code = 404
    code = "not_found"


class Conflict(LensforgeError):
    status_code = 409
    code = "conflict"


class Gone(LensforgeError):
    status_code = 410
    code = "gone"


class PayloadTooLarge(LensforgeError):
    status_code = 413
    code = "payload_too_large"


class ServiceUnavailable(LensforgeError):
    status_code = 503
    code = "service_unavailable"


class TooManyRequests(LensforgeError):
    status_code = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after_seconds: int, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after_seconds = max(1, retry_after_seconds)

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_seconds)}


class WeightsUnavailable(LensforgeError):
    """Pretrained weights a job names cannot be had (not uploaded, not cached, not
    downloadable or not matching their checksum): refused before the job is created."""

    status_code = 422
    code = "weights_unavailable"
