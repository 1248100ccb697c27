"""Natural order of file names: `raccoon-2.jpg` before `raccoon-10.jpg`, as people count.

Databases sort strings character by character, so the order is stored as a key: the name in
lower case with every run of digits left-padded with zeros to `DIGITS` places. Comparing keys
as plain strings then compares numbers by value, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import re

DIGITS = 12
"""Runs of digits are padded to this width; longer numbers keep their length (and sort after
every shorter one, which is still their order by value)."""
MAX_KEY_LENGTH = 2048
_NUMBER = re.compile(r"\d+")


def natural_key(name: str) -> str:
    """The sort key of `name` (see the module docstring)."""
    key = _NUMBER.sub(lambda match: match.group().zfill(DIGITS), name.lower())
    return key[:MAX_KEY_LENGTH]
