"""Streaming a large response body to disk: never whole in memory, never half a file in place."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx

from lensforge.client._http import HttpSession
from lensforge.client.dataset_models import ExportDownload
from lensforge.client.errors import ConnectionFailed, error_from_response

CHUNK_SIZE = 1024 * 1024
SKIPPED_HEADER = "X-Lensforge-Skipped-Items"
_FILENAME_STAR = re.compile(r"filename\*\s*=\s*([^']*)'[^']*'([^;]+)", re.IGNORECASE)
_FILENAME = re.compile(r'filename\s*=\s*"((?:[^"\\]|\\.)*)"|filename\s*=\s*([^;\s]+)', re.I)


def disposition_filename(header: str | None) -> str | None:
    """The file name a `Content-Disposition` header suggests, reduced to a bare name (a server
    must not be able to choose the folder: `../../.bashrc` becomes `.bashrc`, then refused)."""
    if not header:
        return None
    name: str | None = None
    if (star := _FILENAME_STAR.search(header)) is not None:
        name = unquote(star.group(2).strip(), encoding=star.group(1) or "utf-8", errors="replace")
    elif (plain := _FILENAME.search(header)) is not None:
        name = plain.group(1) if plain.group(1) is not None else plain.group(2)
    if name is None:
        return None
    name = Path(name.replace("\\", "/")).name
    return name if name and not name.startswith(".") else None


def _body_length(response: httpx.Response) -> int | None:
    """The length of the body as it will be read (unknown when it is content-encoded)."""
    length = response.headers.get("Content-Length", "")
    encoded = response.headers.get("Content-Encoding", "identity") != "identity"
    return int(length) if length.isdigit() and not encoded else None


@contextlib.contextmanager
def _stream(
    session: HttpSession,
    path: str,
    params: Mapping[str, Any] | None,
    timeout: float,
) -> Iterator[httpx.Response]:
    """A streamed GET with the session's credentials and its error mapping. The caller should
    have made an ordinary call just before, which refreshes an expired access token."""
    credential = session.api_key or session.access_token
    headers = {"Authorization": f"Bearer {credential}"} if credential else {}
    # Waiting for the first byte may take long (the server builds the file); sending does not.
    limits = httpx.Timeout(timeout, connect=30.0)
    try:
        with session.http.stream(
            "GET", path, params=params, headers=headers, timeout=limits
        ) as response:
            if response.is_error:
                response.read()
                raise error_from_response(response)
            yield response
    except httpx.TimeoutException as exc:
        raise ConnectionFailed(
            f"no answer from {session.base_url} in time ({type(exc).__name__})", code="timeout"
        ) from exc
    except httpx.TransportError as exc:
        raise ConnectionFailed(
            f"the download from {session.base_url} broke off: {exc}", code="connection_failed"
        ) from exc


def stream_to_file(
    session: HttpSession,
    path: str,
    dest: Path,
    *,
    params: Mapping[str, Any] | None,
    default_name: str,
    timeout: float,
    on_progress: Callable[[int, int | None], None] | None,
) -> ExportDownload:
    """GET `path` into `dest` (or into the folder `dest`, under the server's file name).

    Bytes go to a temporary file beside the target, renamed over it once complete; on any
    failure the temporary file is removed and an existing target is left as it was.
    """
    with _stream(session, path, params, timeout) as response:
        target = dest
        if dest.is_dir():
            name = disposition_filename(response.headers.get("Content-Disposition"))
            target = dest / (name or default_name)
        total = _body_length(response)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Not mkstemp: its 0600 mode would stick to the export; this one follows the umask.
        tmp = target.parent / f".{target.name}.{secrets.token_hex(4)}.part"
        done = 0
        try:
            with tmp.open("xb") as handle:
                if on_progress is not None:
                    on_progress(0, total)
                for chunk in response.iter_bytes(CHUNK_SIZE):
                    handle.write(chunk)
                    done += len(chunk)
                    if on_progress is not None:
                        on_progress(done, total)
            if total is not None and done != total:
                raise ConnectionFailed(
                    f"the download ended after {done} of {total} bytes", code="incomplete_download"
                )
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        skipped = response.headers.get(SKIPPED_HEADER, "0")
    return ExportDownload(
        path=target, size=done, skipped_items=int(skipped) if skipped.isdigit() else 0
    )
