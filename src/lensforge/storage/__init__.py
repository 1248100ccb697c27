"""Object storage: the ObjectStore protocol and its local-filesystem and S3 backends."""

from lensforge.storage.base import (
    InvalidObjectKey,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    StorageUnavailable,
    validate_key,
)

__all__ = [
    "InvalidObjectKey",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "StorageUnavailable",
    "validate_key",
]
