"""Python environments for trainers.

`current`: trainers run with the worker's own interpreter (the operator manages packages).
`isolated`: each distinct set of requirements gets its own virtual environment, built once with
uv and shared by every job (and every worker on the machine) that needs the same set:

- the folder is `<envs_dir>/<key>`, key = SHA-256 of the interpreter, the trainer's sorted
  requirements, the SDK's requirements, the Lensforge version and the package index settings
  (when not the defaults), so equal needs share one env and another index builds another;
- uv installs from one shared cache with hard links, so two environments holding the same
  packages cost the disk once;
- it is built in a temporary folder and renamed into place (a crash leaves no half-built env
  behind a valid name), under a lock file (two workers never build the same env at once), and
  `.ready` inside marks it complete.

Lensforge itself goes in without its server dependencies, and without building anything: an
editable (source) install is made visible through a `.pth` file, an ordinary install is copied
(hard-linked) with a minimal dist-info. Building it with `uv pip install --no-deps <project>`
would need its build backend (hatchling) from the network, which an offline machine lacks.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from importlib import metadata
from pathlib import Path

import lensforge
from lensforge.config import Settings, TrainerSettings
from lensforge.trainers.manifest import TrainerManifest

# What `lensforge.sdk` needs at run time; it is installed into every isolated environment.
SDK_REQUIREMENTS: tuple[str, ...] = ("httpx>=0.27",)
_READY = ".ready"
# uv's last lines carry the resolver's explanation; more would bury it.
_ERROR_TAIL_LINES = 25

LogFn = Callable[[str], None]


class EnvironmentBuildFailed(Exception):
    """The trainer's environment could not be built (a job fails with error type `dependency`)."""

    error_type = "dependency"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def envs_dir(settings: Settings) -> Path:
    return Path(settings.trainers.envs_dir or settings.data_dir / "envs")


def uv_cache_dir(settings: Settings) -> Path:
    return Path(settings.trainers.uv_cache_dir or settings.data_dir / "uv-cache")


def find_uv() -> Path:
    """The uv shipped next to this interpreter first (the version we install), then PATH."""
    sibling = Path(sys.executable).parent / "uv"
    if sibling.is_file():
        return sibling
    found = shutil.which("uv")
    if found is None:
        raise EnvironmentBuildFailed(
            "uv is not installed: it is needed to build isolated trainer environments "
            "(install it with `pip install uv`, or set LENSFORGE_TRAINERS__ENVIRONMENT=current)"
        )
    return Path(found)


def index_arguments(trainers: TrainerSettings) -> list[str]:
    """uv's options for where packages come from (see `TrainerSettings.index_url`)."""
    arguments = ["--index-url", trainers.index_url] if trainers.index_url else []
    for url in trainers.extra_index_urls:
        arguments += ["--extra-index-url", url]
    if trainers.index_strategy:
        arguments += ["--index-strategy", trainers.index_strategy]
    return arguments


def environment_key(manifest: TrainerManifest, trainers: TrainerSettings | None = None) -> str:
    inputs: dict[str, object] = {
        "python": [platform.python_implementation(), sys.version, platform.machine()],
        "requirements": sorted(manifest.requirements),
        "sdk": sorted(SDK_REQUIREMENTS),
        "lensforge": lensforge.__version__,
    }
    index = index_arguments(trainers) if trainers is not None else []
    if index:  # only when set: the environments built from PyPI keep their keys
        inputs["index"] = index
    if trainers is not None and trainers.python:  # another interpreter, another environment
        inputs["base_python"] = trainers.python
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def venv_python(root: Path) -> Path:
    return root / "bin" / "python"


