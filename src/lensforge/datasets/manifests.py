"""A version's canonical manifest: the exact data (with image hashes and splits) it stands for."""

from __future__ import annotations

import json

from lensforge.formats import DatasetManifest
from lensforge.models import DatasetVersion
from lensforge.storage.base import ObjectStore


def load_manifest(store: ObjectStore, version: DatasetVersion) -> DatasetManifest:
    """The manifest whose canonical JSON hashes to `version.content_hash`."""
    with store.open(version.manifest_key) as stream:
        data = json.load(stream)
    return DatasetManifest.model_validate(data)
