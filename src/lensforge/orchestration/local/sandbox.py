"""Running a trainer as an unprivileged user of its own, so that hostile code in it (a pickled
payload in uploaded weights, a malicious plugin) cannot read the server's secret key, database or
stored objects, nor write anywhere but its own folders.

When the worker runs as root (`trainers.isolation` = `auto` or `required`):
- each job's trainer runs as a uid of its own and a gid of its organization, both derived from
  the ids (`trainers.isolation_id_start` + a hash modulo `trainers.isolation_id_count`; a
  number that names an existing account or group is skipped), with no supplementary groups and
  umask 007. No account is created: nothing needs a name for these numbers;
- the data directory is `0711` (enter, not list); everything in it but the folders trainers
  use (jobs, environments, uv cache, dataset cache) becomes private to the server's user:
  the secret key, the SQLite database, the objects, the import work space, Temporal's state;
- the attempt's work folder and the job's spool are the job user's own (`0700`); the job
  folders above them are `0711` and the server's; the environments stay the server's
  (readable, not writable);
- the organization's image cache (`<dataset cache>/orgs/<organization>`) is `2770`, the
  organization's group: trainers of one organization share downloads, never another's.

The interpreter, the environment and the trainer's files must be readable by that user: a
Python installed in a private home (`/root/.pyenv`) is not. `required` then fails the job with
a configuration error; `auto` runs the trainer as the worker's user and says so in the job's
log. When the worker is not root, trainers run as its user (`required` refuses to start them):
they can read what the worker can, so run the worker as root or in a container of its own
(see docs/deployment.md).
"""

from __future__ import annotations

import contextlib
import grp
import hashlib
import os
import pwd
import stat
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lensforge.config import Settings
from lensforge.orchestration.local.paths import dataset_cache_dir, jobs_dir
from lensforge.trainers.environments import EnvironmentBuildFailed, envs_dir, uv_cache_dir

# Folders of the data directory that trainers use; everything else there is the server's alone.
_PRIVATE_FILE = 0o600
_PRIVATE_DIR = 0o700
_ENTER_ONLY = 0o711
_ORGANIZATION_CACHE = 0o2770  # setgid: what a trainer writes there keeps the group
TRAINER_UMASK = 0o007


class IsolationUnavailable(EnvironmentBuildFailed):
    """`trainers.isolation = required`, and the trainer cannot run as a user of its own (a
    failed launch, reported like a failed environment build, as a configuration error)."""

    error_type = "config"


@dataclass(frozen=True)
class TrainerIdentity:
    uid: int
    gid: int

    @property
    def name(self) -> str:
        return f"lensforge-trainer-{self.uid}"


def wanted(settings: Settings) -> bool:
    return settings.trainers.isolation != "off"


def identity_for(
    settings: Settings, job_id: uuid.UUID, organization_id: uuid.UUID
) -> TrainerIdentity | None:
    """The job's own user, or None when trainers run as the worker's user (not root, or
    isolation off). Raises IsolationUnavailable when `required` cannot be honoured."""
    if not wanted(settings):
        return None
    if os.geteuid() != 0:
        if settings.trainers.isolation == "required":
            raise IsolationUnavailable(
                "trainers.isolation is `required`, but the worker does not run as root and "
                "cannot start trainers as another user"
            )
        return None
    return TrainerIdentity(
        uid=_free_number(settings, f"job:{job_id}", _account_exists),
        gid=_free_number(settings, f"organization:{organization_id}", _group_exists),
    )


def _free_number(settings: Settings, seed: str, taken: Callable[[int], bool]) -> int:
    start = settings.trainers.isolation_id_start
    count = settings.trainers.isolation_id_count
    number = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big") % count
    for step in range(count):
        candidate = start + (number + step) % count
        if not taken(candidate):
            return candidate
    raise IsolationUnavailable("every number of trainers.isolation_id_* names an account")


