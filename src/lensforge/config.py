"""One settings root for the whole server, read from `LENSFORGE_*` environment variables.

Nested sections use a double underscore: `LENSFORGE_DATABASE__URL`, `LENSFORGE_STORAGE__BACKEND`.
"""

from __future__ import annotations

import os
import secrets
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from platformdirs import user_data_dir
from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lensforge.errors import ConfigurationError

# Values that appear in tutorials and sample configs; a deployment using one is not secret.
_KNOWN_WEAK_SECRETS = frozenset(
    {"changeme", "change-me", "secret", "secret-key", "dev", "development", "lensforge"}
)
_MIN_SECRET_LENGTH = 32


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"
    TEST = "test"


class DatabaseSettings(BaseModel):
    # Empty means: SQLite file inside the data directory.
    url: str = ""
    echo: bool = False
    pool_size: int = 10


class LocalStorageSettings(BaseModel):
    # Empty means: `<data_dir>/objects`.
    root: str = ""


class S3StorageSettings(BaseModel):
    endpoint_url: str | None = None
    region: str = "us-east-1"
    bucket: str = "lensforge"
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    # Path-style addressing works with every S3-compatible server (MinIO, SeaweedFS).
    addressing_style: Literal["path", "virtual", "auto"] = "path"
    create_bucket: bool = True


class StorageSettings(BaseModel):
    backend: Literal["local", "s3"] = "local"
    local: LocalStorageSettings = Field(default_factory=LocalStorageSettings)
    s3: S3StorageSettings = Field(default_factory=S3StorageSettings)
    presign_default_expiry_seconds: int = 3600
    presign_max_expiry_seconds: int = 7 * 24 * 3600


class SecuritySettings(BaseModel):
    # Empty means: generated once per installation and kept in `<data_dir>/secret_key` (mode 0600).
    secret_key: SecretStr | None = None
    access_token_ttl_seconds: int = 15 * 60
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    allow_signup: bool = True
    password_min_length: int = 10
    # zxcvbn score (0-4) a new password must reach; 3 is about 10^8 guesses.
    password_min_strength: int = Field(default=3, ge=0, le=4)
    # Failed sign-ins: this many are free per account (per client address), then each further
    # one locks the account (the address) for twice as long as the one before, from 1 second up
    # to `sign_in_max_lockout_seconds`. Failures older than the window are forgotten, and a
    # successful sign-in clears the account's count, so nobody can be locked out for good.
    sign_in_free_failures_per_account: int = Field(default=5, ge=1)
    sign_in_free_failures_per_client: int = Field(default=20, ge=1)
    sign_in_max_lockout_seconds: int = Field(default=300, ge=1)
    sign_in_failure_window_seconds: int = Field(default=3600, ge=1)
    # How stale an open WebSocket's view of its caller's access may get before it is re-checked
    # (announced changes of access are acted on at once anyway).
    websocket_access_recheck_seconds: float = Field(default=5.0, ge=0)
    # How long an invitation to join an organization can be accepted.
    invitation_ttl_days: int = Field(default=14, ge=1)


class DatasetSettings(BaseModel):
    # Server folders that `folder` imports may read from; empty disables folder imports, because
    # they let an API caller read the server's disk.
    import_roots: list[str] = Field(default_factory=list)
    # Work space for extracting archives; empty means `<data_dir>/work`.
    work_dir: str = ""
    max_archive_bytes: int = 50 * 1024**3
    max_archive_files: int = 200_000
    max_compression_ratio: float = 200.0
    # Parallel imports; each one already streams, this bounds disk and CPU use.
    import_workers: int = 4
    # Imports of one organization running at once: its others wait their turn, while imports of
    # other organizations start on the free workers (one slow import never blocks everyone).
    import_workers_per_organization: int = 1
    # S3 imports connect only where allowed: public addresses (unless `s3_import_allow_public` is
    # off), and loopback/private/link-local addresses or the platform's own endpoints only when
    # an entry here covers them: `10.0.0.0/8`, `192.168.1.5`, `127.0.0.1:8333`, `[fd00::/8]:9000`.
    s3_import_allowed_networks: list[str] = Field(default_factory=list)
    s3_import_allow_public: bool = True
    s3_import_connect_timeout_seconds: float = 5.0
    # Longest silence while waiting for bytes, and the longest a whole S3 fetch may take.
    s3_import_read_timeout_seconds: float = 30.0
    s3_import_deadline_seconds: float = 3600.0
    # Images with more pixels are refused at import (read from the header, nothing decoded) and
    # never thumbnailed: Pillow's own bomb threshold. A 13000 x 13000 PNG of 492 KB needs
    # 500 MB to decode. At most twice that: above it Pillow refuses to open any image anyway.
    max_image_pixels: int = Field(default=89_478_485, ge=1, le=2 * 89_478_485)


