"""Downloading a file from a presigned link: streamed to disk, its size and sha256 checked, and
only then put in place (a broken download never leaves a file that looks complete)."""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path

import httpx

from lensforge.client._download import CHUNK_SIZE
from lensforge.client._http import HttpSession
from lensforge.client.errors import ConnectionFailed, InvalidResponse, error_from_response

Progress = Callable[[int, int | None], None]


def download_verified(
    session: HttpSession,
    url: str,
    target: Path,
    *,
    size: int | None,
    sha256: str | None,
    timeout: float,
    on_progress: Progress | None = None,
) -> Path:
    """GET `url` (absolute, or a path on the server) into `target`. The link carries its own
    authorisation: no credentials are sent with it (it may point at an object store)."""
    if url.startswith("/"):
        url = session.base_url + url
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{secrets.token_hex(4)}.part"
    digest = hashlib.sha256()
    done = 0
    try:
        with (
            session.http.stream("GET", url, timeout=httpx.Timeout(timeout, connect=30.0)) as answer,
            tmp.open("xb") as handle,
        ):
            if answer.is_error:
                answer.read()
                raise error_from_response(answer)
            if on_progress is not None:
                on_progress(0, size)
            for chunk in answer.iter_bytes(CHUNK_SIZE):
                handle.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if on_progress is not None:
                    on_progress(done, size)
        if size is not None and done != size:
            raise ConnectionFailed(
                f"the download of {target.name} ended after {done} of {size} bytes",
                code="incomplete_download",
            )
        if sha256 is not None and digest.hexdigest() != sha256.lower():
            raise InvalidResponse(
                f"{target.name} arrived with sha256 {digest.hexdigest()}, expected {sha256}; "
                "nothing was written",
                code="checksum_mismatch",
            )
        os.replace(tmp, target)
    except httpx.TimeoutException as exc:
        raise ConnectionFailed(f"the download of {target.name} timed out", code="timeout") from exc
    except httpx.TransportError as exc:
        raise ConnectionFailed(
            f"the download of {target.name} broke off: {exc}", code="connection_failed"
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return target


def safe_filename(name: str, fallback: str) -> str:
    """A bare file name the server suggested: no folders, no hidden files."""
    bare = Path(name.replace("\\", "/")).name
    return bare if bare and not bare.startswith(".") else fallback