class EnvironmentManager:
    def __init__(self, settings: Settings) -> None:
        self.mode = settings.trainers.environment
        self.root = envs_dir(settings)
        self.cache = uv_cache_dir(settings)
        self.offline = settings.trainers.offline
        self.find_links = list(settings.trainers.find_links)
        self.trainers = settings.trainers
        self.base_python = settings.trainers.python

    def python_for(self, manifest: TrainerManifest, log: LogFn) -> Path:
        """The interpreter to run `manifest`'s trainer with, building its environment if
        needed; uv's output goes to `log` line by line. Raises EnvironmentBuildFailed."""
        if self.mode == "current":
            return Path(sys.executable)
        key = environment_key(manifest, self.trainers)
        final = self.root / key
        if (final / _READY).is_file():
            return venv_python(final)
        self.root.mkdir(parents=True, exist_ok=True)
        with _exclusive(self.root / f".{key}.lock", log):
            if (final / _READY).is_file():
                log(f"environment {key[:12]} was built meanwhile by another worker")
                return venv_python(final)
            self._build(key, manifest, final, log)
        return venv_python(final)

    def _build(self, key: str, manifest: TrainerManifest, final: Path, log: LogFn) -> None:
        requirements = [*manifest.requirements, *SDK_REQUIREMENTS]
        log(f"building environment {key[:12]} for {manifest.name}: {', '.join(requirements)}")
        staging = Path(tempfile.mkdtemp(prefix=f".build-{key[:12]}-", dir=self.root))
        try:
            env = staging / "venv"
            # --relocatable: the env is renamed into place after building, so nothing in it
            # may hold its temporary path.
            python = self.base_python or sys.executable
            self._uv(["venv", "--relocatable", "--python", python, str(env)], log)
            install = ["pip", "install", "--python", str(venv_python(env))]
            install += ["--offline"] if self.offline else []
            for folder in self.find_links:
                install += ["--find-links", folder]
            install += index_arguments(self.trainers)
            self._uv([*install, *requirements], log)
            _add_lensforge(venv_python(env), log)
            (env / _READY).write_text(json.dumps({"trainer": manifest.name, "key": key}) + "\n")
            if final.exists():  # a leftover without `.ready` (removed by hand, say)
                shutil.rmtree(final)
            env.rename(final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        log(f"environment {key[:12]} ready")

    def _uv(self, args: Sequence[str], log: LogFn) -> None:
        env = dict(os.environ)
        env.pop("VIRTUAL_ENV", None)  # else uv may act on the worker's own environment
        env |= {
            "UV_CACHE_DIR": str(self.cache),
            "UV_LINK_MODE": "hardlink",
            "UV_NO_PROGRESS": "1",
            "NO_COLOR": "1",
        }
        command = [str(find_uv()), *args]
        tail: list[str] = []
        process = subprocess.Popen(  # noqa: S603 - our uv, our arguments
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True
        )
        assert process.stdout is not None
        with process.stdout:
            for raw in process.stdout:
                line = raw.rstrip()
                if line:
                    log(line)
                    tail = [*tail[-(_ERROR_TAIL_LINES - 1) :], line]
        if process.wait() != 0:
            detail = "\n".join(tail) or f"uv exited with code {process.returncode}"
            raise EnvironmentBuildFailed(f"`uv {args[0]} {args[1]}` failed:\n{detail}")


@contextlib.contextmanager
def _exclusive(path: Path, log: LogFn) -> Iterator[None]:
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log("waiting for another worker that is building this environment")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _add_lensforge(python: Path, log: LogFn) -> None:
    """Make `lensforge` (for `lensforge.sdk` and the built-in trainers) importable in the env
    without any of the server's dependencies."""
    purelib = Path(
        subprocess.run(  # noqa: S603 - the interpreter just created
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    package = Path(lensforge.__file__).parent
    if _is_editable():
        # The source tree is what the worker runs too; the trainer sees the same code. In the
        # src layout the parent folder holds only `lensforge`, so nothing else leaks in.
        (purelib / "_lensforge_source.pth").write_text(f"{package.parent}\n")
        log(f"lensforge {lensforge.__version__} linked from {package.parent}")
        return
    shutil.copytree(
        package,
        purelib / "lensforge",
        copy_function=_link_or_copy,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    info = purelib / f"lensforge-{lensforge.__version__}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: lensforge\nVersion: {lensforge.__version__}\n"
    )
    (info / "INSTALLER").write_text("lensforge-worker\n")
    (info / "RECORD").write_text("")
    log(f"lensforge {lensforge.__version__} installed without server dependencies")


def _is_editable() -> bool:
    try:
        text = metadata.distribution("lensforge").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        # Run from a source checkout without installing: that is a source tree too.
        return True
    if not text:
        return False
    info = json.loads(text).get("dir_info", {})
    return bool(info.get("editable"))


def _link_or_copy(source: str, destination: str) -> str:
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)
    return destination