class TrainerSettings(BaseModel):
    # isolated: each trainer in its own virtual environment built with uv from its
    # requirements; current: run trainers with this interpreter (you manage the packages).
    environment: Literal["isolated", "current"] = "isolated"
    # Empty means `<data_dir>/envs` and `<data_dir>/uv-cache` (shared, hard-linked).
    envs_dir: str = ""
    uv_cache_dir: str = ""
    plugin_dirs: list[str] = Field(default_factory=list)
    # For machines without an index: uv installs only from its cache and these wheel folders.
    offline: bool = False
    find_links: list[str] = Field(default_factory=list)
    # Extra variables of the worker's environment handed to trainers (e.g. WANDB_API_KEY). The
    # default hands over only a short allow-list, never the server's own secrets.
    pass_env: list[str] = Field(default_factory=list)
    # Where uv gets trainer packages: an index replacing PyPI (a mirror), extra indexes searched
    # before it (e.g. PyTorch's CPU-only wheels), and uv's --index-strategy. Part of the
    # environment key: changing them builds new environments. Empty: PyPI, uv's defaults.
    index_url: str = ""
    extra_index_urls: list[str] = Field(default_factory=list)
    index_strategy: Literal["", "first-index", "unsafe-first-match", "unsafe-best-match"] = ""
    # Official pretrained weights (`--weights yolo11n.pt`) are downloaded by the server from
    # `<weights_base_url>/<file>` (empty: the trainer manifest's URL; "off": never download)
    # and refused unless their size and SHA-256 match a known checksum: the trainer
    # manifest's, or this JSON file's (`{"yolo11n.pt": {"sha256": "...", "size": 5613764}}`).
    weights_base_url: str = ""
    weights_checksums: str = ""
    weights_download_timeout_seconds: float = 60.0
    # A worker running as root runs each trainer as a user of its own (see
    # orchestration/local/sandbox.py): auto = when its files are readable by that user, else
    # as the worker's user with a warning in the job's log; required = or fail the job; off.
    isolation: Literal["auto", "required", "off"] = "auto"
    # The numbers trainer users and groups are drawn from (uid per job, gid per organization).
    isolation_id_start: int = 1_000_000_000
    isolation_id_count: int = 1_000_000_000
    # The interpreter isolated environments are built on; empty means the worker's own. Set it
    # when the worker's Python is in a private home that trainer users cannot read.
    python: str = ""


class WorkerSettings(BaseModel):
    # Stable across restarts, so a restarted worker recognises the attempts it was running.
    name: str = ""
    queues: list[str] = Field(default_factory=lambda: ["default"])
    cpu_slots: int = 1
    # GPU indices this worker may hand out, e.g. [0, 1]; each is one slot.
    gpus: list[int] = Field(default_factory=list)
    poll_interval_seconds: float = 1.0
    heartbeat_interval_seconds: float = 5.0
    # A running trainer silent for this long is considered hung and is killed.
    stale_after_seconds: float = 600.0
    # A worker unseen for this long is considered dead; its attempts are recovered by others.
    worker_dead_after_seconds: float = 60.0
    cancel_grace_seconds: float = 10.0
    kill_grace_seconds: float = 10.0
    max_attempts: int = 3
    # Where attempts work and the SDK spools; empty means `<data_dir>/jobs`.
    jobs_dir: str = ""
    # Shared dataset cache for trainers; empty means `<data_dir>/dataset-cache`.
    dataset_cache_dir: str = ""
    dataset_cache_max_bytes: int = 50 * 1024**3


