"""The trainer's configuration, from the environment the worker sets (docs/trainer-contract.md).

Priority, highest first, for every value:

1. keyword arguments given to `TrainerConfig.from_env(...)` in code;
2. the `LENSFORGE_*` variables (`LENSFORGE_API_URL`, `LENSFORGE_EPOCHS`, ...);
3. the plan's variables, for existing trainers: `JOB_ID`, `CALLBACK_URL`, `EPOCHS`,
   `BATCH_SIZE`, `LEARNING_RATE`, `IMGSZ`, `DEVICE`;
4. values inside `LENSFORGE_CONFIG`, then inside `CONFIG` (JSON; either
   `{"basic": {...}, "advanced": {...}}` or the plan's flat form with `advanced_config`);
5. the manifest defaults (the server already completed the job config with them).

A frozen dataclass rather than a pydantic model: the SDK depends on httpx alone.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lensforge.sdk.errors import ConfigurationError

DEFAULT_CACHE_MAX_BYTES = 50 * 1024**3

# basic hyperparameter -> (parser, legacy variable)
_HYPERPARAMETERS: dict[str, tuple[Callable[[str], Any], str]] = {
    "epochs": (int, "EPOCHS"),
    "batch_size": (int, "BATCH_SIZE"),
    "learning_rate": (float, "LEARNING_RATE"),
    "imgsz": (int, "IMGSZ"),
    "device": (str, "DEVICE"),
}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class TrainerConfig:
    api_url: str
    job_id: str
    token: str = field(repr=False)
    attempt: int = 1
    work_dir: Path = field(default_factory=Path.cwd)
    spool_dir: Path | None = None
    """Where reports wait to be sent; `<work_dir>/.lensforge/spool` when not set."""
    cache_dir: Path | None = None
    """The dataset cache shared across jobs; `$XDG_CACHE_HOME/lensforge` when not set."""
    cache_max_bytes: int = DEFAULT_CACHE_MAX_BYTES
    dataset_cache_dir: Path | None = None
    """Where images are cached (the worker gives each organization its own); `cache_path`
    when not set."""
    dataset_dir: Path | None = None
    """Where `download_dataset()` puts the dataset (the worker: in the attempt's own folder);
    a folder of the cache shared by the jobs of that version when not set."""
    trainer: str | None = None
    model: str | None = None
    task: str | None = None
    config: dict[str, Any] = field(default_factory=lambda: {"basic": {}, "advanced": {}})
    """The job config, `{"basic": {...}, "advanced": {...}}`, with overrides applied."""
    resume: bool = False
    heartbeat_interval: float = 5.0
    drain_timeout: float = 600.0
    """How long `close()` waits for unsent reports to reach the server."""
    flush_interval: float = 1.0
    """Buffered reports (logs, progress) are sent at least this often."""
    retry_timeout: float = 300.0
    """How long a storage or control request keeps retrying through network failures."""

    @property
    def basic(self) -> dict[str, Any]:
        return dict(self.config.get("basic", {}))

    @property
    def advanced(self) -> dict[str, Any]:
        return dict(self.config.get("advanced", {}))

    @property
    def epochs(self) -> int | None:
        value = self.basic.get("epochs")
        return None if value is None else int(value)

    @property
    def batch_size(self) -> int | None:
        value = self.basic.get("batch_size")
        return None if value is None else int(value)

    @property
    def learning_rate(self) -> float | None:
        value = self.basic.get("learning_rate")
        return None if value is None else float(value)

    @property
    def imgsz(self) -> int | None:
        value = self.basic.get("imgsz")
        return None if value is None else int(value)

    @property
    def device(self) -> str | None:
        value = self.basic.get("device")
        return None if value is None else str(value)

    @property
    def spool_path(self) -> Path:
        return self.spool_dir or self.work_dir / ".lensforge" / "spool"

    @property
    def cache_path(self) -> Path:
        if self.cache_dir is not None:
            return self.cache_dir
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base) / "lensforge"

    @property
    def image_cache_path(self) -> Path:
        return self.dataset_cache_dir or self.cache_path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> TrainerConfig:
        """Read the configuration; raise ConfigurationError naming what is missing or wrong.

        `overrides` may name any field, and any basic hyperparameter (`epochs=3`)."""
        env = os.environ if environ is None else environ
        unknown = set(overrides) - set(cls.__dataclass_fields__) - set(_HYPERPARAMETERS)
        if unknown:
            raise ConfigurationError(f"unknown configuration keys: {sorted(unknown)}")
        values: dict[str, Any] = {}
        values["api_url"] = _api_url(env)
        values["job_id"] = _first(env, "LENSFORGE_JOB_ID", "JOB_ID")
        values["token"] = env.get("LENSFORGE_JOB_TOKEN")
        simple: dict[str, tuple[str, Callable[[str, str], Any]]] = {
            "attempt": ("LENSFORGE_ATTEMPT", _parse_int),
            "work_dir": ("LENSFORGE_WORK_DIR", lambda _, v: Path(v)),
            "spool_dir": ("LENSFORGE_SPOOL_DIR", lambda _, v: Path(v)),
            "cache_dir": ("LENSFORGE_CACHE_DIR", lambda _, v: Path(v)),
            "cache_max_bytes": ("LENSFORGE_CACHE_MAX_BYTES", _parse_int),
            "dataset_cache_dir": ("LENSFORGE_DATASET_CACHE_DIR", lambda _, v: Path(v)),
            "dataset_dir": ("LENSFORGE_DATASET_DIR", lambda _, v: Path(v)),
            "trainer": ("LENSFORGE_TRAINER", lambda _, v: v),
            "model": ("LENSFORGE_MODEL", lambda _, v: v),
            "task": ("LENSFORGE_TASK", lambda _, v: v),
            "resume": ("LENSFORGE_RESUME", _parse_bool),
            "heartbeat_interval": ("LENSFORGE_HEARTBEAT_INTERVAL", _parse_positive),
            "drain_timeout": ("LENSFORGE_SPOOL_DRAIN_TIMEOUT", _parse_non_negative),
            "flush_interval": ("LENSFORGE_FLUSH_INTERVAL", _parse_positive),
            "retry_timeout": ("LENSFORGE_RETRY_TIMEOUT", _parse_non_negative),
        }
        for name, (variable, parse) in simple.items():
            raw = env.get(variable)
            if raw is not None:
                values[name] = parse(variable, raw)
        values["config"] = _job_config(env)
        for name, value in overrides.items():
            if name in _HYPERPARAMETERS:
                values["config"]["basic"][name] = value
            else:
                values[name] = value
        for name, variable in (
            ("api_url", "LENSFORGE_API_URL (or CALLBACK_URL)"),
            ("job_id", "LENSFORGE_JOB_ID (or JOB_ID)"),
            ("token", "LENSFORGE_JOB_TOKEN"),
        ):
            if not values.get(name):
                raise ConfigurationError(
                    f"{variable} is not set: the trainer cannot reach its job without it "
                    "(the worker sets it; see docs/trainer-contract.md)"
                )
        values["api_url"] = str(values["api_url"]).rstrip("/")
        if int(values.get("attempt", 1)) < 1:
            raise ConfigurationError("LENSFORGE_ATTEMPT must be 1 or more")
        return cls(**values)


def _first(env: Mapping[str, str], *names: str) -> str | None:
    return next((env[n] for n in names if env.get(n)), None)


def _api_url(env: Mapping[str, str]) -> str | None:
    if env.get("LENSFORGE_API_URL"):
        return env["LENSFORGE_API_URL"]
    callback = env.get("CALLBACK_URL")
    if not callback:
        return None
    # The plan's callback URL pointed somewhere below the API (`.../api/v1/...`); keep the base.
    return callback.split("/api/", 1)[0]


def _job_config(env: Mapping[str, str]) -> dict[str, Any]:
    config: dict[str, Any] = {"basic": {}, "advanced": {}}
    # Lowest priority first; each later source overwrites the keys it names.
    for variable in ("CONFIG", "LENSFORGE_CONFIG"):
        raw = env.get(variable)
        if raw:
            parsed = _parse_config(variable, raw)
            config["basic"].update(parsed["basic"])
            config["advanced"].update(parsed["advanced"])
    for prefix in ("legacy", "lensforge"):
        for name, (parse, legacy) in _HYPERPARAMETERS.items():
            variable = legacy if prefix == "legacy" else f"LENSFORGE_{legacy}"
            raw = env.get(variable)
            if raw is not None and raw != "":
                try:
                    config["basic"][name] = parse(raw)
                except ValueError:
                    raise ConfigurationError(
                        f"{variable}={raw!r} is not a valid {parse.__name__}"
                    ) from None
    return config


def _parse_config(variable: str, raw: str) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{variable} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"{variable} must be a JSON object")
    if set(data) <= {"basic", "advanced"}:
        basic, advanced = data.get("basic") or {}, data.get("advanced") or {}
    else:  # the plan's flat form: hyperparameters at the top, framework extras apart
        advanced = data.get("advanced_config") or {}
        basic = {k: v for k, v in data.items() if k != "advanced_config"}
    if not isinstance(basic, dict) or not isinstance(advanced, dict):
        raise ConfigurationError(f"{variable}: 'basic' and 'advanced' must be JSON objects")
    return {"basic": dict(basic), "advanced": dict(advanced)}


def _parse_int(variable: str, raw: str) -> int:
    try:
        return int(raw.replace("_", ""))
    except ValueError:
        raise ConfigurationError(f"{variable}={raw!r} is not an integer") from None


def _parse_positive(variable: str, raw: str) -> float:
    value = _parse_non_negative(variable, raw)
    if value == 0:
        raise ConfigurationError(f"{variable} must be more than 0")
    return value


def _parse_non_negative(variable: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{variable}={raw!r} is not a number") from None
    if not value >= 0:  # also refuses NaN
        raise ConfigurationError(f"{variable} must not be negative")
    return value


def _parse_bool(variable: str, raw: str) -> bool:
    if raw.strip().lower() in _TRUE:
        return True
    if raw.strip().lower() in _FALSE:
        return False
    raise ConfigurationError(f"{variable}={raw!r} is not a boolean (use 1 or 0)")
