"""Slows down password guessing: per account and per client address, stored in the database.

Each failed sign-in counts against the account (the e-mail typed, known or not, so the answer
tells nothing about which accounts exist) and against the client's address. Past a few free
failures, each further one locks that subject for twice as long as the previous one, up to a
ceiling; while locked, sign-ins are answered 429 with `Retry-After` without checking the
password (the right password does not get through either, or the lock would be an oracle).

A real user can never be locked out for good: the lock never exceeds the ceiling, failures
older than the window are forgotten, and a successful sign-in clears the account's count. The
address's count is not cleared by a success, or an attacker would reset it by signing in to an
account of their own between guesses.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from lensforge.auth.repository import SignInThrottleRepository
from lensforge.config import SecuritySettings
from lensforge.errors import TooManyRequests
from lensforge.kit.types import utcnow

ACCOUNT = "account"
CLIENT = "client"


@dataclass(frozen=True, slots=True)
class _Subject:
    kind: str
    hash: str
    free_failures: int


def _subject(kind: str, value: str, free_failures: int) -> _Subject:
    digest = hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()
    return _Subject(kind=kind, hash=digest, free_failures=free_failures)


def lockout_seconds(failures: int, free_failures: int, ceiling: int) -> int:
    """0 up to the free failures, then 1, 2, 4, ... seconds, never above the ceiling."""
    beyond = failures - free_failures
    if beyond < 0:
        return 0
    return min(ceiling, int(2 ** min(beyond, 30)))


class SignInThrottle:
    def __init__(
        self, session: Session, settings: SecuritySettings, *, email: str, client: str
    ) -> None:
        self.settings = settings
        self.repository = SignInThrottleRepository(session)
        self.account = _subject(
            ACCOUNT, email.strip().lower(), settings.sign_in_free_failures_per_account
        )
        self.client = _subject(CLIENT, client, settings.sign_in_free_failures_per_client)

    def check(self) -> None:
        """Refuse with 429 while the account or the client is locked."""
        now = utcnow()
        rows = self.repository.get_many([self.account.hash, self.client.hash])
        waits = [row.locked_until - now for row in rows if row.locked_until is not None]
        longest = max(waits, default=timedelta(0))
        if longest > timedelta(0):
            seconds = math.ceil(longest.total_seconds())
            raise TooManyRequests(
                f"too many failed sign-ins; try again in {seconds} s",
                retry_after_seconds=seconds,
                details={"retry_after_seconds": seconds},
                code="sign_in_throttled",
            )

    def failed(self) -> None:
        now = utcnow()
        forget_before = now - timedelta(seconds=self.settings.sign_in_failure_window_seconds)
        self.repository.forget_older_than(forget_before, now)
        for subject in (self.account, self.client):
            failures = self.repository.count_failure(
                subject.hash, subject.kind, now=now, forget_before=forget_before
            )
            seconds = lockout_seconds(
                failures, subject.free_failures, self.settings.sign_in_max_lockout_seconds
            )
            if seconds:
                self.repository.lock(subject.hash, _until(now, seconds))

    def succeeded(self) -> None:
        self.repository.clear(self.account.hash)


def _until(now: datetime, seconds: int) -> datetime:
    return now + timedelta(seconds=seconds)
