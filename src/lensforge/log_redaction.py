"""Secrets never reach a log line: by field name in structured events, by shape in the text.

Two layers, because neither alone is enough:
- a structlog processor replaces the value of any field whose name says it holds a secret
  (`token`, `password`, `authorization`, ...), whatever the value looks like (refresh tokens and
  session cookies are plain random strings);
- the final rendered line (message, fields and traceback text) is scrubbed of every credential
  whose shape we issue or accept: JWTs, `lfk_` API keys, `lfj_` job tokens, `Bearer ...`
  values, and `password=`/`token=`-style pairs inside free text such as exception messages
  and URLs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from typing import Any

REDACTED = "[redacted]"

# A field whose name contains one of these holds a secret, whatever its value.
_SECRET_NAME_PARTS = (
    "token",
    "password",
    "passwd",
    "secret",
    "authorization",
    "api_key",
    "apikey",
    "cookie",
    "signature",
    "credential",
    "private_key",
)

_TEXT_PATTERNS = (
    # JSON Web Tokens: three base64url parts, the first always starts with `eyJ` ('{"').
    re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
    # Our own API keys and job tokens.
    re.compile(r"\blf[kj]_[A-Za-z0-9_-]+"),
    # Authorization header values, whatever the scheme carries.
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"),
    # key=value / key: value / "key": "value" pairs naming a secret (query strings, reprs).
    re.compile(
        r"(?i)([\"']?[a-z_]*(?:token|password|passwd|secret|api_?key|signature|cookie)"
        r"[a-z_]*[\"']?\s*[=:]\s*[\"']?)(?!\[redacted\])([^\s\"'&,;)}\]]+)"
    ),
)


def is_secret_name(name: str) -> bool:
    lowered = name.lower()
    return any(part in lowered for part in _SECRET_NAME_PARTS)


def redact_value(name: str, value: Any) -> Any:
    if is_secret_name(name) and value is not None and value != "":
        return REDACTED
    if isinstance(value, Mapping):
        return {key: redact_value(str(key), item) for key, item in value.items()}
    return value


def redact_fields(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: secret-named fields (also nested in dicts) lose their value."""
    for key in list(event_dict):
        if key in ("event", "exc_info"):
            continue
        event_dict[key] = redact_value(key, event_dict[key])
    return event_dict


def redact_text(text: str) -> str:
    """Every credential-shaped substring of a rendered line replaced by a marker."""
    for pattern in _TEXT_PATTERNS:
        if pattern.groups == 2:
            text = pattern.sub(lambda match: match.group(1) + REDACTED, text)
        elif pattern.groups == 1:
            text = pattern.sub(lambda match: match.group(1) + " " + REDACTED, text)
        else:
            text = pattern.sub(REDACTED, text)
    return text
