"""Offline package sources for environment tests: wheels re-packed from what this interpreter
has installed (the SDK's requirements), and a tiny local package that builds with an in-tree
backend (no build tool to download)."""

from __future__ import annotations

import zipfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

_SKIP = {"INSTALLER", "REQUESTED", "direct_url.json", "RECORD"}


def closure(requirements: list[str]) -> set[str]:
    """Installed distributions needed by `requirements` (markers evaluated here)."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        requirement = todo.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        todo += [Requirement(r) for r in metadata.requires(name) or []]
    return seen


def repack(name: str, folder: Path) -> Path:
    """A wheel of the installed distribution `name` (pure-Python ones are enough here)."""
    dist = metadata.distribution(name)
    version = dist.version
    stem = f"{canonicalize_name(name).replace('-', '_')}-{version}"
    path = folder / f"{stem}-py3-none-any.whl"
    root = Path(str(dist.locate_file("")))
    info_dir = None
    records = []
    with zipfile.ZipFile(path, "w") as wheel:
        for file in dist.files or []:
            relative = str(file)
            if relative.startswith("..") or "__pycache__" in relative:
                continue
            if ".dist-info/" in relative:
                info_dir = relative.split("/", 1)[0]
                if relative.rsplit("/", 1)[-1] in _SKIP:
                    continue
            source = root / relative
            if source.is_file():
                wheel.write(source, relative)
                records.append(f"{relative},,")
        assert info_dir is not None
        records.append(f"{info_dir}/RECORD,,")
        wheel.writestr(f"{info_dir}/RECORD", "\n".join(records) + "\n")
    return path


def wheelhouse(requirements: list[str], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in closure(requirements):
        repack(name, folder)
    return folder


BACKEND = '''
"""A minimal PEP 517 backend: writes a pure-Python wheel with the standard library only."""
import base64, hashlib, os, zipfile

NAME, VERSION = "tinypkg", "0.1.0"
INFO = f"{NAME}-{VERSION}.dist-info"


def _files():
    for folder, _, names in os.walk(NAME):
        for name in names:
            if not name.endswith(".pyc"):
                yield os.path.join(folder, name)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    filename = f"{NAME}-{VERSION}-py3-none-any.whl"
    records = []
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as wheel:
        entries = [(path, open(path, "rb").read()) for path in _files()]
        entries.append((f"{INFO}/METADATA", f"Metadata-Version: 2.1\\nName: {NAME}\\nVersion: {VERSION}\\n".encode()))
        entries.append((f"{INFO}/WHEEL", b"Wheel-Version: 1.0\\nGenerator: tiny\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"))
        for path, data in entries:
            wheel.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            records.append(f"{path},sha256={digest},{len(data)}")
        records.append(f"{INFO}/RECORD,,")
        wheel.writestr(f"{INFO}/RECORD", "\\n".join(records) + "\\n")
    return filename


def get_requires_for_build_wheel(config_settings=None):
    return []
'''


def tiny_package(folder: Path) -> Path:
    """`tinypkg` 0.1.0 as a source tree; require it as `tinypkg @ file://<folder>`."""
    (folder / "tinypkg").mkdir(parents=True)
    (folder / "tinypkg" / "__init__.py").write_text("ANSWER = 42\n")
    (folder / "tiny_backend.py").write_text(BACKEND)
    (folder / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "tiny_backend"\nbackend-path = ["."]\n'
        '\n[project]\nname = "tinypkg"\nversion = "0.1.0"\n'
    )
    return folder
