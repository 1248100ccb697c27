"""Every exception the SDK raises, in one place.

    SDKError                        base of them all; `.error_type` is the ErrorType to report
    ├── ConfigurationError          a variable is missing or malformed (names it)       config
    ├── SpoolError                  the report spool cannot be used (locked, unwritable) internal
    ├── ServerError                 the server answered with an error (`.status_code`)   network
    │   └── CheckpointNotFound      the job has no checkpoint of that kind (404)         storage
    ├── NetworkError                the server could not be reached within the deadline  network
    ├── StorageError                a presigned upload/download failed, or a checksum    storage
    └── DatasetError                the dataset cannot be materialised (bad image,       dataset
                                    checksum mismatch twice, empty manifest)

A trainer can turn any of them into a failure report with
`trainer.report_failed(exc.error_type, str(exc))`.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorType(StrEnum):
    """Why a training attempt failed (the contract's `failed` report `error_type`)."""

    DATASET = "dataset"
    CONFIG = "config"
    RESOURCE = "resource"  # out of memory, disk full, no GPU
    DEPENDENCY = "dependency"  # a package missing or of the wrong version
    NETWORK = "network"
    STORAGE = "storage"
    TRAINING = "training"  # diverged, NaN
    VERIFICATION = "verification"  # an exported model does not match the trained one
    INTERNAL = "internal"


class SDKError(Exception):
    error_type: ErrorType = ErrorType.INTERNAL


class ConfigurationError(SDKError):
    error_type = ErrorType.CONFIG


class SpoolError(SDKError):
    error_type = ErrorType.INTERNAL


class ServerError(SDKError):
    """A non-2xx answer of the trainer API that retrying will not fix."""

    error_type = ErrorType.NETWORK

    def __init__(self, message: str, *, status_code: int, body: str = "") -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body


class CheckpointNotFound(ServerError):
    error_type = ErrorType.STORAGE


class NetworkError(SDKError):
    error_type = ErrorType.NETWORK


class StorageError(SDKError):
    error_type = ErrorType.STORAGE


class DatasetError(SDKError):
    error_type = ErrorType.DATASET


class VerificationFailed(SDKError):
    """An exported model's outputs differ from the trained model's beyond the tolerance."""

    error_type = ErrorType.VERIFICATION
