"""Job tokens: the bearer secret a trainer process authenticates with.

One token per attempt (`lfj_<random>`). Only its SHA-256 is stored (`JobAttempt.token_hash`), so
a database leak reveals no usable token; the worker hands the secret to the trainer as
`LENSFORGE_JOB_TOKEN` and forgets it. A token dies with its attempt: the trainer endpoints refuse
it once the attempt is no longer preparing or running.
"""

from __future__ import annotations

import hashlib
import secrets

TOKEN_MARKER = "lfj_"  # noqa: S105  # a public prefix, not a secret


def hash_job_token(token: str) -> str:
    # A plain SHA-256 suffices: the secret has 256 bits of entropy, so there is nothing to
    # brute-force and no need for a slow password hash.
    return hashlib.sha256(token.encode()).hexdigest()


def issue_attempt_token() -> tuple[str, str]:
    """A new token and the hash to store in `JobAttempt.token_hash`."""
    token = TOKEN_MARKER + secrets.token_urlsafe(32)
    return token, hash_job_token(token)


def looks_like_job_token(token: str) -> bool:
    return token.startswith(TOKEN_MARKER)
