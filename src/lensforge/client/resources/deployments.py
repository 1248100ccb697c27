"""`client.deployments`: serving a verified model as a live endpoint (create from an export or
a training job, update, roll back, activate), its keys and usage, and predictions through the
serving process's image API with the client's own credentials."""

from __future__ import annotations

import builtins
import contextlib
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from lensforge.client._http import HttpSession
from lensforge.client._polling import poll_until
from lensforge.client.deployment_models import (
    Deployment,
    DeploymentStats,
    DeploymentVersion,
    InferAnswer,
    Usage,
)
from lensforge.client.errors import ConnectionFailed, LensforgeError, NotFoundError
from lensforge.client.models import ApiKey, CreatedApiKey, Page
from lensforge.client.resources import Resource, iterate_pages, path_id
from lensforge.client.resources.inference import _content_type

DeploymentUpdate = Callable[[Deployment], None]
# Images are sent whole and answered after the model ran: allow for a slow link and a cold model.
INFER_TIMEOUT = 120.0
# What PATCH accepts besides the description (the settings of batching and rate limits).
SETTINGS = (
    "description",
    "max_batch_size",
    "max_queue_delay_ms",
    "queue_limit",
    "rate_limit_per_second",
    "rate_limit_burst",
    "parameters",
)

ImageInput = str | Path | bytes
_VERSIONS_PAGE = 500


