"""The local orchestrator (the embedded default): workers that claim queued jobs from the
database and run each trainer as a supervised child process. See README.md for the rules."""

from lensforge.orchestration.local.worker import LocalWorker

__all__ = ["LocalWorker"]
