"""What travels between the workflow and its activities (and so is stored in Temporal's
history). Plain dataclasses of ids, numbers and words: never a token, a secret or a path that
only one machine knows."""

from __future__ import annotations

from dataclasses import dataclass, field

VALIDATE = "lensforge.validate_job"
PREPARE = "lensforge.prepare_attempt"
RUN = "lensforge.run_trainer"
FINALIZE = "lensforge.finalize_job"
REQUEST_CANCEL = "lensforge.request_cancel"
CLEANUP = "lensforge.clean_up_job"


@dataclass
class JobInput:
    """The workflow's argument. The timeouts come from the starting server's settings, as the
    workflow itself may read no configuration (it must replay identically)."""

    job_id: str
    heartbeat_timeout_seconds: float = 60.0
    run_timeout_seconds: float = 24 * 3600.0


@dataclass
class Validated:
    runnable: bool
    reason: str = ""


@dataclass
class Prepared:
    """`attempt` is None when there is nothing to run (the job was cancelled or finished)."""

    attempt: int | None
    job_status: str = ""


@dataclass
class AttemptInput:
    job_id: str
    attempt: int


@dataclass
class RunOutcome:
    attempt: int
    attempt_status: str
    job_status: str
    # The queue of the worker that ran it (its folders are there), or "" when none did.
    host_queue: str = ""


@dataclass
class JobSummary:
    job_id: str
    status: str
    reason: str
    attempts: int
    epoch: int | None = None
    best_metric_name: str | None = None
    best_metric_value: float | None = None
    checkpoints: list[str] = field(default_factory=list)
