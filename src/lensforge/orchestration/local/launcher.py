"""Starting a trainer process as the trainer contract (§2) describes.

The environment is built from an allow-list, never copied from the worker's: the worker runs
with the server's settings (database URL, storage keys, signing secret) in its environment,
and a trainer is third-party code that must see none of it.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lensforge.config import Settings
from lensforge.orchestration.local.claim import Claim
from lensforge.orchestration.local.paths import attempt_dir, dataset_cache_dir, spool_dir
from lensforge.orchestration.local.processes import die_with_parent
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


def trainer_environment(
    settings: Settings,
    claim: Claim,
    allocation: Allocation,
    *,
    source: Mapping[str, str] | None = None,
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
        "LENSFORGE_CACHE_MAX_BYTES": str(settings.worker.dataset_cache_max_bytes),
        "LENSFORGE_TRAINER": claim.trainer,
        "LENSFORGE_MODEL": claim.model,
        "LENSFORGE_TASK": claim.task,
        "LENSFORGE_CONFIG": json.dumps(claim.config),
        "LENSFORGE_RESUME": "1" if claim.resumed_from else "0",
        "LENSFORGE_JOB_KIND": claim.kind,
    }
    return env


def _is_server_secret(name: str) -> bool:
    upper = name.upper()
    return upper.startswith(("LENSFORGE_DATABASE__", "LENSFORGE_SECURITY__", "LENSFORGE_STORAGE__"))


def plan(
    settings: Settings,
    claim: Claim,
    allocation: Allocation,
    manifest: TrainerManifest,
    python: Path,
) -> LaunchPlan:
    cwd = attempt_dir(settings, claim.job_id, claim.attempt_number)
    return LaunchPlan(
        argv=[str(python), *manifest.entrypoints[ENTRYPOINT_OF_KIND[claim.kind]]],
        env=trainer_environment(settings, claim, allocation),
        cwd=cwd,
    )


def prepare_dirs(settings: Settings, claim: Claim) -> None:
    attempt_dir(settings, claim.job_id, claim.attempt_number).mkdir(parents=True, exist_ok=True)
    spool_dir(settings, claim.job_id).mkdir(parents=True, exist_ok=True)
    dataset_cache_dir(settings).mkdir(parents=True, exist_ok=True)


def spawn(launch: LaunchPlan) -> subprocess.Popen[bytes]:
    """Start the trainer in a new session (its own process group, so a signal reaches its
    helpers too, and the terminal's Ctrl-C does not). Call from the worker's loop thread: see
    `die_with_parent`."""
    return subprocess.Popen(  # noqa: S603 - argv comes from a registered manifest
        launch.argv,
        cwd=launch.cwd,
        env=launch.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=die_with_parent(),  # noqa: PLW1509 - see die_with_parent for why
        close_fds=True,
    )