class TemporalSettings(BaseModel):
    """The cluster backend (`orchestrator = "temporal"`): where Temporal runs and how jobs are
    routed. Also read from the plain `TEMPORAL_HOST`, `TEMPORAL_NAMESPACE`, `TEMPORAL_TASK_QUEUE`,
    `TEMPORAL_API_KEY` variables when the `LENSFORGE_TEMPORAL__*` ones are unset."""

    host: str = "127.0.0.1:7233"
    namespace: str = "default"
    # Jobs on the `default` queue go here; a job naming another queue goes to that task queue.
    task_queue: str = "training-tasks"
    # Jobs on the `default` queue that ask for GPUs go here instead, when set.
    gpu_task_queue: str = ""
    # mTLS (self-hosted or Temporal Cloud): PEM files; or an API key (Temporal Cloud) over TLS.
    tls: bool = False
    tls_cert_path: str = ""
    tls_key_path: str = ""
    tls_ca_path: str = ""
    tls_server_name: str = ""
    api_key: SecretStr | None = None
    # The Temporal web UI; when set, jobs link to their workflow there.
    ui_url: str = ""
    connect_timeout_seconds: float = 5.0
    # A trainer activity silent this long (its worker died) is retried on another worker.
    heartbeat_timeout_seconds: float = 60.0
    # The longest one attempt of a trainer may run.
    run_timeout_seconds: float = 24 * 3600.0
    # How often the server makes sure every queued or running job has its workflow (a start
    # lost while Temporal was unreachable is made up for here).
    reconcile_interval_seconds: float = 30.0
    # `lensforge up --orchestrator temporal`: the embedded dev server's port and database.
    dev_server_port: int = 7233
    dev_server_ui_port: int = 0
    dev_server_db: str = ""

    @model_validator(mode="before")
    @classmethod
    def _plain_names(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {**_temporal_aliases(), **data}
        return data


class ServerSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8000
    # The address clients use to reach this server; presigned links of local storage point here.
    public_url: str = ""


class HttpSettings(BaseModel):
    """Request-body limits in bytes, per route class (see `lensforge.body_limits`). A body over
    its limit is refused with 413 `request_body_too_large`, by its Content-Length before it is
    read, or while it streams in when it has none."""

    # Every JSON and form route not named below (logins, edits, imports by reference, ...).
    max_json_body_bytes: int = Field(default=1024**2, ge=1024)
    # `PUT /uploads/{id}/parts/{n}`: the largest part size (512 MiB) plus slack.
    max_upload_part_body_bytes: int = Field(default=513 * 1024**2, ge=1024)
    # `PUT /storage/objects/...` (local storage's signed links): trainer outputs, checkpoints.
    max_signed_upload_body_bytes: int = Field(default=50 * 1024**3, ge=1024)
    # `POST /trainer/jobs/{id}/...`: report batches (up to 1000 reports with logs).
    max_trainer_body_bytes: int = Field(default=16 * 1024**2, ge=1024)
    # `POST /training/jobs/{id}/predict`: up to 20 images of 20 MiB each, plus the form.
    max_predict_body_bytes: int = Field(default=401 * 1024**2, ge=1024)


class RateLimitSettings(BaseModel):
    """Token buckets: `per_second` refills, `burst` is the bucket's size (docs/serving.md)."""

    key_per_second: float = Field(default=50.0, gt=0)
    key_burst: int = Field(default=100, ge=1)
    organization_per_second: float = Field(default=200.0, gt=0)
    organization_burst: int = Field(default=400, ge=1)


class ServingSettings(BaseModel):
    """The serving process (`lensforge serve`, also started by `lensforge up`)."""

    host: str = "127.0.0.1"
    port: int = 8001
    # The address clients use to reach the serving API (shown on deployment pages).
    public_url: str = ""
    # Where verified model files are kept on this replica (default: <data_dir>/serving/models).
    model_cache_dir: str = ""
    # Where each replica journals its usage records before they reach the database
    # (default: <data_dir>/serving/usage); a record written there survives a kill.
    usage_journal_dir: str = ""
    # A name for this replica in usage records and logs (default: host name and port).
    replica_name: str = ""
    # Warm models share this much memory; the least recently used is unloaded first.
    model_memory_budget_bytes: int = Field(default=4 * 1024**3, ge=1024**2)
    max_image_pixels: int = Field(default=40_000_000, ge=1)
    # A whole request body (multipart images, base64 JSON or protocol tensors).
    max_request_bytes: int = Field(default=64 * 1024**2, ge=1024)
    max_images_per_request: int = Field(default=16, ge=1)
    # How often a replica looks for changed deployments, and how long it trusts a key it
    # checked (a revocation takes effect on every replica within this time).
    refresh_interval_seconds: float = Field(default=1.0, gt=0)
    key_cache_seconds: float = Field(default=2.0, ge=0)
    # Images by URL in the image API: off unless an administrator turns it on; then never to
    # loopback, private or link-local addresses unless listed (the egress policy of imports).
    allow_url_images: bool = False
    url_image_allowed_networks: list[str] = Field(default_factory=list)
    url_image_max_bytes: int = Field(default=20 * 1024**2, ge=1024)
    url_image_timeout_seconds: float = Field(default=10.0, gt=0)
    # Shared rate limits across replicas (e.g. redis://127.0.0.1:6379/0); empty: per process.
    redis_url: str = ""
    rate_limits: RateLimitSettings = Field(default_factory=RateLimitSettings)
    # ONNX Runtime threads per model session (0: its default, every core).
    intra_op_threads: int = Field(default=0, ge=0)
    # Let ONNX Runtime's threads busy-wait between runs: lower latency for one client at a time
    # (about 7 ms less per request on 2 cores), but under concurrent load they take the cores
    # decoding and NMS need (about 35% less throughput at 16 clients); see docs/performance.md.
    onnx_spin_wait: bool = False


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LENSFORGE_", env_nested_delimiter="__", extra="ignore"
    )

    env: Environment = Environment.PRODUCTION
    data_dir: Path = Field(default_factory=lambda: Path(user_data_dir("lensforge")))
    log_level: str = "INFO"
    log_json: bool = False
    # How often the server sweeps abandoned uploads (and future housekeeping).
    maintenance_interval_seconds: float = 600.0
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    datasets: DatasetSettings = Field(default_factory=DatasetSettings)
    trainers: TrainerSettings = Field(default_factory=TrainerSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    # Which backend runs jobs: `local` (workers claim from the database) or `temporal`.
    orchestrator: Literal["local", "temporal"] = "local"
    temporal: TemporalSettings = Field(default_factory=TemporalSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    serving: ServingSettings = Field(default_factory=ServingSettings)

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite:///{self.data_dir / 'lensforge.db'}"

    @property
    def local_storage_root(self) -> Path:
        if self.storage.local.root:
            return Path(self.storage.local.root)
        return self.data_dir / "objects"

    @property
    def work_dir(self) -> Path:
        if self.datasets.work_dir:
            return Path(self.datasets.work_dir)
        return self.data_dir / "work"

    @property
    def public_url(self) -> str:
        if self.server.public_url:
            return self.server.public_url.rstrip("/")
        return f"http://{self.server.host}:{self.server.port}"

    @cached_property
    def secret_key(self) -> str:
        """The signing key for tokens and presigned links, validated or generated once."""
        configured = self.security.secret_key
        if configured is not None:
            value = configured.get_secret_value()
            weak = value.lower() in _KNOWN_WEAK_SECRETS or len(value) < _MIN_SECRET_LENGTH
            if weak and self.env is not Environment.DEVELOPMENT:
                raise ConfigurationError(
                    "LENSFORGE_SECURITY__SECRET_KEY is a known default or shorter than "
                    f"{_MIN_SECRET_LENGTH} characters; set a random value "
                    "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
                    " or leave it unset to have one generated."
                )
            return value
        return _load_or_create_secret(self.data_dir / "secret_key")


def _load_or_create_secret(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    # Written whole beside it, then linked into place (a link fails when the name exists): two
    # processes starting at once (`up` and its children) agree on one key, and the loser never
    # reads a file the winner has created but not yet written.
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    try:
        os.link(draft, path)
    except FileExistsError:
        return path.read_text().strip()
    finally:
        draft.unlink()
    return value


_TEMPORAL_ALIASES = {
    "TEMPORAL_HOST": "host",
    "TEMPORAL_ADDRESS": "host",
    "TEMPORAL_NAMESPACE": "namespace",
    "TEMPORAL_TASK_QUEUE": "task_queue",
    "TEMPORAL_API_KEY": "api_key",
    "TEMPORAL_TLS_CERT": "tls_cert_path",
    "TEMPORAL_TLS_KEY": "tls_key_path",
    "TEMPORAL_UI_URL": "ui_url",
}


def _temporal_aliases() -> dict[str, str]:
    """The plain `TEMPORAL_*` names other Temporal tools use; `LENSFORGE_TEMPORAL__*` wins."""
    return {
        field: os.environ[name] for name, field in _TEMPORAL_ALIASES.items() if name in os.environ
    }


def get_settings() -> Settings:
    return Settings()
