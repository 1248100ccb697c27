"""`LensforgeClient`: one server, one identity, the API grouped by noun."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from lensforge.client._http import DEFAULT_TIMEOUT, EventHooks, HttpSession, TokensCallback
from lensforge.client._upload_state import UploadStateStore
from lensforge.client.config import ClientConfig, ConfigTokenStore, config_dir, resolve_config

if TYPE_CHECKING:
    from lensforge.client.resources.api_keys import ApiKeys
    from lensforge.client.resources.artifacts import Artifacts
    from lensforge.client.resources.auth import Auth
    from lensforge.client.resources.datasets import Datasets
    from lensforge.client.resources.deployments import Deployments
    from lensforge.client.resources.exports import Exports
    from lensforge.client.resources.inference import Inference
    from lensforge.client.resources.jobs import Jobs
    from lensforge.client.resources.models import Models
    from lensforge.client.resources.organizations import Organizations
    from lensforge.client.resources.projects import Projects
    from lensforge.client.resources.trainers import Trainers
    from lensforge.client.resources.uploads import Uploads

UPLOAD_STATE_FILE = "uploads.json"


class LensforgeClient:
    """A synchronous client of the Lensforge API (thread-safe like the `httpx.Client` under it).

    Authenticate with `api_key=` (`lfk_...`), with `token=` (an access token; add
    `refresh_token=` to have it refreshed automatically when it expires, `on_tokens_refreshed`
    is then told the new pair), or with neither and call `client.auth.login(...)`.

        with LensforgeClient("http://127.0.0.1:8000", api_key="lfk_...") as client:
            project = client.projects.create("defects")
            client.uploads.upload_file(project.id, "images.zip")

    `transport` and `event_hooks` are passed to `httpx.Client` (custom TLS, proxies,
    instrumentation). `upload_state_path` is where resumable uploads remember their sessions
    (default: `uploads.json` in the config directory).
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        refresh_token: str | None = None,
        api_key: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        event_hooks: EventHooks | None = None,
        on_tokens_refreshed: TokensCallback | None = None,
        upload_state_path: Path | None = None,
    ) -> None:
        self._session = HttpSession(
            base_url,
            token=token,
            refresh_token=refresh_token,
            api_key=api_key,
            timeout=timeout,
            transport=transport,
            event_hooks=event_hooks,
            on_tokens_refreshed=on_tokens_refreshed,
        )
        # One store shared by every upload of this client (it serialises its file's updates).
        self._upload_state = UploadStateStore(upload_state_path or config_dir() / UPLOAD_STATE_FILE)

    # Each group of calls is built (and its module imported) on first use: a command that only
    # lists projects does not pay for the models of datasets, jobs and exports.

    @cached_property
    def auth(self) -> Auth:
        from lensforge.client.resources.auth import Auth

        return Auth(self._session)

    @cached_property
    def organizations(self) -> Organizations:
        from lensforge.client.resources.organizations import Organizations

        return Organizations(self._session)

    @cached_property
    def projects(self) -> Projects:
        from lensforge.client.resources.projects import Projects

        return Projects(self._session)

    @cached_property
    def api_keys(self) -> ApiKeys:
        from lensforge.client.resources.api_keys import ApiKeys

        return ApiKeys(self._session)

    @cached_property
    def uploads(self) -> Uploads:
        from lensforge.client.resources.uploads import Uploads

        return Uploads(self._session, self._upload_state)

    @cached_property
    def datasets(self) -> Datasets:
        from lensforge.client.resources.datasets import Datasets

        return Datasets(self._session, self.uploads)

    @cached_property
    def trainers(self) -> Trainers:
        from lensforge.client.resources.trainers import Trainers

        return Trainers(self._session)

    @cached_property
    def jobs(self) -> Jobs:
        from lensforge.client.resources.jobs import Jobs

        return Jobs(self._session)

    @cached_property
    def exports(self) -> Exports:
        from lensforge.client.resources.exports import Exports

        return Exports(self._session)

    @cached_property
    def inference(self) -> Inference:
        from lensforge.client.resources.inference import Inference

        return Inference(self._session)

    @cached_property
    def models(self) -> Models:
        from lensforge.client.resources.models import Models

        return Models(self._session)

    @cached_property
    def deployments(self) -> Deployments:
        from lensforge.client.resources.deployments import Deployments

        return Deployments(self._session)

    @cached_property
    def artifacts(self) -> Artifacts:
        from lensforge.client.resources.artifacts import Artifacts

        return Artifacts(self._session, self.uploads)

    @classmethod
    def from_config(cls, config: ClientConfig | None = None, **kwargs: Any) -> LensforgeClient:
        """A client using the stored CLI login (see `lensforge.client.config` for priorities).

        Tokens refreshed on the way are saved back to the config file when they came from it,
        in turn with other processes sharing the login (see `ConfigTokenStore`).
        """
        config = config or resolve_config()
        client = cls(
            config.url,
            token=config.access_token,
            refresh_token=config.refresh_token if config.access_token else None,
            api_key=config.api_key,
            **kwargs,
        )
        if not config.credentials_from_env and config.refresh_token and config.access_token:
            client._session.token_store = ConfigTokenStore()
        return client

    @property
    def base_url(self) -> str:
        """The server's root URL (without `/api/v1`)."""
        return self._session.base_url

    @property
    def tokens(self) -> tuple[str | None, str | None]:
        """The current (access, refresh) tokens, which change on login and refresh."""
        return self._session.access_token, self._session.refresh_token

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> LensforgeClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LensforgeClient({self.base_url!r})"
