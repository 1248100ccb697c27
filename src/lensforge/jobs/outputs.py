"""Where a job's outputs live in object storage, and which names a trainer may write.

Everything a trainer uploads goes under `jobs/<job_id>/outputs/`; a name is relative to that
prefix and can never leave it.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import AfterValidator

MAX_OUTPUT_NAME = 300


def check_output_name(name: str) -> str:
    """Refuse names that could escape the job's prefix or mean different things on different
    storage backends. Raises ValueError (pydantic turns it into a field error)."""
    if not 1 <= len(name) <= MAX_OUTPUT_NAME:
        raise ValueError(f"must be 1..{MAX_OUTPUT_NAME} characters")
    if name.startswith("/") or "\\" in name:
        raise ValueError("must be a relative POSIX path such as 'checkpoints/last.json'")
    if any(ord(char) < 32 for char in name):
        raise ValueError("must not contain control characters")
    if any(part in ("", ".", "..") for part in name.split("/")):
        raise ValueError("must not contain empty, '.' or '..' segments")
    return name


OutputName = Annotated[str, AfterValidator(check_output_name)]


def outputs_prefix(job_id: uuid.UUID) -> str:
    return f"jobs/{job_id}/outputs/"


def output_key(job_id: uuid.UUID, name: str) -> str:
    return outputs_prefix(job_id) + check_output_name(name)
