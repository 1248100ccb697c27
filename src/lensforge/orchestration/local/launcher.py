"""Starting a trainer process as the trainer contract (§2) describes.

The environment is built from an allow-list, never copied from the worker's: the worker runs
with the server's settings (database URL, storage keys, signing secret) in its environment,
and a trainer is third-party code that must see none of it. When the worker runs as root the
trainer also runs as a user of its own (`sandbox.py`), so that it cannot read those secrets
from the disk either.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lensforge.config import Settings
from lensforge.orchestration.local import sandbox
from lensforge.orchestration.local.claim import Claim
from lensforge.orchestration.local.paths import (
    attempt_dir,
    dataset_cache_dir,
    job_dir,
    jobs_dir,
    spool_dir,
)
from lensforge.orchestration.local.processes import die_with_parent
from lensforge.orchestration.local.sandbox import TrainerIdentity
from lensforge.orchestration.local.slots import Allocation
from lensforge.trainers.manifest import TrainerManifest

# What a program needs to run at all, find its tools and certificates, and reach the network.
BASE_ALLOW_LIST = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "LD_LIBRARY_PATH",
    "CUDA_HOME",
    "CUDA_PATH",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
)


# Which manifest entry point runs a job of each kind (jobs are only created for a kind whose
# entry point the trainer has).
ENTRYPOINT_OF_KIND = {"training": "train", "export": "export", "inference": "predict"}


@dataclass(frozen=True)
class LaunchPlan:
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    # The trainer's own user (None: the worker's), and why it has none when one was wanted.
    identity: TrainerIdentity | None = None
    not_isolated: str | None = None


def trainer_environment(
    settings: Settings,
    claim: Claim,
    allocation: Allocation,
    *,
    source: Mapping[str, str] | None = None,
    identity: TrainerIdentity | None = None,
) -> dict[str, str]:
    source = os.environ if source is None else source
    allowed = (*BASE_ALLOW_LIST, *settings.trainers.pass_env)
    env = {name: source[name] for name in allowed if name in source}
    # Even when an operator lists one by mistake, the server's own secrets never pass.
    env = {k: v for k, v in env.items() if not _is_server_secret(k)}
    env |= {
        "PYTHONUNBUFFERED": "1",  # lines reach the log as they are printed
        "CUDA_VISIBLE_DEVICES": allocation.cuda_visible_devices,
        "LENSFORGE_API_URL": settings.public_url,
        "LENSFORGE_JOB_ID": str(claim.job_id),
        "LENSFORGE_JOB_TOKEN": claim.token,
        "LENSFORGE_ATTEMPT": str(claim.attempt_number),
        "LENSFORGE_WORK_DIR": str(attempt_dir(settings, claim.job_id, claim.attempt_number)),
        "LENSFORGE_SPOOL_DIR": str(spool_dir(settings, claim.job_id)),
        "LENSFORGE_CACHE_DIR": str(dataset_cache_dir(settings)),
        # Images are cached per organization and handed out as verified private copies.
        "LENSFORGE_DATASET_CACHE_DIR": str(
            sandbox.organization_cache(settings, claim.organization_id)
        ),
        "LENSFORGE_DATASET_DIR": str(
            attempt_dir(settings, claim.job_id, claim.attempt_number) / "dataset"
        ),
        "LENSFORGE_CACHE_MAX_BYTES": str(settings.worker.dataset_cache_max_bytes),
        "LENSFORGE_TRAINER": claim.trainer,
        "LENSFORGE_MODEL": claim.model,
        "LENSFORGE_TASK": claim.task,
        "LENSFORGE_CONFIG": json.dumps(claim.config),
        "LENSFORGE_RESUME": "1" if claim.resumed_from else "0",
        "LENSFORGE_JOB_KIND": claim.kind,
    }
    if identity is not None:
        # Its home and temporary files in its own folder: the worker's HOME is not its own.
        work = attempt_dir(settings, claim.job_id, claim.attempt_number)
        env |= {
            "HOME": str(work),
            "TMPDIR": str(work / "tmp"),
            "USER": identity.name,
            "LOGNAME": identity.name,
        }
    return env


# Never handed over, even when an operator lists one in `trainers.pass_env`: the server's own
# settings (the trainer gets its LENSFORGE_* variables from the worker, above), cloud and
# database credentials, and Temporal's key.
_SECRET_PREFIXES = ("LENSFORGE_", "AWS_", "PG", "TEMPORAL_", "DATABASE_")
_SECRET_NAMES = frozenset({"DATABASE_URL", "REDIS_URL", "GOOGLE_APPLICATION_CREDENTIALS"})


def _is_server_secret(name: str) -> bool:
    upper = name.upper()
    return upper.startswith(_SECRET_PREFIXES) or upper in _SECRET_NAMES


def plan(
    settings: Settings,
    claim: Claim,
    allocation: Allocation,
    manifest: TrainerManifest,
    python: Path,
) -> LaunchPlan:
    """How to start the trainer. Raises `sandbox.IsolationUnavailable` when isolation is
    required and impossible (the job then fails as a configuration error)."""
    cwd = attempt_dir(settings, claim.job_id, claim.attempt_number)
    argv = [str(python), *manifest.entrypoints[ENTRYPOINT_OF_KIND[claim.kind]]]
    identity, not_isolated = _identity(settings, claim, argv)
    return LaunchPlan(
        argv=argv,
        env=trainer_environment(settings, claim, allocation, identity=identity),
        cwd=cwd,
        identity=identity,
        not_isolated=not_isolated,
    )


def _identity(
    settings: Settings, claim: Claim, argv: list[str]
) -> tuple[TrainerIdentity | None, str | None]:
    if sandbox.wanted(settings):
        sandbox.protect_data_dir(settings)
    identity = sandbox.identity_for(settings, claim.job_id, claim.organization_id)
    if identity is None:
        return None, None
    organization_cache = sandbox.organization_cache(settings, claim.organization_id)
    problem = sandbox.unreachable(
        _files_of(argv), identity, enter=[jobs_dir(settings), organization_cache.parent.parent]
    )
    if problem is not None:
        why = (
            f"the trainer cannot run as a user of its own: {problem} (make it readable by "
            "others, set trainers.python to an interpreter they can run, or set "
            "LENSFORGE_TRAINERS__ISOLATION=off)"
        )
        if settings.trainers.isolation == "required":
            raise sandbox.IsolationUnavailable(why)
        return None, why
    cwd = attempt_dir(settings, claim.job_id, claim.attempt_number)
    (cwd / "tmp").mkdir(parents=True, exist_ok=True)
    sandbox.prepare_for(
        settings,
        identity,
        job_dir=job_dir(settings, claim.job_id),
        own=[cwd, spool_dir(settings, claim.job_id)],
        organization_cache=organization_cache,
    )
    return identity, None


def _files_of(argv: list[str]) -> list[Path]:
    """What the trainer must read: its interpreter (and virtual environment), its own files
    named on its command line, and lensforge itself (the SDK)."""
    import lensforge

    python = Path(argv[0])
    files = [python]
    if (python.parent.parent / "pyvenv.cfg").is_file():
        files.append(python.parent.parent)
    files += [Path(arg) for arg in argv[1:] if arg.endswith(".py") and Path(arg).is_file()]
    files.append(Path(lensforge.__file__).parent)
    return files


def prepare_dirs(settings: Settings, claim: Claim) -> None:
    attempt_dir(settings, claim.job_id, claim.attempt_number).mkdir(parents=True, exist_ok=True)
    spool_dir(settings, claim.job_id).mkdir(parents=True, exist_ok=True)
    dataset_cache_dir(settings).mkdir(parents=True, exist_ok=True)
    sandbox.organization_cache(settings, claim.organization_id).mkdir(parents=True, exist_ok=True)


def spawn(launch: LaunchPlan) -> subprocess.Popen[bytes]:
    """Start the trainer in a new session (its own process group, so a signal reaches its
    helpers too, and the terminal's Ctrl-C does not). Call from the worker's loop thread: see
    `die_with_parent`."""
    identity = launch.identity
    return subprocess.Popen(  # noqa: S603 - argv comes from a registered manifest
        launch.argv,
        cwd=launch.cwd,
        env=launch.env,
        user=identity.uid if identity else None,
        group=identity.gid if identity else None,
        extra_groups=[] if identity else None,
        umask=sandbox.TRAINER_UMASK if identity else -1,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=die_with_parent(),  # noqa: PLW1509 - see die_with_parent for why
        close_fds=True,
    )
