"""The API grouped by noun: `client.projects`, `client.api_keys`, `client.uploads`, ..."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import TypeVar

from lensforge.client._http import HttpSession
from lensforge.client.models import Page

T = TypeVar("T")


class Resource:
    def __init__(self, session: HttpSession) -> None:
        self._session = session


def path_id(value: uuid.UUID | str) -> str:
    """An id for a URL path; a malformed string fails here rather than reaching another route."""
    return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))


def iterate_pages(fetch: Callable[[int], Page[T]]) -> Iterator[T]:
    """Every item of a paginated list: `fetch(offset)` returns one page, until there are no more."""
    offset = 0
    while True:
        page = fetch(offset)
        yield from page.items
        offset += len(page.items)
        if not page.items or not page.has_more:
            return
