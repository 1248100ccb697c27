"""Password hashing (argon2id) and the strength rule applied wherever a password is set.

Strength is estimated by zxcvbn (Dropbox's estimator): it knows ~30,000 common and breached
passwords, English words, names, keyboard walks, repeats, sequences and dates, and scores how
many guesses a password takes (0-4). We require `password_min_strength` (3: about 10^8 guesses,
"safely unguessable" against an online attack, and far out of reach once sign-in is throttled).
"""

from __future__ import annotations

from collections.abc import Sequence

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

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


# zxcvbn's matching grows quickly with length; a password this long is judged on its start.
_STRENGTH_CHECKED_CHARS = 100
_SCORE_WORDS = ("very weak", "weak", "fair", "strong", "very strong")


def password_problems(
    password: str,
    *,
    min_length: int,
    email: str = "",
    min_strength: int = 3,
    user_inputs: Sequence[str] = (),
) -> list[str]:
    """Every reason the password is too weak; empty when it is acceptable. `user_inputs`
    (display name, organization, ...) count as guessable, like the e-mail."""
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
    if not problems:
        problems.extend(
            _strength_problems(password, min_strength, [email, local_part, *user_inputs])
        )
    return problems


def _strength_problems(password: str, min_strength: int, user_inputs: list[str]) -> list[str]:
    inputs = [value.lower() for value in user_inputs if value and value.strip()]
    result = zxcvbn(password[:_STRENGTH_CHECKED_CHARS], user_inputs=inputs)
    score = int(result["score"])
    if score >= min_strength:
        return []
    feedback = result.get("feedback") or {}
    hints = [str(feedback.get("warning") or "").rstrip(".")]
    hints += [str(s).rstrip(".") for s in feedback.get("suggestions") or []]
    reason = "; ".join(h for h in hints if h) or "add more words or characters"
    return [
        f"is too easy to guess ({_SCORE_WORDS[score]}, strength {score} of 4, "
        f"at least {min_strength} needed): {reason}"
    ]
