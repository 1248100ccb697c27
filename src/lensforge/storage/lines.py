"""Reading a stored JSON Lines object line by line, streamed: such a file may be larger than
memory (an inference run's results)."""

from __future__ import annotations

from collections.abc import Iterator

from lensforge.storage.base import ObjectStore


def iter_lines(store: ObjectStore, key: str) -> Iterator[bytes]:
    """The object's non-empty lines, without their line breaks."""
    pending = b""
    for chunk in store.iter_chunks(key):
        pending += chunk
        *complete, pending = pending.split(b"\n")
        yield from (line for line in complete if line.strip())
    if pending.strip():
        yield pending
