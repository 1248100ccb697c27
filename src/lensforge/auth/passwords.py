"""Password hashing (argon2id) and the strength rule applied at sign-up and on change."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()

# A dummy hash so that a login for an unknown e-mail costs as much as one for a known e-mail.
_DUMMY_HASH = _hasher.hash("lensforge-timing-equaliser")

_COMMON_PASSWORDS = frozenset(
    {
        "password",
        "password1",
        "password123",
        "1234567890",
        "qwertyuiop",
        "letmein123",
        "iloveyou12",
        "administrator",
        "changeme123",
        "welcome123",
        "lensforge1",
    }
)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def password_problems(password: str, *, min_length: int, email: str = "") -> list[str]:
    """Every reason the password is too weak; empty when it is acceptable."""
    problems: list[str] = []
    if len(password) < min_length:
        problems.append(f"must be at least {min_length} characters long")
    if password.lower() in _COMMON_PASSWORDS:
        problems.append("is a commonly used password")
    if len(set(password)) < 4:
        problems.append("uses too few distinct characters")
    local_part = email.split("@", 1)[0].lower()
    if local_part and len(local_part) >= 4 and local_part in password.lower():
        problems.append("must not contain your e-mail name")
    return problems
