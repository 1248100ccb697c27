"""Presigned links: the local backend's HMAC signatures and the options links carry.

A link grants one method on one key until one instant; the signature covers exactly those (plus
the response/upload options in `extra`), so changing any of them invalidates it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import quote

from lensforge.errors import Forbidden

# Domain separation: the same server secret also keys the JWTs; a presign signature must never be
# usable as (or derivable from) a token signature, so the presign key is a distinct derived key.
_KEY_LABEL = b"lensforge-presign-v1"


class PresignInvalid(Forbidden):
    code = "presign_invalid"


class PresignExpired(Forbidden):
    code = "presign_expired"


# Unix seconds up to the year 33658: more digits are no expiry any link was ever signed with.
_MAX_EXPIRES_DIGITS = 12


def parse_expires(value: str) -> int | None:
    """A link's `expires` as Unix seconds, or None when it is not plain ASCII digits of a
    plausible length (`str.isdigit` accepts '²' and other scripts' digits, which `int` refuses,
    and Python refuses to parse integers of more than 4300 digits)."""
    if not (value.isascii() and value.isdigit()) or len(value) > _MAX_EXPIRES_DIGITS:
        return None
    return int(value)


def get_extra(filename: str | None) -> str:
    """The signed options of a GET link: the download filename, when one was asked for."""
    return "" if filename is None else f"filename={filename}"


def put_extra(content_type: str | None) -> str:
    """The signed options of a PUT link: the content type the uploader must send."""
    return "" if content_type is None else f"content-type={content_type}"


def content_disposition(filename: str) -> str:
    """`attachment` with the filename for every client: an ASCII fallback and RFC 5987 UTF-8."""
    fallback = "".join(
        char if " " <= char <= "~" and char not in '"\\' else "_" for char in filename
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


class PresignSigner:
    def __init__(self, secret: str) -> None:
        self._key = hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()

    def sign(self, method: str, key: str, expires: int, extra: str = "") -> str:
        # JSON of a list is an unambiguous encoding: keys may contain any separator character.
        message = json.dumps([method.upper(), key, int(expires), extra]).encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def verify(
        self,
        method: str,
        key: str,
        expires: int,
        signature: str,
        extra: str = "",
        *,
        now: float | None = None,
    ) -> None:
        """Raise PresignInvalid on any mismatch, then PresignExpired if the link is too old.

        The signature is checked first so that a forged link never learns whether it expired.
        """
        expected = self.sign(method, key, expires, extra)
        # Bytes, not str: compare_digest refuses non-ASCII str, and a query string may carry any.
        given = signature.lower().encode("utf-8", "replace")
        if not hmac.compare_digest(expected.encode(), given):
            raise PresignInvalid("the link's signature does not match its method, key or options")
        if (time.time() if now is None else now) > expires:
            raise PresignExpired("the link has expired")