def _account_exists(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


def _group_exists(gid: int) -> bool:
    try:
        grp.getgrgid(gid)
    except KeyError:
        return False
    return True


def organization_cache(settings: Settings, organization_id: uuid.UUID) -> Path:
    """The organization's image cache: shared by its jobs, never by another organization's."""
    return dataset_cache_dir(settings) / "orgs" / str(organization_id)


def protect_data_dir(settings: Settings) -> None:
    """Make the server's own files unreadable to other users (idempotent, cheap: run before
    each launch, since the server may create files after the worker started)."""
    data = settings.data_dir
    if not data.is_dir() or data.stat().st_uid != os.geteuid():
        return
    shared = {jobs_dir(settings), envs_dir(settings), uv_cache_dir(settings)}
    shared.add(dataset_cache_dir(settings))
    shared_resolved = {_resolved(path) for path in shared}
    _chmod(data, _ENTER_ONLY)
    for entry in data.iterdir():
        if _resolved(entry) in shared_resolved or entry.is_symlink():
            continue
        _chmod(entry, _PRIVATE_DIR if entry.is_dir() else _PRIVATE_FILE)
    for path in _server_files(settings):
        if path.exists():
            _chmod(path, _PRIVATE_DIR if path.is_dir() else _PRIVATE_FILE)
    for folder in (jobs_dir(settings), dataset_cache_dir(settings)):
        if folder.is_dir():
            _chmod(folder, _ENTER_ONLY if folder == jobs_dir(settings) else 0o755)


def _server_files(settings: Settings) -> list[Path]:
    """The server's secrets and state wherever they are configured (also outside data_dir)."""
    files = [settings.data_dir / "secret_key", settings.local_storage_root, settings.work_dir]
    url = settings.database_url
    if url.startswith("sqlite:///"):
        database = Path(url.removeprefix("sqlite:///"))
        files += [database, *(Path(f"{database}{suffix}") for suffix in ("-wal", "-shm"))]
        files.append(Path(f"{database}-journal"))
    return files


def prepare_for(
    settings: Settings,
    identity: TrainerIdentity,
    *,
    job_dir: Path,
    own: list[Path],
    organization_cache: Path,
) -> None:
    """Hand the job's own folders to its user and open the organization's cache to its group."""
    protect_data_dir(settings)
    _chmod(job_dir, _ENTER_ONLY)
    for folder in own:
        folder.mkdir(parents=True, exist_ok=True)
        _chown_tree(folder, identity.uid, identity.gid)
        _chmod(folder, _PRIVATE_DIR)
    organization_cache.mkdir(parents=True, exist_ok=True)
    os.chown(organization_cache.parent, 0, 0)
    _chmod(organization_cache.parent, _ENTER_ONLY)
    os.chown(organization_cache, 0, identity.gid)
    _chmod(organization_cache, _ORGANIZATION_CACHE)


def unreachable(
    paths: Sequence[Path], identity: TrainerIdentity, *, enter: Sequence[Path] = ()
) -> str | None:
    """Why `identity` (a user with no other group) cannot use `paths`, or None when it can:
    every folder above each must let others in, and each must be readable by others (and
    runnable, for programs and folders). The folders of `enter` need only let others in (the
    worker opens them up itself when they are its own)."""
    for path in [*paths, *enter]:
        real = path.resolve()
        for folder in reversed(real.parents):
            problem = _others_cannot(folder, stat.S_IXOTH, identity, "enter")
            if problem:
                return problem
    for path in paths:
        real = path.resolve()
        runnable = real.is_dir() or os.access(real, os.X_OK)
        needed = stat.S_IROTH | (stat.S_IXOTH if runnable else 0)
        problem = _others_cannot(real, needed, identity, "read")
        if problem:
            return problem
    return None


def _others_cannot(path: Path, bits: int, identity: TrainerIdentity, what: str) -> str | None:
    try:
        info = path.stat()
    except OSError as exc:
        return f"{path} cannot be checked ({exc})"
    if info.st_uid == identity.uid or info.st_gid == identity.gid:
        return None
    if info.st_mode & bits != bits:
        return f"{path} is mode {stat.S_IMODE(info.st_mode):04o}: others cannot {what} it"
    return None


def _resolved(path: Path) -> Path:
    with contextlib.suppress(OSError):
        return path.resolve()
    return path


def _chmod(path: Path, mode: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        if stat.S_IMODE(path.stat().st_mode) != mode:
            path.chmod(mode)


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            os.chown(os.path.join(folder, name), uid, gid, follow_symlinks=False)
    os.chown(root, uid, gid)
