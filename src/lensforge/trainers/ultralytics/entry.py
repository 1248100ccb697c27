"""What every entry point (train, predict, export) does around its job: build the SDK trainer,
turn SIGTERM into a cooperative stop, keep Ultralytics offline, and end with the right report
and exit code."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable

from lensforge.sdk import ConfigurationError, Trainer
from lensforge.trainers.ultralytics import failures, offline


class Cancelled(Exception):
    """Raised out of a job's loop once a stop was requested (cancel or SIGTERM)."""


def run_job(name: str, run: Callable[[Trainer], None]) -> int:
    """Run `run(trainer)`; exit 0 when it finished or was stopped, 1 after reporting a failure
    (with the error type the exception maps to and the real message)."""
    try:
        trainer = Trainer()
    except ConfigurationError as exc:  # nothing to report to: say it where the worker logs
        print(f"{name}: {exc}", file=sys.stderr)
        return 1
    trainer.install_signal_handlers()
    offline.prepare(trainer.config.work_dir / "ultralytics-config")
    try:
        run(trainer)
    except Cancelled:
        trainer.info("cancelled: stopping without reporting more")
        trainer.close()
        return 0
    except BaseException as exc:
        if not isinstance(exc, Exception) and trainer.should_stop():
            trainer.close()
            return 0
        trainer.report_failed(failures.classify(exc), failures.message(exc), traceback.format_exc())
        trainer.close()
        return 1
    trainer.close()
    return 0