class Deployments(Resource):
    def create(
        self,
        name: str,
        *,
        export_id: uuid.UUID | str | None = None,
        job_id: uuid.UUID | str | None = None,
        checkpoint: str | None = None,
        description: str | None = None,
        max_batch_size: int | None = None,
        max_queue_delay_ms: float | None = None,
        queue_limit: int | None = None,
        rate_limit_per_second: float | None = None,
        rate_limit_burst: int | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> Deployment:
        """Deploy a verified export (`export_id`: ready at once) or a training job's model
        (`job_id`, `checkpoint` `best` by default: exported to ONNX and verified on the way,
        `creating` until then; follow it with `wait_ready`). `name` is the model name clients
        use; unique in the organization."""
        body: dict[str, Any] = {"name": name, **_source(export_id, job_id, checkpoint)}
        optional = {
            "description": description,
            "max_batch_size": max_batch_size,
            "max_queue_delay_ms": max_queue_delay_ms,
            "queue_limit": queue_limit,
            "rate_limit_per_second": rate_limit_per_second,
            "rate_limit_burst": rate_limit_burst,
            "parameters": dict(parameters) if parameters is not None else None,
        }
        body |= {key: value for key, value in optional.items() if value is not None}
        return self._session.call(Deployment, "POST", "/deployments", json=body)

    def list(
        self,
        *,
        project_id: uuid.UUID | str | None = None,
        status: str | None = None,
        active: bool | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[Deployment]:
        """One page of deployments (of one project, in one status, active or not)."""
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if project_id is not None:
            params["project_id"] = path_id(project_id)
        if status is not None:
            params["status"] = status
        if active is not None:
            params["active"] = "true" if active else "false"
        return self._session.call(Page[Deployment], "GET", "/deployments", params=params)

    def iter(
        self,
        *,
        project_id: uuid.UUID | str | None = None,
        status: str | None = None,
        active: bool | None = None,
        page_size: int = 100,
    ) -> Iterator[Deployment]:
        """Every deployment (see `list`), page by page."""
        return iterate_pages(
            lambda offset: self.list(
                project_id=project_id,
                status=status,
                active=active,
                limit=page_size,
                offset=offset,
            )
        )

    def get(self, deployment: uuid.UUID | str) -> Deployment:
        """A deployment by id, or by name (names are unique in the organization, ignoring
        case); `NotFoundError` when there is none."""
        try:
            deployment_id = uuid.UUID(str(deployment))
        except ValueError:
            wanted = str(deployment).strip().casefold()
            for found in self.iter():
                if found.name.casefold() == wanted:
                    return found
            raise NotFoundError(
                f"no deployment named {deployment!r}",
                status_code=404,
                code="deployment_not_found",
            ) from None
        return self._session.call(Deployment, "GET", _path(deployment_id))

    def update(self, deployment: uuid.UUID | str, **settings: Any) -> Deployment:
        """Change the description, batching (`max_batch_size`, `max_queue_delay_ms`,
        `queue_limit`), rate limits (`rate_limit_per_second`, `rate_limit_burst`; None
        for the server's default) or image API `parameters` (conf, iou, max_det, imgsz)."""
        unknown = sorted(set(settings) - set(SETTINGS))
        if unknown:
            raise TypeError(f"unknown deployment setting(s): {', '.join(unknown)}")
        return self._session.call(
            Deployment, "PATCH", self._path_of(deployment), json=dict(settings)
        )

    def activate(self, deployment: uuid.UUID | str) -> Deployment:
        return self._session.call(Deployment, "POST", self._path_of(deployment, "/activate"))

    def deactivate(self, deployment: uuid.UUID | str) -> Deployment:
        """Stop answering predictions (409 `deployment_inactive`); everything else is kept."""
        return self._session.call(Deployment, "POST", self._path_of(deployment, "/deactivate"))

    def deploy_version(
        self,
        deployment: uuid.UUID | str,
        *,
        export_id: uuid.UUID | str | None = None,
        job_id: uuid.UUID | str | None = None,
        checkpoint: str | None = None,
    ) -> DeploymentVersion:
        """Update to another model: a new version, which becomes current once it is ready
        (the serving replicas switch once it is warm; no request fails on the way)."""
        return self._session.call(
            DeploymentVersion,
            "POST",
            self._path_of(deployment, "/versions"),
            json=_source(export_id, job_id, checkpoint),
        )

    def rollback(self, deployment: uuid.UUID | str, *, version: int | None = None) -> Deployment:
        """Make `version` current again (default: the one before the current one)."""
        body = {} if version is None else {"version": version}
        return self._session.call(
            Deployment, "POST", self._path_of(deployment, "/rollback"), json=body
        )

    def versions(self, deployment: uuid.UUID | str) -> builtins.list[DeploymentVersion]:
        """The history of model versions, newest first (`current` marks the one answering)."""
        path = self._path_of(deployment, "/versions")
        return builtins.list(
            iterate_pages(
                lambda offset: self._session.call(
                    Page[DeploymentVersion],
                    "GET",
                    path,
                    params={"limit": _VERSIONS_PAGE, "offset": offset},
                )
            )
        )

    def delete(self, deployment: uuid.UUID | str) -> None:
        """Remove the deployment (its usage records stay: they are the bill)."""
        self._session.send("DELETE", self._path_of(deployment))

    def create_key(
        self,
        deployment: uuid.UUID | str,
        name: str,
        *,
        scopes: Sequence[str] | None = None,
        expires_at: datetime | None = None,
    ) -> CreatedApiKey:
        """A key that reaches only this deployment (scopes default `["deployment:infer"]`).
        Keep `.secret`: it cannot be shown again."""
        body: dict[str, Any] = {"name": name}
        if scopes is not None:
            body["scopes"] = builtins.list(scopes)
        if expires_at is not None:
            if expires_at.tzinfo is None:
                raise ValueError("expires_at must be timezone-aware")
            body["expires_at"] = expires_at.isoformat()
        return self._session.call(
            CreatedApiKey, "POST", self._path_of(deployment, "/keys"), json=body
        )

    def keys(self, deployment: uuid.UUID | str) -> builtins.list[ApiKey]:
        """The keys restricted to this deployment."""
        return self._session.call(builtins.list[ApiKey], "GET", self._path_of(deployment, "/keys"))

    def rotate_key(
        self,
        key_id: uuid.UUID | str,
        *,
        overlap_seconds: int | None = None,
        old_expires_at: datetime | None = None,
    ) -> CreatedApiKey:
        """A new key replacing `key_id` (same name, scopes and deployments); the old one keeps
        working for `overlap_seconds` (server default a day) or until `old_expires_at`."""
        body: dict[str, Any] = {}
        if overlap_seconds is not None:
            body["overlap_seconds"] = overlap_seconds
        if old_expires_at is not None:
            if old_expires_at.tzinfo is None:
                raise ValueError("old_expires_at must be timezone-aware")
            body["old_expires_at"] = old_expires_at.isoformat()
        return self._session.call(
            CreatedApiKey, "POST", f"/api-keys/{path_id(key_id)}/rotate", json=body
        )

    def usage(
        self,
        deployment: uuid.UUID | str | None = None,
        *,
        group: str = "day",
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Usage:
        """Requests, errors, images, bytes, compute time and latency per `group` (`day` or
        `hour`), of one deployment or (without one) of the whole organization by deployment."""
        path = "/usage" if deployment is None else self._path_of(deployment, "/usage")
        return self._session.call(Usage, "GET", path, params=_usage_params(group, start, end))

    def usage_csv(
        self,
        deployment: uuid.UUID | str | None = None,
        *,
        group: str = "day",
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> str:
        """The same as `usage`, as CSV text (a header line, then a row per period)."""
        path = "/usage" if deployment is None else self._path_of(deployment, "/usage")
        params = {**_usage_params(group, start, end), "format": "csv"}
        return self._session.send("GET", path, params=params).text

    def stats(self, deployment: uuid.UUID | str, *, minutes: int = 60) -> DeploymentStats:
        """Per-minute requests/s, error rate and p50/p95/p99 latency of the last `minutes`."""
        return self._session.call(
            DeploymentStats,
            "GET",
            self._path_of(deployment, "/stats"),
            params={"minutes": minutes},
        )

    def wait_ready(
        self,
        deployment: uuid.UUID | str,
        *,
        timeout: float | None = None,
        poll_interval: float = 1.0,
        on_update: DeploymentUpdate | None = None,
    ) -> Deployment:
        """Poll until the deployment is ready or failed and return it (a failed one is
        returned, not raised: `status_reason` says why). After `timeout` seconds this raises
        `LensforgeError` (code `wait_timeout`); the work goes on on the server."""
        deployment_id = self.get(deployment).id
        return poll_until(
            lambda: self.get(deployment_id),
            lambda found: found.settled,
            poll_interval=poll_interval,
            timeout=timeout,
            on_poll=on_update,
            timed_out=lambda: LensforgeError(
                f"deployment {deployment} is not ready after {timeout:g} s; it goes on on the "
                "server (see `get`)",
                code="wait_timeout",
            ),
        )

    def infer(
        self,
        deployment: uuid.UUID | str | Deployment,
        images: Sequence[ImageInput],
        *,
        conf: float | None = None,
        iou: float | None = None,
        max_det: int | None = None,
        imgsz: int | None = None,
        render: bool = False,
        timeout: float = INFER_TIMEOUT,
    ) -> InferAnswer:
        """Predictions of the deployment's current model on `images` (paths or bytes), sent
        to the serving process (`deployment.urls.image`) with this client's credentials. With
        `render=True` the answer also holds each image with its predictions drawn
        (`answer.rendered_images()`). Errors raise like every call (`code` the server's, e.g.
        `deployment_inactive`, `rate_limited`, `image_invalid`)."""
        found = deployment if isinstance(deployment, Deployment) else self.get(deployment)
        form = {
            key: f"{value:g}" if isinstance(value, float) else str(value)
            for key, value in {"conf": conf, "iou": iou, "max_det": max_det, "imgsz": imgsz}.items()
            if value is not None
        }
        with contextlib.ExitStack() as stack:
            files: builtins.list[tuple[str, tuple[str, BinaryIO | bytes, str]]] = []
            for index, image in enumerate(images):
                if isinstance(image, bytes):
                    files.append(("images", (f"image-{index}.jpg", image, "image/jpeg")))
                    continue
                path = Path(image)
                handle = stack.enter_context(path.open("rb"))
                files.append(("images", (path.name, handle, _content_type(path))))
            response = self._serving_post(
                found.urls.image,
                params={"render": "true"} if render else None,
                files=files,
                data=form,
                timeout=timeout,
            )
        return HttpSession.parse(InferAnswer, response)

    # --- helpers -------------------------------------------------------------------------------

    def _path_of(self, deployment: uuid.UUID | str, rest: str = "") -> str:
        """The API path of a deployment given by id or name (a name costs a lookup)."""
        try:
            deployment_id = uuid.UUID(str(deployment))
        except ValueError:
            deployment_id = self.get(deployment).id
        return _path(deployment_id, rest)

    def _serving_post(
        self,
        url: str,
        *,
        params: Mapping[str, str] | None,
        files: Any,
        data: Mapping[str, str],
        timeout: float,
    ) -> httpx.Response:
        """POST to the serving process (another origin than the API) with the session's
        credentials; its `{"error", "code"}` errors become the client's exceptions. A login's
        access token it refuses is refreshed once, as for API calls (the files are sent whole
        again)."""
        session = self._session
        used = session.api_key or session.access_token
        response = self._serving_send(url, used, params, files, data, timeout)
        refreshable = session.api_key is None and session.refresh_token is not None
        if response.status_code == 401 and used is not None and refreshable:
            used = session._refresh(used)
            response = self._serving_send(url, used, params, files, data, timeout)
        if response.is_error:
            raise _serving_error(response)
        return response

    def _serving_send(
        self,
        url: str,
        credential: str | None,
        params: Mapping[str, str] | None,
        files: Any,
        data: Mapping[str, str],
        timeout: float,
    ) -> httpx.Response:
        headers = {} if credential is None else {"Authorization": f"Bearer {credential}"}
        try:
            return self._session.http.post(
                url, params=params, files=files, data=data, headers=headers, timeout=timeout
            )
        except httpx.TimeoutException as exc:
            raise ConnectionFailed(
                f"no answer from the serving process at {url} in time", code="timeout"
            ) from exc
        except httpx.TransportError as exc:
            raise ConnectionFailed(
                f"cannot reach the serving process at {url}: {exc}", code="connection_failed"
            ) from exc


def _serving_error(response: httpx.Response) -> LensforgeError:
    """The serving process answers `{"error": "message", "code": "..."}` (the inference
    protocol's shape); the API `{"error": {"code", "message"}}`. Both map to one exception."""
    from lensforge.client.errors import error_from_response

    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        rewritten = httpx.Response(
            response.status_code,
            json={"error": {"code": body.get("code") or "serving_error", "message": body["error"]}},
            request=response.request,
            headers={"Retry-After": response.headers.get("Retry-After", "")}
            if "Retry-After" in response.headers
            else None,
        )
        return error_from_response(rewritten)
    return error_from_response(response)


def _source(
    export_id: uuid.UUID | str | None, job_id: uuid.UUID | str | None, checkpoint: str | None
) -> dict[str, Any]:
    if (export_id is None) == (job_id is None):
        raise ValueError("pass either export_id or job_id")
    if export_id is not None:
        if checkpoint is not None:
            raise ValueError("checkpoint goes with job_id, not export_id")
        return {"export_id": path_id(export_id)}
    return {"job_id": path_id(job_id or ""), "checkpoint": checkpoint or "best"}


def _usage_params(group: str, start: datetime | None, end: datetime | None) -> dict[str, str]:
    if group not in ("day", "hour"):
        raise ValueError(f"group must be day or hour, got {group!r}")
    params = {"group": group}
    for key, value in (("start", start), ("end", end)):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError(f"{key} must be timezone-aware")
            params[key] = value.isoformat()
    return params


def _path(deployment_id: uuid.UUID | str, rest: str = "") -> str:
    return f"/deployments/{path_id(deployment_id)}{rest}"
