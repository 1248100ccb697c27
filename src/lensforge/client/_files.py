"""Private files (credentials, upload state): owner-only, replaced atomically."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def ensure_private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    # Best effort: on filesystems without POSIX modes (or a shared directory) chmod may fail.
    with contextlib.suppress(OSError):
        path.chmod(0o700)


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` with mode 0600; readers see the old or the new file, never half.

    The temporary file is created 0600 by `mkstemp`, so the secret is never world-readable,
    not even between creation and rename.
    """
    ensure_private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
