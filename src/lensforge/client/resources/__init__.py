"""The API grouped by noun: `client.projects`, `client.api_keys`, `client.uploads`, ..."""

from __future__ import annotations

import uuid

from lensforge.client._http import HttpSession


class Resource:
    def __init__(self, session: HttpSession) -> None:
        self._session = session


def path_id(value: uuid.UUID | str) -> str:
    """An id for a URL path; a malformed string fails here rather than reaching another route."""
    return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
