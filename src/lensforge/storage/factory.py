"""The object store the settings ask for."""

from __future__ import annotations

from lensforge.config import Settings
from lensforge.storage.base import ObjectStore
from lensforge.storage.local import LocalObjectStore
from lensforge.storage.s3 import S3ObjectStore
from lensforge.storage.signing import PresignSigner


def create_object_store(settings: Settings) -> ObjectStore:
    max_expires_in = settings.storage.presign_max_expiry_seconds
    if settings.storage.backend == "s3":
        return S3ObjectStore(settings.storage.s3, max_expires_in=max_expires_in)
    return LocalObjectStore(
        settings.local_storage_root,
        signer=PresignSigner(settings.secret_key),
        public_url=settings.public_url,
        max_expires_in=max_expires_in,
    )
