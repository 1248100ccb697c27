"""Stored credentials of the CLI (and of scripts that reuse its login).

The file is `<config dir>/config.json`, where the config dir is `$LENSFORGE_CONFIG_DIR` if set,
else `platformdirs.user_config_dir("lensforge")` (`~/.config/lensforge` on Linux). It holds the
server URL and either an API key or an access + refresh token pair, with the organization id.
It is written atomically with mode 0600 in a 0700 directory.

Where each value comes from, highest priority first:

1. `LENSFORGE_URL`: the server. When it names another server than the file does, the file's
   credentials are not used (they must never be sent to a server they were not issued by).
2. `LENSFORGE_API_KEY`: an API key; stored credentials are ignored.
3. `LENSFORGE_TOKEN`: an access token (not refreshed); stored credentials are ignored.
4. The file: URL and credentials saved by `lensforge login`.
5. Defaults: `http://127.0.0.1:8000`, no credentials.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from platformdirs import user_config_dir
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from lensforge.client._files import ensure_private_dir, write_private
from lensforge.client._http import server_root
from lensforge.client.errors import LensforgeError
from lensforge.client.models import TokenPair

if sys.platform != "win32":
    import fcntl

ENV_CONFIG_DIR = "LENSFORGE_CONFIG_DIR"
ENV_URL = "LENSFORGE_URL"
ENV_API_KEY = "LENSFORGE_API_KEY"
ENV_TOKEN = "LENSFORGE_TOKEN"  # noqa: S105  (the variable's name, not a secret)
DEFAULT_URL = "http://127.0.0.1:8000"
CONFIG_FILE = "config.json"


class ClientConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    url: str = DEFAULT_URL
    api_key: str | None = Field(default=None, repr=False)
    access_token: str | None = Field(default=None, repr=False)
    refresh_token: str | None = Field(default=None, repr=False)
    organization_id: str | None = None
    email: str | None = None
    # Where the credentials came from; refreshed tokens are saved back only to the file.
    credentials_from_env: bool = Field(default=False, exclude=True)

    @property
    def has_credentials(self) -> bool:
        return bool(self.api_key or self.access_token)

    def without_credentials(self) -> ClientConfig:
        return ClientConfig(url=self.url)


def config_dir() -> Path:
    override = os.environ.get(ENV_CONFIG_DIR)
    return Path(override) if override else Path(user_config_dir("lensforge"))


def config_path() -> Path:
    return config_dir() / CONFIG_FILE


def load_config(path: Path | None = None) -> ClientConfig | None:
    """The stored config, or None when there is none; a damaged file is an error naming it."""
    path = path or config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return ClientConfig.model_validate(json.loads(text))
    except (ValueError, PydanticValidationError) as exc:
        raise LensforgeError(
            f"the config file {path} is damaged ({exc}); delete it and log in again",
            code="invalid_config",
        ) from exc


def save_config(config: ClientConfig, path: Path | None = None) -> Path:
    path = path or config_path()
    data = config.model_dump(exclude_none=True)
    data["url"] = server_root(config.url)
    write_private(path, json.dumps(data, indent=2) + "\n")
    return path


def delete_config(path: Path | None = None) -> bool:
    path = path or config_path()
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def resolve_config(path: Path | None = None) -> ClientConfig:
    """The config in effect: the file with the environment applied (see the module docstring)."""
    config = load_config(path) or ClientConfig()
    env_url = os.environ.get(ENV_URL)
    if env_url and server_root(env_url) != server_root(config.url):
        config = ClientConfig(url=server_root(env_url))
    env_key, env_token = os.environ.get(ENV_API_KEY), os.environ.get(ENV_TOKEN)
    if env_key:
        config = ClientConfig(url=config.url, api_key=env_key, credentials_from_env=True)
    elif env_token:
        config = ClientConfig(url=config.url, access_token=env_token, credentials_from_env=True)
    return config


class ConfigTokenStore:
    """The config file as the token store of clients made by `LensforgeClient.from_config`.

    Several `lensforge` processes may share one login (a long upload in one terminal, commands
    in another). A lock file makes their refreshes take turns, and each adopts the pair the
    other saved instead of reusing a rotated refresh token, which the server would answer by
    ending the login session for all of them.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or config_path()

    @contextmanager
    def lock(self) -> Iterator[None]:
        ensure_private_dir(self.path.parent)
        fd = os.open(self.path.with_name(".config.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if sys.platform != "win32":  # elsewhere: best effort, without a lock
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def load(self) -> tuple[str, str] | None:
        try:
            stored = load_config(self.path)
        except LensforgeError:
            return None
        if stored is None or not stored.access_token or not stored.refresh_token:
            return None
        return stored.access_token, stored.refresh_token

    def save(self, pair: TokenPair) -> None:
        stored = load_config(self.path)
        if stored is None:
            return
        update = {
            "access_token": pair.access_token,
            "refresh_token": pair.refresh_token,
            "organization_id": str(pair.organization_id),
        }
        save_config(stored.model_copy(update=update), self.path)
