"""Where dataset data lives in object storage. Content-addressed, per organization."""

from __future__ import annotations

import uuid


def image_key(organization_id: uuid.UUID, sha256: str) -> str:
    return f"orgs/{organization_id}/images/{sha256[:2]}/{sha256}"


def thumbnail_key(organization_id: uuid.UUID, sha256: str, size: int) -> str:
    return f"orgs/{organization_id}/thumbnails/{size}/{sha256[:2]}/{sha256}.jpg"


def manifest_key(organization_id: uuid.UUID, content_hash: str) -> str:
    """A version's canonical manifest, named by its content hash: equal versions share it."""
    return f"orgs/{organization_id}/manifests/{content_hash[:2]}/{content_hash}.json"
