"""Where images sent for inference live: content-addressed per organization, like dataset
images, but apart from them (they belong to no dataset version)."""

from __future__ import annotations

import uuid

from lensforge.datasets.keys import image_key


def inference_image_key(organization_id: uuid.UUID, sha256: str) -> str:
    return f"orgs/{organization_id}/inference/{sha256[:2]}/{sha256}"


def input_image_key(organization_id: uuid.UUID, origin: str, sha256: str) -> str:
    """`origin` is the run's `input_origin`: `upload` or `dataset`."""
    if origin == "dataset":
        return image_key(organization_id, sha256)
    return inference_image_key(organization_id, sha256)
