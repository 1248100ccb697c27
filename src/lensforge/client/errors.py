"""The client's exception tree (documented in `lensforge.client`) and how responses map onto it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx


class LensforgeError(Exception):
    """Base of every error the client raises.

    `status_code` is the HTTP status (None when no response came back), `code` the server's
    stable machine-readable code (e.g. `project_not_found`), `message` a sentence for people and
    `details` whatever structured data the server attached.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str = "error",
        details: Any = None,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.details = details
        self.response = response

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status_code={self.status_code!r}, code={self.code!r}, "
            f"message={self.message!r})"
        )


class ConnectionFailed(LensforgeError):
    """The server could not be reached, or did not answer in time; nothing came back."""


class APIError(LensforgeError):
    """The server answered with an error status. Statuses without a subclass raise this."""


class AuthenticationError(APIError):
    """401: no credentials, or they are wrong, expired or revoked (see `code`)."""


class PermissionDenied(APIError):
    """403: authenticated, but the role or the API key's scopes do not allow the action."""


class NotFoundError(APIError):
    """404: the resource does not exist or is not visible to you."""


class ConflictError(APIError):
    """409: the request clashes with the current state (a taken name, an existing member)."""


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid input field: `field` is a dotted location such as `body.name`."""

    field: str
    message: str
    type: str | None = None


class ValidationError(APIError):
    """422: the request was not valid; `fields` says which input and why."""

    @property
    def fields(self) -> list[FieldError]:
        raw = self.details.get("fields") if isinstance(self.details, dict) else None
        if not isinstance(raw, list):
            return []
        return [
            FieldError(
                field=str(item.get("field", "")),
                message=str(item.get("message", "")),
                type=str(item["type"]) if item.get("type") is not None else None,
            )
            for item in raw
            if isinstance(item, dict)
        ]

    def __str__(self) -> str:
        fields = self.fields
        if not fields:
            return self.message
        listed = "; ".join(f"{f.field}: {f.message}" for f in fields)
        return f"{self.message} ({listed})"


class ServerError(APIError):
    """5xx: the server (or a proxy in front of it) failed; the request may be retried."""


class InvalidResponse(LensforgeError):
    """The server answered 2xx with a body this client does not understand (version skew?)."""


class UploadFailed(LensforgeError):
    """An upload could not finish: the local file changed meanwhile, or checksums differ."""


_BY_STATUS: dict[int, type[APIError]] = {
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFoundError,
    409: ConflictError,
    422: ValidationError,
}


def error_from_response(response: httpx.Response) -> APIError:
    """The exception for an error response, read from `{"error": {code, message, details}}`.

    Bodies in another shape (a proxy's HTML page, FastAPI's default `{"detail": ...}`) still map
    by status, with a generic code and the reason phrase as message.
    """
    status = response.status_code
    code, message, details = f"http_{status}", response.reason_phrase or f"HTTP {status}", None
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = str(error.get("code") or code)
        message = str(error.get("message") or message)
        details = error.get("details")
    elif isinstance(body, dict) and isinstance(body.get("detail"), str):
        message = body["detail"]
    cls = ServerError if status >= 500 else _BY_STATUS.get(status, APIError)
    return cls(message, status_code=status, code=code, details=details, response=response)
