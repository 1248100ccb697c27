"""The query parameters every list route shares, bounded so that no value reaches the database
as an out-of-range integer (an `offset` beyond 2^63 used to be a 500 on six list routes)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

# Far beyond any real list, far below the databases' 64-bit OFFSET.
MAX_OFFSET = 1_000_000_000

Offset = Annotated[
    int, Query(ge=0, le=MAX_OFFSET, description="entries to skip (at most 1,000,000,000)")
]

# Numbers stored in 32-bit INTEGER columns (version numbers, part numbers, class ids, attempts):
# a larger value in a path or query is a 422, not an overflow in the database driver.
INT32_MAX = 2**31 - 1
# 64-bit BIGINT columns (steps, sequences).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
