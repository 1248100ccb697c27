"""The trainer SDK: a training process's side of the trainer contract (docs/trainer-contract.md).

Depends on httpx and the standard library only, and never imports the server. Two styles:

    from lensforge.sdk import Trainer, ErrorType
    with Trainer() as trainer:                    # configured from LENSFORGE_* variables
        data = trainer.download_dataset()
        trainer.report_progress(1, 10, {"train/loss": 0.7})

    from lensforge import sdk                     # the same, on a per-process default trainer
    sdk.report_progress(1, 10, {"train/loss": 0.7})

Exceptions: see `lensforge.sdk.errors` (all derive from `SDKError`, each names its ErrorType).
"""

from lensforge.sdk.client import Trainer, error_type_of
from lensforge.sdk.config import TrainerConfig
from lensforge.sdk.dataset import LocalDataset
from lensforge.sdk.default import (
    close,
    debug,
    download_checkpoint,
    download_dataset,
    download_inputs,
    download_source_model,
    download_weights,
    error,
    flush,
    flush_logs,
    get_trainer,
    heartbeat,
    info,
    install_signal_handlers,
    log,
    report_artifact,
    report_completed,
    report_export,
    report_failed,
    report_predictions,
    report_progress,
    report_started,
    report_table,
    set_trainer,
    should_stop,
    upload_checkpoint,
    upload_file,
    warning,
)
from lensforge.sdk.errors import (
    CheckpointNotFound,
    ConfigurationError,
    DatasetError,
    ErrorType,
    NetworkError,
    SDKError,
    ServerError,
    SpoolError,
    StorageError,
    VerificationFailed,
)
from lensforge.sdk.model_work import InputImage
from lensforge.sdk.storage import DownloadedCheckpoint

__all__ = [
    "CheckpointNotFound",
    "ConfigurationError",
    "DatasetError",
    "DownloadedCheckpoint",
    "ErrorType",
    "InputImage",
    "LocalDataset",
    "NetworkError",
    "SDKError",
    "ServerError",
    "SpoolError",
    "StorageError",
    "Trainer",
    "TrainerConfig",
    "VerificationFailed",
    "close",
    "debug",
    "download_checkpoint",
    "download_dataset",
    "download_inputs",
    "download_source_model",
    "download_weights",
    "error",
    "error_type_of",
    "flush",
    "flush_logs",
    "get_trainer",
    "heartbeat",
    "info",
    "install_signal_handlers",
    "log",
    "report_artifact",
    "report_completed",
    "report_export",
    "report_failed",
    "report_predictions",
    "report_progress",
    "report_started",
    "report_table",
    "set_trainer",
    "should_stop",
    "upload_checkpoint",
    "upload_file",
    "warning",
]
